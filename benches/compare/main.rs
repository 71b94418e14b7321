//! duet against its peers, workload by workload, in one run.
//!
//! ```text
//! cargo bench --bench compare              # full run (a few minutes on 2 cores)
//! cargo bench --bench compare -- --quick   # smoke run: smaller sizes, fewer repetitions
//! cargo bench --bench compare -- --only spawn_join --reps 7
//! ```
//!
//! Each workload runs every peer in turn, alternating peers within each repetition so
//! that machine noise spreads evenly, and prints the median time, the cost per task and
//! the ratio duet/peer (below 1.00: duet is faster). Results are recorded in
//! `design/performance.md`.

mod cancel;
mod common;
mod cross_thread;
mod memory;
mod nested;
mod spawn_join;

use std::time::Duration;

use common::median;

struct Options {
    quick: bool,
    reps: usize,
    only: Option<String>,
}

fn parse_options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--memory-child") {
        memory::child(&args[i + 1], args[i + 2].parse().expect("child count"));
    }
    let quick = args.iter().any(|a| a == "--quick");
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .map(|i| args[i + 1].clone())
    };
    Options {
        quick,
        reps: value("--reps").map_or(if quick { 2 } else { 5 }, |r| r.parse().expect("--reps N")),
        only: value("--only"),
    }
}

/// One peer's entry in a workload: its name and how to run it once.
type Peer<'a> = (&'static str, &'a dyn Fn() -> Duration);

/// Runs every peer `reps` times, alternating, and prints medians and ratios.
fn compare(opts: &Options, name: &str, tasks: f64, unit: &str, peers: &[Peer<'_>]) {
    if opts.only.as_deref().is_some_and(|only| only != name) {
        return;
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); peers.len()];
    for _ in 0..opts.reps {
        for (i, (_, run)) in peers.iter().enumerate() {
            samples[i].push(run().as_secs_f64());
        }
    }
    let medians: Vec<f64> = samples.iter_mut().map(|s| median(s)).collect();
    let duet = medians[0];
    println!("\n{name} ({tasks} {unit}, median of {} runs)", opts.reps);
    println!(
        "  {:<22} {:>12} {:>14} {:>12}",
        "peer", "median", "per unit", "duet/peer"
    );
    for ((peer, _), m) in peers.iter().zip(&medians) {
        println!(
            "  {:<22} {:>9.2} ms {:>11.1} ns {:>12.2}",
            peer,
            m * 1e3,
            m * 1e9 / tasks,
            duet / m
        );
    }
}

fn main() {
    let opts = parse_options();
    let q = opts.quick;
    println!(
        "duet compare: {} mode, {} repetitions",
        if q { "quick" } else { "full" },
        opts.reps
    );

    let n: u64 = if q { 100_000 } else { 1_000_000 };
    compare(
        &opts,
        "spawn_join",
        n as f64,
        "tasks",
        &[
            ("duet", &|| spawn_join::duet(n)),
            ("tokio LocalSet+JoinSet", &|| spawn_join::tokio(n)),
            ("FuturesUnordered", &|| spawn_join::futures_unordered(n)),
            ("smol LocalExecutor", &|| spawn_join::smol(n)),
            ("moro", &|| spawn_join::moro(n)),
        ],
    );

    let depth = if q { 4 } else { 5 };
    let tasks = (0..=depth).map(|d| 10f64.powi(d as i32)).sum::<f64>();
    compare(
        &opts,
        "nested",
        tasks,
        "tasks",
        &[
            ("duet", &|| nested::duet(depth)),
            ("tokio LocalSet+JoinSet", &|| nested::tokio(depth)),
            ("FuturesUnordered", &|| nested::futures_unordered(depth)),
            ("smol LocalExecutor", &|| nested::smol(depth)),
            ("moro", &|| nested::moro(depth)),
        ],
    );

    let rounds: u64 = if q { 10_000 } else { 100_000 };
    compare(
        &opts,
        "wake_cross_thread",
        rounds as f64,
        "round trips",
        &[
            ("duet", &|| cross_thread::duet(rounds)),
            ("two threads (OS floor)", &|| cross_thread::floor(rounds)),
            ("tokio current-thread", &|| cross_thread::tokio(rounds)),
            ("tokio multi-thread", &|| {
                cross_thread::tokio_multi_thread(rounds)
            }),
            ("futures block_on", &|| {
                cross_thread::futures_block_on(rounds)
            }),
        ],
    );

    let pending = if q { 10_000 } else { 100_000 };
    compare(
        &opts,
        "cancel",
        pending as f64,
        "tasks",
        &[
            ("duet", &|| cancel::duet(pending)),
            ("tokio LocalSet+JoinSet", &|| cancel::tokio(pending)),
            ("FuturesUnordered", &|| cancel::futures_unordered(pending)),
            ("smol LocalExecutor", &|| cancel::smol(pending)),
            ("moro", &|| cancel::moro(pending)),
        ],
    );

    if opts.only.as_deref().is_none_or(|only| only == "memory") {
        let children = if q { 100_000 } else { 1_000_000 };
        println!("\nmemory ({children} pending children, bytes per child, fresh process each)");
        let peers = ["duet", "tokio", "futures_unordered", "smol", "moro"];
        let duet = memory::measure("duet", children);
        for peer in peers {
            let bytes = if peer == "duet" {
                duet
            } else {
                memory::measure(peer, children)
            };
            println!("  {peer:<22} {bytes:>8.0} B {:>12.2}", duet / bytes);
        }
    }
}
