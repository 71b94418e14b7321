//! duet's ordering-sensitive promises, checked under exploration (`duet::sim`): each
//! test runs under many seeded schedules, and asserts what must hold in every one of
//! them (with drop and live counters, never a hard-coded order).

use std::time::Duration;

/// A run nested in a simulated one shares its virtual clock, as a run nested in a
/// virtual-clock run does (`design/time.md`): a timer set outside the nested run may be
/// awaited inside it, and the time the nested run takes has passed for its caller.
#[test]
fn a_run_nested_in_a_simulated_run_shares_its_clock() {
    for config in [
        duet::Config::new().virtual_clock(),
        duet::Config::new().simulated(1),
    ] {
        let elapsed = duet::run_with(config, async {
            let start = duet::now();
            let sleep = duet::sleep(Duration::from_secs(10)); // set on the outer clock
            duet::run(sleep);
            duet::now() - start
        });
        assert_eq!(elapsed, Duration::from_secs(10));
    }
}
