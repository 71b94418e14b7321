//! Two parts: the per-item overhead of `pmap_async` and of the `Limiter`, side by side
//! with `futures`; and the default reorder window under variable latency, against a
//! `Limiter`-bounded fan-out.
//!
//! ```sh
//! cargo bench --bench pmap             # both parts, full size
//! cargo bench --bench pmap -- --quick  # both parts, smaller (a smoke run)
//! cargo bench --bench pmap -- overhead # the first part only
//! cargo bench --bench pmap -- window   # the second part only
//! ```
//!
//! # Overhead
//!
//! 100,000 items and 11 repetitions (`--quick`: 10,000 and 3). Every row is measured in the same process, alternating which side goes first in each
//! repetition; the table shows medians in nanoseconds per item and the ratio to the peer.
//! Each call awaits once (`duet::yield_now()`, which works under any executor), so the
//! numbers are the machinery's cost, not the work's.
//!
//! - `pmap_async` (limit 64) vs `stream::iter(..).map(..).buffered(64)` driven by
//!   `futures::executor::block_on`;
//! - a scope running one task per item, each holding a `Limiter::new(64)` slot while it
//!   yields, vs the same scope without the limiter (the limiter's own cost);
//! - `try_acquire` + release of an uncontended slot (one lock round-trip each).
//!
//! # Window
//!
//! 1,000 calls, limit 32, each sleeping a latency drawn from a seeded PRNG (see
//! `window.rs`): `pmap_async` with the default window, with `.window(32)` (the limit, the
//! old default) and with `.window(1000)`, against a scope that spawns all 1,000 calls at
//! once, each holding a `Limiter::new(32)` slot while it sleeps (the semaphore fan-out).
//! Makespans are measured on the virtual clock (exact and deterministic: 8 seeds, three
//! latency distributions, and a sweep of windows k x limit over 10,000 calls) and on the
//! real clock (medians of 5 runs), with the time to the first failure of the `try_` forms.
//! `--quick`: 2 seeds, a 2,000-call sweep, 1 real run.

mod window;

use std::hint::black_box;
use std::time::Instant;

use futures::StreamExt;

const LIMIT: usize = 64;

fn per_item(items: usize, f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_nanos() as f64 / items as f64
}

fn duet_pmap(items: usize) {
    let out = duet::run(duet::pmap_async(0..items, Some(LIMIT), async |x| {
        duet::yield_now().await;
        x
    }));
    assert_eq!(out.len(), items);
    black_box(out);
}

fn futures_buffered(items: usize) {
    let out: Vec<usize> = futures::executor::block_on(
        futures::stream::iter(0..items)
            .map(|x| async move {
                duet::yield_now().await;
                x
            })
            .buffered(LIMIT)
            .collect(),
    );
    assert_eq!(out.len(), items);
    black_box(out);
}

fn scope_with_limiter(items: usize) {
    let limiter = duet::Limiter::new(LIMIT);
    duet::run_scope(async |s| {
        for _ in 0..items {
            let limiter = &limiter;
            s.spawn(async move { limiter.run(duet::yield_now()).await });
        }
    })
    .unwrap();
    assert_eq!(limiter.held(), 0);
}

fn scope_without_limiter(items: usize) {
    duet::run_scope(async |s| {
        for _ in 0..items {
            s.spawn(duet::yield_now());
        }
    })
    .unwrap();
}

fn uncontended_slots(items: usize) {
    let limiter = duet::Limiter::new(LIMIT);
    for _ in 0..items {
        black_box(limiter.try_acquire());
    }
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

struct Pair {
    name: &'static str,
    ours: fn(usize),
    peer_name: &'static str,
    peer: Option<fn(usize)>,
    ours_ns: Vec<f64>,
    peer_ns: Vec<f64>,
}

fn main() {
    // `cargo bench` passes `--bench`; `--quick` and a part's name matter here.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let wants = |part: &str| {
        let named = ["overhead", "window"];
        !args.iter().any(|a| named.contains(&a.as_str())) || args.iter().any(|a| a == part)
    };
    if wants("overhead") {
        overhead(quick);
    }
    if wants("window") {
        window::report(quick);
    }
}

fn overhead(quick: bool) {
    let (items, reps) = if quick { (10_000, 3) } else { (100_000, 11) };

    let mut pairs = [
        Pair {
            name: "pmap_async, limit 64",
            ours: duet_pmap,
            peer_name: "futures buffered(64)",
            peer: Some(futures_buffered),
            ours_ns: Vec::new(),
            peer_ns: Vec::new(),
        },
        Pair {
            name: "scope + Limiter::new(64), a task per item",
            ours: scope_with_limiter,
            peer_name: "same scope, no limiter",
            peer: Some(scope_without_limiter),
            ours_ns: Vec::new(),
            peer_ns: Vec::new(),
        },
        Pair {
            name: "Limiter::try_acquire + release, uncontended",
            ours: uncontended_slots,
            peer_name: "-",
            peer: None,
            ours_ns: Vec::new(),
            peer_ns: Vec::new(),
        },
    ];

    // Warm-up: one small run of everything.
    for pair in &pairs {
        (pair.ours)(items / 10);
        if let Some(peer) = pair.peer {
            peer(items / 10);
        }
    }
    for rep in 0..reps {
        for pair in &mut pairs {
            let ours = pair.ours;
            match pair.peer {
                Some(peer) if rep % 2 == 1 => {
                    pair.peer_ns.push(per_item(items, || peer(items)));
                    pair.ours_ns.push(per_item(items, || ours(items)));
                }
                Some(peer) => {
                    pair.ours_ns.push(per_item(items, || ours(items)));
                    pair.peer_ns.push(per_item(items, || peer(items)));
                }
                None => pair.ours_ns.push(per_item(items, || ours(items))),
            }
        }
    }

    println!("{items} items, {reps} repetitions, medians in ns per item\n");
    println!("| duet | ns/item | peer | ns/item | ratio |");
    println!("|---|---:|---|---:|---:|");
    for pair in pairs {
        let ours = median(pair.ours_ns);
        if pair.peer.is_some() {
            let peer = median(pair.peer_ns);
            println!(
                "| {} | {ours:.1} | {} | {peer:.1} | {:.2}x |",
                pair.name,
                pair.peer_name,
                ours / peer
            );
        } else {
            println!("| {} | {ours:.1} | {} | | |", pair.name, pair.peer_name);
        }
    }
}
