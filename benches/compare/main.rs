//! duet against its peers, workload by workload, in one run (issue 8).
//!
//! ```text
//! cargo bench --bench compare                       # full run (about 4 minutes on 2 cores)
//! cargo bench --bench compare -- --quick            # smoke run: smaller sizes, 2 repetitions
//! cargo bench --bench compare -- --only timers --reps 7
//! cargo bench --bench compare -- --json results.json  # also write the results as JSON
//! cargo bench --bench compare -- --only pmap --peer duet --reps 1  # one peer, to profile
//! ```
//!
//! The nine workloads, one file each: 1 `spawn_join`, 2 `nested`, 3 `cross_thread`
//! (`--only wake_cross_thread`), 4 `timers`, 5 `cancel`, 6 `pmap`, 7 `memory`,
//! 8 `limiter`, 9 `send_nested`. Each workload runs every peer in turn, alternating peers within each
//! repetition (and reversing the order every other repetition) so that machine noise
//! spreads evenly, and prints, as a Markdown table, the median time, the cost per unit
//! and the ratio duet/peer (below 1.00: duet is faster). Where the thread's CPU time is
//! measured, its median per unit and ratio are printed too. The load average at the start
//! and the end of the run is printed, since the machine may be shared. Results are
//! recorded in `design/performance.md`. With `--peer`, the ratios are to the first peer
//! selected, not necessarily duet.
//!
//! Built with `--features tracing`, `--subscriber disabled|registry|fmt` installs a global
//! `tracing` subscriber for the whole run, to measure what duet's spans cost
//! (`design/performance.md`, "Cost of the tracing feature").

mod cancel;
mod common;
mod cross_thread;
mod limiter;
mod memory;
mod nested;
mod pmap;
mod send_nested;
mod spawn_join;
mod timers;

use std::fmt::Write as _;
use std::time::Duration;

use common::{Sample, median};

struct Options {
    quick: bool,
    reps: usize,
    only: Option<String>,
    /// Runs only the peers whose name contains this (for profiling one of them).
    peer: Option<String>,
    json: Option<String>,
}

fn parse_options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--memory-child") {
        memory::child(&args[i + 1], args[i + 2].parse().expect("child count"));
    }
    let quick = args.iter().any(|a| a == "--quick");
    let value = |flag: &str| {
        args.iter().position(|a| a == flag).map(|i| {
            args.get(i + 1)
                .unwrap_or_else(|| panic!("{flag} needs a value"))
                .clone()
        })
    };
    install_subscriber(value("--subscriber").as_deref());
    Options {
        quick,
        reps: value("--reps").map_or(if quick { 2 } else { 5 }, |r| r.parse().expect("--reps N")),
        only: value("--only"),
        peer: value("--peer"),
        json: value("--json"),
    }
}

/// `--subscriber`: `disabled`, a formatting subscriber whose level (WARN) filters out
/// duet's spans (INFO); `registry`, a registry with no layers, which creates and stores
/// every span; `fmt`, a formatting subscriber at INFO writing to a sink, which also formats
/// every span's fields.
fn install_subscriber(kind: Option<&str>) {
    let Some(kind) = kind else { return };
    #[cfg(feature = "tracing")]
    {
        use tracing_subscriber::filter::LevelFilter;
        use tracing_subscriber::util::SubscriberInitExt;
        let fmt = |level| {
            tracing_subscriber::fmt()
                .with_max_level(level)
                .with_writer(std::io::sink)
                .finish()
        };
        match kind {
            "disabled" => fmt(LevelFilter::WARN).init(),
            "registry" => tracing_subscriber::registry().init(),
            "fmt" => fmt(LevelFilter::INFO).init(),
            other => panic!("--subscriber {other}: expected disabled, registry or fmt"),
        }
    }
    #[cfg(not(feature = "tracing"))]
    panic!("--subscriber {kind}: build the bench with `--features tracing`");
}

impl Options {
    fn runs(&self, group: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only == group)
    }
}

/// One peer's entry in a workload: its name and how to run it once.
type Peer<'a> = (&'static str, &'a dyn Fn() -> Sample);

/// What one workload measured, for the text table and the JSON file.
struct Outcome {
    name: String,
    units: f64,
    unit: &'static str,
    /// The wall time no runtime can beat (timers: the longest sleep); "over ideal" is the
    /// median wall time minus this, and it is what the per-unit cost and ratio are of.
    ideal: Option<Duration>,
    rows: Vec<OutcomeRow>,
}

struct OutcomeRow {
    peer: &'static str,
    wall: f64,
    /// Wall time (minus the ideal, if any) per unit, in ns.
    per_unit: f64,
    /// duet's `per_unit` over this peer's.
    ratio: f64,
    cpu_per_unit: Option<f64>,
    cpu_ratio: Option<f64>,
}

fn ns(x: f64) -> String {
    if x >= 10_000.0 {
        format!("{:.1} µs", x / 1e3)
    } else {
        format!("{x:.0} ns")
    }
}

/// Runs every peer `reps` times, alternating, and prints medians and ratios.
fn compare(
    opts: &Options,
    name: String,
    units: f64,
    unit: &'static str,
    ideal: Option<Duration>,
    peers: &[Peer<'_>],
) -> Outcome {
    let selected: Vec<Peer<'_>>;
    let peers = match &opts.peer {
        Some(p) => {
            selected = peers
                .iter()
                .copied()
                .filter(|(n, _)| n.contains(p.as_str()))
                .collect();
            &selected[..]
        }
        None => peers,
    };
    let mut walls: Vec<Vec<f64>> = vec![Vec::new(); peers.len()];
    let mut cpus: Vec<Vec<Option<f64>>> = vec![Vec::new(); peers.len()];
    for rep in 0..opts.reps {
        let mut order: Vec<usize> = (0..peers.len()).collect();
        if rep % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let s = (peers[i].1)();
            walls[i].push(s.wall.as_secs_f64());
            cpus[i].push(s.cpu.map(|c| c.as_secs_f64()));
        }
    }
    let ideal_s = ideal.map_or(0.0, |d| d.as_secs_f64());
    let wall: Vec<f64> = walls.iter_mut().map(|s| median(s)).collect();
    let cpu: Vec<Option<f64>> = cpus
        .into_iter()
        .map(|c| {
            c.into_iter()
                .collect::<Option<Vec<f64>>>()
                .map(|mut c| median(&mut c))
        })
        .collect();
    let per_unit: Vec<f64> = wall
        .iter()
        .map(|w| (w - ideal_s).max(0.0) * 1e9 / units)
        .collect();
    let cpu_per_unit: Vec<Option<f64>> = cpu.iter().map(|c| c.map(|c| c * 1e9 / units)).collect();
    let rows = peers
        .iter()
        .enumerate()
        .map(|(i, (peer, _))| OutcomeRow {
            peer,
            wall: wall[i],
            per_unit: per_unit[i],
            ratio: per_unit[0] / per_unit[i],
            cpu_per_unit: cpu_per_unit[i],
            cpu_ratio: cpu_per_unit[0].zip(cpu_per_unit[i]).map(|(d, p)| d / p),
        })
        .collect();
    let outcome = Outcome {
        name,
        units,
        unit,
        ideal,
        rows,
    };
    print_outcome(opts, &outcome);
    outcome
}

fn print_outcome(opts: &Options, o: &Outcome) {
    let with_cpu = o.rows.iter().any(|r| r.cpu_per_unit.is_some());
    print!(
        "\n{} ({} {}, median of {} runs",
        o.name, o.units, o.unit, opts.reps
    );
    match o.ideal {
        Some(ideal) => println!(", ideal wall {:.2} ms)", ideal.as_secs_f64() * 1e3),
        None => println!(")"),
    }
    let per = if o.ideal.is_some() {
        "over ideal per unit"
    } else {
        "per unit"
    };
    print!("| peer | median wall | {per} | duet/peer |");
    if with_cpu {
        print!(" CPU per unit | CPU duet/peer |");
    }
    println!();
    println!(
        "|---|---:|---:|---:|{}",
        if with_cpu { "---:|---:|" } else { "" }
    );
    for r in &o.rows {
        print!(
            "| {} | {:.2} ms | {} | {:.2} |",
            r.peer,
            r.wall * 1e3,
            ns(r.per_unit),
            r.ratio
        );
        if with_cpu {
            match (r.cpu_per_unit, r.cpu_ratio) {
                (Some(c), Some(ratio)) => print!(" {} | {ratio:.2} |", ns(c)),
                _ => print!(" - | - |"),
            }
        }
        println!();
    }
}

/// Workload 7, measured in fresh child processes: bytes per pending child.
fn memory(opts: &Options) -> Outcome {
    let children = if opts.quick { 100_000 } else { 1_000_000 };
    let reps = if opts.quick { 1 } else { 3 };
    let peers = ["duet", "tokio", "futures_unordered", "smol", "moro"];
    let mut samples = vec![Vec::new(); peers.len()];
    for rep in 0..reps {
        let mut order: Vec<usize> = (0..peers.len()).collect();
        if rep % 2 == 1 {
            order.reverse();
        }
        for i in order {
            samples[i].push(memory::measure(peers[i], children));
        }
    }
    let bytes: Vec<f64> = samples.iter_mut().map(|s| median(s)).collect();
    println!(
        "\nmemory ({children} pending children, bytes per child, resident-set growth in a \
         fresh process, median of {reps})"
    );
    println!("| peer | bytes per pending child | duet/peer |");
    println!("|---|---:|---:|");
    let rows = peers
        .iter()
        .zip(&bytes)
        .map(|(peer, &b)| {
            println!("| {peer} | {b:.0} | {:.2} |", bytes[0] / b);
            OutcomeRow {
                peer,
                wall: 0.0,
                per_unit: b,
                ratio: bytes[0] / b,
                cpu_per_unit: None,
                cpu_ratio: None,
            }
        })
        .collect();
    Outcome {
        name: "memory".into(),
        units: children as f64,
        unit: "bytes per pending child",
        ideal: None,
        rows,
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn json_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn json_number(x: Option<f64>) -> String {
    match x {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => "null".into(),
    }
}

fn write_json(path: &str, opts: &Options, load: (&str, &str), outcomes: &[Outcome]) {
    let mut out = String::new();
    let _ = write!(
        out,
        "{{\n  \"mode\": {},\n  \"reps\": {},\n  \"loadavg_start\": {},\n  \"loadavg_end\": {},\n  \"workloads\": [",
        json_string(if opts.quick { "quick" } else { "full" }),
        opts.reps,
        json_string(load.0),
        json_string(load.1),
    );
    for (i, o) in outcomes.iter().enumerate() {
        let _ = write!(
            out,
            "{}\n    {{\"name\": {}, \"units\": {}, \"unit\": {}, \"ideal_ms\": {}, \"peers\": [",
            if i == 0 { "" } else { "," },
            json_string(&o.name),
            o.units,
            json_string(o.unit),
            json_number(o.ideal.map(|d| d.as_secs_f64() * 1e3)),
        );
        for (j, r) in o.rows.iter().enumerate() {
            let _ = write!(
                out,
                "{}\n      {{\"peer\": {}, \"median_wall_ms\": {}, \"per_unit\": {}, \"duet_over_peer\": {}, \"cpu_per_unit_ns\": {}, \"cpu_duet_over_peer\": {}}}",
                if j == 0 { "" } else { "," },
                json_string(r.peer),
                json_number(Some(r.wall * 1e3)),
                json_number(Some(r.per_unit)),
                json_number(Some(r.ratio)),
                json_number(r.cpu_per_unit),
                json_number(r.cpu_ratio),
            );
        }
        out.push_str("\n    ]}");
    }
    out.push_str("\n  ]\n}\n");
    std::fs::write(path, out).unwrap_or_else(|e| panic!("writing {path}: {e}"));
    println!("\nwrote {path}");
}

fn main() {
    let opts = parse_options();
    let q = opts.quick;
    let load_start = loadavg();
    println!(
        "duet compare: {} mode, {} repetitions, load average {load_start}",
        if q { "quick" } else { "full" },
        opts.reps,
    );
    let mut outcomes = Vec::new();

    if opts.runs("spawn_join") {
        let n: u64 = if q { 100_000 } else { 1_000_000 };
        outcomes.push(compare(
            &opts,
            "1. spawn_join".into(),
            n as f64,
            "tasks",
            None,
            &[
                ("duet", &|| spawn_join::duet(n).into()),
                ("tokio LocalSet+JoinSet", &|| spawn_join::tokio(n).into()),
                ("FuturesUnordered", &|| {
                    spawn_join::futures_unordered(n).into()
                }),
                ("smol LocalExecutor", &|| spawn_join::smol(n).into()),
                ("moro", &|| spawn_join::moro(n).into()),
            ],
        ));
    }

    if opts.runs("nested") {
        let depth = if q { 4 } else { 5 };
        let tasks = (0..=depth).map(|d| 10f64.powi(d as i32)).sum::<f64>();
        outcomes.push(compare(
            &opts,
            "2. nested".into(),
            tasks,
            "tasks",
            None,
            &[
                ("duet", &|| nested::duet(depth).into()),
                ("tokio LocalSet+JoinSet", &|| nested::tokio(depth).into()),
                ("FuturesUnordered", &|| {
                    nested::futures_unordered(depth).into()
                }),
                ("FuturesUnordered on tokio", &|| {
                    nested::futures_unordered_tokio(depth).into()
                }),
                ("smol LocalExecutor", &|| nested::smol(depth).into()),
                ("moro", &|| nested::moro(depth).into()),
            ],
        ));
    }

    if opts.runs("wake_cross_thread") {
        let rounds: u64 = if q { 10_000 } else { 100_000 };
        outcomes.push(compare(
            &opts,
            "3. wake_cross_thread".into(),
            rounds as f64,
            "round trips",
            None,
            &[
                ("duet", &|| cross_thread::duet(rounds)),
                ("duet, spin 20 µs", &|| cross_thread::duet_spinning(rounds)),
                ("two threads (OS floor)", &|| cross_thread::floor(rounds)),
                ("tokio current-thread", &|| cross_thread::tokio(rounds)),
                ("tokio multi-thread", &|| {
                    cross_thread::tokio_multi_thread(rounds)
                }),
                ("futures block_on", &|| {
                    cross_thread::futures_block_on(rounds)
                }),
            ],
        ));
    }

    if opts.runs("timers") {
        // Two sizes, to see how the cost per timer grows with the number pending.
        let sizes: &[usize] = if q {
            &[1_000, 10_000]
        } else {
            &[10_000, 100_000]
        };
        for &n in sizes {
            let delays = timers::delays(n);
            let ideal = timers::ideal(&delays);
            let delays = &delays;
            outcomes.push(compare(
                &opts,
                format!("4. timers, {n} tasks"),
                n as f64,
                "timers",
                Some(ideal),
                &[
                    ("duet", &|| timers::duet(delays)),
                    ("duet, timer_slack 0", &|| timers::duet_no_slack(delays)),
                    ("tokio LocalSet+JoinSet", &|| timers::tokio(delays)),
                    ("smol LocalExecutor + async-io", &|| timers::smol(delays)),
                    ("FuturesUnordered + async-io", &|| {
                        timers::futures_unordered(delays)
                    }),
                ],
            ));
        }
    }

    if opts.runs("cancel") {
        let pending = if q { 10_000 } else { 100_000 };
        outcomes.push(compare(
            &opts,
            "5. cancel".into(),
            pending as f64,
            "tasks",
            None,
            &[
                ("duet", &|| cancel::duet(pending).into()),
                ("tokio LocalSet+JoinSet", &|| cancel::tokio(pending).into()),
                ("FuturesUnordered", &|| {
                    cancel::futures_unordered(pending).into()
                }),
                ("smol LocalExecutor", &|| cancel::smol(pending).into()),
                ("moro", &|| cancel::moro(pending).into()),
            ],
        ));
    }

    if opts.runs("pmap") {
        let items = if q { 10_000 } else { 100_000 };
        outcomes.push(compare(
            &opts,
            "6. pmap, limit 64".into(),
            items as f64,
            "items",
            None,
            &[
                ("duet pmap_async", &|| pmap::duet(items).into()),
                ("futures buffered(64)", &|| {
                    pmap::futures_buffered(items).into()
                }),
                ("tokio spawn_local + buffered(64)", &|| {
                    pmap::tokio(items).into()
                }),
                ("smol spawn + buffered(64)", &|| pmap::smol(items).into()),
            ],
        ));
    }

    if opts.runs("memory") {
        outcomes.push(memory(&opts));
    }

    if opts.runs("limiter") {
        let tasks = if q { 10_000 } else { 100_000 };
        outcomes.push(compare(
            &opts,
            "8. fan-out under a limiter of 64".into(),
            tasks as f64,
            "tasks",
            None,
            &[
                ("duet Limiter", &|| limiter::duet(tasks).into()),
                ("tokio Semaphore+JoinSet", &|| limiter::tokio(tasks).into()),
                ("smol + async-lock Semaphore", &|| {
                    limiter::smol(tasks).into()
                }),
                ("FuturesUnordered + async-lock", &|| {
                    limiter::futures_unordered(tasks).into()
                }),
                ("moro + async-lock", &|| limiter::moro(tasks).into()),
            ],
        ));
    }

    if opts.runs("send_nested") {
        let depth = if q { 4 } else { 5 };
        let tasks = (0..=depth).map(|d| 10f64.powi(d as i32)).sum::<f64>();
        outcomes.push(compare(
            &opts,
            "9. send_nested".into(),
            tasks,
            "tasks",
            None,
            &[
                ("duet::send in tokio::spawn", &|| {
                    send_nested::duet(depth).into()
                }),
                ("tokio JoinSet in tokio::spawn", &|| {
                    send_nested::join_set(depth).into()
                }),
                ("FuturesUnordered in tokio::spawn", &|| {
                    send_nested::futures_unordered(depth).into()
                }),
                ("duet::send under duet::run", &|| {
                    send_nested::duet_under_run(depth).into()
                }),
                ("duet::scope under duet::run (workload 2)", &|| {
                    nested::duet(depth).into()
                }),
            ],
        ));
    }

    let load_end = loadavg();
    println!("\nload average at the end: {load_end}");
    if let Some(path) = &opts.json {
        write_json(path, &opts, (&load_start, &load_end), &outcomes);
    }
}
