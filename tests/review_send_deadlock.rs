//! Adversarial review of Send scopes in dumps and the deadlock analysis (the registry,
//! snapshots, remote-handle counts, the last-handle wake). Each test says what it proves.
//! Rule under test: no false deadlock panic for a program that would make progress, no
//! hang inside duet, balanced remote-handle counts, local scopes unchanged.

mod common;

use std::convert::Infallible;
use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use common::{CountingWaker, panic_message, watchdog};
use duet::{Config, send};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const LEVEL_1: &str = "duet::run: deadlock: the root future is waiting";
const LEVEL_2: &str = "duet::run: deadlock: every task is waiting";

fn is_deadlock(msg: &str) -> bool {
    msg.starts_with(LEVEL_1) || msg.starts_with(LEVEL_2)
}

/// A Send scope that is stuck at its first poll: its body returns at once, leaving one
/// task that nothing can wake (and no handle).
fn stuck_send_scope() -> impl Future<Output = Result<(), duet::ScopeError<Infallible>>> + Send {
    send::scope(async |s| {
        s.spawn(pending::<()>());
        Ok::<_, Infallible>(())
    })
}

// ---- level 1 (stuck holds) and a Send scope leaving the loop's thread mid-poll ----------

/// Proves: a Send scope polled once by the root (it reports a stuck hold on the root's
/// waker) and then dropped on another thread *during the same poll* does not leave that
/// stuck hold counted. The root then waits on a oneshot a thread completes after 200 ms:
/// a program that makes progress, which must not be reported as a deadlock.
#[test]
fn a_stuck_send_scope_dropped_on_another_thread_mid_poll_is_not_a_deadlock() {
    let _w = watchdog(
        "stuck send scope dropped elsewhere",
        Duration::from_secs(20),
    );
    let r = duet::run(async {
        let mut fut = Box::pin(stuck_send_scope());
        assert!(futures::poll!(fut.as_mut()).is_pending());
        thread::scope(|t| {
            t.spawn(move || drop(fut));
        });
        let rx = common::answered_later(ms(200), 7u32);
        rx.await.unwrap()
    });
    assert_eq!(r, 7);
}

/// Proves: the same, with the scope moved to another thread and polled there with
/// another waker (it replaces the root's waker it held) instead of dropped.
#[test]
fn a_stuck_send_scope_polled_on_another_thread_mid_poll_is_not_a_deadlock() {
    let _w = watchdog("stuck send scope polled elsewhere", Duration::from_secs(20));
    let r = duet::run(async {
        let mut fut = Box::pin(stuck_send_scope());
        assert!(futures::poll!(fut.as_mut()).is_pending());
        let (tx, rx) = futures::channel::oneshot::channel();
        let (polled_tx, polled_rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let waker = futures::task::noop_waker();
            let _ = fut.as_mut().poll(&mut Context::from_waker(&waker));
            polled_tx.send(()).unwrap();
            thread::sleep(ms(200));
            drop(fut);
            tx.send(7).unwrap();
        });
        polled_rx.recv().unwrap(); // still inside the root's poll
        rx.await.unwrap()
    });
    assert_eq!(r, 7);
}

/// Proves: the same inside a task of a local scope whose body has returned (the stuck
/// hold is on the task's waker; the task waits on a channel a thread completes).
#[test]
fn a_task_handing_its_stuck_send_scope_to_a_thread_is_not_a_deadlock() {
    let _w = watchdog(
        "stuck send scope handed off by a task",
        Duration::from_secs(20),
    );
    let got = Arc::new(AtomicUsize::new(0));
    let got2 = got.clone();
    let r = duet::run_scope(async move |s| {
        s.spawn(async move {
            let mut fut = Box::pin(stuck_send_scope());
            assert!(futures::poll!(fut.as_mut()).is_pending());
            thread::scope(|t| {
                t.spawn(move || drop(fut));
            });
            let rx = common::answered_later(ms(200), 5usize);
            got2.store(rx.await.unwrap(), Ordering::SeqCst);
        });
        Ok::<_, Infallible>(())
    });
    r.unwrap();
    assert_eq!(got.load(Ordering::SeqCst), 5);
}

// ---- scope futures moving between loops and executors -----------------------------------

/// Proves: a Send scope started in one `run`, handed to a tokio task that finishes it
/// (its task waits on a thread), is neither a false deadlock in the first loop (which
/// waits on the tokio task) nor broken in tokio.
#[test]
fn a_send_scope_started_in_run_and_finished_in_tokio() {
    let _w = watchdog("send scope run -> tokio", Duration::from_secs(20));
    let rt = common::tokio_threads::multi_thread();
    let handle = rt.handle().clone();
    let r = duet::run(async move {
        let mut fut = Box::pin(send::scope(async |s| {
            let rx = common::answered_later(ms(200), 3u32);
            let h = s.spawn(async move { Ok::<_, Infallible>(rx.await.unwrap()) });
            duet::yield_now().await;
            Ok::<_, Infallible>(h.await.unwrap())
        }));
        assert!(futures::poll!(fut.as_mut()).is_pending());
        let (tx, rx) = futures::channel::oneshot::channel();
        handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.await.unwrap()
    });
    assert_eq!(r.unwrap(), 3);
}

/// Proves: a Send scope polled in one `run` and finished by a second, sequential `run`
/// works, and the second loop's dump shows it (it moved to that loop's registry).
#[test]
#[allow(
    clippy::async_yields_async,
    reason = "the first run returns the pending scope future on purpose"
)]
fn a_send_scope_moved_between_two_sequential_runs() {
    let _w = watchdog("send scope between runs", Duration::from_secs(20));
    let (tx, rx) = futures::channel::oneshot::channel::<u32>();
    let fut = duet::run(async {
        let mut fut = Box::pin(send::scope(async |s| {
            let h = s.spawn_named(
                "waiter",
                async move { Ok::<_, Infallible>(rx.await.unwrap()) },
            );
            Ok::<_, Infallible>(h.await.unwrap())
        }));
        assert!(futures::poll!(fut.as_mut()).is_pending());
        fut
    });
    thread::spawn(move || {
        thread::sleep(ms(200));
        tx.send(9).unwrap();
    });
    let (r, dump) = duet::run(async {
        let mut fut = fut;
        assert!(futures::poll!(fut.as_mut()).is_pending());
        let dump = duet::dump();
        (fut.await, dump)
    });
    assert_eq!(r.unwrap(), 9);
    assert!(dump.contains("`waiter`"), "{dump}");
}

/// Proves: a Send scope opened in a nested `run` (inside a local scope's task) whose task
/// waits on another thread is not a deadlock, and that the outer loop's analysis is not
/// affected by it.
#[test]
fn a_send_scope_in_a_local_scope_in_a_nested_run() {
    let _w = watchdog("nested run", Duration::from_secs(20));
    let r = duet::run_scope(async |s| {
        let h = s.spawn(async {
            let ok = duet::run_scope(async |inner| {
                let h = inner.spawn(async {
                    send::scope(async |ss: send::Scope<'static, Infallible>| {
                        let c = ss.clone();
                        thread::spawn(move || {
                            thread::sleep(ms(200));
                            c.spawn(async {});
                            thread::sleep(ms(100));
                            c.cancel_tasks();
                        });
                        ss.spawn(pending::<()>());
                        Ok(())
                    })
                    .await
                    .unwrap();
                });
                let d = duet::dump();
                assert!(d.contains("scope #"), "{d}");
                Ok::<_, Infallible>(h.await.is_ok())
            })
            .unwrap();
            Ok::<_, Infallible>(ok)
        });
        Ok::<_, Infallible>(h.await.unwrap())
    });
    assert!(r.unwrap());
}

/// Proves: under the virtual clock, a Send scope with a clone on a real thread (which
/// cancels its tasks after 200 ms of real time) is not a deadlock.
#[test]
fn a_send_scope_under_the_virtual_clock_with_a_remote_clone() {
    let _w = watchdog("virtual clock", Duration::from_secs(20));
    let r = duet::run_with(
        Config::new().virtual_clock(),
        send::scope(async |s: send::Scope<'static, Infallible>| {
            let c = s.clone();
            thread::spawn(move || {
                thread::sleep(ms(200));
                c.cancel_tasks();
            });
            s.spawn(pending::<()>());
            s.spawn(duet::sleep(ms(5_000)));
            Ok(())
        }),
    );
    assert!(r.is_ok());
}

// ---- the snapshot race ------------------------------------------------------------------

/// Proves (or tries to): the level-2 analysis does not report a deadlock when another
/// thread cancels the scope through its last remote handle and drops it while the loop
/// is snapshotting. The loop reads the root's waker state, then the scope's tasks (many
/// of them, so it takes a while), then its remote-handle count: a cancel made in between
/// and the handle dropped before the count is read leave a snapshot with no remote
/// handle, a stale "running" phase and the root not yet seen as woken.
#[test]
fn a_cancel_and_last_handle_drop_during_the_snapshot_is_not_a_deadlock() {
    let _w = watchdog("snapshot race", Duration::from_secs(60));
    let mut false_positives = Vec::new();
    for attempt in 0..6u32 {
        let fired = Arc::new(AtomicBool::new(false));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let fired = fired.clone();
            duet::run(send::scope(
                async move |s: send::Scope<'static, Infallible>| {
                    for _ in 0..60_000 {
                        s.spawn(pending::<()>());
                    }
                    duet::yield_now().await; // the tasks are polled once
                    let started = Instant::now();
                    let _ = duet::dump(); // about the time a snapshot takes (an upper bound)
                    let snapshot = started.elapsed();
                    let c = s.clone();
                    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
                    thread::spawn(move || {
                        go_rx.recv().unwrap();
                        // The loop goes idle now, parks 50 ms, then analyses.
                        let fraction = 0.1 + 0.15 * f64::from(attempt);
                        thread::sleep(ms(50) + snapshot.mul_f64(fraction));
                        c.cancel();
                        drop(c);
                        fired.store(true, Ordering::SeqCst);
                    });
                    go_tx.send(()).unwrap();
                    Ok(())
                },
            ))
        }));
        match result {
            Ok(r) => assert!(r.unwrap_err().is_cancelled()),
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_default();
                assert!(is_deadlock(&msg), "{msg}");
                if fired.load(Ordering::SeqCst) {
                    false_positives.push(attempt);
                }
            }
        }
    }
    assert!(
        false_positives.is_empty(),
        "deadlock reported for a scope cancelled from another thread in attempts {false_positives:?}"
    );
}

// ---- dumps: races with other threads, from destructors ----------------------------------

/// Proves: `dump()` on the loop's thread, again and again, while another thread spawns
/// into the Send scope and drops join handles, neither hangs nor panics.
#[test]
fn dumps_racing_with_spawns_from_another_thread() {
    let _w = watchdog("dump vs spawn race", Duration::from_secs(20));
    let r = duet::run(send::scope(async |s: send::Scope<'static, Infallible>| {
        let c = s.clone();
        let done = Arc::new(AtomicBool::new(false));
        let done2 = done.clone();
        let worker = thread::spawn(move || {
            for i in 0..3_000u32 {
                let h = c.spawn_named(format!("t{i}"), async {});
                if i % 2 == 0 {
                    h.cancel();
                }
                drop(h);
            }
            done2.store(true, Ordering::SeqCst);
        });
        let mut dumps = 0;
        while !done.load(Ordering::SeqCst) {
            let d = duet::dump();
            assert!(d.contains("scope #"), "{d}");
            dumps += 1;
            duet::yield_now().await;
        }
        worker.join().unwrap();
        Ok(dumps)
    }));
    assert!(r.unwrap() > 0);
}

struct DumpOnDrop(Arc<std::sync::Mutex<Vec<String>>>);

impl Drop for DumpOnDrop {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(duet::dump());
    }
}

/// Proves: `dump()` called from destructors of a Send scope's tasks and body, while the
/// scope tears down on cancellation and while its future is dropped early by `timeout`,
/// does not hang on the scope's own locks.
#[test]
fn dump_from_destructors_while_a_send_scope_tears_down() {
    let _w = watchdog("dump in drop", Duration::from_secs(20));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s1 = seen.clone();
    let r = duet::run(send::scope(async move |s| {
        for _ in 0..3 {
            let g = DumpOnDrop(s1.clone());
            s.spawn(async move {
                let _g = g;
                pending::<()>().await;
            });
        }
        let _g = DumpOnDrop(s1.clone());
        duet::yield_now().await;
        s.cancel();
        pending::<()>().await;
        Ok::<_, Infallible>(())
    }));
    assert!(r.unwrap_err().is_cancelled());
    let s2 = seen.clone();
    let r = duet::run(duet::timeout(
        ms(20),
        send::scope(async move |s| {
            let g = DumpOnDrop(s2.clone());
            s.spawn(async move {
                let _g = g;
                pending::<()>().await;
            });
            let _g = DumpOnDrop(s2.clone());
            pending::<()>().await;
            Ok::<_, Infallible>(())
        }),
    ));
    assert!(r.is_err());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 6);
    assert!(seen.iter().all(|d| d.contains("scope #")), "{seen:?}");
}

static DUMP_VAR: duet::ContextVar<DumpOnDropSync> = duet::ContextVar::new("dump_var");

#[derive(Clone)]
struct DumpOnDropSync(Arc<AtomicUsize>);

impl Drop for DumpOnDropSync {
    fn drop(&mut self) {
        let _ = duet::dump();
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Proves: a ContextVar value whose destructor calls `dump()`, set in a Send scope's task
/// (and in a Send scope that is a detached root polled off-loop, then moved into `run`),
/// does not hang when it is dropped.
#[test]
fn dump_from_a_context_var_drop_in_a_send_scope() {
    let _w = watchdog("dump in context var drop", Duration::from_secs(20));
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let r = duet::run(send::scope(async move |s| {
        let d2 = d.clone();
        s.spawn(async move {
            DUMP_VAR.set(DumpOnDropSync(d2.clone()));
            DUMP_VAR.set(DumpOnDropSync(d2));
            duet::yield_now().await;
        });
        Ok::<_, Infallible>(())
    }));
    r.unwrap();
    // A detached root first (values of its own), then moved into a loop.
    let d = drops.clone();
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    let mut fut = Box::pin(send::scope(async move |_s| {
        DUMP_VAR.set(DumpOnDropSync(d.clone()));
        rx.await.unwrap();
        DUMP_VAR.set(DumpOnDropSync(d));
        Ok::<_, Infallible>(())
    }));
    let waker = futures::task::noop_waker();
    assert!(
        fut.as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    duet::run(async move {
        tx.send(()).unwrap();
        fut.await.unwrap();
        let _ = duet::dump();
    });
    assert!(drops.load(Ordering::SeqCst) >= 2);
}

// ---- counts stay balanced (a leak would hide a real deadlock: the run would hang) -------

/// Proves: join handles and a task set moved to other threads and dropped there, and a
/// clone dropped while unwinding (caught in a task), all give their count back: the stuck
/// task left is then reported.
#[test]
fn handles_dropped_elsewhere_and_while_unwinding_leave_the_scope_detectable() {
    let _w = watchdog("balanced counts", Duration::from_secs(20));
    let msg = panic_message(|| {
        let _ = duet::run(send::scope(async |s: send::Scope<'static, Infallible>| {
            let hs: Vec<_> = (0..3).map(|_| s.spawn(async {})).collect();
            thread::spawn(move || drop(hs)).join().unwrap();
            let mut set = send::TaskSet::<(), Infallible>::new(&s);
            set.spawn(async {});
            thread::spawn(move || drop(set)).join().unwrap();
            let c = s.clone();
            s.spawn(async move {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let _c = c;
                    panic!("while holding a clone");
                }));
                assert!(r.is_err());
            });
            s.spawn_named("stuck", pending::<()>());
            Ok(())
        }));
    });
    assert!(is_deadlock(&msg), "{msg}");
    assert!(msg.contains("`stuck`"), "{msg}");
}

/// Proves: a scope future dropped early (by `timeout`) whose join handle escaped and is
/// dropped later, on another thread, breaks nothing: the loop goes on and reports a
/// real deadlock afterwards (no leaked or underflowed count reaches a live scope).
#[test]
fn an_escaped_join_handle_of_a_dropped_scope_dropped_later() {
    let _w = watchdog("escaped handle", Duration::from_secs(20));
    let msg = panic_message(|| {
        duet::run(async {
            let (tx, rx) = std::sync::mpsc::channel();
            let r = duet::timeout(
                ms(20),
                send::scope(async move |s| {
                    tx.send(s.spawn(pending::<()>())).unwrap();
                    pending::<()>().await;
                    Ok::<_, Infallible>(())
                }),
            )
            .await;
            assert!(r.is_err());
            let h = rx.recv().unwrap();
            thread::spawn(move || {
                thread::sleep(ms(100));
                drop(h);
            });
            duet::sleep(ms(200)).await;
            // A real deadlock now: a fresh Send scope stuck for good.
            let _ = stuck_send_scope().await;
        });
    });
    assert!(is_deadlock(&msg), "{msg}");
}

// ---- the last-handle wake -----------------------------------------------------------------

/// Proves (measures): whether a join handle that escapes a Send scope as its value wakes
/// the scope's last poller when it is dropped after the scope has finished (a spurious
/// wake of a waker that has nothing to do with the scope any more).
#[test]
fn an_escaped_join_handle_dropped_after_the_scope_finished_does_not_wake_its_poller() {
    let waker_state = CountingWaker::new();
    let waker = std::task::Waker::from(waker_state.clone());
    let mut cx = Context::from_waker(&waker);
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let mut fut = Box::pin(send::scope(
        async move |s: send::Scope<'static, Infallible>| {
            let escaping = s.spawn(async {});
            let c = s.clone();
            thread::spawn(move || {
                go_rx.recv().unwrap();
                c.cancel_tasks();
            });
            s.spawn(pending::<()>());
            Ok(escaping)
        },
    ));
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    go_tx.send(()).unwrap();
    let start = Instant::now();
    let escaped = loop {
        if let Poll::Ready(r) = fut.as_mut().poll(&mut cx) {
            break r.unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(10));
        thread::sleep(ms(1));
    };
    let before = waker_state.wakes();
    drop(escaped);
    assert_eq!(
        waker_state.wakes(),
        before,
        "dropping a join handle after its scope finished woke the scope's old poller"
    );
}

/// Proves: a local scope's CancelHandle dropped on another thread (now counted by the
/// same code) still lets a real deadlock be reported, and one that cancels is fine.
#[test]
fn local_scope_cancel_handles_on_threads() {
    let _w = watchdog("local cancel handles", Duration::from_secs(20));
    let r = duet::run_scope(async |s| {
        let h = s.cancel_handle();
        thread::spawn(move || {
            thread::sleep(ms(200));
            h.cancel();
        });
        s.spawn(pending::<()>());
    });
    assert!(r.unwrap_err().is_cancelled());
}

// ---- local scopes unchanged: the handles' drop check -------------------------------------

/// Proves (by compiling): the handles have no `Drop` impl of their own, so a join handle
/// may be dropped after data its value borrows, as before Send scopes counted remote
/// handles (a `Drop` on `JoinHandle<T>` made this an error: "`data` does not live long
/// enough ... when `escaped` is dropped and runs the destructor").
#[test]
fn a_join_handle_may_be_dropped_after_the_data_its_value_borrows() {
    let mut escaped = None;
    let data = String::from("local");
    duet::run(duet::scope(async |s| {
        escaped = Some(s.spawn(async { Ok::<_, Infallible>(data.as_str()) }));
        Ok::<_, Infallible>(())
    }))
    .unwrap();
    assert!(escaped.is_some());

    let mut escaped = None;
    let data = String::from("send");
    duet::run(send::scope(async |s| {
        escaped = Some(s.spawn(async { Ok::<_, Infallible>(data.as_str()) }));
        Ok::<_, Infallible>(())
    }))
    .unwrap();
    assert!(escaped.is_some());
}
