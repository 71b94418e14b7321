//! Edge cases of TaskSet, Scope::cancel_tasks, supervise, race / first_ok and the
//! unordered pmap streams, from an adversarial review: each test is named after the claim
//! it checks (`control_`: the existing behaviour the new API is held to; `held_`: a
//! claim the review tried to break and could not).

mod common;

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::future::{Future, pending};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use common::{panic_message, watchdog};
use duet::{CancelReason, Config, JoinError, TaskSet};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn virtual_clock() -> Config {
    Config::new().virtual_clock()
}

/// Records `duet::cancel_reason()` when dropped.
struct Note<'a>(&'a RefCell<Vec<Option<CancelReason>>>);
impl Drop for Note<'_> {
    fn drop(&mut self) {
        self.0.borrow_mut().push(duet::cancel_reason());
    }
}

/// Runs `f` on a thread of its own and says whether it panicked within `limit`
/// (`None`: still running, e.g. hung).
fn panics_within(limit: Duration, f: impl FnOnce() + Send + 'static) -> Option<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let msg = match r {
            Ok(()) => "<no panic>".to_string(),
            Err(p) => p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default(),
        };
        let _ = tx.send(msg);
    });
    rx.recv_timeout(limit).ok()
}

// ---- TaskSet ----------------------------------------------------------------------

/// `msg`, from `panics_within`, is a deadlock report.
fn assert_deadlock_reported(msg: Option<String>) {
    assert!(
        msg.as_deref().is_some_and(|m| m.contains("deadlock")),
        "no deadlock report within 5 s (hung): {msg:?}"
    );
}

/// Control: a JoinHandle awaited from a nested run panics with a clear message.
#[test]
fn control_join_handle_awaited_from_a_nested_run_panics() {
    let _w = watchdog("nested run join handle", Duration::from_secs(20));
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            let h = s.spawn(async {
                duet::sleep(ms(10)).await;
                Ok(1)
            });
            let r = duet::run(duet::timeout(ms(500), h));
            Ok::<_, Infallible>(format!("{r:?}"))
        });
    });
    assert!(msg.contains("nested duet::run"), "{msg}");
}

/// A TaskSet whose scope belongs to the outer loop, awaited from a nested `run`, could
/// only hang (the outer loop cannot run the members until the nested call returns), so
/// it panics with the JoinHandle's clear message. (It used to block; the 500 ms timeout
/// here would then return `Elapsed`.)
#[test]
fn task_set_awaited_from_a_nested_run_panics_like_a_join_handle_instead_of_hanging() {
    let _w = watchdog("nested run task set", Duration::from_secs(20));
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            let mut set = TaskSet::new(&s);
            set.spawn(async {
                duet::sleep(ms(10)).await;
                Ok(1)
            });
            let r = duet::run(duet::timeout(ms(500), set.join_next()));
            Ok::<_, Infallible>(format!("{r:?}"))
        });
    });
    assert!(msg.contains("nested duet::run"), "{msg}");
}

/// Invariant 2 of task_set.rs, "the queue never names a freed slot": a spawn refused
/// because the scope finished takes no slot, so the set stays empty and consistent (it
/// used to leave a slot number on the queue, and the next join_next hit an `expect`).
#[test]
fn a_spawn_refused_by_a_finished_scope_leaves_the_set_consistent() {
    let mut set =
        duet::run_scope(async |s| Ok::<_, Infallible>(TaskSet::<(), _>::new(&s))).unwrap();
    let msg = panic_message(|| set.spawn(async {}));
    assert!(msg.contains("already finished"), "{msg}");
    assert_eq!(set.len(), 0);
    let next =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| duet::run(set.join_next())));
    match next {
        Ok(next) => assert!(next.is_none(), "{next:?}"),
        Err(p) => panic!(
            "join_next on an empty set panicked: {:?}",
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        ),
    }
}

/// Control: an honest deadlock on a set is reported.
#[test]
fn control_a_set_whose_only_member_never_ends_is_a_deadlock() {
    let msg = panics_within(Duration::from_secs(10), || {
        let _ = duet::run_scope(async |s| {
            let mut set = TaskSet::<(), _>::new(&s);
            set.spawn(pending::<()>());
            set.join_next().await;
            Ok::<_, Infallible>(())
        });
    });
    assert!(
        msg.as_deref().is_some_and(|m| m.contains("deadlock")),
        "{msg:?}"
    );
}

/// The same deadlock after a `join_next` was polled once and dropped (cancel safety: the
/// documented way to use it in a select) is still reported: the waker the dropped call
/// left registered in the set is the task's own, which the analysis accounts for.
#[test]
fn a_deadlock_is_reported_after_a_join_next_was_dropped() {
    let msg = panics_within(Duration::from_secs(5), || {
        let _ = duet::run_scope(async |s| {
            let mut set = TaskSet::<(), _>::new(&s);
            set.spawn(pending::<()>());
            {
                let mut next = pin!(set.join_next());
                std::future::poll_fn(|cx| {
                    assert!(next.as_mut().poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await;
            }
            // Truly stuck now: the member never ends, the body waits on nothing.
            pending::<()>().await;
            Ok::<_, Infallible>(())
        });
    });
    assert_deadlock_reported(msg);
}

/// Same pattern with a plain JoinHandle, for comparison.
#[test]
fn control_a_deadlock_is_reported_after_a_join_handle_poll_was_dropped() {
    let msg = panics_within(Duration::from_secs(5), || {
        let _ = duet::run_scope(async |s| {
            let mut h = s.spawn(pending::<()>());
            std::future::poll_fn(|cx| {
                assert!(std::pin::Pin::new(&mut h).poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            pending::<()>().await;
            Ok::<_, Infallible>(())
        });
    });
    assert_deadlock_reported(msg);
}

// ---- Scope::cancel_tasks ------------------------------------------------------------

/// "Does nothing once the scope is being cancelled": in the soft phase of a graceful
/// cancellation, cancel_tasks does not drop the tasks early (it used to, cutting their
/// grace period).
#[test]
fn cancel_tasks_in_the_soft_phase_of_a_cancellation_does_nothing() {
    let flushed = Cell::new(false);
    let reasons = RefCell::new(Vec::new());
    let r = duet::run_with(
        virtual_clock(),
        duet::scope(async |s| {
            let (flushed, reasons) = (&flushed, &reasons);
            s.spawn(async move {
                let _note = Note(reasons);
                duet::cancelled().await; // woken by the soft phase
                duet::sleep(ms(100)).await; // async cleanup, within the grace period
                flushed.set(true);
            });
            duet::yield_now().await;
            s.cancel_with_grace(ms(1_000));
            duet::yield_now().await; // the soft phase has begun; the body still runs
            assert!(s.is_cancelled());
            s.cancel_tasks(); // documented to do nothing now
            Ok::<_, Infallible>(())
        }),
    );
    assert!(r.unwrap_err().is_cancelled());
    assert!(
        flushed.get(),
        "the task's cleanup was cut; its destructor saw {:?}",
        reasons.borrow()
    );
}

/// "Does nothing once the scope is being cancelled": called right after `cancel()` (same
/// poll, before the driver acted on either), it leaves the reason the tasks are dropped
/// for at `Explicit` (it used to change it to `TasksCancelled`).
#[test]
fn cancel_tasks_right_after_cancel_does_not_change_the_reason_tasks_see() {
    let reasons = RefCell::new(Vec::new());
    let r = duet::run_scope(async |s| {
        let reasons = &reasons;
        s.spawn(async move {
            let _note = Note(reasons);
            pending::<()>().await;
        });
        duet::yield_now().await;
        s.cancel();
        s.cancel_tasks();
        pending::<()>().await;
        Ok::<_, Infallible>(())
    });
    assert_eq!(
        r.unwrap_err().cancel_reason(),
        Some(&CancelReason::Explicit)
    );
    assert_eq!(*reasons.borrow(), [Some(CancelReason::Explicit)]);
}

// ---- probes that held (kept as regression checks) ---------------------------------

#[test]
fn held_cancel_tasks_from_a_member_inside_a_shield_finishes_the_shield_first() {
    let cleaned = Cell::new(false);
    let r = duet::run_with(
        virtual_clock(),
        duet::scope(async |s| {
            let cleaned = &cleaned;
            let mut set = TaskSet::new(&s);
            set.spawn(duet::sleep(ms(1_000)));
            let s2 = s.clone();
            set.spawn(async move {
                duet::shield(async {
                    s2.cancel_tasks();
                    duet::sleep(ms(100)).await;
                    cleaned.set(true);
                })
                .await;
                duet::sleep(ms(1_000)).await;
            });
            let mut outs = Vec::new();
            while let Some(o) = set.join_next().await {
                outs.push(o);
            }
            Ok::<_, Infallible>((outs, duet::now()))
        }),
    );
    let (outs, _) = r.unwrap();
    assert!(cleaned.get());
    assert_eq!(
        outs,
        [
            Err(JoinError::Cancelled(CancelReason::TasksCancelled)),
            Err(JoinError::Cancelled(CancelReason::TasksCancelled))
        ]
    );
}

#[test]
fn held_cancel_all_then_spawn_runs_the_new_member() {
    let r = duet::run_scope(async |s| {
        let mut set = TaskSet::new(&s);
        set.spawn(async {
            pending::<()>().await;
            Ok(0)
        });
        set.cancel_all();
        set.spawn(async { Ok(7) });
        let mut outs = Vec::new();
        while let Some(o) = set.join_next().await {
            outs.push(o);
        }
        Ok::<_, Infallible>(outs)
    });
    let outs = r.unwrap();
    assert_eq!(outs.len(), 2);
    assert!(outs.contains(&Ok(7)), "{outs:?}");
}

#[test]
fn held_unordered_pmap_holds_at_most_window_results_with_window_below_limit() {
    use futures::StreamExt;
    let held = Cell::new(0usize);
    let max = Cell::new(0usize);
    let r = duet::run_with(
        virtual_clock(),
        duet::scope(async |s| {
            let (held, max) = (&held, &max);
            let limit = duet::PmapLimit::new(Some(10)).window(4);
            let mut results = duet::pmap_stream_unordered(&s, 0..40u64, limit, async |i| {
                held.set(held.get() + 1);
                max.set(max.get().max(held.get()));
                duet::sleep(ms(1 + (i * 7) % 13)).await;
                i
            });
            let mut got = Vec::new();
            while let Some(i) = results.next().await {
                held.set(held.get() - 1); // taken: no longer held by the stream
                duet::sleep(ms(5)).await; // slow consumer
                got.push(i);
            }
            got.sort();
            Ok::<_, Infallible>(got)
        }),
    );
    assert_eq!(r.unwrap(), (0..40).collect::<Vec<_>>());
    assert!(max.get() <= 4, "{} held", max.get());
}

#[test]
fn held_unordered_pmap_over_an_input_that_ends_late_ends_then() {
    use futures::StreamExt;
    let r = duet::run_with(
        virtual_clock(),
        duet::scope(async |s| {
            let (tx, rx) = futures::channel::mpsc::unbounded::<u64>();
            s.spawn(async move {
                for i in 0..3 {
                    tx.unbounded_send(i).unwrap();
                }
                duet::sleep(ms(500)).await;
                drop(tx);
            });
            let results = duet::pmap_stream_unordered(&s, rx, None, async |i| {
                duet::sleep(ms(10 * (3 - i))).await;
                i
            });
            let got: Vec<_> = results.collect().await;
            Ok::<_, Infallible>((got, duet::now()))
        }),
    );
    let (got, _) = r.unwrap();
    assert_eq!(got, [2, 1, 0]);
}

#[test]
fn held_unordered_try_pmap_error_racing_completions() {
    use futures::StreamExt;
    let r = duet::run_with(
        virtual_clock(),
        duet::scope(async |s| {
            let results =
                duet::try_pmap_stream_unordered(&s, [5u64, 10, 10, 10, 30], None, async |ms_| {
                    duet::sleep(ms(ms_)).await;
                    if ms_ == 10 { Err(ms_) } else { Ok(ms_) }
                });
            Ok::<_, Infallible>(results.collect::<Vec<_>>().await)
        }),
    );
    assert_eq!(r.unwrap(), [Ok(5), Err(10)]);
}

#[test]
fn held_supervise_with_timeout_and_grace_keeps_what_the_body_returns_on_cancellation() {
    let outcome = duet::run_with(
        virtual_clock(),
        duet::supervise_with(
            duet::ScopeOptions::new().timeout(ms(100)).grace(ms(50)),
            async |s| {
                let mut set = TaskSet::new(&s);
                for i in [10u64, 50, 1_000] {
                    set.spawn(async move {
                        duet::sleep(ms(i)).await;
                        if i == 50 { Err(i) } else { Ok(i) }
                    });
                }
                let mut done = Vec::new();
                loop {
                    let next = {
                        let a = pin!(set.join_next());
                        let b = pin!(duet::cancelled());
                        match futures::future::select(a, b).await {
                            futures::future::Either::Left((o, _)) => Some(o),
                            futures::future::Either::Right(_) => None,
                        }
                    };
                    match next {
                        Some(Some(Ok(v))) => done.push(v),
                        Some(Some(Err(_))) => {}
                        Some(None) | None => break,
                    }
                }
                Ok(done)
            },
        ),
    );
    assert_eq!(outcome.value, Some(vec![10]));
    assert_eq!(outcome.errors, [50]);
    assert_eq!(outcome.cancelled, Some(CancelReason::TimedOut));
}

#[test]
fn held_nested_races_and_sync_winners() {
    let r = duet::run_with(virtual_clock(), async {
        let inner = || -> std::pin::Pin<Box<dyn Future<Output = u32>>> {
            Box::pin(duet::race([
                Box::pin(async {
                    duet::sleep(ms(20)).await;
                    1u32
                }) as std::pin::Pin<Box<dyn Future<Output = u32>>>,
                Box::pin(async {
                    duet::sleep(ms(5)).await;
                    2
                }),
            ]))
        };
        let a = duet::race([
            inner(),
            Box::pin(async {
                duet::sleep(ms(10)).await;
                3
            }),
        ])
        .await;
        let b = duet::race([
            Box::pin(pending::<u32>()) as std::pin::Pin<Box<dyn Future<Output = u32>>>,
            Box::pin(async { 4 }),
        ])
        .await;
        let c = duet::first_ok([
            Box::pin(async { Err::<u32, _>("a") })
                as std::pin::Pin<Box<dyn Future<Output = Result<u32, &str>>>>,
            Box::pin(async {
                duet::sleep(ms(1)).await;
                Err("b")
            }),
            Box::pin(async { Err("c") }),
        ])
        .await;
        (a, b, c)
    });
    assert_eq!(r, (2, 4, Err(vec!["a", "b", "c"])));
}

#[test]
fn held_task_set_polled_through_futures_unordered_still_delivers() {
    use futures::StreamExt;
    let r = duet::run_with(
        virtual_clock(),
        duet::scope(async |s| {
            let mut set = TaskSet::new(&s);
            for i in [30u64, 10, 20] {
                set.spawn(async move {
                    duet::sleep(ms(i)).await;
                    Ok(i)
                });
            }
            let mut got = Vec::new();
            for _ in 0..3 {
                let mut fu = futures::stream::FuturesUnordered::new();
                fu.push(set.join_next());
                got.push(fu.next().await.unwrap().unwrap().unwrap());
            }
            Ok::<_, Infallible>(got)
        }),
    );
    assert_eq!(r.unwrap(), [10, 20, 30]);
}

#[test]
fn held_members_waiting_on_a_limiter_slot_held_by_a_thread_are_not_a_deadlock() {
    let limiter = duet::Limiter::new(1);
    let slot = limiter.try_acquire().unwrap();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(ms(200));
        drop(slot);
    });
    let r = duet::run_scope(async |s| {
        let limiter = &limiter;
        let mut set = TaskSet::new(&s);
        for i in 0..3 {
            set.spawn(async move {
                drop(limiter.acquire().await);
                Ok(i)
            });
        }
        let mut n = 0;
        while let Some(o) = set.join_next().await {
            o.unwrap();
            n += 1;
        }
        Ok::<_, Infallible>(n)
    });
    releaser.join().unwrap();
    assert_eq!(r.unwrap(), 3);
}

#[test]
fn held_supervise_orders_body_and_task_errors_by_time() {
    let outcome = duet::run_with(
        virtual_clock(),
        duet::supervise(async |s| {
            s.spawn(async {
                duet::sleep(ms(5)).await;
                Err::<(), _>("task at 5")
            });
            s.spawn(async {
                duet::sleep(ms(20)).await;
                Err::<(), _>("task at 20")
            });
            duet::sleep(ms(10)).await;
            Err::<(), _>("body at 10")
        }),
    );
    assert_eq!(outcome.value, None);
    assert_eq!(outcome.errors, ["task at 5", "body at 10", "task at 20"]);
    assert_eq!(outcome.cancelled, None);
}

#[test]
fn held_a_race_losers_panicking_destructor_is_re_raised_after_teardown() {
    struct Boom;
    impl Drop for Boom {
        fn drop(&mut self) {
            panic!("loser destructor");
        }
    }
    let msg = panic_message(|| {
        duet::run(duet::race([
            Box::pin(async {
                duet::yield_now().await;
                1
            }) as std::pin::Pin<Box<dyn Future<Output = i32>>>,
            Box::pin(async {
                let _b = Boom;
                pending::<()>().await;
                2
            }),
        ]));
    });
    assert_eq!(msg, "loser destructor");
}

/// cancel_tasks documents that a pmap stream started before it panics when polled. The
/// message names cancel_tasks as the cause; it used to blame the caller for polling
/// "outside the scope", which this body does not do.
#[test]
fn a_pmap_stream_cut_by_cancel_tasks_panics_with_a_message_that_names_the_cause() {
    use futures::StreamExt;
    let msg = panic_message(|| {
        let r = duet::run_scope(async |s| {
            let mut results = duet::pmap_stream_unordered(&s, 0..10u32, Some(2), async |i| {
                duet::yield_now().await;
                i
            });
            let first = results.next().await;
            s.cancel_tasks();
            // Polled from the body of its own scope.
            let rest: Vec<u32> = results.collect().await;
            Ok::<_, Infallible>((first, rest))
        });
        eprintln!("no panic; the stream gave {r:?}");
    });
    assert!(
        !msg.contains("consume a pmap stream inside the scope it was started on"),
        "misleading message for a stream consumed in its own scope's body: {msg}"
    );
    assert!(
        msg.contains("after Scope::cancel_tasks cancelled its calls"),
        "{msg}"
    );
}

/// `Supervised` has public fields; taking the value (an ordinary move out of a pub
/// field) and then asking for `into_result` panics with the documented message, not an
/// internal `expect` ("the body finished successfully before the scope did").
#[test]
fn supervised_into_result_after_taking_the_value_does_not_panic_with_an_internal_message() {
    let mut outcome = duet::run(duet::supervise(async |_s| Ok::<_, Infallible>(1)));
    let _value = outcome.value.take();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| outcome.into_result()));
    assert!(r.is_err(), "a value taken out cannot be returned");
    if let Err(p) = r {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        assert!(
            !msg.contains("the body finished successfully before the scope did"),
            "undocumented panic with an internal message: {msg}"
        );
        assert!(msg.starts_with("duet::Supervised::into_result:"), "{msg}");
    }
}
