//! The claims of `examples/testing.rs`, checked in `cargo test`: its planted stale-fill
//! bug never shows in a plain run, exploration finds it (from several families of seeds,
//! not only the default one), a replay of the reported seed fails at the same step with
//! the same message, and the fixed cache passes the same exploration.
//!
//! If exploration stops finding the bug (a change to the scheduler or to the example),
//! these fail, and the example's top comment needs another look.

#[path = "../examples/testing.rs"]
#[allow(dead_code)] // the example's `main` and its printing helper
mod testing;

use duet::sim::{Explorer, Failure};
use testing::{Fill, RUNS, price_service};

/// Seed families (`Explorer::first_run`) the claims must hold for.
const FAMILIES: [u64; 6] = [0, 1_000, 2_000, 3_000, 1 << 32, u64::MAX - 500];

fn explore_buggy(first: u64) -> Failure {
    Explorer::new()
        .runs(RUNS)
        .first_run(first)
        .explore(|| price_service(Fill::Blind))
        .expect_err("exploration did not find the stale fill")
}

#[test]
fn a_plain_run_never_shows_the_stale_fill() {
    duet::run(price_service(Fill::Blind));
    // Nor a plain run on the virtual clock: the order, not the clock, hides the bug.
    duet::run_with(
        duet::Config::new().virtual_clock(),
        price_service(Fill::Blind),
    );
}

#[test]
fn exploration_finds_the_stale_fill_from_every_seed_family() {
    for first in FAMILIES {
        let failure = explore_buggy(first);
        assert!(
            failure.message().contains("a stale cache entry"),
            "first_run({first}) failed for another reason: {failure}"
        );
        // The panic happened in a quote server, so the report has the tree of that moment.
        let dump = failure
            .dump()
            .expect("a task panicked: the report has its tree");
        assert!(dump.contains("spawned at"), "{dump}");
        let report = failure.to_string();
        assert!(
            report.contains(&format!("DUET_SEED={:#x}", failure.seed())),
            "{report}"
        );
    }
}

#[test]
fn a_replayed_seed_fails_at_the_same_step_with_the_same_message() {
    for first in FAMILIES {
        let failure = explore_buggy(first);
        for _ in 0..2 {
            let replay = Explorer::new()
                .replay(failure.seed())
                .explore(|| price_service(Fill::Blind))
                .expect_err("the replay passed");
            assert_eq!(replay.seed(), failure.seed());
            assert_eq!(replay.step(), failure.step());
            assert_eq!(replay.message(), failure.message());
        }
    }
}

#[test]
fn the_fixed_cache_passes_the_same_exploration() {
    for first in FAMILIES {
        let report = Explorer::new()
            .runs(RUNS)
            .first_run(first)
            .explore(|| price_service(Fill::Checked))
            .unwrap_or_else(|failure| panic!("the fixed cache failed:\n{failure}"));
        assert_eq!(report.runs(), RUNS);
        assert!(report.schedules() > 1, "exploration varied nothing");
    }
}
