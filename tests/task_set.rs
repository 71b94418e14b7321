//! `TaskSet` (results in the order tasks finish) and `Scope::cancel_tasks` (finish early
//! with a value).

mod common;

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::future::pending;
use std::thread;
use std::time::Duration;

use common::{Probe, panic_message, watchdog};
use duet::{AwaitableFuture, CancelReason, Config, JoinError, ScopeError, ScopeOptions, TaskSet};
use futures::StreamExt;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn virtual_clock() -> Config {
    Config::new().virtual_clock()
}

// ---- TaskSet ----------------------------------------------------------------------

#[test]
fn a_task_set_yields_outcomes_in_the_order_tasks_finish() {
    let order = duet::run_with(
        virtual_clock(),
        duet::scope(async |s| {
            let mut set = TaskSet::new(&s);
            for delay in [50u64, 10, 40, 20, 30] {
                set.spawn(async move {
                    duet::sleep(ms(delay)).await;
                    Ok(delay)
                });
            }
            let order: Vec<u64> = set.map(|outcome| outcome.unwrap()).collect().await;
            Ok::<_, Infallible>(order)
        }),
    );
    assert_eq!(order.unwrap(), [10, 20, 30, 40, 50]);
}

#[test]
fn dropping_a_task_set_cancels_the_rest_and_the_scope_awaits_their_teardown() {
    let probe = Probe::new();
    let teardown_done = Cell::new(false);
    let r = duet::run_with(
        virtual_clock(),
        duet::scope(async |s| {
            let (probe, teardown_done) = (&probe, &teardown_done);
            let mut set = TaskSet::new(&s);
            set.spawn(probe.track(async { Ok(1) }));
            for _ in 0..3 {
                set.spawn(probe.track(async {
                    duet::sleep(ms(1_000)).await;
                    Ok(2)
                }));
            }
            // One slow task cleans up inside a shield when cancelled.
            set.spawn(async move {
                struct Cleanup;
                impl Drop for Cleanup {
                    fn drop(&mut self) {
                        assert_eq!(duet::cancel_reason(), Some(CancelReason::JoinHandle));
                    }
                }
                let _cleanup = Cleanup;
                duet::shield(async {
                    duet::sleep(ms(100)).await;
                    teardown_done.set(true);
                })
                .await;
                duet::sleep(ms(1_000)).await;
                Ok(3)
            });
            let first = set.join_next().await;
            assert_eq!(set.len(), 4);
            drop(set);
            // Not finished yet: the shielded task is still in its shield.
            assert!(!teardown_done.get());
            Ok::<_, Infallible>(first)
        }),
    );
    assert_eq!(r.unwrap(), Some(Ok(1)));
    assert!(
        teardown_done.get(),
        "the scope returned before the teardown ended"
    );
    assert_eq!(probe.created(), 4);
    assert_eq!(probe.completed(), 1);
    assert_eq!(probe.cancelled(), 3);
}

#[test]
fn a_failed_member_fails_a_fail_fast_scope_and_cancels_the_rest() {
    let probe = Probe::new();
    let r = duet::run_with(
        virtual_clock(),
        duet::scope(async |s| {
            let probe = &probe;
            let mut set = TaskSet::new(&s);
            set.spawn(async {
                duet::sleep(ms(10)).await;
                Err("boom")
            });
            set.spawn(probe.track(async {
                duet::sleep(ms(1_000)).await;
                Ok(())
            }));
            while let Some(outcome) = set.join_next().await {
                outcome.unwrap();
            }
            Ok(())
        }),
    );
    assert!(matches!(r, Err(ScopeError::Failed { error: "boom", .. })));
    assert_eq!(probe.cancelled(), 1);
}

#[test]
fn under_collect_all_a_failed_member_yields_failed_and_the_error_goes_to_the_scope() {
    let r = duet::run(duet::scope_with(
        ScopeOptions::new().collect_all(),
        async |s| {
            let mut set = TaskSet::new(&s);
            set.spawn(async { Err("bad") });
            set.spawn(async { Ok(7) });
            let mut outcomes = Vec::new();
            while let Some(outcome) = set.join_next().await {
                outcomes.push(outcome);
            }
            outcomes.sort_by_key(|o| o.is_err());
            assert_eq!(outcomes, [Ok(7), Err(JoinError::Failed)]);
            Ok(())
        },
    ));
    assert_eq!(r.unwrap_err().into_errors(), ["bad"]);
}

#[test]
fn a_panicking_member_is_re_raised_by_the_scope() {
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            let mut set = TaskSet::<(), _>::new(&s);
            set.spawn(async {
                if true {
                    panic!("member panicked");
                }
            });
            set.spawn(pending::<()>());
            while set.join_next().await.is_some() {}
            Ok::<_, Infallible>(())
        });
    });
    assert_eq!(msg, "member panicked");
}

#[test]
fn cancel_all_yields_every_running_member_as_cancelled() {
    let r = duet::run_scope(async |s| {
        let mut set = TaskSet::new(&s);
        set.spawn(async { Ok(1) });
        for _ in 0..3 {
            set.spawn(async {
                pending::<()>().await;
                Ok(0)
            });
        }
        // The first has finished by the time the body runs again.
        duet::yield_now().await;
        set.cancel_all();
        let outcomes: Vec<_> = (&mut set).collect().await;
        Ok::<_, Infallible>(outcomes)
    });
    let outcomes = r.unwrap();
    assert_eq!(outcomes.len(), 4);
    assert_eq!(outcomes[0], Ok(1));
    for outcome in &outcomes[1..] {
        assert_eq!(
            outcome,
            &Err(JoinError::Cancelled(CancelReason::JoinHandle))
        );
    }
}

#[test]
fn an_empty_set_yields_none_and_takes_new_members_after() {
    let r = duet::run_scope(async |s| {
        let mut set = TaskSet::new(&s);
        assert!(set.join_next().await.is_none());
        set.spawn(async { Ok("late") });
        let late = set.join_next().await;
        assert!(set.join_next().await.is_none());
        Ok::<_, Infallible>(late)
    });
    assert_eq!(r.unwrap(), Some(Ok("late")));
}

#[test]
fn members_completed_from_other_threads_reach_the_consumer() {
    let _watchdog = watchdog(
        "members completed from other threads",
        Duration::from_secs(30),
    );
    let n = 64;
    let futures: Vec<AwaitableFuture<usize>> = (0..n).map(|_| AwaitableFuture::new()).collect();
    let producers = futures.to_vec();
    let completer = thread::spawn(move || {
        for (i, future) in producers.into_iter().enumerate().rev() {
            thread::sleep(Duration::from_micros(200));
            future.set_result(i);
        }
    });
    let r = duet::run_scope(async |s| {
        let mut set = TaskSet::new(&s);
        for future in &futures {
            set.spawn(async move { Ok(future.clone().await.unwrap()) });
        }
        let mut seen = Vec::new();
        while let Some(i) = set.join_next().await {
            seen.push(i.unwrap());
        }
        Ok::<_, Infallible>(seen)
    });
    completer.join().unwrap();
    let mut seen = r.unwrap();
    seen.sort_unstable();
    assert_eq!(seen, (0..n).collect::<Vec<_>>());
}

#[test]
fn waiting_on_a_set_whose_tasks_can_never_finish_is_a_deadlock_with_a_dump() {
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            let mut set = TaskSet::<(), _>::new(&s);
            set.spawn(pending::<()>());
            set.spawn(pending::<()>());
            set.join_next().await;
            Ok::<_, Infallible>(())
        });
    });
    assert!(
        msg.starts_with("duet::run: deadlock: every task is waiting"),
        "{msg}"
    );
    assert!(
        msg.contains("waiting on the next of 2 tasks of scope #"),
        "{msg}"
    );
}

#[test]
fn a_set_with_a_member_woken_by_a_thread_later_is_not_a_deadlock() {
    let gate: AwaitableFuture<u32> = AwaitableFuture::new();
    let producer = gate.clone();
    let completer = thread::spawn(move || {
        thread::sleep(ms(300)); // well past the detector's 50 ms
        producer.set_result(5);
    });
    let r = duet::run_scope(async |s| {
        let gate = &gate;
        let mut set = TaskSet::new(&s);
        set.spawn(async move { Ok(gate.clone().await.unwrap()) });
        Ok::<_, Infallible>(set.join_next().await)
    });
    completer.join().unwrap();
    assert_eq!(r.unwrap(), Some(Ok(5)));
}

#[test]
fn taking_from_a_set_polls_the_consumer_a_bounded_number_of_times() {
    // Each result costs the consumer at most one poll, whatever the number of tasks
    // still running: polling every handle on every wake would be quadratic.
    let n = 2_000;
    let consumer_polls = Cell::new(0usize);
    duet::run_with(
        virtual_clock(),
        duet::scope(async |s| {
            let mut set = TaskSet::new(&s);
            for i in 0..n {
                set.spawn(async move {
                    duet::sleep(ms(i as u64)).await;
                    Ok(i)
                });
            }
            let consumer_polls = &consumer_polls;
            let mut taken = 0;
            std::future::poll_fn(|cx| {
                consumer_polls.set(consumer_polls.get() + 1);
                loop {
                    match set.poll_join_next(cx) {
                        std::task::Poll::Ready(Some(_)) => taken += 1,
                        std::task::Poll::Ready(None) => return std::task::Poll::Ready(()),
                        std::task::Poll::Pending => return std::task::Poll::Pending,
                    }
                }
            })
            .await;
            assert_eq!(taken, n);
            Ok::<_, Infallible>(())
        }),
    )
    .unwrap();
    assert!(
        consumer_polls.get() <= n + 1,
        "{} polls",
        consumer_polls.get()
    );
}

// ---- Scope::cancel_tasks ------------------------------------------------------------

#[test]
fn cancel_tasks_keeps_the_body_value_and_cancels_every_task() {
    let probe = Probe::new();
    let reasons = RefCell::new(Vec::new());
    let r = duet::run_with(
        virtual_clock(),
        duet::scope(async |s| {
            let (probe, reasons) = (&probe, &reasons);
            let handles: Vec<_> = (0..3)
                .map(|_| {
                    s.spawn(probe.track(async move {
                        struct Note<'a>(&'a RefCell<Vec<Option<CancelReason>>>);
                        impl Drop for Note<'_> {
                            fn drop(&mut self) {
                                self.0.borrow_mut().push(duet::cancel_reason());
                            }
                        }
                        let _note = Note(reasons);
                        duet::sleep(ms(1_000)).await;
                    }))
                })
                .collect();
            duet::sleep(ms(10)).await;
            s.cancel_tasks();
            assert!(!s.is_cancelled(), "the scope itself is not cancelled");
            for handle in handles {
                assert_eq!(
                    handle.await,
                    Err(JoinError::Cancelled(CancelReason::TasksCancelled))
                );
            }
            Ok::<_, Infallible>(duet::now())
        }),
    );
    assert!(r.is_ok());
    assert_eq!(probe.cancelled(), 3);
    assert_eq!(
        *reasons.borrow(),
        vec![Some(CancelReason::TasksCancelled); 3]
    );
}

#[test]
fn cancel_tasks_called_by_a_task_cancels_it_with_its_siblings_but_not_the_body() {
    let probe = Probe::new();
    let r = duet::run_with(
        virtual_clock(),
        duet::scope(async |s| {
            let probe = &probe;
            for _ in 0..2 {
                s.spawn(probe.track(duet::sleep(ms(1_000))));
            }
            let found = std::rc::Rc::new(Cell::new(None));
            let finder = {
                let (s, found) = (s.clone(), found.clone());
                s.clone().spawn(probe.track(async move {
                    duet::sleep(ms(10)).await;
                    found.set(Some(42));
                    s.cancel_tasks();
                    duet::sleep(ms(1)).await; // cancelled here
                    unreachable!("a task that cancelled the tasks is cancelled itself");
                }))
            };
            assert!(finder.await.unwrap_err().is_cancelled());
            duet::sleep(ms(5)).await; // the body keeps running
            Ok::<_, Infallible>(found.get())
        }),
    );
    assert_eq!(r.unwrap(), Some(42));
    assert_eq!(probe.cancelled(), 3);
}

#[test]
fn tasks_spawned_after_cancel_tasks_run_normally() {
    let r = duet::run_scope(async |s| {
        s.spawn(pending::<()>());
        s.cancel_tasks();
        let later = s.spawn(async { Ok(9) });
        Ok::<_, Infallible>(later.await)
    });
    assert_eq!(r.unwrap(), Ok(9));
}

#[test]
fn cancel_tasks_lets_shielded_cleanup_finish_before_the_scope_returns() {
    let cleaned = Cell::new(false);
    let r = duet::run_with(
        virtual_clock(),
        duet::scope(async |s| {
            let cleaned = &cleaned;
            s.spawn(async move {
                duet::shield(async {
                    duet::sleep(ms(100)).await;
                    cleaned.set(true);
                })
                .await;
                duet::sleep(ms(1_000)).await;
            });
            duet::yield_now().await;
            s.cancel_tasks();
            Ok::<_, Infallible>("value")
        }),
    );
    assert_eq!(r.unwrap(), "value");
    assert!(cleaned.get());
}

#[test]
fn errors_before_cancel_tasks_are_still_reported() {
    let r = duet::run(duet::scope_with(
        ScopeOptions::new().collect_all(),
        async |s| {
            s.spawn(async { Err::<(), _>("earlier failure") });
            s.spawn(pending::<()>());
            duet::yield_now().await;
            s.cancel_tasks();
            Ok("value")
        },
    ));
    assert_eq!(r.unwrap_err().into_errors(), ["earlier failure"]);
}

#[test]
fn a_nested_run_waiting_on_an_outer_task_set_panics_instead_of_deadlocking() {
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            let mut set = TaskSet::<(), _>::new(&s);
            set.spawn(pending::<()>());
            s.spawn(async move {
                duet::run(set.join_next());
            });
            Ok::<_, Infallible>(())
        });
    });
    assert_eq!(
        msg,
        "duet: deadlock: awaiting a TaskSet whose tasks belong to an outer duet::run, from \
         inside a nested duet::run (or another blocking executor) on the same thread; the \
         outer loop cannot run that task until this call returns. Await the set in the \
         outer task instead, or spawn the work inside the nested run."
    );
}
