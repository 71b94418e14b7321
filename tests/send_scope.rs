//! Send scopes (`duet::send`) where they are meant to be used: inside `tokio::spawn` on
//! the multi-thread runtime, with children borrowing the spawned block's data, moving
//! between worker threads between polls, cancelled from other tasks and threads.

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::tokio_threads::{Drops, Guard, hop, multi_thread};
use duet::{CancelReason, ContextVar, ScopeError};

#[test]
fn a_send_scope_in_tokio_spawn_runs_children_that_borrow_the_request() {
    let runtime = multi_thread();
    let total = runtime.block_on(async {
        tokio::spawn(async move {
            let request: Vec<String> = (1..=20).map(|i| "x".repeat(i)).collect();
            let total = duet::send::scope(async |s| {
                let lens: Vec<_> = request
                    .iter()
                    .map(|part| {
                        s.spawn(async move {
                            hop(5).await;
                            Ok::<_, std::io::Error>(part.len())
                        })
                    })
                    .collect();
                let mut total = 0;
                for len in lens {
                    total += len.await.expect("no child fails");
                }
                Ok(total)
            })
            .await;
            (total, request.len())
        })
        .await
        .expect("the handler did not panic")
    });
    assert_eq!(total.0.unwrap(), (1..=20).sum::<usize>());
    assert_eq!(
        total.1, 20,
        "the request is still the handler's after the scope"
    );
}

#[test]
fn nested_send_scopes_and_a_task_spawning_siblings_through_a_clone() {
    let runtime = multi_thread();
    let ran = runtime.block_on(async {
        tokio::spawn(async {
            let ran = AtomicUsize::new(0);
            duet::send::scope(async |s| {
                let ran = &ran;
                let spawner = s.clone();
                s.spawn(async move {
                    hop(3).await;
                    spawner.spawn(async move {
                        ran.fetch_add(1, Ordering::SeqCst);
                    });
                    duet::send::scope(async |inner| {
                        for _ in 0..10 {
                            inner.spawn(async move {
                                hop(2).await;
                                ran.fetch_add(1, Ordering::SeqCst);
                            });
                        }
                    })
                    .await
                    .expect("the inner scope cannot fail");
                });
            })
            .await
            .expect("nothing fails");
            ran.into_inner()
        })
        .await
        .unwrap()
    });
    assert_eq!(ran, 11);
}

#[test]
fn the_first_failure_cancels_the_siblings_and_drops_them() {
    let runtime = multi_thread();
    let drops = Drops::default();
    let result = runtime.block_on({
        let drops = drops.clone();
        async move {
            tokio::spawn(async move {
                duet::send::scope(async |s| {
                    for _ in 0..5 {
                        let guard = drops.guard();
                        s.spawn(async move {
                            let _guard = guard;
                            std::future::pending::<Result<(), &str>>().await
                        });
                    }
                    s.spawn(async {
                        hop(3).await;
                        Err::<(), _>("backend down")
                    });
                    Ok(())
                })
                .await
            })
            .await
            .unwrap()
        }
    });
    match result {
        Err(ScopeError::Failed { error, .. }) => assert_eq!(error, "backend down"),
        other => panic!("expected the failure, got {other:?}"),
    }
    assert_eq!(drops.count(), 5, "every sibling was dropped");
}

#[test]
fn a_send_timeout_scope_cancels_its_children_when_time_is_up() {
    let runtime = multi_thread();
    let drops = Drops::default();
    let started = Instant::now();
    let result = runtime.block_on({
        let drops = drops.clone();
        async move {
            tokio::spawn(async move {
                duet::send::timeout_scope(Duration::from_millis(50), async |s| {
                    let guard = drops.guard();
                    s.spawn(async move {
                        let _guard = guard;
                        duet::sleep(Duration::from_secs(60)).await;
                    });
                })
                .await
            })
            .await
            .unwrap()
        }
    });
    assert!(result.unwrap_err().is_timeout());
    assert_eq!(drops.count(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_cancel_handle_and_a_scope_clone_cancel_from_other_tasks_and_threads() {
    let runtime = multi_thread();
    let (by_handle, by_clone) = runtime.block_on(async {
        let by_handle = tokio::spawn(async {
            duet::send::scope(async |s| {
                let handle = s.cancel_handle();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    handle.cancel();
                });
                s.spawn(std::future::pending::<()>());
            })
            .await
        });
        let by_clone = tokio::spawn(async {
            duet::send::scope(async |s| {
                let clone = s.clone();
                let thread = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(20));
                    clone.cancel();
                });
                s.spawn(std::future::pending::<()>());
                duet::cancelled().await;
                thread.join().expect("the canceller did not panic");
            })
            .await
        });
        (by_handle.await.unwrap(), by_clone.await.unwrap())
    });
    assert_eq!(
        by_handle.unwrap_err().cancel_reason(),
        Some(&CancelReason::Explicit)
    );
    assert_eq!(
        by_clone.unwrap_err().cancel_reason(),
        Some(&CancelReason::Explicit)
    );
}

/// A scope whose handle is on another thread is spawned into from there while its driver
/// polls on a tokio worker: no spawn is lost, every task runs once.
#[test]
fn spawns_from_another_thread_all_run() {
    let runtime = multi_thread();
    let ran = Arc::new(AtomicUsize::new(0));
    runtime.block_on({
        let ran = ran.clone();
        async move {
            tokio::spawn(async move {
                duet::send::scope(async move |s| {
                    let (done_tx, done_rx) = futures::channel::oneshot::channel();
                    let spawner = s.clone();
                    let counter = ran.clone();
                    std::thread::spawn(move || {
                        for _ in 0..500 {
                            let counter = counter.clone();
                            spawner.spawn(async move {
                                tokio::task::yield_now().await;
                                counter.fetch_add(1, Ordering::SeqCst);
                            });
                        }
                        done_tx.send(()).expect("the body waits");
                    });
                    // Busy meanwhile, so that spawns land while the driver polls.
                    for _ in 0..50 {
                        s.spawn(hop(2));
                        tokio::task::yield_now().await;
                    }
                    done_rx.await.expect("the thread finished");
                })
                .await
                .expect("nothing fails")
            })
            .await
            .unwrap()
        }
    });
    assert_eq!(ran.load(Ordering::SeqCst), 500);
}

#[test]
fn a_join_handle_is_awaited_in_another_tokio_task() {
    let runtime = multi_thread();
    let value = runtime.block_on(async {
        tokio::spawn(async {
            duet::send::scope(async |s| {
                let handle = s.spawn(async {
                    hop(3).await;
                    Ok::<_, std::io::Error>(42)
                });
                // The other task only finishes once this scope has run the child.
                let waiter = tokio::spawn(async move { handle.await.expect("not cancelled") });
                Ok(waiter.await.expect("the waiter did not panic"))
            })
            .await
        })
        .await
        .unwrap()
    });
    assert_eq!(value.unwrap(), 42);
}

static USER: ContextVar<&'static str> = ContextVar::new("user");

#[test]
fn task_local_values_follow_the_tasks_across_workers() {
    let runtime = multi_thread();
    let seen = runtime.block_on(async {
        tokio::spawn(async {
            duet::send::scope(async |s| {
                USER.set("alice");
                let reads: Vec<_> = (0..8)
                    .map(|_| {
                        s.spawn(async {
                            hop(4).await;
                            Ok::<_, std::convert::Infallible>(USER.get())
                        })
                    })
                    .collect();
                let mut seen = Vec::new();
                for read in reads {
                    seen.push(read.await.expect("not cancelled"));
                }
                Ok(seen)
            })
            .await
        })
        .await
        .unwrap()
    });
    assert_eq!(seen.unwrap(), vec![Some("alice"); 8]);
    // Nothing leaked into the worker threads' own context.
    let outside = runtime.block_on(async {
        let mut reads = Vec::new();
        for _ in 0..4 {
            reads.push(tokio::spawn(async { USER.get() }));
        }
        let mut seen = Vec::new();
        for read in reads {
            seen.push(read.await.unwrap());
        }
        seen
    });
    assert_eq!(outside, vec![None; 4]);
}

#[test]
fn a_panicking_child_reaches_the_tokio_join_handle() {
    let runtime = multi_thread();
    let drops = Drops::default();
    let joined = runtime.block_on({
        let drops = drops.clone();
        async move {
            tokio::spawn(async move {
                let _ = duet::send::scope(async |s| {
                    let guard = drops.guard();
                    s.spawn(async move {
                        let _guard = guard;
                        std::future::pending::<()>().await
                    });
                    s.spawn(async {
                        hop(2).await;
                        panic!("child panicked");
                    });
                })
                .await;
            })
            .await
        }
    });
    let error = joined.expect_err("the panic reached tokio");
    assert!(error.is_panic());
    assert_eq!(
        drops.count(),
        1,
        "the sibling was dropped before the panic went on"
    );
}

#[test]
fn a_send_scope_also_runs_under_duet_run() {
    let r = duet::run(duet::send::scope(async |s| {
        let a = s.spawn(async { Ok::<_, std::convert::Infallible>(1) });
        let b = s.spawn(async {
            duet::sleep(Duration::from_millis(5)).await;
            Ok(2)
        });
        Ok(a.await.unwrap() + b.await.unwrap())
    }));
    assert_eq!(r.unwrap(), 3);
}

/// A Send scope nested in a local scope's task, and a local scope in the Send scope's
/// body: the cancellation tree links across kinds, so cancelling the outer scope reaches
/// the inner Send scope's children.
#[test]
fn cancellation_crosses_from_a_local_scope_into_a_send_scope() {
    let drops = Drops::default();
    let result = duet::run_scope(async |s| {
        let guard = drops.guard();
        let inner = s.spawn(duet::send::scope(async move |t| {
            t.spawn(async move {
                let _guard = guard;
                std::future::pending::<()>().await
            });
        }));
        duet::sleep(Duration::from_millis(5)).await;
        s.cancel();
        let inner = inner.await;
        assert!(
            inner.is_err(),
            "the task holding the Send scope was cancelled"
        );
        Ok(())
    });
    assert!(result.unwrap_err().is_cancelled());
    assert_eq!(drops.count(), 1);
}

/// What is promised: the auto traits of the Send flavour's types and futures.
#[test]
fn send_scope_types_are_send_and_sync() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<duet::send::Scope<'static, std::io::Error>>();
    assert_send_sync::<duet::send::JoinHandle<String>>();
    let future = duet::send::scope(async |s| {
        s.spawn(async {});
    });
    assert_send(&future);
    let future = duet::send::supervise(async |s| {
        s.spawn(async { Err::<(), _>("x") });
        Ok(1)
    });
    assert_send(&future);
    duet::run(duet::send::scope(async |s| {
        let set = duet::send::TaskSet::<u8, std::convert::Infallible>::new(&s);
        assert_send(&set);
    }))
    .unwrap();
}

/// A thread keeps spawning into a Send scope while the scope finishes: each spawn either
/// runs (the scope waits for it) or panics with "already finished"; none is accepted
/// and then lost (the phase is decided under the task table's lock).
#[test]
fn a_spawn_racing_the_end_of_a_send_scope_either_runs_or_is_refused() {
    let runtime = multi_thread();
    for _ in 0..200 {
        let accepted = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let (thread_tx, thread_rx) = std::sync::mpsc::channel();
        runtime.block_on({
            let (accepted, ran) = (accepted.clone(), ran.clone());
            async move {
                tokio::spawn(async move {
                    duet::send::scope(async move |s| {
                        let spawner = s.clone();
                        let thread = std::thread::spawn(move || {
                            // Bounded: a spawner faster than the scope would keep it alive.
                            for _ in 0..2_000 {
                                let ran = ran.clone();
                                let spawned =
                                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                        spawner.spawn(async move {
                                            ran.fetch_add(1, Ordering::SeqCst);
                                        })
                                    }));
                                if spawned.is_err() {
                                    break;
                                }
                                accepted.fetch_add(1, Ordering::SeqCst);
                            }
                        });
                        thread_tx.send(thread).unwrap();
                        hop(1).await;
                    })
                    .await
                    .expect("nothing fails")
                })
                .await
                .unwrap()
            }
        });
        let thread = thread_rx.recv().unwrap();
        thread
            .join()
            .expect("the spawner stops at the refusal or its bound");
        assert_eq!(ran.load(Ordering::SeqCst), accepted.load(Ordering::SeqCst));
    }
}

/// The same race through a `TaskSet` on another thread: the set checks the phase before
/// it takes a slot, and the scope may finish between that check and the spawn's own. A
/// refused spawn must leave the set as it was: every accepted task's outcome is taken
/// once, then `None` (a refused one used to leave its slot queued as finished, which the
/// next `join_next` took for a member and failed on with an internal error).
#[test]
fn a_task_set_spawn_racing_the_end_of_a_send_scope_leaves_the_set_consistent() {
    let runtime = multi_thread();
    for _ in 0..200 {
        let (thread_tx, thread_rx) = std::sync::mpsc::channel();
        runtime.block_on(async move {
            tokio::spawn(async move {
                duet::send::scope(async move |s| {
                    let mut set = duet::send::TaskSet::new(&s);
                    let thread = std::thread::spawn(move || {
                        let mut accepted = 0;
                        for n in 0..2_000 {
                            let spawned =
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                    set.spawn(async move { Ok::<_, Infallible>(n) })
                                }));
                            if spawned.is_err() {
                                break;
                            }
                            accepted += 1;
                        }
                        (set, accepted)
                    });
                    thread_tx.send(thread).unwrap();
                    hop(1).await;
                    Ok::<_, Infallible>(())
                })
                .await
                .expect("nothing fails")
            })
            .await
            .unwrap()
        });
        let (mut set, accepted) = thread_rx.recv().unwrap().join().unwrap();
        assert_eq!(set.len(), accepted);
        let mut taken = 0;
        while let Some(outcome) = futures::executor::block_on(set.join_next()) {
            outcome.expect("each accepted task ran to completion");
            taken += 1;
        }
        assert_eq!(taken, accepted);
    }
}

// ---- the toolkit over Send scopes ------------------------------------------------------

type Boxed<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// `send::race` inside `tokio::spawn`: the futures borrow the spawned block's data, hop
/// between workers, and the losers are dropped (their guards counted) before the race
/// returns.
#[test]
fn send_race_in_tokio_spawn_returns_the_winner_with_the_losers_dropped() {
    let runtime = multi_thread();
    let drops = Drops::default();
    let (winner, dropped_by_then) = runtime.block_on({
        let drops = drops.clone();
        async move {
            tokio::spawn(async move {
                let names = vec!["slow", "fast", "never"];
                let names = &names;
                let futures: Vec<Boxed<'_, &str>> = vec![
                    Box::pin({
                        let guard = drops.guard();
                        async move {
                            let _guard = guard;
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            names[0]
                        }
                    }),
                    Box::pin(async move {
                        hop(10).await;
                        names[1]
                    }),
                    Box::pin({
                        let guard = drops.guard();
                        async move {
                            let _guard = guard;
                            std::future::pending::<()>().await;
                            names[2]
                        }
                    }),
                ];
                let winner = duet::send::race(futures).await;
                (winner, drops.count())
            })
            .await
            .unwrap()
        }
    });
    assert_eq!(winner, "fast");
    assert_eq!(
        dropped_by_then, 2,
        "both losers were dropped before race returned"
    );
}

/// `send::first_ok`: the first success wins and the rest are dropped; when every future
/// fails, the errors come back in the order of the futures.
#[test]
fn send_first_ok_in_tokio_spawn_takes_the_first_success_or_every_error() {
    let runtime = multi_thread();
    let drops = Drops::default();
    let (won, all_failed, dropped) = runtime.block_on({
        let drops = drops.clone();
        async move {
            tokio::spawn(async move {
                let attempt = |n: u64, ok: bool, guard| async move {
                    let _guard: Guard = guard;
                    tokio::time::sleep(Duration::from_millis(20 * n)).await;
                    if ok {
                        Ok(n)
                    } else {
                        Err(format!("attempt {n} failed"))
                    }
                };
                let won = duet::send::first_ok([
                    attempt(0, false, drops.guard()),
                    attempt(1, true, drops.guard()),
                    attempt(500, true, drops.guard()),
                ])
                .await;
                let dropped = drops.count();
                let all_failed = duet::send::first_ok([
                    attempt(2, false, drops.guard()),
                    attempt(1, false, drops.guard()),
                ])
                .await;
                (won, all_failed, dropped)
            })
            .await
            .unwrap()
        }
    });
    assert_eq!(won, Ok(1));
    assert_eq!(
        dropped, 3,
        "the failed, the winning and the cancelled attempt"
    );
    assert_eq!(
        all_failed,
        Err(vec![
            "attempt 2 failed".to_string(),
            "attempt 1 failed".to_string()
        ])
    );
}

/// A panicking member of a `send::race` reaches tokio's `JoinError` after the other
/// members were dropped.
#[test]
fn a_panic_in_a_send_race_reaches_tokio_after_the_others_are_dropped() {
    let runtime = multi_thread();
    let drops = Drops::default();
    let joined = runtime.block_on({
        let drops = drops.clone();
        async move {
            tokio::spawn(async move {
                let guard = drops.guard();
                let futures: Vec<Boxed<'static, u32>> = vec![
                    Box::pin(async move {
                        let _guard = guard;
                        std::future::pending::<u32>().await
                    }),
                    Box::pin(async {
                        hop(3).await;
                        panic!("member failed")
                    }),
                ];
                duet::send::race(futures).await
            })
            .await
        }
    });
    let error = joined.unwrap_err();
    assert!(error.is_panic());
    assert_eq!(drops.count(), 1);
}

#[test]
fn send_race_and_first_ok_are_send_futures_when_their_futures_are() {
    fn needs_send<F: Future + Send>(future: F) -> F {
        future
    }
    let shared = Arc::new(5);
    let race = needs_send(duet::send::race([async move { *shared }]));
    let first = needs_send(duet::send::first_ok([async { Ok::<_, String>(1) }]));
    assert_eq!(duet::run(race), 5);
    assert_eq!(duet::run(first), Ok(1));
}
