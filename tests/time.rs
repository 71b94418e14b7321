//! Time on the real clock: sleeps last about as long as asked (generous bounds only),
//! timeouts drop what they cut, deadline scopes cancel every child, the loop parks
//! instead of spinning, and timer registrations follow their future's life.
//!
//! Exact timings are asserted in `virtual_clock.rs`; here only what the real clock can
//! promise is checked: never early, and not absurdly late.

mod common;

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::future::Future;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use common::{CountingWaker, DropFlag, Probe, panic_message};
use duet::{CancelReason, JoinError, ScopeError};
use futures::future::pending;

/// Upper bound for anything that should take a few milliseconds: generous enough for a
/// loaded 2-core CI machine.
const GENEROUS: Duration = Duration::from_secs(2);

#[test]
fn sleep_lasts_at_least_its_duration_and_not_much_longer() {
    let start = Instant::now();
    duet::run(duet::sleep(Duration::from_millis(50)));
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(50),
        "woke early: {elapsed:?}"
    );
    assert!(elapsed < GENEROUS, "woke far too late: {elapsed:?}");
}

#[test]
fn sleep_until_lasts_until_the_deadline() {
    let deadline = Instant::now() + Duration::from_millis(30);
    duet::run(duet::sleep_until(deadline));
    assert!(Instant::now() >= deadline);
}

#[test]
fn sleeping_parks_the_thread_instead_of_polling_in_a_loop() {
    let probe = Probe::new();
    duet::run(probe.track(duet::sleep(Duration::from_millis(50))));
    // One poll to register, one when the timer fires; a few spurious unparks are
    // tolerated, a busy loop would poll thousands of times.
    assert!(probe.polls() <= 10, "polled {} times", probe.polls());
}

#[test]
fn concurrent_sleeps_finish_in_deadline_order() {
    let order = RefCell::new(Vec::new());
    duet::run_scope(async |s| {
        // One base instant, so that a descheduled round cannot reorder the deadlines.
        let base = duet::now();
        for ms in [40u64, 10, 30, 20] {
            let order = &order;
            s.spawn(async move {
                duet::sleep_until(base + Duration::from_millis(ms)).await;
                order.borrow_mut().push(ms);
            });
        }
    })
    .unwrap();
    assert_eq!(*order.borrow(), [10, 20, 30, 40]);
}

#[test]
fn timeout_elapses_and_the_awaited_future_is_dropped_before_the_error_is_returned() {
    let probe = Probe::new();
    let start = Instant::now();
    duet::run(async {
        let mut cut = pin!(duet::timeout(
            Duration::from_millis(20),
            probe.track(pending::<()>())
        ));
        let result = (&mut cut).await;
        assert!(result.is_err());
        // The Timeout still exists, yet the inner future is already gone.
        assert_eq!((probe.dropped(), probe.completed()), (1, 0));
    });
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(20) && elapsed < GENEROUS,
        "{elapsed:?}"
    );
}

#[test]
fn work_finishing_inside_a_ten_second_timeout_returns_normally_and_promptly() {
    let start = Instant::now();
    let r = duet::run(duet::timeout(Duration::from_secs(10), async {
        duet::sleep(Duration::from_millis(10)).await;
        "done"
    }));
    assert_eq!(r, Ok("done"));
    assert!(start.elapsed() < GENEROUS, "{:?}", start.elapsed());
}

#[test]
fn deadline_scope_cancels_every_child_and_reports_timed_out() {
    let flags: Vec<_> = (0..10).map(|_| Rc::new(Cell::new(false))).collect();
    let handles = RefCell::new(Vec::new());
    let start = Instant::now();
    let r = duet::run(duet::timeout_scope(Duration::from_millis(30), async |s| {
        for flag in &flags {
            let guard = DropFlag(flag.clone());
            handles.borrow_mut().push(s.spawn(async move {
                let _guard = guard;
                pending::<()>().await;
            }));
        }
        pending::<()>().await;
        Ok::<_, Infallible>(())
    }));
    let error = r.unwrap_err();
    assert!(error.is_timeout() && error.is_cancelled() && !error.is_failed());
    assert_eq!(error.cancel_reason(), Some(&CancelReason::TimedOut));
    assert!(
        flags.iter().all(|f| f.get()),
        "every child's guard was dropped"
    );
    for handle in handles.take() {
        let outcome = duet::run(handle);
        assert_eq!(outcome, Err(JoinError::Cancelled(CancelReason::TimedOut)));
        assert!(outcome.unwrap_err().is_timeout());
    }
    assert!(start.elapsed() >= Duration::from_millis(30));
}

#[test]
fn a_timed_out_scope_is_told_apart_from_failure_and_explicit_cancel() {
    // (A `yield_now` would not do: the scope runs the body again in the same poll, and a
    // value ready in that poll wins, as for `timeout(Duration::ZERO, scope(..))`.)
    let timed_out = duet::run(duet::timeout_scope(Duration::ZERO, async |_s| {
        duet::sleep(Duration::from_millis(10)).await;
        Ok::<_, &str>(())
    }));
    let cancelled = duet::run_scope(async |s| {
        s.cancel();
        Ok::<_, &str>(())
    });
    let failed = duet::run(duet::timeout_scope(Duration::from_secs(10), async |s| {
        s.spawn(async { Err::<(), _>("boom") });
        Ok(())
    }));
    let (timed_out, cancelled, failed) = (
        timed_out.unwrap_err(),
        cancelled.unwrap_err(),
        failed.unwrap_err(),
    );
    assert!(timed_out.is_timeout());
    assert!(!cancelled.is_timeout() && cancelled.is_cancelled());
    assert!(!failed.is_timeout() && failed.is_failed());
    assert_eq!(
        timed_out.to_string(),
        "scope cancelled because its deadline passed"
    );
}

#[test]
fn a_scope_that_finishes_in_time_returns_its_value_and_releases_its_timer() {
    let start = Instant::now();
    let r = duet::run(duet::timeout_scope(Duration::from_secs(30), async |s| {
        let h = s.spawn(async {
            duet::sleep(Duration::from_millis(5)).await;
            Ok(3)
        });
        Ok::<_, Infallible>(h.await.unwrap() * 2)
    }));
    assert_eq!(r.unwrap(), 6);
    assert!(start.elapsed() < GENEROUS);
}

#[test]
fn a_pending_sleep_is_never_reported_as_a_deadlock() {
    // The body waits for nothing anyone holds; only the sleeping child keeps the tree
    // alive, and that is enough.
    let r = duet::run_scope(async |s| {
        let h = s.spawn(async {
            duet::sleep(Duration::from_millis(20)).await;
            Ok(1)
        });
        Ok::<_, Infallible>(h.await.unwrap())
    });
    assert_eq!(r.unwrap(), 1);
}

#[test]
fn a_deadlock_is_still_reported_once_the_timers_are_done() {
    let msg = panic_message(|| {
        duet::run_scope(async |s| {
            s.spawn(duet::sleep(Duration::from_millis(5)));
            pending::<()>().await;
        })
        .unwrap();
    });
    assert!(msg.contains("deadlock"), "{msg}");
}

#[test]
fn a_deadline_scope_is_not_stuck_while_its_timer_is_pending() {
    // Nothing but the deadline can end this scope: it must time out, not be reported as
    // a deadlock.
    let r = duet::run(duet::timeout_scope(Duration::from_millis(10), async |_s| {
        pending::<()>().await;
        Ok::<_, Infallible>(())
    }));
    assert!(r.unwrap_err().is_timeout());
}

#[test]
fn a_loop_parked_on_a_far_future_timer_still_wakes_for_other_events() {
    let r = duet::run_scope(async |s| {
        let handle = s.cancel_handle();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            handle.cancel();
        });
        duet::sleep(Duration::MAX).await;
        Ok::<_, Infallible>(())
    });
    assert_eq!(
        r.unwrap_err().cancel_reason(),
        Some(&CancelReason::Explicit)
    );
}

#[test]
fn duration_max_and_far_future_instants_saturate_instead_of_panicking() {
    duet::run(async {
        let now = duet::now();
        let forever = duet::sleep(Duration::MAX);
        let horizon = forever.deadline() - now;
        assert!(
            horizon >= Duration::from_secs(86_400 * 365 * 29),
            "{horizon:?}"
        );
        let far = Instant::now().checked_add(Duration::from_secs(1 << 40));
        if let Some(far) = far {
            assert!(duet::sleep_until(far).deadline() <= now + horizon + Duration::from_secs(1));
        }
        assert_eq!(duet::timeout(Duration::MAX, async { 1 }).await, Ok(1));
        let cut = duet::timeout(Duration::from_millis(5), duet::sleep(Duration::MAX)).await;
        assert!(cut.is_err());
        assert_eq!(
            duet::deadline(now + Duration::MAX.min(horizon), async { 2 }).await,
            Ok(2)
        );
    });
}

#[test]
fn a_dropped_sleep_releases_its_waker() {
    duet::run(async {
        let counter = CountingWaker::new();
        let waker = Waker::from(counter.clone());
        let mut sleep = duet::sleep(Duration::from_secs(3600));
        let baseline = Arc::strong_count(&counter);
        assert!(poll_with(&mut sleep, &waker).is_pending());
        assert_eq!(
            Arc::strong_count(&counter),
            baseline + 1,
            "the timer holds a clone"
        );
        drop(sleep);
        assert_eq!(
            Arc::strong_count(&counter),
            baseline,
            "and releases it on drop"
        );
    });
}

#[test]
fn re_polling_a_sleep_with_a_new_waker_replaces_the_old_one() {
    duet::run(async {
        let first = CountingWaker::new();
        let second = CountingWaker::new();
        let mut sleep = duet::sleep(Duration::from_millis(10));
        assert!(poll_with(&mut sleep, &Waker::from(first.clone())).is_pending());
        assert!(poll_with(&mut sleep, &Waker::from(second.clone())).is_pending());
        assert_eq!(Arc::strong_count(&first), 1, "the first waker was released");
        duet::sleep(Duration::from_millis(30)).await;
        assert_eq!((first.wakes(), second.wakes()), (0, 1));
        assert!(poll_with(&mut sleep, &Waker::from(second.clone())).is_ready());
    });
}

#[test]
fn a_completed_timeout_panics_when_polled_again() {
    let msg = panic_message(|| {
        duet::run(async {
            let mut t = pin!(duet::timeout(Duration::from_secs(1), async {}));
            (&mut t).await.unwrap();
            let _ = futures::poll!(t);
        });
    });
    assert_eq!(msg, "duet: a Timeout was polled again after it completed");
}

#[test]
fn one_hundred_thousand_concurrent_timers_complete() {
    const TASKS: u64 = 100_000;
    let done = Cell::new(0u64);
    let start = Instant::now();
    duet::run_scope(async |s| {
        for i in 0..TASKS {
            let done = &done;
            s.spawn(async move {
                duet::sleep(Duration::from_micros(i % 20_000)).await;
                done.set(done.get() + 1);
            });
        }
    })
    .unwrap();
    assert_eq!(done.get(), TASKS);
    assert!(start.elapsed() >= Duration::from_millis(19));
}

#[test]
fn cancelling_most_of_many_timers_keeps_the_rest_working() {
    // 10,000 sleeping tasks of which 9,000 are cancelled: the dead entries are cleaned
    // up and the survivors still fire.
    let fired = Cell::new(0);
    duet::run_scope(async |s| {
        let mut handles = Vec::new();
        for i in 0..10_000u32 {
            let fired = &fired;
            // Survivors sleep a few ms; the ones to cancel sleep an hour, so that no
            // scheduling delay lets them finish first.
            let d = if i % 10 == 0 {
                Duration::from_millis(u64::from(i % 7))
            } else {
                Duration::from_secs(3600)
            };
            handles.push(s.spawn(async move {
                duet::sleep(d).await;
                fired.set(fired.get() + 1);
            }));
        }
        duet::yield_now().await; // let every task register its timer
        for (i, h) in handles.iter().enumerate() {
            if i % 10 != 0 {
                h.cancel();
            }
        }
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.await.is_ok(), i % 10 == 0);
        }
    })
    .unwrap();
    assert_eq!(fired.get(), 1_000);
}

#[test]
fn scope_options_with_both_limits_use_the_earlier() {
    let start = Instant::now();
    let options = duet::ScopeOptions::new()
        .timeout(Duration::from_secs(60))
        .deadline(Instant::now() + Duration::from_millis(10));
    let r = duet::run(duet::scope_with(options, async |_s| {
        pending::<()>().await;
        Ok::<_, Infallible>(())
    }));
    assert!(matches!(
        r,
        Err(ScopeError::Cancelled {
            reason: CancelReason::TimedOut,
            ..
        })
    ));
    assert!(start.elapsed() < GENEROUS);
}

/// Polls a future once with `waker`.
fn poll_with<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    std::pin::Pin::new(future).poll(&mut Context::from_waker(waker))
}

#[test]
fn timers_under_a_nested_run_are_its_own_and_an_outer_timeout_waits_for_it() {
    let start = Instant::now();
    let r = duet::run(duet::timeout(Duration::from_millis(5), async {
        // The nested root runs to completion: the outer 5 ms timeout cannot reach it.
        let nested = duet::run(async {
            duet::sleep(Duration::from_millis(30)).await;
            "nested done"
        });
        assert!(start.elapsed() >= Duration::from_millis(30));
        duet::yield_now().await; // the outer timeout, long passed, fires here
        nested
    }));
    assert!(r.is_err());
    assert!(start.elapsed() < GENEROUS);
}

#[test]
fn with_zero_timer_slack_sleeps_still_never_end_early() {
    let config = duet::Config::new().timer_slack(Duration::ZERO);
    let start = Instant::now();
    duet::run_with(config, async {
        for _ in 0..5 {
            let before = Instant::now();
            duet::sleep(Duration::from_millis(3)).await;
            assert!(before.elapsed() >= Duration::from_millis(3));
        }
    });
    assert!(start.elapsed() < GENEROUS);
}

#[test]
fn due_timers_fire_while_a_task_yields_in_a_loop() {
    let _watchdog = common::watchdog("a yield loop waiting for a sleep", Duration::from_secs(20));
    let flag = Cell::new(false);
    let spins = Cell::new(0u64);
    duet::run_scope(async |s| {
        let (flag, spins) = (&flag, &spins);
        s.spawn(async move {
            while !flag.get() {
                spins.set(spins.get() + 1);
                duet::yield_now().await;
            }
        });
        s.spawn(async move {
            duet::sleep(Duration::from_millis(10)).await;
            flag.set(true);
        });
        Ok::<_, Infallible>(())
    })
    .unwrap();
    assert!(flag.get());
    assert!(
        spins.get() > 0,
        "the spinning task ran while the timer was pending"
    );
}

#[test]
fn a_timeout_fires_around_a_future_that_yields_forever() {
    let _watchdog = common::watchdog("a timeout around a yield loop", Duration::from_secs(20));
    let start = Instant::now();
    let r = duet::run_scope(async |s| {
        // A sibling that spins too, so the loop never goes idle.
        let spinner = s.spawn(async {
            loop {
                duet::yield_now().await;
            }
        });
        let r = duet::timeout(Duration::from_millis(20), async {
            loop {
                duet::yield_now().await;
            }
        })
        .await;
        spinner.cancel();
        Ok::<_, Infallible>(r)
    })
    .unwrap();
    assert!(r.is_err());
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert!(start.elapsed() < GENEROUS);
}

#[test]
fn due_timers_fire_while_a_yield_loop_runs_three_scopes_deep() {
    // Every level of scopes multiplies how long one poll of the root can take unless the
    // poll budget counts the polls of nested scopes too.
    let _watchdog = common::watchdog("a deep yield loop", Duration::from_secs(20));
    async fn spinners(depth: u32) {
        let _ = duet::scope(async |s| {
            for _ in 0..4 {
                s.spawn(async move {
                    if depth == 0 {
                        loop {
                            duet::yield_now().await;
                        }
                    } else {
                        Box::pin(spinners(depth - 1)).await;
                    }
                });
            }
            Ok::<_, Infallible>(())
        })
        .await;
    }
    let start = Instant::now();
    let r = duet::run(duet::timeout(Duration::from_millis(20), spinners(3)));
    assert!(r.is_err());
    assert!(start.elapsed() < GENEROUS);
}

/// Resident memory, from `/proc/self/statm` (Linux), in KiB.
#[cfg(target_os = "linux")]
fn resident_kib() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<usize>()
        .unwrap()
        * 4
}

#[test]
#[cfg(target_os = "linux")]
fn timers_made_and_dropped_within_one_poll_hold_no_memory_until_it_yields() {
    // Each sleep is polled once with the task's own waker (registered, and reported as
    // what the task waits on), then dropped; one live timer keeps the queue non-empty.
    let grown = duet::run(async {
        let _live = duet::sleep(Duration::from_secs(100));
        let before = resident_kib();
        std::future::poll_fn(|cx| {
            for _ in 0..500_000 {
                let mut sleep = duet::sleep(Duration::from_secs(10));
                assert!(Pin::new(&mut sleep).poll(cx).is_pending());
            }
            Poll::Ready(())
        })
        .await;
        resident_kib().saturating_sub(before)
    });
    // Before the fix the wait reports alone grew by about 12 MiB here.
    assert!(grown < 4096, "grew by {grown} KiB");
}
