//! The default reorder window under variable latency: `pmap_async` against a
//! `Limiter`-bounded fan-out (see the crate docs of `main.rs`).
//!
//! With ordered output, a call can start only when the item `window` places before it
//! has been delivered, so a slow call holds back the ones after it once the window is
//! full; the fan-out starts the next call whenever a slot frees. The virtual clock makes
//! each makespan exact, so the sweep over windows compares like with like.

use std::time::{Duration, Instant};

use duet::{Config, Limiter, PmapLimit};

/// The case: 1,000 calls, at most 32 at once.
const CALLS: usize = 1_000;
const LIMIT: usize = 32;
/// The sweep runs longer, so that even the widest window tried is a small part of it.
const SWEEP_CALLS: usize = 10_000;
/// Multiples of the limit tried as windows in the sweep.
const FACTORS: [usize; 10] = [1, 2, 3, 4, 8, 12, 16, 24, 32, 64];
/// The share of calls that fail in the `try_` runs.
const FAILURE_RATE: f64 = 0.02;

/// The latency distributions.
#[derive(Clone, Copy)]
enum Latency {
    /// Uniform in 0..50 ms (mean 25 ms, max/mean 2): the HTTP fan-out.
    Uniform,
    /// Log-normal, median 10 ms, sigma 1 (mean 16.5 ms, p99.9 about 13x the mean).
    LogNormal,
    /// Pareto, alpha 1.5, minimum 5 ms (mean 15 ms, infinite variance), capped at 2 s.
    Pareto,
}

impl Latency {
    const ALL: [Latency; 3] = [Latency::Uniform, Latency::LogNormal, Latency::Pareto];

    fn name(self) -> &'static str {
        match self {
            Latency::Uniform => "uniform 0-50 ms",
            Latency::LogNormal => "log-normal, median 10 ms, sigma 1",
            Latency::Pareto => "Pareto, alpha 1.5, min 5 ms",
        }
    }

    fn draw(self, rng: &mut Rng) -> Duration {
        let ms = match self {
            Latency::Uniform => 50.0 * rng.unit(),
            Latency::LogNormal => {
                // Box-Muller: a standard normal from two uniforms.
                let (u, v) = (1.0 - rng.unit(), rng.unit());
                let z = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
                10.0 * z.exp()
            }
            Latency::Pareto => (5.0 / (1.0 - rng.unit()).powf(1.0 / 1.5)).min(2_000.0),
        };
        Duration::from_micros((ms * 1_000.0) as u64)
    }
}

/// splitmix64: small, seeded, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One call per entry: how long it sleeps, and whether it fails (in the `try_` runs).
struct Workload {
    calls: Vec<(Duration, bool)>,
}

impl Workload {
    fn new(latency: Latency, seed: u64, calls: usize) -> Self {
        let mut latencies = Rng(seed);
        let mut failures = Rng(seed ^ 0x5EED_FA11);
        let calls = (0..calls)
            .map(|_| {
                let fails = failures.unit() < FAILURE_RATE;
                (latency.draw(&mut latencies), fails)
            })
            .collect();
        Workload { calls }
    }
}

/// What runs the calls.
#[derive(Clone, Copy)]
enum Runner {
    /// A scope that spawns every call at once; each holds a `Limiter::new(32)` slot while
    /// it sleeps. Results are collected in input order, like pmap's.
    FanOut,
    /// `pmap_async` / `try_pmap_async` with these limits.
    Pmap(PmapLimit),
}

impl Runner {
    /// Runs every call (stopping at the first failure if `fallible`).
    async fn run(self, work: &Workload, fallible: bool) {
        let items = work.calls.iter().copied().enumerate();
        let call = async |(i, (latency, fails)): (usize, (Duration, bool))| {
            duet::sleep(latency).await;
            if fallible && fails { Err(i) } else { Ok(i) }
        };
        match self {
            Runner::FanOut => {
                let limiter = Limiter::new(LIMIT);
                let r = duet::scope(async |s| {
                    let handles: Vec<_> = items
                        .map(|item| {
                            let (limiter, call) = (&limiter, &call);
                            s.spawn(async move { limiter.run(call(item)).await })
                        })
                        .collect();
                    let mut out = Vec::with_capacity(work.calls.len());
                    for handle in handles {
                        out.push(handle.await.expect("cancelled only by a failure"));
                    }
                    Ok(out)
                })
                .await;
                assert_eq!(r.is_err(), fallible);
            }
            Runner::Pmap(limits) => {
                if fallible {
                    let r = duet::try_pmap_async(items, limits, call).await;
                    assert!(r.is_err());
                } else {
                    let out = duet::pmap_async(items, limits, async |item| {
                        call(item).await.unwrap_or_else(|i| i)
                    })
                    .await;
                    assert_eq!(out.len(), work.calls.len());
                }
            }
        }
    }

    /// The makespan on a virtual clock: exact, the same on every run.
    fn virtual_time(self, work: &Workload, fallible: bool) -> Duration {
        duet::run_with(Config::new().virtual_clock(), async {
            let start = duet::now();
            self.run(work, fallible).await;
            duet::now() - start
        })
    }

    /// The makespan on the real clock.
    fn real_time(self, work: &Workload, fallible: bool) -> Duration {
        let start = Instant::now();
        duet::run(self.run(work, fallible));
        start.elapsed()
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

fn window(window: usize) -> Runner {
    Runner::Pmap(PmapLimit::new(Some(LIMIT)).window(window))
}

/// The runners compared in the case, with their names.
fn runners() -> [(String, Runner); 4] {
    let default = PmapLimit::new(Some(LIMIT));
    let shown = default
        .window_size()
        .map_or("unbounded".into(), |w| w.to_string());
    [
        (format!("fan-out, Limiter::new({LIMIT})"), Runner::FanOut),
        (
            format!("pmap_async, default window ({shown})"),
            Runner::Pmap(default),
        ),
        (
            format!("pmap_async, window({LIMIT}) (= limit)"),
            window(LIMIT),
        ),
        (format!("pmap_async, window({CALLS})"), window(CALLS)),
    ]
}

/// Prints the virtual-clock tables and the real-clock comparison.
pub fn report(quick: bool) {
    let seeds: Vec<u64> = (1..=if quick { 2 } else { 8 }).collect();
    let runners = runners();

    println!("\n{CALLS} calls, limit {LIMIT}: makespan / fan-out's, virtual clock (exact)\n");
    print!("| latency | seed | fan-out |");
    for (name, _) in &runners[1..] {
        print!(" {name} |");
    }
    println!("\n|---|---:|---:|---:|---:|---:|");
    for latency in Latency::ALL {
        for &seed in &seeds {
            let work = Workload::new(latency, seed, CALLS);
            let fan_out = ms(Runner::FanOut.virtual_time(&work, false));
            print!("| {} | {seed} | {fan_out:.0} ms |", latency.name());
            for (_, runner) in &runners[1..] {
                print!(" {:.3} |", ms(runner.virtual_time(&work, false)) / fan_out);
            }
            println!();
        }
    }

    let sweep_calls = if quick { SWEEP_CALLS / 5 } else { SWEEP_CALLS };
    println!(
        "\nWindow sweep: {sweep_calls} calls, limit {LIMIT}, window k x {LIMIT}; makespan / \
         fan-out's over seeds {}..={}, worst (median), virtual clock\n",
        seeds[0],
        seeds[seeds.len() - 1]
    );
    print!("| latency |");
    for k in FACTORS {
        print!(" {k}x |");
    }
    println!("\n|---|{}", "---:|".repeat(FACTORS.len()));
    for latency in Latency::ALL {
        let mut ratios = vec![Vec::new(); FACTORS.len()];
        for &seed in &seeds {
            let work = Workload::new(latency, seed, sweep_calls);
            let fan_out = ms(Runner::FanOut.virtual_time(&work, false));
            for (i, k) in FACTORS.into_iter().enumerate() {
                ratios[i].push(ms(window(k * LIMIT).virtual_time(&work, false)) / fan_out);
            }
        }
        print!("| {} |", latency.name());
        for r in ratios {
            let worst = r.iter().copied().fold(0.0, f64::max);
            print!(" {worst:.3} ({:.3}) |", median(r));
        }
        println!();
    }

    println!(
        "\nTime to the first failure ({}% of calls fail), {}, virtual clock\n",
        FAILURE_RATE * 100.0,
        Latency::Uniform.name()
    );
    print!("| seed | fan-out |");
    for (name, _) in &runners[1..] {
        print!(" {name} |");
    }
    println!("\n|---:|---:|---:|---:|---:|");
    for &seed in &seeds {
        let work = Workload::new(Latency::Uniform, seed, CALLS);
        let fan_out = ms(Runner::FanOut.virtual_time(&work, true));
        print!("| {seed} | {fan_out:.1} ms |");
        for (_, runner) in &runners[1..] {
            let t = ms(runner.virtual_time(&work, true));
            print!(" {t:.1} ms ({:.2}) |", t / fan_out);
        }
        println!();
    }

    // The real clock: the same workload, each runner in turn, rotating which goes first.
    let reps = if quick { 1 } else { 5 };
    let work = Workload::new(Latency::Uniform, 1, CALLS);
    let mut makespans = vec![Vec::new(); runners.len()];
    let mut failures = vec![Vec::new(); runners.len()];
    for rep in 0..reps {
        for j in 0..runners.len() {
            let i = (j + rep) % runners.len();
            makespans[i].push(ms(runners[i].1.real_time(&work, false)));
            failures[i].push(ms(runners[i].1.real_time(&work, true)));
        }
    }
    println!(
        "\nReal clock, {CALLS} calls, {} (seed 1), medians of {reps} run(s)\n",
        Latency::Uniform.name()
    );
    println!("| runner | makespan | vs fan-out | first failure | vs fan-out |");
    println!("|---|---:|---:|---:|---:|");
    let makespans: Vec<f64> = makespans.into_iter().map(median).collect();
    let failures: Vec<f64> = failures.into_iter().map(median).collect();
    for (i, (name, _)) in runners.iter().enumerate() {
        println!(
            "| {name} | {:.0} ms | {:.3} | {:.1} ms | {:.2} |",
            makespans[i],
            makespans[i] / makespans[0],
            failures[i],
            failures[i] / failures[0]
        );
    }
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}
