//! Cancellation beyond drop: reasons, observing cancellation, shielding, graceful
//! cancellation. (Deadlock detection and dumps are in `tests/deadlock.rs`.)

mod common;

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::future::pending;
use std::time::Duration;

use common::{DropFlag, Probe};
use duet::{CancelReason, Config, JoinError, ScopeError, ScopeOptions};

fn virtual_clock() -> Config {
    Config::new().virtual_clock()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---- reasons ---------------------------------------------------------------------

#[test]
fn the_reason_is_visible_to_observers_results_and_join_handles_for_each_cause() {
    // Explicit.
    let seen = RefCell::new(None);
    let escaped = RefCell::new(None);
    let r = duet::run_scope(async |s| {
        *escaped.borrow_mut() = Some(s.spawn(pending::<()>()));
        s.cancel();
        *seen.borrow_mut() = duet::cancel_reason();
        Ok::<_, Infallible>(())
    });
    assert_eq!(
        r.unwrap_err().cancel_reason(),
        Some(&CancelReason::Explicit)
    );
    assert_eq!(seen.take(), Some(CancelReason::Explicit));
    assert_eq!(
        duet::run(escaped.take().unwrap()),
        Err(JoinError::Cancelled(CancelReason::Explicit))
    );

    // A sibling failed: which one.
    let r = duet::run_scope(async |s| {
        *escaped.borrow_mut() = Some(s.spawn(pending::<()>()));
        s.spawn_named("parser", async { Err::<(), _>("bad input") });
        Ok(())
    });
    assert!(r.unwrap_err().is_failed());
    match duet::run(escaped.take().unwrap()) {
        Err(JoinError::Cancelled(CancelReason::SiblingFailed(culprit))) => {
            assert_eq!(culprit.name(), Some("parser"));
        }
        other => panic!("unexpected {other:?}"),
    }

    // Timeout.
    let r = duet::run_with(
        virtual_clock(),
        duet::timeout_scope(ms(10), async |s| {
            *escaped.borrow_mut() = Some(s.spawn(pending::<()>()));
            Ok::<_, Infallible>(())
        }),
    );
    assert!(r.unwrap_err().is_timeout());
    assert_eq!(
        duet::run(escaped.take().unwrap()),
        Err(JoinError::Cancelled(CancelReason::TimedOut))
    );

    // Parent cancelled: a task of a nested scope, dropped with it, says why.
    let r = duet::run_scope(async |s| {
        s.spawn(async {
            duet::scope(async |inner| {
                *escaped.borrow_mut() = Some(inner.spawn(pending::<()>()));
                pending::<()>().await;
            })
            .await
            .unwrap();
        });
        duet::yield_now().await;
        s.cancel();
        Ok::<_, Infallible>(())
    });
    assert!(r.unwrap_err().is_cancelled());
    let outcome = duet::run(escaped.take().unwrap());
    assert_eq!(
        outcome,
        Err(JoinError::Cancelled(CancelReason::Parent(Box::new(
            CancelReason::Explicit
        ))))
    );
    assert_eq!(
        outcome.unwrap_err().to_string(),
        "task cancelled because an enclosing scope was (cancelled explicitly)"
    );
}

#[test]
fn reasons_read_well() {
    assert_eq!(CancelReason::Explicit.to_string(), "cancelled explicitly");
    assert_eq!(
        CancelReason::TimedOut.to_string(),
        "cancelled because its deadline passed"
    );
    assert_eq!(
        CancelReason::Interrupted.to_string(),
        "cancelled because the program was interrupted (Ctrl-C)"
    );
    let nested = CancelReason::Parent(Box::new(CancelReason::TimedOut));
    assert_eq!(nested.root_cause(), &CancelReason::TimedOut);
    assert_eq!(format!("{nested:?}"), "Parent(TimedOut)");
}

// ---- observing cancellation -----------------------------------------------------

#[test]
fn is_cancelled_is_false_outside_scopes_and_until_a_cancel() {
    assert!(!duet::is_cancelled());
    assert_eq!(duet::cancel_reason(), None);
    duet::run_scope(async |s| {
        assert!(!duet::is_cancelled());
        let child_saw = s.spawn(async { Ok(duet::is_cancelled()) });
        assert!(!child_saw.await.unwrap());
    })
    .unwrap();
}

#[test]
fn cancelled_wakes_an_observer_in_the_soft_phase_and_nested_scopes_see_the_parent() {
    let seen = RefCell::new(Vec::new());
    let r = duet::run_with(
        virtual_clock(),
        duet::scope(async |s| {
            let seen = &seen;
            s.spawn(async move {
                let reason = duet::cancelled().await;
                seen.borrow_mut().push(("child", reason, duet::now()));
            });
            s.spawn(async move {
                duet::scope(async |_inner| {
                    let reason = duet::cancelled().await;
                    seen.borrow_mut().push(("grandchild", reason, duet::now()));
                })
                .await
                .unwrap();
            });
            duet::sleep(ms(5)).await;
            s.cancel_with_grace(ms(100));
            Ok::<_, Infallible>(())
        }),
    );
    assert!(r.unwrap_err().is_cancelled());
    let seen = seen.into_inner();
    assert_eq!(seen.len(), 2);
    let start = seen[0].2 - ms(5);
    for (who, reason, at) in seen {
        let expected = match who {
            "child" => CancelReason::Explicit,
            _ => CancelReason::Parent(Box::new(CancelReason::Explicit)),
        };
        assert_eq!(reason, expected, "{who}");
        assert_eq!(
            at - start,
            ms(5),
            "{who} woke at the start of the soft phase"
        );
    }
}

#[test]
fn a_long_cpu_loop_stops_cooperatively() {
    let rounds = Cell::new(0);
    let r = duet::run_with(
        virtual_clock(),
        duet::scope_with(
            // A deadline takes effect after the poll in which it passes: 55 ms does not tie
            // with the 10 ms steps, so the task sees it at its check at 60 ms.
            ScopeOptions::new().timeout(ms(55)).grace(ms(500)),
            async |s| {
                let rounds = &rounds;
                s.spawn(async move {
                    while !duet::is_cancelled() {
                        rounds.set(rounds.get() + 1);
                        duet::sleep(ms(10)).await; // a chunk of work
                    }
                });
                Ok::<_, Infallible>(())
            },
        ),
    );
    assert!(r.unwrap_err().is_timeout());
    assert_eq!(
        rounds.get(),
        6,
        "stopped at the first check after the timeout"
    );
}

// ---- shielding ------------------------------------------------------------------

#[test]
fn shielded_cleanup_runs_to_completion_under_cancel() {
    let log = RefCell::new(Vec::new());
    let probe = Probe::new();
    let r = duet::run_with(
        virtual_clock(),
        duet::scope(async |s| {
            let log = &log;
            s.spawn(probe.track(async move {
                duet::shield(async {
                    log.borrow_mut().push("cleanup started");
                    duet::sleep(ms(200)).await;
                    assert!(!duet::is_cancelled(), "a shield hides the cancellation");
                    log.borrow_mut().push("cleanup finished");
                })
                .await;
                log.borrow_mut()
                    .push("after the shield, before the next await");
                duet::yield_now().await;
                log.borrow_mut().push("never reached");
            }));
            duet::sleep(ms(50)).await;
            s.cancel();
            Ok::<_, Infallible>(duet::now())
        }),
    );
    assert!(r.unwrap_err().is_cancelled());
    assert_eq!(
        *log.borrow(),
        [
            "cleanup started",
            "cleanup finished",
            "after the shield, before the next await"
        ]
    );
    assert_eq!((probe.dropped(), probe.completed()), (1, 0));
}

#[test]
fn shielded_cleanup_runs_to_completion_under_a_timeout_scope_and_timeout() {
    let finished_at = Cell::new(None);
    let start = Cell::new(None);
    let r = duet::run_with(
        virtual_clock(),
        duet::timeout_scope(ms(100), async |s| {
            start.set(Some(duet::now()));
            let finished_at = &finished_at;
            s.spawn(async move {
                duet::sleep(ms(90)).await;
                duet::shield(duet::sleep(ms(60))).await; // runs past the deadline
                finished_at.set(Some(duet::now()));
                pending::<()>().await;
            });
            Ok::<_, Infallible>(())
        }),
    );
    assert!(r.unwrap_err().is_timeout());
    assert_eq!(finished_at.get().unwrap() - start.get().unwrap(), ms(150));

    // The same with the `timeout` combinator.
    let done = Cell::new(false);
    let out = duet::run_with(virtual_clock(), async {
        let start = duet::now();
        let r = duet::timeout(ms(10), async {
            duet::shield(async {
                duet::sleep(ms(30)).await;
                done.set(true);
            })
            .await;
            pending::<()>().await;
        })
        .await;
        (r, duet::now() - start)
    });
    assert!(out.0.is_err());
    assert_eq!(out.1, ms(30), "the timeout waited for the shield");
    assert!(done.get());
}

#[test]
fn a_shield_protects_nested_scopes_from_an_outer_cancel() {
    let flag = std::rc::Rc::new(Cell::new(false));
    let grandchild_done = Cell::new(false);
    let r = duet::run_with(
        virtual_clock(),
        duet::scope(async |s| {
            let grandchild_done = &grandchild_done;
            let flag = flag.clone();
            s.spawn(async move {
                let _guard = DropFlag(flag);
                duet::shield(duet::scope(async |inner| {
                    inner.spawn(async move {
                        duet::sleep(ms(100)).await;
                        grandchild_done.set(true);
                    });
                }))
                .await
                .unwrap();
                pending::<()>().await;
            });
            duet::sleep(ms(10)).await;
            s.cancel();
            Ok::<_, Infallible>(())
        }),
    );
    assert!(r.unwrap_err().is_cancelled());
    assert!(grandchild_done.get(), "the nested scope ran to completion");
    assert!(flag.get(), "the task was dropped after its shield");
}

// ---- graceful cancellation ---------------------------------------------------------

#[test]
fn grace_period_is_soft_at_t0_and_hard_at_t0_plus_grace() {
    let events = RefCell::new(Vec::new());
    let r = duet::run_with(
        virtual_clock(),
        duet::scope(async |s| {
            let t0 = duet::now() + ms(20);
            let events = &events;
            // Ignores cancellation: dropped at the end of the grace period.
            s.spawn(async move {
                struct Dropped<'a>(
                    &'a RefCell<Vec<(&'static str, Duration)>>,
                    std::time::Instant,
                );
                impl Drop for Dropped<'_> {
                    fn drop(&mut self) {
                        self.0
                            .borrow_mut()
                            .push(("stubborn dropped", duet::now() - self.1));
                    }
                }
                let _d = Dropped(events, t0);
                pending::<()>().await;
            });
            // Cleans up within the grace period.
            s.spawn(async move {
                duet::cancelled().await;
                events
                    .borrow_mut()
                    .push(("polite saw it", duet::now() - t0));
                duet::sleep(ms(30)).await;
                events
                    .borrow_mut()
                    .push(("polite finished", duet::now() - t0));
            });
            duet::sleep(ms(20)).await;
            s.cancel_with_grace(ms(100));
            Ok::<_, Infallible>(())
        }),
    );
    assert_eq!(
        r,
        Err(ScopeError::Cancelled {
            reason: CancelReason::Explicit,
            errors: vec![]
        })
    );
    assert_eq!(
        *events.borrow(),
        [
            ("polite saw it", ms(0)),
            ("polite finished", ms(30)),
            ("stubborn dropped", ms(100)),
        ]
    );
}

#[test]
fn a_scope_whose_tasks_all_finish_in_the_soft_phase_ends_early() {
    let elapsed = duet::run_with(virtual_clock(), async {
        let start = duet::now();
        let r = duet::scope(async |s| {
            s.spawn(async {
                duet::cancelled().await;
                duet::sleep(ms(5)).await;
            });
            s.cancel_with_grace(Duration::from_secs(3600));
            Ok::<_, Infallible>(())
        })
        .await;
        assert!(r.unwrap_err().is_cancelled());
        duet::now() - start
    });
    assert_eq!(elapsed, ms(5));
}

#[test]
fn a_timeout_with_grace_is_soft_at_the_deadline_and_hard_after_the_grace() {
    let seen = RefCell::new(Vec::new());
    let r = duet::run_with(
        virtual_clock(),
        duet::scope_with(
            ScopeOptions::new().timeout(ms(100)).grace(ms(50)),
            async |s| {
                let start = duet::now();
                let seen = &seen;
                s.spawn(async move {
                    let reason = duet::cancelled().await;
                    seen.borrow_mut().push((reason, duet::now() - start));
                    pending::<()>().await;
                });
                s.spawn(async move {
                    struct Mark<'a>(
                        &'a RefCell<Vec<(CancelReason, Duration)>>,
                        std::time::Instant,
                    );
                    impl Drop for Mark<'_> {
                        fn drop(&mut self) {
                            self.0
                                .borrow_mut()
                                .push((CancelReason::Dropped, duet::now() - self.1));
                        }
                    }
                    let _m = Mark(seen, start);
                    pending::<()>().await;
                });
                Ok::<_, Infallible>(())
            },
        ),
    );
    assert!(r.unwrap_err().is_timeout());
    assert_eq!(
        *seen.borrow(),
        [
            (CancelReason::TimedOut, ms(100)),
            (CancelReason::Dropped, ms(150))
        ]
    );
}

#[test]
fn a_shorter_request_shortens_the_soft_phase_and_a_panic_ends_it_at_once() {
    let elapsed = duet::run_with(virtual_clock(), async {
        let start = duet::now();
        let r = duet::scope(async |s| {
            s.spawn(pending::<()>());
            s.cancel_with_grace(Duration::from_secs(10));
            duet::sleep(ms(10)).await;
            s.cancel_with_grace(ms(20)); // ends at 30 ms instead of 10 s
            pending::<()>().await;
            Ok::<_, Infallible>(())
        })
        .await;
        assert!(r.unwrap_err().is_cancelled());
        duet::now() - start
    });
    assert_eq!(elapsed, ms(30));

    let caught = std::panic::catch_unwind(|| {
        duet::run_with(
            virtual_clock(),
            duet::scope(async |s| {
                s.spawn(async {
                    duet::cancelled().await;
                    panic!("boom during the soft phase");
                });
                s.cancel_with_grace(Duration::from_secs(10));
                Ok::<_, Infallible>(())
            }),
        )
    });
    assert!(caught.is_err());
}

#[test]
fn errors_in_the_soft_phase_are_kept() {
    let r = duet::run_with(
        virtual_clock(),
        duet::scope(async |s| {
            s.spawn(async {
                duet::cancelled().await;
                Err::<(), _>("failed while cleaning up")
            });
            s.cancel_with_grace(ms(100));
            Ok(())
        }),
    );
    assert_eq!(
        r,
        Err(ScopeError::Cancelled {
            reason: CancelReason::Explicit,
            errors: vec!["failed while cleaning up"],
        })
    );
}

/// A task that sleeps 100 ms inside a shield, logs, and then waits forever.
async fn shielded_cleanup(log: &RefCell<Vec<&'static str>>) {
    duet::shield(async {
        duet::sleep(ms(100)).await;
        log.borrow_mut().push("cleanup finished");
    })
    .await;
    log.borrow_mut().push("after the shield");
    pending::<()>().await;
}

#[test]
fn a_join_handle_cancel_waits_for_the_shield_like_a_scope_cancel() {
    let log = RefCell::new(Vec::new());
    let probe = Probe::new();
    let (outcome, took) = duet::run_with(virtual_clock(), async {
        let start = duet::now();
        let outcome = duet::scope(async |s| {
            let h = s.spawn(probe.track(shielded_cleanup(&log)));
            duet::sleep(ms(10)).await; // the task is inside its shield now
            h.cancel();
            Ok::<_, Infallible>(h.await)
        })
        .await
        .unwrap();
        (outcome, duet::now() - start)
    });
    assert_eq!(*log.borrow(), ["cleanup finished", "after the shield"]);
    assert_eq!(
        took,
        ms(100),
        "the handle's await ended when the shield did"
    );
    assert_eq!(
        outcome.unwrap_err(),
        JoinError::Cancelled(CancelReason::JoinHandle)
    );
    assert_eq!((probe.dropped(), probe.completed()), (1, 0));
}

#[test]
fn every_way_of_cancelling_waits_for_a_shield() {
    // Handle, scope, fail-fast, timeout scope, `timeout`, try_pmap's failure, grace: each
    // lets the shielded cleanup finish.
    fn check(what: &str, body: impl AsyncFnOnce(&RefCell<Vec<&'static str>>)) {
        let log = RefCell::new(Vec::new());
        duet::run_with(virtual_clock(), body(&log));
        assert!(
            log.borrow().contains(&"cleanup finished"),
            "{what}: the shield was cut: {:?}",
            log.borrow()
        );
    }
    check("scope cancel", async |log| {
        let _ = duet::scope(async |s| {
            s.spawn(shielded_cleanup(log));
            duet::sleep(ms(10)).await;
            s.cancel();
            Ok::<_, Infallible>(())
        })
        .await;
    });
    check("fail-fast", async |log| {
        let _ = duet::scope(async |s| {
            s.spawn(async {
                shielded_cleanup(log).await;
                Ok(())
            });
            duet::sleep(ms(10)).await;
            Err::<(), _>("failed")
        })
        .await;
    });
    check("timeout scope", async |log| {
        let _ = duet::timeout_scope(ms(10), async |s| {
            s.spawn(shielded_cleanup(log));
            Ok::<_, Infallible>(())
        })
        .await;
    });
    check("timeout", async |log| {
        let _ = duet::timeout(ms(10), shielded_cleanup(log)).await;
    });
    check("grace", async |log| {
        let _ = duet::scope(async |s| {
            s.spawn(shielded_cleanup(log));
            duet::sleep(ms(10)).await;
            s.cancel_with_grace(ms(1));
            Ok::<_, Infallible>(())
        })
        .await;
    });
    check("try_pmap failure", async |log| {
        let r = duet::try_pmap_async([0, 1], None, async |i: u32| {
            if i == 0 {
                shielded_cleanup(log).await;
                Ok(())
            } else {
                duet::sleep(ms(10)).await;
                Err("call 1 failed")
            }
        })
        .await;
        assert_eq!(r, Err("call 1 failed"));
    });
}

#[test]
fn a_task_cancelling_itself_through_its_own_handle_is_dropped_at_its_next_await() {
    let handle: RefCell<Option<duet::JoinHandle<()>>> = RefCell::new(None);
    let reached = Cell::new(0);
    let outcome = duet::run_scope(async |s| {
        let (handle, reached) = (&handle, &reached);
        let h = s.spawn(async move {
            duet::yield_now().await; // the handle is stored by now
            handle.borrow().as_ref().unwrap().cancel();
            reached.set(1);
            duet::yield_now().await;
            reached.set(2);
        });
        *handle.borrow_mut() = Some(h);
        duet::yield_now().await;
        duet::yield_now().await;
        let h = handle.borrow_mut().take().unwrap();
        Ok::<_, Infallible>(h.await)
    });
    assert_eq!(
        reached.get(),
        1,
        "dropped at the await after cancelling itself"
    );
    assert_eq!(
        outcome.unwrap().unwrap_err(),
        JoinError::Cancelled(CancelReason::JoinHandle)
    );
}

#[test]
fn a_time_limit_inside_a_shield_fires_by_itself_after_an_enclosing_deadline_passed() {
    // The documented way to bound cleanup: `shield(timeout(d, cleanup()))`. The enclosing
    // deadline passes while the shield runs; the cleanup's own bound must still end it
    // (it used to yield to the enclosing deadline, whose holder waited for the shield:
    // a busy loop that kept a virtual clock still forever).
    let _watchdog = common::watchdog("a bounded cleanup", Duration::from_secs(20));
    let log = RefCell::new(Vec::new());
    let (r, took) = duet::run_with(virtual_clock(), async {
        let start = duet::now();
        let r = duet::timeout_scope(ms(20), async |s| {
            let log = &log;
            s.spawn(async move {
                duet::sleep(ms(10)).await;
                let bounded = duet::shield(duet::timeout(ms(50), pending::<()>())).await;
                log.borrow_mut().push(bounded.is_err());
            });
            Ok::<_, Infallible>(())
        })
        .await;
        (r, duet::now() - start)
    });
    assert!(r.unwrap_err().is_timeout());
    assert_eq!(*log.borrow(), [true], "the cleanup's own timeout fired");
    assert_eq!(took, ms(60));

    // The same under an expired `timeout` instead of a deadline scope.
    let (r, took) = duet::run_with(virtual_clock(), async {
        let start = duet::now();
        let r = duet::timeout(ms(20), async {
            duet::sleep(ms(10)).await;
            duet::shield(duet::timeout(ms(50), pending::<()>()))
                .await
                .is_err()
        })
        .await;
        (r, duet::now() - start)
    });
    assert_eq!(r, Ok(true), "the shield finished, then its value was ready");
    assert_eq!(took, ms(60));
}

#[test]
fn nested_deadline_scopes_that_both_expired_wait_for_a_shield_without_spinning() {
    let _watchdog = common::watchdog("nested deadlines around a shield", Duration::from_secs(20));
    let (r, took) = duet::run_with(virtual_clock(), async {
        let start = duet::now();
        let r = duet::timeout_scope(Duration::ZERO, async |_| {
            let inner = duet::timeout_scope(Duration::ZERO, async |_| {
                duet::shield(duet::sleep(ms(1))).await;
                Ok::<_, Infallible>(())
            })
            .await;
            Ok::<_, Infallible>(inner.is_ok())
        })
        .await;
        (r, duet::now() - start)
    });
    assert!(r.unwrap_err().is_timeout(), "the outer deadline reports");
    assert_eq!(took, ms(1), "after the shield ended");
}

#[test]
fn a_bounded_cleanup_on_the_real_clock_ends_at_its_bound() {
    let _watchdog = common::watchdog("a real-clock bounded cleanup", Duration::from_secs(20));
    let log = RefCell::new(Vec::new());
    let start = std::time::Instant::now();
    let r = duet::run(duet::timeout_scope(ms(200), async |s| {
        let log = &log;
        s.spawn(async move {
            duet::sleep(ms(10)).await; // well inside the shield before the deadline
            let bounded = duet::shield(duet::timeout(ms(300), pending::<()>())).await;
            log.borrow_mut().push(bounded.is_err());
        });
        Ok::<_, Infallible>(())
    }));
    assert!(r.unwrap_err().is_timeout());
    assert_eq!(*log.borrow(), [true]);
    assert!(start.elapsed() >= ms(310));
    assert!(start.elapsed() < Duration::from_secs(5));
}
