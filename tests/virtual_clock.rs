//! Time on the virtual clock: exact elapsed times, nested deadlines, nested runs, and
//! misuse of virtual deadlines outside their clock.
//!
//! On a virtual clock time stands still while tasks run and jumps to the next deadline
//! when every task waits, so every assertion here is exact and every test is instant.

mod common;

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::time::{Duration, Instant};

use common::{DropFlag, Probe, panic_message};
use duet::{CancelReason, Config, Elapsed, JoinError};
use futures::future::pending;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Runs `f` on a virtual clock and returns its output and the virtual time it took.
fn virtual_run<T>(f: impl AsyncFnOnce() -> T) -> (T, Duration) {
    duet::run_with(Config::new().virtual_clock(), async {
        let start = duet::now();
        let out = f().await;
        (out, duet::now() - start)
    })
}

#[test]
fn an_hour_of_sleep_is_instant_and_advances_now_by_exactly_an_hour() {
    let wall = Instant::now();
    let ((), took) = virtual_run(async || duet::sleep(secs(3600)).await);
    assert_eq!(took, secs(3600));
    assert!(
        wall.elapsed() < secs(2),
        "virtual time must not be slept through"
    );
}

#[test]
fn time_stands_still_while_tasks_run() {
    let (same, _) = virtual_run(async || {
        let before = duet::now();
        std::thread::sleep(ms(20)); // real time passes; virtual time does not
        duet::yield_now().await;
        duet::now() == before
    });
    assert!(same);
}

#[test]
fn concurrent_sleeps_end_at_their_exact_virtual_times() {
    let log = RefCell::new(Vec::new());
    let ((), took) = virtual_run(async || {
        let start = duet::now();
        duet::scope(async |s| {
            for d in [300u64, 100, 200, 100] {
                let log = &log;
                s.spawn(async move {
                    duet::sleep(ms(d)).await;
                    log.borrow_mut().push((d, duet::now() - start));
                });
            }
        })
        .await
        .unwrap();
    });
    assert_eq!(
        *log.borrow(),
        [
            (100, ms(100)),
            (100, ms(100)),
            (200, ms(200)),
            (300, ms(300))
        ]
    );
    assert_eq!(took, ms(300));
}

#[test]
fn sequential_sleeps_add_up_exactly() {
    let ((), took) = virtual_run(async || {
        for _ in 0..10 {
            duet::sleep(ms(250)).await;
        }
    });
    assert_eq!(took, ms(2500));
}

#[test]
fn timeout_fires_at_its_exact_deadline_and_drops_the_future() {
    let probe = Probe::new();
    let (r, took) =
        virtual_run(async || duet::timeout(ms(750), probe.track(pending::<()>())).await);
    assert!(r.is_err());
    assert_eq!(took, ms(750));
    assert_eq!(probe.cancelled(), 1);
}

#[test]
fn an_inner_long_sleep_under_an_outer_short_timeout_ends_with_the_outer_result() {
    let (r, took) = virtual_run(async || {
        duet::timeout(ms(500), async {
            duet::timeout(secs(10), duet::sleep(secs(10))).await
        })
        .await
    });
    // Err at the outer level: the outer timeout fired, the inner one did not swallow it.
    assert!(matches!(r, Err(Elapsed { .. })), "{r:?}");
    assert_eq!(took, ms(500));
}

#[test]
fn an_inner_shorter_timeout_fires_first_and_its_result_reaches_the_body() {
    let (r, took) = virtual_run(async || {
        duet::timeout(secs(10), async {
            duet::timeout(ms(500), duet::sleep(secs(10))).await
        })
        .await
    });
    assert!(matches!(r, Ok(Err(_))), "{r:?}");
    assert_eq!(took, ms(500));
}

#[test]
fn equal_deadlines_are_reported_by_the_outer_one() {
    let (r, _) = virtual_run(async || {
        let at = duet::now() + secs(1);
        duet::deadline(at, duet::deadline(at, pending::<()>())).await
    });
    assert!(matches!(r, Err(Elapsed { .. })), "{r:?}");
}

/// Jumps the shared virtual clock by `d` while this task blocks the outer loop: a nested
/// run inherits the clock and has its own timers.
fn block_for(d: Duration) {
    duet::run(duet::sleep(d));
}

#[test]
fn when_the_loop_is_late_past_two_deadlines_the_earlier_one_still_wins() {
    // Inner deadline earlier: the inner reports.
    let (inner_first, _) = virtual_run(async || {
        let t0 = duet::now();
        duet::deadline(t0 + secs(2), async {
            duet::deadline(t0 + secs(1), async {
                block_for(secs(5));
                pending::<()>().await
            })
            .await
        })
        .await
    });
    assert!(matches!(inner_first, Ok(Err(_))), "{inner_first:?}");

    // Outer deadline earlier: the outer reports, although the inner one passed too.
    let (outer_first, _) = virtual_run(async || {
        let t0 = duet::now();
        duet::deadline(t0 + secs(1), async {
            duet::deadline(t0 + secs(2), async {
                block_for(secs(5));
                pending::<()>().await
            })
            .await
        })
        .await
    });
    assert!(
        matches!(outer_first, Err(Elapsed { .. })),
        "{outer_first:?}"
    );
}

#[test]
fn repeated_sleeps_inside_a_timeout_scope_are_cut_at_the_deadline() {
    let ticks = Cell::new(0);
    let (r, took) = virtual_run(async || {
        duet::timeout_scope(secs(1), async |_s: duet::Scope<'_>| {
            loop {
                duet::sleep(ms(300)).await;
                ticks.set(ticks.get() + 1);
            }
        })
        .await
    });
    assert!(r.unwrap_err().is_timeout());
    assert_eq!(ticks.get(), 3, "ticks at 300, 600 and 900 ms");
    assert_eq!(took, secs(1));
}

#[test]
fn an_outer_timeout_cuts_an_inner_deadline_scope() {
    let flag = std::rc::Rc::new(Cell::new(false));
    let (r, took) = virtual_run(async || {
        let guard = DropFlag(flag.clone());
        duet::timeout(
            ms(500),
            duet::timeout_scope(secs(10), async |s| {
                s.spawn(async move {
                    let _guard = guard;
                    duet::sleep(secs(10)).await;
                });
                Ok::<_, Infallible>(())
            }),
        )
        .await
    });
    assert!(r.is_err(), "the outer timeout reports: {r:?}");
    assert!(flag.get());
    assert_eq!(took, ms(500));
}

#[test]
fn an_outer_deadline_scope_cuts_inner_timeouts_and_reports_timed_out() {
    let inner_results = RefCell::new(Vec::new());
    let (r, took) = virtual_run(async || {
        duet::timeout_scope(ms(500), async |s| {
            for _ in 0..3 {
                let inner_results = &inner_results;
                s.spawn(async move {
                    let r = duet::timeout(secs(10), duet::sleep(secs(10))).await;
                    inner_results.borrow_mut().push(r); // never reached
                });
            }
            Ok::<_, Infallible>(())
        })
        .await
    });
    assert!(r.unwrap_err().is_timeout());
    assert!(inner_results.borrow().is_empty());
    assert_eq!(took, ms(500));
}

#[test]
fn nested_deadline_scopes_compose_earliest_first() {
    let (r, took) = virtual_run(async || {
        duet::timeout_scope(secs(10), async |_s| {
            let inner = duet::timeout_scope(secs(2), async |s| {
                s.spawn(duet::sleep(secs(60)));
                Ok::<_, Infallible>(())
            })
            .await;
            Ok::<_, Infallible>(inner.unwrap_err().is_timeout())
        })
        .await
    });
    assert!(
        r.unwrap(),
        "the inner scope timed out and the outer one carried on"
    );
    assert_eq!(took, secs(2));
}

#[test]
fn join_handles_of_tasks_dropped_by_a_deadline_report_timed_out() {
    let handles = RefCell::new(Vec::new());
    let (r, _) = virtual_run(async || {
        duet::timeout_scope(secs(1), async |s| {
            handles.borrow_mut().push(s.spawn(duet::sleep(secs(5))));
            handles.borrow_mut().push(s.spawn(pending::<()>()));
            Ok::<_, Infallible>(())
        })
        .await
    });
    assert!(r.unwrap_err().is_timeout());
    for h in handles.take() {
        assert_eq!(
            duet::run(h),
            Err(JoinError::Cancelled(CancelReason::TimedOut))
        );
    }
}

#[test]
fn a_zero_timeout_fires_at_the_next_await() {
    let after_await = Cell::new(false);
    let ((ready, cut), took) = virtual_run(async || {
        let ready = duet::timeout(Duration::ZERO, async { 5 }).await;
        let cut = duet::timeout(Duration::ZERO, async {
            duet::yield_now().await;
            after_await.set(true);
        })
        .await;
        (ready, cut)
    });
    assert_eq!(ready, Ok(5), "work that needs no await completes");
    assert!(cut.is_err());
    assert!(
        !after_await.get(),
        "the future was dropped at its first await"
    );
    assert_eq!(took, Duration::ZERO);
}

#[test]
fn a_zero_timeout_scope_keeps_what_its_first_poll_finishes_and_cuts_the_rest() {
    // As `timeout(Duration::ZERO, scope(..))`: the scope's first poll runs what is ready
    // (the child, the body past its yield); the first wait that is not ready is cut.
    let reached = RefCell::new(Vec::new());
    let (r, took) = virtual_run(async || {
        duet::timeout_scope(Duration::ZERO, async |s| {
            reached.borrow_mut().push("body start");
            s.spawn(async { reached.borrow_mut().push("child") });
            duet::yield_now().await;
            reached.borrow_mut().push("after the yield");
            duet::sleep(ms(1)).await;
            reached
                .borrow_mut()
                .push("never: cut at its first real wait");
            Ok::<_, Infallible>(())
        })
        .await
    });
    assert!(r.unwrap_err().is_timeout());
    assert_eq!(
        *reached.borrow(),
        ["body start", "child", "after the yield"]
    );
    assert_eq!(took, Duration::ZERO);
    let (by_scope, _) = virtual_run(async || {
        duet::timeout_scope(Duration::ZERO, async |s| {
            let h = s.spawn(async { Ok(3) });
            Ok::<_, Infallible>(h.await.unwrap())
        })
        .await
    });
    let (by_timeout, _) = virtual_run(async || {
        duet::timeout(
            Duration::ZERO,
            duet::scope(async |s| {
                let h = s.spawn(async { Ok(3) });
                Ok::<_, Infallible>(h.await.unwrap())
            }),
        )
        .await
    });
    assert_eq!(by_scope.unwrap(), 3, "ready within the first poll: kept");
    assert_eq!(
        by_timeout.unwrap().unwrap(),
        3,
        "the same with timeout around a scope"
    );
}

#[test]
fn duration_max_saturates_on_the_virtual_clock() {
    let (r, took) = virtual_run(async || duet::timeout(Duration::MAX, duet::sleep(secs(1))).await);
    assert_eq!(r, Ok(()));
    assert_eq!(took, secs(1));
    // A sleep of Duration::MAX ends at the 30-year horizon instead of overflowing.
    let ((), took) = virtual_run(async || duet::sleep(Duration::MAX).await);
    assert!(took >= Duration::from_secs(86_400 * 365 * 29), "{took:?}");
}

#[test]
fn a_nested_run_inherits_the_virtual_clock_with_its_own_timers() {
    let (inner, took) = virtual_run(async || {
        let outer_start = duet::now();
        duet::run(async move {
            assert_eq!(duet::now(), outer_start, "same clock, same time");
            duet::sleep(secs(3600)).await;
            duet::now() - outer_start
        })
    });
    assert_eq!(inner, secs(3600));
    assert_eq!(
        took,
        secs(3600),
        "the outer loop sees the time the nested run spent"
    );
}

#[test]
fn an_outer_deadline_does_not_reach_into_a_nested_run() {
    let (r, took) = virtual_run(async || {
        duet::timeout(ms(100), async {
            // The nested root is isolated: it runs to completion, even far past the outer
            // deadline, and its own timeouts are not pre-empted by the outer one.
            duet::run(async {
                let own = duet::timeout(secs(2), pending::<()>()).await;
                duet::sleep(secs(1)).await;
                own.is_err()
            })
        })
        .await
    });
    assert_eq!(r, Ok(true), "work that completed is returned");
    assert_eq!(took, secs(3));
}

#[test]
fn outer_timers_that_passed_during_a_nested_run_fire_afterwards() {
    let log = RefCell::new(Vec::new());
    let ((), took) = virtual_run(async || {
        let start = duet::now();
        duet::scope(async |s| {
            let log = &log;
            s.spawn(async move {
                duet::sleep(secs(1)).await;
                log.borrow_mut().push(("outer timer", duet::now() - start));
            });
            s.spawn(async move {
                block_for(secs(5));
                log.borrow_mut()
                    .push(("nested run returned", duet::now() - start));
            });
        })
        .await
        .unwrap();
    });
    assert_eq!(
        *log.borrow(),
        [("nested run returned", secs(5)), ("outer timer", secs(5))]
    );
    assert_eq!(took, secs(5));
}

#[test]
fn a_nested_virtual_clock_run_starts_at_the_callers_time() {
    let (ok, _) = virtual_run(async || {
        duet::sleep(secs(10)).await;
        let outer_now = duet::now();
        duet::run_with(Config::new().virtual_clock(), async move {
            duet::now() == outer_now
        })
    });
    assert!(ok);
}

#[test]
fn one_hundred_thousand_timers_complete_at_exact_virtual_times() {
    const TASKS: u64 = 100_000;
    let late = Cell::new(0u64);
    let ((), took) = virtual_run(async || {
        duet::scope(async |s| {
            for i in 0..TASKS {
                let late = &late;
                s.spawn(async move {
                    // A deterministic spread over 0..50 ms.
                    let d = Duration::from_micros(i.wrapping_mul(7919) % 50_000);
                    let deadline = duet::now() + d;
                    duet::sleep(d).await;
                    if duet::now() != deadline {
                        late.set(late.get() + 1);
                    }
                });
            }
        })
        .await
        .unwrap();
    });
    assert_eq!(late.get(), 0, "each timer fired exactly at its deadline");
    assert!(took < ms(50));
}

#[test]
fn a_virtual_deadline_awaited_under_the_real_clock_panics_with_advice() {
    // Wrapped in `Some` so the run returns the timer instead of awaiting it.
    let sleep = duet::run_with(Config::new().virtual_clock(), async {
        Some(duet::sleep(secs(1)))
    })
    .unwrap();
    let msg = panic_message(|| duet::run(sleep));
    assert!(
        msg.contains("virtual clock")
            && msg.contains("real clock")
            && msg.contains("inside the virtual-clock run"),
        "{msg}"
    );
}

#[test]
fn a_virtual_deadline_awaited_outside_any_run_panics_with_advice() {
    let timeout = duet::run_with(Config::new().virtual_clock(), async {
        Some(duet::timeout(secs(1), pending::<()>()))
    })
    .unwrap();
    let msg = panic_message(|| {
        let _ = futures::executor::block_on(timeout);
    });
    assert!(msg.contains("outside any duet::run"), "{msg}");
}

#[test]
fn a_deadlock_is_reported_on_the_virtual_clock_once_no_timer_is_left() {
    let msg = panic_message(|| {
        duet::run_with(Config::new().virtual_clock(), async {
            duet::sleep(secs(60)).await;
            pending::<()>().await
        })
    });
    assert!(msg.contains("deadlock"), "{msg}");
}

#[test]
fn a_timer_firing_while_another_thread_wakes_the_same_task_is_never_lost() {
    // The other thread sets the task's queued flag and is about to push it on its scope's
    // ready queue when the timer fires: the timer's wake must not be dropped for it, nor
    // the clock jump past the timeout while that wake is on its way. The window is a few
    // instructions wide, so many loops run at once on more threads than cores, for the
    // scheduler to preempt the waking thread inside it.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hogs: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let loops: Vec<_> = (0..8)
        .map(|thread| {
            std::thread::spawn(move || {
                for round in 0..1500u64 {
                    let (r, took) = virtual_run(async || {
                        duet::timeout_scope(secs(1000), async |s| {
                            // Busy work of varying length lines the loop's idle step up
                            // with the other thread's wake differently in each round.
                            s.spawn(async move {
                                let busy = std::time::Instant::now();
                                let spin =
                                    std::time::Duration::from_micros((round * 7 + thread) % 60);
                                while busy.elapsed() < spin {
                                    std::hint::spin_loop();
                                }
                            });
                            let r = duet::timeout(ms(2), async {
                                let (tx, rx) = futures::channel::oneshot::channel();
                                std::thread::spawn(move || tx.send(7u8));
                                let _ = rx.await;
                                pending::<()>().await
                            })
                            .await;
                            Ok::<_, Infallible>(r)
                        })
                        .await
                    });
                    assert!(
                        r.unwrap().is_err(),
                        "round {round}: the timeout did not fire"
                    );
                    assert_eq!(took, ms(2), "round {round}: the 2 ms timeout fired late");
                }
            })
        })
        .collect();
    let results: Vec<_> = loops.into_iter().map(|l| l.join()).collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for hog in hogs {
        hog.join().unwrap();
    }
    for r in results {
        r.unwrap();
    }
}

#[test]
fn offloaded_work_holds_the_virtual_clock_until_its_result_is_in() {
    let pool = duet::ThreadPool::new(2);
    let ((unblocked, submitted), took) = virtual_run(async || {
        let unblocked = duet::timeout(
            secs(5),
            duet::unblock(|| {
                std::thread::sleep(std::time::Duration::from_millis(20));
                1u32
            }),
        )
        .await;
        let submitted = duet::timeout(
            secs(5),
            pool.submit(|| {
                std::thread::sleep(std::time::Duration::from_millis(20));
                2u32
            }),
        )
        .await;
        (unblocked, submitted)
    });
    assert_eq!(
        unblocked,
        Ok(1),
        "the timeout did not fire while the job ran"
    );
    assert_eq!(submitted.map(Result::unwrap), Ok(2));
    assert_eq!(
        took,
        Duration::ZERO,
        "no virtual time passed during the jobs"
    );
}

#[test]
fn a_batch_being_sent_holds_the_virtual_clock_until_it_is_completed() {
    let batcher = duet::Batcher::new(|batch: duet::Batch<u32, u32>| {
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            let values: Vec<u32> = batch.keys().map(|k| k * 2).collect();
            batch.complete(values);
        });
    });
    let (got, took) = virtual_run(async || duet::timeout(secs(5), batcher.get(21)).await);
    assert_eq!(got.unwrap().unwrap(), 42);
    assert_eq!(took, Duration::ZERO);
}

#[test]
fn a_held_clock_moves_only_by_advance_and_fires_timers_in_order_on_the_way() {
    let log = RefCell::new(Vec::new());
    let ((), took) = virtual_run(async || {
        let start = duet::now();
        let hold = duet::hold_clock();
        duet::scope(async |s| {
            let log = &log;
            s.spawn(async move {
                for _ in 0..3 {
                    duet::sleep(secs(1)).await;
                    log.borrow_mut().push(duet::now() - start);
                }
            });
            // The task runs up to its first sleep; the held clock does not jump to it.
            common::yields(3).await;
            assert_eq!(duet::now(), start);
            assert!(log.borrow().is_empty());
            duet::advance(ms(2500)).await;
            assert_eq!(duet::now() - start, ms(2500));
            assert_eq!(*log.borrow(), [secs(1), secs(2)], "each step ran its tasks");
            drop(hold); // released: the clock runs free again
            Ok::<_, Infallible>(())
        })
        .await
        .unwrap();
    });
    assert_eq!(*log.borrow(), [secs(1), secs(2), secs(3)]);
    assert_eq!(took, secs(3));
}

#[test]
fn a_held_clock_that_nothing_advances_while_every_task_sleeps_is_a_deadlock() {
    let msg = panic_message(|| {
        let _ = duet::run_with(
            Config::new().virtual_clock(),
            duet::scope(async |s| {
                let _hold = duet::hold_clock();
                s.spawn(duet::sleep(secs(1)));
                duet::sleep(secs(2)).await;
                Ok::<_, Infallible>(())
            }),
        );
    });
    assert!(
        msg.starts_with(
            "duet::run: deadlock: every task is waiting, and each waits only on other tasks of \
             this run (join handles, nested scopes) or on a timer of the virtual clock, which is \
             held (duet::hold_clock) with nothing advancing it (duet::advance), so none can ever \
             resume."
        ),
        "{msg}"
    );
    assert!(msg.contains("waiting on a sleep (due in 1.000s)"), "{msg}");
}

#[test]
fn holding_or_advancing_the_real_clock_panics_with_advice() {
    let held = panic_message(|| duet::run(async { drop(duet::hold_clock()) }));
    assert!(
        held.starts_with("duet::hold_clock: the clock here is the real clock"),
        "{held}"
    );
    let advanced = panic_message(|| duet::run(async { duet::advance(ms(1)).await }));
    assert!(
        advanced.starts_with("duet::advance: the clock here is the real clock"),
        "{advanced}"
    );
}

#[test]
fn a_value_ready_in_the_poll_where_the_deadline_passes_wins_for_every_time_primitive() {
    // The work's task finishes exactly at the deadline; the body sees it in the same poll.
    async fn work(s: &duet::Scope<'_, Infallible>) -> Result<u32, Infallible> {
        let h = s.spawn(async {
            duet::sleep(ms(10)).await;
            Ok(5)
        });
        Ok(h.await.unwrap())
    }
    let (by_timeout, _) =
        virtual_run(async || duet::timeout(ms(10), duet::scope(async |s| work(&s).await)).await);
    let (by_scope, _) =
        virtual_run(async || duet::timeout_scope(ms(10), async |s| work(&s).await).await);
    let (by_deadline_scope, _) = virtual_run(async || {
        duet::deadline_scope(duet::now() + ms(10), async |s| work(&s).await).await
    });
    assert_eq!(by_timeout.unwrap().unwrap(), 5);
    assert_eq!(by_scope.unwrap(), 5, "timeout_scope keeps the value too");
    assert_eq!(by_deadline_scope.unwrap(), 5);
    // Work that is not ready by then is still cut, at the deadline.
    let (late, took) = virtual_run(async || {
        duet::timeout_scope(ms(10), async |s| {
            let h = s.spawn(async {
                duet::sleep(ms(11)).await;
                Ok(5)
            });
            Ok::<_, Infallible>(h.await.unwrap())
        })
        .await
    });
    assert!(late.unwrap_err().is_timeout());
    assert_eq!(took, ms(10));
}

#[test]
fn two_concurrent_advances_step_a_held_clock_through_every_deadline_in_order() {
    let log = RefCell::new(Vec::new());
    virtual_run(async || {
        let _hold = duet::hold_clock();
        let start = duet::now();
        duet::scope(async |s| {
            let log = &log;
            s.spawn(async move {
                duet::advance(secs(5)).await;
                log.borrow_mut().push(("advanced 5", duet::now() - start));
            });
            s.spawn(async move {
                duet::advance(secs(3)).await;
                log.borrow_mut().push(("advanced 3", duet::now() - start));
            });
            s.spawn(async move {
                duet::sleep(secs(4)).await;
                log.borrow_mut().push(("slept 4", duet::now() - start));
            });
            Ok::<_, Infallible>(())
        })
        .await
        .unwrap();
    });
    assert_eq!(
        *log.borrow(),
        [
            ("advanced 3", secs(3)),
            ("slept 4", secs(4)),
            ("advanced 5", secs(5))
        ]
    );
}

#[test]
fn an_advance_cut_short_leaves_the_clock_held_and_a_later_sleep_is_reported() {
    let msg = panic_message(|| {
        virtual_run(async || {
            let _hold = duet::hold_clock();
            let start = duet::now();
            assert!(
                duet::timeout(secs(1), duet::advance(secs(5)))
                    .await
                    .is_err()
            );
            assert_eq!(
                duet::now() - start,
                secs(1),
                "the advance stopped where it was cut"
            );
            duet::sleep(secs(1)).await; // held, and nothing advances it
        });
    });
    assert!(msg.contains("which is held (duet::hold_clock)"), "{msg}");
}

#[test]
fn nested_runs_share_the_hold_and_can_advance_it() {
    let ((), took) = virtual_run(async || {
        let _hold = duet::hold_clock();
        duet::run(duet::advance(secs(2))); // a nested run moves the clock held outside
    });
    assert_eq!(took, secs(2));
    let ((inner, outer), _) = virtual_run(async || {
        let start = duet::now();
        let inner = duet::run(async {
            let _hold = duet::hold_clock(); // held inside, released before returning
            duet::advance(secs(1)).await;
            duet::now() - start
        });
        duet::sleep(secs(1)).await;
        (inner, duet::now() - start)
    });
    assert_eq!((inner, outer), (secs(1), secs(2)));
}

#[test]
fn a_nested_run_sleeping_past_an_advance_of_the_tree_it_blocks_is_reported() {
    // The outer tree's advance cannot be polled while the nested run blocks its thread.
    let msg = panic_message(|| {
        virtual_run(async || {
            let _hold = duet::hold_clock();
            duet::scope(async |s| {
                s.spawn(duet::advance(secs(1)));
                s.spawn(async {
                    duet::yield_now().await;
                    duet::run(duet::sleep(secs(5)));
                });
                Ok::<_, Infallible>(())
            })
            .await
            .unwrap()
        });
    });
    assert!(msg.starts_with("duet::run: deadlock"), "{msg}");
}

#[test]
fn timers_created_inside_the_run_make_timeout_and_timeout_scope_agree_at_the_deadline() {
    // The value comes from a grandchild finishing exactly at 10 ms, through a nested
    // scope and a yield: every nesting of the two primitives keeps it.
    async fn deep(s: &duet::Scope<'_, Infallible>) -> Result<u32, Infallible> {
        let h = s.spawn(async {
            let v = duet::scope(async |inner| {
                let h = inner.spawn(async {
                    duet::sleep(ms(10)).await;
                    duet::yield_now().await;
                    Ok::<_, Infallible>(5)
                });
                Ok::<_, Infallible>(h.await.unwrap())
            })
            .await
            .unwrap();
            Ok(v)
        });
        Ok(h.await.unwrap())
    }
    let (results, _) = virtual_run(async || {
        let a = duet::timeout(ms(10), duet::scope(async |s| deep(&s).await)).await;
        let b = duet::timeout_scope(ms(10), async |s| deep(&s).await).await;
        let c = duet::timeout(
            ms(10),
            duet::timeout_scope(ms(10), async |s| deep(&s).await),
        )
        .await;
        let d = duet::timeout_scope(ms(10), async |_| {
            Ok::<_, Infallible>(
                duet::timeout_scope(ms(10), async |s| deep(&s).await)
                    .await
                    .unwrap(),
            )
        })
        .await;
        [
            a.unwrap().unwrap(),
            b.unwrap(),
            c.unwrap().unwrap(),
            d.unwrap(),
        ]
    });
    assert_eq!(results, [5, 5, 5, 5]);
}

#[test]
fn a_batch_answered_request_by_request_holds_the_virtual_clock_until_the_last_answer() {
    let batcher = duet::Batcher::new(|batch: duet::Batch<u32, u32>| {
        std::thread::spawn(move || {
            for (key, request) in batch.into_requests() {
                std::thread::sleep(std::time::Duration::from_millis(20));
                request.set_result(key * 10);
            }
        });
    });
    let ((a, b, c), took) = virtual_run(async || {
        let limited = |key| duet::timeout(secs(5), batcher.get(key));
        futures::join!(limited(1), limited(2), limited(3))
    });
    assert_eq!(
        (
            a.unwrap().unwrap(),
            b.unwrap().unwrap(),
            c.unwrap().unwrap()
        ),
        (10, 20, 30)
    );
    assert_eq!(took, Duration::ZERO);
}
