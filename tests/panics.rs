//! Panics: re-raised from scopes after every task is dropped; the thread stays usable.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use common::{DropFlag, Probe, panic_message};
use duet::{CancelReason, JoinError};
use futures::future::pending;

#[test]
fn panic_in_a_child_cancels_siblings_and_is_re_raised_by_the_scope() {
    let probe = Probe::new();
    let sibling_dropped = Rc::new(Cell::new(false));
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            let flag = DropFlag(sibling_dropped.clone());
            s.spawn(probe.track(async move {
                let _flag = flag;
                pending::<()>().await;
            }));
            s.spawn(async {
                duet::yield_now().await;
                panic!("child exploded");
            });
        });
    });
    assert_eq!(msg, "child exploded");
    assert!(sibling_dropped.get());
    assert_eq!(probe.dropped(), 1);
    assert_eq!(duet::run(async { 3 }), 3, "the thread can run again");
}

#[test]
fn panic_in_the_body_cancels_children() {
    let probe = Probe::new();
    let msg = panic_message(|| {
        // A body that never returns takes its error type from its tasks; `&Scope<'_>`
        // (default error type: Infallible) says there is none.
        let _ = duet::run_scope(async |s: duet::Scope<'_>| {
            s.spawn(probe.track(pending::<()>()));
            duet::yield_now().await;
            panic!("body exploded");
        });
    });
    assert_eq!(msg, "body exploded");
    assert_eq!((probe.polls(), probe.dropped()), (1, 1));
}

#[test]
fn a_child_panic_passes_through_enclosing_scopes() {
    let outer_sibling = Probe::new();
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            s.spawn(outer_sibling.track(pending::<()>()));
            s.spawn(async {
                duet::scope(async |inner| {
                    inner.spawn(async { panic!("deep panic") });
                })
                .await
                .unwrap();
            });
        });
    });
    assert_eq!(msg, "deep panic");
    assert_eq!(outer_sibling.dropped(), 1);
}

#[test]
fn handle_of_a_sibling_dropped_by_a_panic_reports_it() {
    let escaped = RefCell::new(None);
    let _ = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            *escaped.borrow_mut() = Some(s.spawn(pending::<()>()));
            s.spawn(async { panic!("boom") });
        });
    });
    let handle = escaped.borrow_mut().take().unwrap();
    match duet::run(handle) {
        Err(JoinError::Cancelled(CancelReason::SiblingPanicked(culprit))) => {
            assert_eq!(culprit.index(), Some(1), "the second task spawned panicked");
            assert_eq!(culprit.location().file(), file!());
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn panic_in_a_nested_run_propagates_to_the_calling_task() {
    let caught = Cell::new(false);
    let r = duet::run_scope(async |s| {
        let caught = &caught;
        s.spawn(async move {
            let result = std::panic::catch_unwind(|| {
                duet::run(async {
                    duet::yield_now().await;
                    panic!("nested run exploded")
                })
            });
            caught.set(result.is_err());
            // The outer loop's state was restored: yielding and spawning still work.
            duet::yield_now().await;
        });
    });
    assert!(r.is_ok());
    assert!(caught.get());
}

#[test]
fn uncaught_panic_in_a_nested_run_fails_the_outer_scope_like_any_panic() {
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            s.spawn(async { duet::run(async { panic!("inner run panic") }) });
        });
    });
    assert_eq!(msg, "inner run panic");
    assert_eq!(duet::run(async { 1 }), 1);
}

#[test]
fn panic_in_a_destructor_during_cancellation_is_re_raised_after_all_drops() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("destructor exploded");
        }
    }
    let probe = Probe::new();
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            for i in 0..6 {
                s.spawn(probe.track(async move {
                    let _bomb = (i == 2).then_some(PanicOnDrop);
                    pending::<()>().await;
                }));
            }
            duet::yield_now().await;
            s.cancel();
            Ok::<_, std::convert::Infallible>(())
        });
    });
    assert_eq!(msg, "destructor exploded");
    assert_eq!(probe.dropped(), 6, "the other tasks were still dropped");
    assert_eq!(duet::run(async { 2 }), 2);
}

#[test]
fn panic_in_a_destructor_of_a_task_cancelled_by_its_handle_fails_the_scope() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("handle-cancel destructor exploded");
        }
    }
    let probe = Probe::new();
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            let h = s.spawn(async {
                let _bomb = PanicOnDrop;
                pending::<()>().await;
            });
            s.spawn(probe.track(pending::<()>()));
            duet::yield_now().await;
            h.cancel();
            pending::<()>().await;
        });
    });
    assert_eq!(msg, "handle-cancel destructor exploded");
    assert_eq!(probe.dropped(), 1);
}

/// The loop on this thread is consistent: timers (virtual and real), scopes, a
/// cross-thread wake, a nested run and deadlock detection all behave as on a fresh
/// thread.
fn assert_the_loop_works() {
    use std::time::Duration;
    let elapsed = duet::run_with(duet::Config::new().virtual_clock(), async {
        let start = duet::now();
        duet::sleep(Duration::from_secs(5)).await;
        duet::now() - start
    });
    assert_eq!(elapsed, Duration::from_secs(5));
    let f = duet::AwaitableFuture::new();
    let producer = f.clone();
    std::thread::spawn(move || producer.set_result(3u32));
    let total = duet::run_scope(async |s| {
        let a = s.spawn(async { Ok(duet::run(async { 1u32 })) });
        let b = s.spawn(async { Ok(f.await.unwrap()) });
        duet::sleep(Duration::from_millis(1)).await;
        Ok::<_, std::convert::Infallible>(a.await.unwrap() + b.await.unwrap())
    });
    assert_eq!(total.unwrap(), 4);
    let deadlock = panic_message(|| duet::run(pending::<()>()));
    assert!(deadlock.contains("deadlock"), "{deadlock}");
}

#[test]
fn after_a_child_or_body_panic_the_loop_is_consistent() {
    let _ = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            s.spawn(async { panic!("child") });
        });
    });
    assert_the_loop_works();
    let _ = panic_message(|| {
        let _ = duet::run_scope(async |s: duet::Scope<'_>| {
            s.spawn(pending::<()>());
            duet::yield_now().await;
            panic!("body")
        });
    });
    assert_the_loop_works();
}

#[test]
fn a_panicking_done_callback_fails_the_task_that_completed_the_future() {
    let f = duet::AwaitableFuture::new();
    f.add_done_callback(|_| panic!("callback exploded"));
    let probe = Probe::new();
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            let awaited = f.clone();
            s.spawn(probe.track(async move {
                awaited.await.unwrap();
                pending::<()>().await; // still running when the sibling panics
            }));
            let producer = f.clone();
            s.spawn(async move {
                duet::yield_now().await;
                producer.set_result(1u32); // wakes the awaiter, then runs the callback
            });
        });
    });
    assert_eq!(msg, "callback exploded");
    assert_eq!(probe.dropped(), 1);
    assert_eq!(duet::run(f).unwrap(), 1, "the future kept its value");
    assert_the_loop_works();
}

#[test]
fn a_done_callback_panicking_on_a_producer_thread_still_delivers_the_value() {
    let f = duet::AwaitableFuture::new();
    f.add_done_callback(|_| panic!("callback exploded on the producer"));
    let producer = f.clone();
    let worker = std::thread::spawn(move || producer.set_result(5u32));
    assert_eq!(duet::run(f).unwrap(), 5);
    assert!(worker.join().is_err(), "the producer thread saw the panic");
    assert_the_loop_works();
}

#[test]
fn a_panic_inside_a_limited_section_releases_every_slot_and_queued_waiter() {
    let limiter = duet::Limiter::new(1);
    let probe = Probe::new();
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            let limiter = &limiter;
            s.spawn(limiter.run(async {
                duet::yield_now().await;
                panic!("inside the limited section")
            }));
            for _ in 0..3 {
                s.spawn(probe.track(limiter.run(async {})));
            }
        });
    });
    assert_eq!(msg, "inside the limited section");
    assert_eq!(probe.dropped(), 3, "the queued waiters were dropped");
    assert_eq!((limiter.held(), limiter.waiting()), (0, 0));
    assert!(limiter.is_available());
    duet::run(async { drop(limiter.acquire().await) });
    assert_the_loop_works();
}

#[test]
fn a_panic_in_a_nested_run_leaves_the_outer_clock_and_timers_working() {
    use std::time::Duration;
    let times = duet::run_with(duet::Config::new().virtual_clock(), async {
        let start = duet::now();
        let r = duet::scope(async |s| {
            let ten_seconds = duet::sleep(Duration::from_secs(10)); // deadline set now
            let sleeper = s.spawn(async move {
                ten_seconds.await;
                Ok(duet::now() - start)
            });
            let caught = std::panic::catch_unwind(|| {
                duet::run(async {
                    duet::sleep(Duration::from_secs(1)).await;
                    panic!("nested run exploded after a sleep")
                })
            });
            assert!(caught.is_err());
            let after_nested = duet::now() - start;
            duet::sleep(Duration::from_secs(2)).await;
            Ok::<_, std::convert::Infallible>((after_nested, sleeper.await.unwrap()))
        })
        .await;
        r.unwrap()
    });
    // The nested run moved the shared clock by 1 s; the outer sleeper still ends at 10 s.
    assert_eq!(times, (Duration::from_secs(1), Duration::from_secs(10)));
    assert_the_loop_works();
}

#[test]
fn a_destructor_panicking_at_a_scopes_deadline_is_re_raised_after_the_teardown() {
    use std::time::Duration;
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("destructor exploded at the deadline");
        }
    }
    let probe = Probe::new();
    let msg = panic_message(|| {
        duet::run_with(duet::Config::new().virtual_clock(), async {
            let _ = duet::timeout_scope(Duration::from_secs(1), async |s| {
                s.spawn(async {
                    let _bomb = PanicOnDrop;
                    duet::sleep(Duration::from_secs(60)).await;
                });
                s.spawn(probe.track(duet::sleep(Duration::from_secs(60))));
                Ok::<_, std::convert::Infallible>(())
            })
            .await;
        })
    });
    assert_eq!(msg, "destructor exploded at the deadline");
    assert_eq!(probe.dropped(), 1, "the other task was still dropped");
    assert_the_loop_works();
}

#[test]
fn a_destructor_panicking_when_a_timeout_drops_its_future_fails_the_task() {
    use std::time::Duration;
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("destructor exploded in a timeout");
        }
    }
    let probe = Probe::new();
    let msg = panic_message(|| {
        duet::run_with(
            duet::Config::new().virtual_clock(),
            duet::scope(async |s| {
                s.spawn(probe.track(pending::<()>()));
                s.spawn(async {
                    let _ = duet::timeout(Duration::from_secs(1), async {
                        let _bomb = PanicOnDrop;
                        pending::<()>().await;
                    })
                    .await;
                });
                Ok::<_, std::convert::Infallible>(())
            }),
        )
        .unwrap();
    });
    assert_eq!(msg, "destructor exploded in a timeout");
    assert_eq!(probe.dropped(), 1);
    assert_the_loop_works();
}
