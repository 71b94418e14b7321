//! Timer benchmark: duet side by side with tokio's current-thread runtime, in one run.
//!
//! Scenarios (N tasks each, spawned into one scope / one `LocalSet`):
//!
//! - `sleep`: every task sleeps a pseudo-random 0–50 ms (the same delays for both
//!   runtimes). The ideal wall time is the longest delay; what is left over is timer and
//!   scheduling overhead, reported in total and per task.
//! - `timeout`: every task runs a 10 s timeout around a future that completes after one
//!   yield, so each timer is registered and then cancelled without firing: the cost of
//!   setting and cancelling a timer.
//!
//! Runs alternate duet/tokio, and medians over the repetitions are printed with the
//! ratio duet/tokio (below 1: duet is faster). CPU time is the thread's on-CPU time from
//! `/proc/thread-self/schedstat` (Linux; shown as `-` elsewhere).
//!
//! ```sh
//! cargo bench --bench timers             # 100,000 tasks, 7 repetitions
//! cargo bench --bench timers -- --quick  # 10,000 tasks, 3 repetitions
//! cargo bench --bench timers -- --only duet   # one runtime, for profiling
//! ```

use std::time::{Duration, Instant};

/// Tiny deterministic PRNG (splitmix64): no `rand` dependency, same delays every run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// On-CPU time of the calling thread, if the platform tells.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Option<Duration>,
}

fn measure(f: impl FnOnce()) -> Sample {
    let cpu = thread_cpu();
    let start = Instant::now();
    f();
    let wall = start.elapsed();
    Sample {
        wall,
        cpu: cpu.and_then(|before| Some(thread_cpu()? - before)),
    }
}

fn duet_sleep(delays: &[Duration]) -> Sample {
    measure(|| {
        duet::run_scope(async |s| {
            for &d in delays {
                s.spawn(duet::sleep(d));
            }
        })
        .unwrap();
    })
}

fn duet_timeout(n: usize) -> Sample {
    measure(|| {
        duet::run_scope(async |s| {
            for _ in 0..n {
                s.spawn(async {
                    duet::timeout(Duration::from_secs(10), duet::yield_now())
                        .await
                        .unwrap();
                });
            }
        })
        .unwrap();
    })
}

fn tokio_runtime() -> (tokio::runtime::Runtime, tokio::task::LocalSet) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime");
    (rt, tokio::task::LocalSet::new())
}

fn tokio_sleep(delays: &[Duration]) -> Sample {
    let (rt, local) = tokio_runtime();
    measure(|| {
        local.block_on(&rt, async {
            let handles: Vec<_> = delays
                .iter()
                .map(|&d| tokio::task::spawn_local(tokio::time::sleep(d)))
                .collect();
            for h in handles {
                h.await.unwrap();
            }
        });
    })
}

fn tokio_timeout(n: usize) -> Sample {
    let (rt, local) = tokio_runtime();
    measure(|| {
        local.block_on(&rt, async {
            let handles: Vec<_> = (0..n)
                .map(|_| {
                    tokio::task::spawn_local(async {
                        tokio::time::timeout(Duration::from_secs(10), tokio::task::yield_now())
                            .await
                            .unwrap();
                    })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
        });
    })
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn per_task(d: Duration, n: usize) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e9 / n as f64)
}

struct Row {
    name: &'static str,
    wall: Duration,
    over: Duration,
    cpu: Option<Duration>,
}

fn summarize(name: &'static str, samples: &[Sample], ideal: Duration) -> Row {
    let wall = median(samples.iter().map(|s| s.wall).collect());
    let cpu = samples
        .iter()
        .map(|s| s.cpu)
        .collect::<Option<Vec<_>>>()
        .map(median);
    Row {
        name,
        wall,
        over: wall.saturating_sub(ideal),
        cpu,
    }
}

fn print_table(title: &str, n: usize, ideal: Duration, duet: &Row, tokio: &Row) {
    println!("\n{title} ({n} tasks, ideal wall {} ms)", ms(ideal));
    println!("| runtime | wall ms | over ideal ms | overhead ns/task | CPU ms | CPU ns/task |");
    println!("|---|---:|---:|---:|---:|---:|");
    for row in [duet, tokio] {
        let (cpu, cpu_task) = match row.cpu {
            Some(cpu) => (ms(cpu), per_task(cpu, n)),
            None => ("-".into(), "-".into()),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            row.name,
            ms(row.wall),
            ms(row.over),
            per_task(row.over, n),
            cpu,
            cpu_task
        );
    }
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    print!(
        "| duet/tokio | {:.2} | {:.2} | | ",
        ratio(duet.wall, tokio.wall),
        ratio(duet.over, tokio.over)
    );
    match (duet.cpu, tokio.cpu) {
        (Some(a), Some(b)) => println!("{:.2} | |", ratio(a, b)),
        _ => println!("- | |"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let (n, reps) = if quick { (10_000, 3) } else { (100_000, 7) };
    let mut rng = SplitMix(0x5eed);
    let delays: Vec<Duration> = (0..n)
        .map(|_| Duration::from_micros(rng.next() % 50_001))
        .collect();
    let ideal = delays.iter().copied().max().unwrap_or_default();

    if let Some(only) = only {
        for _ in 0..reps {
            match only.as_str() {
                "duet" => drop((duet_sleep(&delays), duet_timeout(n))),
                "tokio" => drop((tokio_sleep(&delays), tokio_timeout(n))),
                other => panic!("--only duet|tokio, not {other}"),
            }
        }
        return;
    }

    // Warm-up (page in the allocator, start nothing lazily inside a measurement).
    duet_sleep(&delays[..n / 10]);
    tokio_sleep(&delays[..n / 10]);

    let (mut ds, mut ts, mut dt, mut tt) = (vec![], vec![], vec![], vec![]);
    for rep in 0..reps {
        // Alternate which runtime goes first, so drift affects both alike.
        if rep % 2 == 0 {
            ds.push(duet_sleep(&delays));
            ts.push(tokio_sleep(&delays));
            dt.push(duet_timeout(n));
            tt.push(tokio_timeout(n));
        } else {
            ts.push(tokio_sleep(&delays));
            ds.push(duet_sleep(&delays));
            tt.push(tokio_timeout(n));
            dt.push(duet_timeout(n));
        }
    }

    println!("duet timers benchmark: {reps} repetitions, medians");
    print_table(
        "sleep: each task sleeps a random 0-50 ms",
        n,
        ideal,
        &summarize("duet", &ds, ideal),
        &summarize("tokio", &ts, ideal),
    );
    print_table(
        "timeout: set a 10 s timer and cancel it (the future completes after one yield)",
        n,
        Duration::ZERO,
        &summarize("duet", &dt, Duration::ZERO),
        &summarize("tokio", &tt, Duration::ZERO),
    );
}
