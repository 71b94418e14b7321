//! An adversarial review of Send scopes (`duet::send`): cross-thread spawns, join
//! handles and task sets used from other threads, destructors that spawn, cancel or
//! panic, drops midway, nesting with local scopes and `duet::run`, and stress.
//!
//! Every test runs under a watchdog (`guarded`): a hang is a failure, never a stuck
//! test run. Tests that show a bug are `#[ignore = "bug: ..."]` so the branch stays green;
//! run them with `cargo test --test send_review -- --ignored`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use common::tokio_threads::{Drops, hop, multi_thread};
use duet::{CancelReason, ContextVar, JoinError};

/// Runs `f` on its own thread and fails if it does not return within `secs` (the thread
/// is then leaked: a hang shows as a failure). A panic in `f` is re-raised here.
fn guarded<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(out);
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(value)) => {
            let _ = thread.join();
            value
        }
        Ok(Err(payload)) => std::panic::resume_unwind(payload),
        Err(_) => panic!("watchdog: the test did not finish within {secs} s (hang or deadlock)"),
    }
}

/// Runs `fut` on a fresh 2-worker runtime inside `tokio::spawn`, then shuts the runtime
/// down without waiting for stuck workers.
fn on_tokio<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
    let runtime = multi_thread();
    let out = runtime.block_on(async { tokio::spawn(fut).await });
    runtime.shutdown_timeout(Duration::from_secs(1));
    match out {
        Ok(v) => v,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("the tokio task was cancelled: {e}"),
    }
}

// ---------------------------------------------------------------------------------------
// Join handles used from another thread than the one polling the scope.
// ---------------------------------------------------------------------------------------

/// A join handle awaited in another tokio task (so possibly on the other worker) while its
/// task finishes on the scope's worker. Repeated, every awaiter must be woken with the
/// value.
#[test]
fn join_handles_awaited_on_the_other_worker_are_woken_with_their_values() {
    let outcomes = guarded(30, || {
        on_tokio(async {
            let mut outcomes = Vec::new();
            for round in 0..2000usize {
                let r = duet::send::scope(async |s| {
                    let handle = s.spawn(async move {
                        hop(round % 4).await;
                        Ok::<_, std::io::Error>(round)
                    });
                    let waiter = tokio::spawn(handle);
                    Ok(waiter.await.expect("the waiter did not panic"))
                });
                let r = tokio::time::timeout(Duration::from_secs(5), r).await;
                match r {
                    Err(_) => {
                        outcomes.push(format!("round {round}: hang"));
                        break;
                    }
                    Ok(Ok(Ok(v))) if v == round => {}
                    Ok(other) => outcomes.push(format!("round {round}: {other:?}")),
                }
            }
            outcomes
        })
    });
    assert!(outcomes.is_empty(), "bad outcomes: {outcomes:?}");
}

/// `JoinHandle::is_finished` called in a loop from a std thread while the task finishes
/// must not lose the task's value (the handle is awaited afterwards). Failed (a hang: the
/// state was set back to `Running` after the completer had gone) before `JoinCell` kept
/// its state and waiter in one cell.
#[test]
fn is_finished_polled_from_another_thread_does_not_lose_the_value() {
    let lost = guarded(30, || {
        on_tokio(async {
            let mut lost = Vec::new();
            for round in 0..500usize {
                let r = duet::send::scope(async |s| {
                    let handle = Arc::new(s.spawn(async move {
                        hop(round % 3).await;
                        Ok::<_, std::io::Error>(round)
                    }));
                    let spinner = {
                        let handle = handle.clone();
                        std::thread::spawn(move || {
                            while !handle.is_finished() {}
                            for _ in 0..100 {
                                let _ = handle.is_finished();
                            }
                        })
                    };
                    // Let the task run (and finish) while the thread spins.
                    while !spinner.is_finished() {
                        tokio::task::yield_now().await;
                    }
                    spinner.join().expect("the spinner did not panic");
                    let handle = Arc::into_inner(handle).expect("the only reference left");
                    Ok(handle.await)
                });
                match tokio::time::timeout(Duration::from_secs(5), r).await {
                    Err(_) => {
                        lost.push(format!("round {round}: hang"));
                        break;
                    }
                    Ok(Ok(Ok(v))) if v == round => {}
                    Ok(other) => lost.push(format!("round {round}: {other:?}")),
                }
            }
            lost
        })
    });
    assert!(lost.is_empty(), "lost values: {lost:?}");
}

// ---------------------------------------------------------------------------------------
// Spawning from other threads.
// ---------------------------------------------------------------------------------------

/// Four OS threads spawn 2,000 tiny tasks each into a Send scope while its driver polls
/// busily on a tokio worker: every task runs exactly once, and nothing panics.
#[test]
fn spawns_from_many_threads_at_once_all_run_once() {
    const THREADS: usize = 4;
    const EACH: usize = 2000;
    let ran = guarded(60, || {
        on_tokio(async {
            let ran = Arc::new(AtomicUsize::new(0));
            let r = duet::send::scope({
                let ran = ran.clone();
                async move |s| {
                    let done = Arc::new(AtomicUsize::new(0));
                    for _ in 0..THREADS {
                        let spawner = s.clone();
                        let ran = ran.clone();
                        let done = done.clone();
                        std::thread::spawn(move || {
                            for i in 0..EACH {
                                let ran = ran.clone();
                                spawner.spawn(async move {
                                    if i % 2 == 0 {
                                        tokio::task::yield_now().await;
                                    }
                                    ran.fetch_add(1, Ordering::SeqCst);
                                });
                            }
                            done.fetch_add(1, Ordering::SeqCst);
                        });
                    }
                    while done.load(Ordering::SeqCst) < THREADS {
                        s.spawn(async {});
                        tokio::task::yield_now().await;
                    }
                }
            });
            tokio::time::timeout(Duration::from_secs(30), r)
                .await
                .expect("the scope finished")
                .expect("nothing failed");
            ran.load(Ordering::SeqCst)
        })
    });
    assert_eq!(ran, THREADS * EACH);
}

// ---------------------------------------------------------------------------------------
// Task sets drained on another thread.
// ---------------------------------------------------------------------------------------

/// A `send::TaskSet` moved into another tokio task and drained there while its members
/// finish on the scope's worker: every outcome comes out, none is lost, no hang.
#[test]
fn a_task_set_drained_in_another_tokio_task_sees_every_member() {
    let bad = guarded(30, || {
        on_tokio(async {
            let mut bad = Vec::new();
            for round in 0..500usize {
                let r = duet::send::scope(duet::send::infallible(async |s| {
                    let mut set = duet::send::TaskSet::new(&s);
                    for i in 0..8usize {
                        set.spawn(async move {
                            hop((i + round) % 4).await;
                            Ok(i)
                        });
                    }
                    let drain = tokio::spawn(async move {
                        let mut sum = 0;
                        while let Some(done) = set.join_next().await {
                            sum += done.expect("not cancelled");
                        }
                        sum
                    });
                    drain.await.expect("the drainer did not panic")
                }));
                match tokio::time::timeout(Duration::from_secs(5), r).await {
                    Err(_) => {
                        bad.push(format!("round {round}: hang"));
                        break;
                    }
                    Ok(Ok(28)) => {}
                    Ok(other) => bad.push(format!("round {round}: {other:?}")),
                }
            }
            bad
        })
    });
    assert!(bad.is_empty(), "bad rounds: {bad:?}");
}

/// A join handle polled in a loop from a std thread (an executor that re-polls, with a
/// no-op waker) while the task finishes on the scope's worker: it must come out with the
/// task's value, neither `Cancelled` nor the "polled again" panic. Failed ("never ready")
/// before `JoinCell` kept its state and waiter in one cell.
#[test]
fn a_join_handle_repolled_from_another_thread_gets_its_value() {
    let bad = guarded(30, || {
        on_tokio(async {
            let mut bad = Vec::new();
            for round in 0..300usize {
                let r = duet::send::scope(async |s| {
                    let handle = s.spawn(async move {
                        hop(round % 3).await;
                        Ok::<_, std::io::Error>(round)
                    });
                    let poller = std::thread::spawn(move || {
                        let mut handle = handle;
                        let waker = futures::task::noop_waker();
                        let mut cx = std::task::Context::from_waker(&waker);
                        let start = std::time::Instant::now();
                        loop {
                            let polled =
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                    std::pin::Pin::new(&mut handle).poll(&mut cx)
                                }));
                            match polled {
                                Ok(std::task::Poll::Ready(outcome)) => {
                                    return outcome.map_err(|e| format!("{e:?}"));
                                }
                                Ok(std::task::Poll::Pending) => {}
                                Err(payload) => {
                                    return Err(format!(
                                        "panic: {:?}",
                                        payload
                                            .downcast_ref::<&str>()
                                            .map(|s| s.to_string())
                                            .or_else(|| payload.downcast_ref::<String>().cloned())
                                    ));
                                }
                            }
                            if start.elapsed() > Duration::from_secs(3) {
                                return Err("never ready".into());
                            }
                        }
                    });
                    while !poller.is_finished() {
                        tokio::task::yield_now().await;
                    }
                    Ok::<_, std::io::Error>(poller.join().expect("the poller did not panic"))
                });
                match tokio::time::timeout(Duration::from_secs(5), r).await {
                    Err(_) => {
                        bad.push(format!("round {round}: hang"));
                        break;
                    }
                    Ok(Ok(Ok(v))) if v == round => {}
                    Ok(other) => bad.push(format!("round {round}: {other:?}")),
                }
            }
            bad
        })
    });
    assert!(bad.is_empty(), "bad rounds: {bad:?}");
}

/// As above, with big task futures (a long copy between the spawn's two steps) and the
/// driver polling as fast as it can. Failed before the fix in `Scope::spawn_at` (the
/// task was queued in the table before its future was in its slot, and the driver
/// panicked with `unreachable!` in `poll_task`).
#[test]
fn big_spawns_from_other_threads_all_run_once() {
    const THREADS: usize = 3;
    const EACH: usize = 300;
    let ran = guarded(60, || {
        on_tokio(async {
            let ran = Arc::new(AtomicUsize::new(0));
            let r = duet::send::scope({
                let ran = ran.clone();
                async move |s| {
                    let done = Arc::new(AtomicUsize::new(0));
                    for _ in 0..THREADS {
                        let spawner = s.clone();
                        let ran = ran.clone();
                        let done = done.clone();
                        std::thread::spawn(move || {
                            for _ in 0..EACH {
                                let ran = ran.clone();
                                let ballast = [1u8; 64 * 1024];
                                spawner.spawn(async move {
                                    let ballast = std::hint::black_box(ballast);
                                    ran.fetch_add(ballast[0] as usize, Ordering::SeqCst);
                                });
                            }
                            done.fetch_add(1, Ordering::SeqCst);
                        });
                    }
                    while done.load(Ordering::SeqCst) < THREADS {
                        tokio::task::yield_now().await;
                    }
                }
            });
            tokio::time::timeout(Duration::from_secs(30), r)
                .await
                .expect("the scope finished")
                .expect("nothing failed");
            ran.load(Ordering::SeqCst)
        })
    });
    assert_eq!(ran, THREADS * EACH);
}

/// A std thread keeps spawning into a Send scope through a clone until a spawn panics
/// (the scope finished): every spawn that returned a handle ran, or its handle resolved;
/// none is silently lost. Failed before the driver finished the scope in one step with its
/// last check for live tasks (`ScopeCore::finish_unless_spawned`) and spawns read the phase
/// under the same borrow: a spawn that slipped in between was inserted into a finished
/// scope, never ran, and its handle never finished while the spawner held its clone.
#[test]
fn spawns_racing_the_end_of_the_scope_are_never_lost() {
    let bad = guarded(60, || {
        on_tokio(async {
            let mut bad = Vec::new();
            for round in 0..200usize {
                let ran = Arc::new(AtomicUsize::new(0));
                let (tx, rx) = std::sync::mpsc::channel();
                let ran2 = ran.clone();
                let r = duet::send::scope(async move |s| {
                    let spawner = s.clone();
                    let go = Arc::new(AtomicBool::new(false));
                    let go2 = go.clone();
                    std::thread::spawn(move || {
                        while !go2.load(Ordering::SeqCst) {}
                        let mut handles = Vec::new();
                        // Bounded, so that the spawner cannot keep the scope alive forever.
                        for _ in 0..20_000 {
                            for _ in 0..200 {
                                std::hint::spin_loop();
                            }
                            let ran = ran2.clone();
                            let spawned =
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                    spawner.spawn(async move {
                                        ran.fetch_add(1, Ordering::SeqCst);
                                    })
                                }));
                            match spawned {
                                Ok(h) => handles.push(h),
                                Err(_) => break,
                            }
                        }
                        let spawned = handles.len();
                        let unfinished = handles.iter().filter(|h| !h.is_finished()).count();
                        drop(spawner);
                        let _ = tx.send((spawned, unfinished));
                    });
                    s.spawn(hop(round % 5));
                    go.store(true, Ordering::SeqCst);
                    hop(round % 3).await;
                });
                if tokio::time::timeout(Duration::from_secs(5), r)
                    .await
                    .is_err()
                {
                    bad.push(format!("round {round}: the scope hung"));
                    break;
                }
                let (spawned, unfinished) = match rx.recv_timeout(Duration::from_secs(5)) {
                    Ok(v) => v,
                    Err(_) => {
                        bad.push(format!("round {round}: the spawner hung"));
                        break;
                    }
                };
                let ran = ran.load(Ordering::SeqCst);
                if ran != spawned || unfinished != 0 {
                    bad.push(format!(
                        "round {round}: {spawned} spawns returned a handle, {ran} ran, {unfinished} handles unfinished after the scope ended"
                    ));
                }
            }
            bad
        })
    });
    assert!(bad.is_empty(), "lost spawns: {bad:?}");
}

// ---------------------------------------------------------------------------------------
// Destructors that spawn, cancel or panic.
// ---------------------------------------------------------------------------------------

struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// A task's destructor, run as its scope is cancelled, spawns into the scope and cancels a
/// sibling through its join handle: no deadlock, the late task is dropped at once and its
/// handle reports cancellation.
#[test]
fn a_destructor_that_spawns_and_cancels_during_teardown() {
    let (result, late_ran, late_cancelled) = guarded(20, || {
        on_tokio(async {
            let late_ran = Arc::new(AtomicBool::new(false));
            let late_cancelled = Arc::new(std::sync::Mutex::new(None));
            let result = duet::send::scope({
                let late_ran = late_ran.clone();
                let late_cancelled = late_cancelled.clone();
                async move |s| {
                    let sibling = s.spawn(std::future::pending::<()>());
                    let spawner = s.clone();
                    s.spawn(async move {
                        let _on_drop = OnDrop(move || {
                            sibling.cancel();
                            let late_ran = late_ran.clone();
                            let h = spawner
                                .spawn(async move { late_ran.store(true, Ordering::SeqCst) });
                            *late_cancelled.lock().unwrap() = Some(h.is_finished());
                        });
                        std::future::pending::<()>().await;
                    });
                    hop(2).await;
                    s.cancel();
                }
            });
            let result = tokio::time::timeout(Duration::from_secs(10), result)
                .await
                .expect("no hang");
            let late = *late_cancelled.lock().unwrap();
            (
                result.map_err(|e| e.cancel_reason().cloned()),
                late_ran.load(Ordering::SeqCst),
                late,
            )
        })
    });
    assert_eq!(result, Err(Some(CancelReason::Explicit)));
    assert!(!late_ran, "a task spawned during teardown never runs");
    assert_eq!(
        late_cancelled,
        Some(true),
        "its handle is finished (cancelled) at once"
    );
}

/// The same destructor, run when its handle cancels the task (the scope carries on): the
/// task it spawns runs.
#[test]
fn a_destructor_that_spawns_when_its_handle_cancels_it() {
    let out = guarded(20, || {
        on_tokio(async {
            let r = duet::send::scope(async |s| {
                let spawner = s.clone();
                let (tx, rx) = futures::channel::oneshot::channel::<usize>();
                let victim = s.spawn(async move {
                    let mut tx = Some(tx);
                    let _on_drop = OnDrop(move || {
                        if let Some(tx) = tx.take() {
                            spawner.spawn(async move {
                                hop(2).await;
                                let _ = tx.send(5);
                            });
                        }
                    });
                    std::future::pending::<()>().await;
                });
                hop(2).await;
                victim.cancel();
                let reason = victim.await.unwrap_err();
                Ok::<_, std::io::Error>((reason, rx.await.ok()))
            });
            tokio::time::timeout(Duration::from_secs(10), r)
                .await
                .expect("no hang")
        })
    });
    let (reason, value) = out.unwrap();
    assert!(
        matches!(reason, JoinError::Cancelled(CancelReason::JoinHandle)),
        "{reason:?}"
    );
    assert_eq!(value, Some(5));
}

/// A task whose destructor panics while the scope is cancelled: the scope re-raises the
/// panic, through the tokio task's `JoinError`, and every other task is still dropped.
#[test]
fn a_panicking_destructor_reaches_the_tokio_join_handle_and_others_are_dropped() {
    let (panicked, message, dropped) = guarded(20, || {
        let runtime = multi_thread();
        let drops = Drops::default();
        let out = runtime.block_on({
            let drops = drops.clone();
            async move {
                tokio::spawn(async move {
                    duet::send::scope(async |s| {
                        for _ in 0..5 {
                            let guard = drops.guard();
                            s.spawn(async move {
                                let _guard = guard;
                                std::future::pending::<()>().await;
                            });
                        }
                        s.spawn(async {
                            let _bomb = OnDrop(|| panic!("boom in a destructor"));
                            std::future::pending::<()>().await;
                        });
                        for _ in 0..5 {
                            let guard = drops.guard();
                            s.spawn(async move {
                                let _guard = guard;
                                std::future::pending::<()>().await;
                            });
                        }
                        hop(3).await;
                        s.cancel();
                    })
                    .await
                })
                .await
            }
        });
        runtime.shutdown_timeout(Duration::from_secs(1));
        match out {
            Ok(r) => (false, format!("{r:?}"), drops.count()),
            Err(e) => {
                let p = e.into_panic();
                let m = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                (true, m, drops.count())
            }
        }
    });
    assert!(
        panicked,
        "the scope re-raised the destructor's panic: {message}"
    );
    assert!(message.contains("boom in a destructor"), "{message}");
    assert_eq!(dropped, 10, "every other task was dropped");
}

// ---------------------------------------------------------------------------------------
// Cancellation from other threads and tasks.
// ---------------------------------------------------------------------------------------

/// Join handles cancelled from a std thread while their tasks wait: each reports
/// `Cancelled(JoinHandle)`, its future is dropped, and the scope carries on.
#[test]
fn join_handles_cancelled_from_a_std_thread() {
    let (outcomes, dropped) = guarded(20, || {
        on_tokio(async {
            let drops = Drops::default();
            let r = duet::send::scope(async |s| {
                let handles: Vec<_> = (0..50)
                    .map(|_| {
                        let guard = drops.guard();
                        Arc::new(s.spawn(async move {
                            let _guard = guard;
                            std::future::pending::<()>().await;
                        }))
                    })
                    .collect();
                hop(2).await;
                let remote: Vec<_> = handles.to_vec();
                let canceller = std::thread::spawn(move || {
                    for h in remote {
                        h.cancel();
                    }
                });
                while !canceller.is_finished() {
                    tokio::task::yield_now().await;
                }
                canceller.join().unwrap();
                let mut outcomes = Vec::new();
                for h in handles {
                    let h = Arc::into_inner(h).expect("only reference");
                    outcomes.push(h.await);
                }
                Ok::<_, std::io::Error>(outcomes)
            });
            let out = tokio::time::timeout(Duration::from_secs(10), r)
                .await
                .expect("no hang");
            (out.unwrap(), drops.count())
        })
    });
    assert_eq!(outcomes.len(), 50);
    for o in &outcomes {
        assert!(
            matches!(o, Err(JoinError::Cancelled(CancelReason::JoinHandle))),
            "{o:?}"
        );
    }
    assert_eq!(dropped, 50);
}

/// A cancel handle fired from a std thread at about the moment the scope finishes, 1,000
/// times: the scope ends (Ok or Cancelled), never hangs or panics.
#[test]
fn cancel_from_a_std_thread_racing_the_end_of_the_scope() {
    let (ok, cancelled) = guarded(60, || {
        on_tokio(async {
            let (mut ok, mut cancelled) = (0, 0);
            for round in 0..1000usize {
                let r = duet::send::scope(async |s| {
                    let handle = s.cancel_handle();
                    let h = s.spawn(hop(round % 3));
                    std::thread::spawn(move || {
                        for _ in 0..(round % 7) * 100 {
                            std::hint::spin_loop();
                        }
                        handle.cancel();
                    });
                    hop(round % 2).await;
                    let _ = h.await;
                });
                match tokio::time::timeout(Duration::from_secs(5), r).await {
                    Err(_) => panic!("round {round}: hang"),
                    Ok(Ok(())) => ok += 1,
                    Ok(Err(e)) => {
                        assert_eq!(e.cancel_reason(), Some(&CancelReason::Explicit));
                        cancelled += 1;
                    }
                }
            }
            (ok, cancelled)
        })
    });
    assert_eq!(ok + cancelled, 1000);
}

/// `tokio::time::timeout` drops a Send scope midway: every child is dropped with it.
#[test]
fn tokio_timeout_dropping_a_send_scope_drops_its_children() {
    let (timed_out, dropped) = guarded(20, || {
        on_tokio(async {
            let drops = Drops::default();
            let r = tokio::time::timeout(
                Duration::from_millis(50),
                duet::send::scope(async |s| {
                    for i in 0..20 {
                        let guard = drops.guard();
                        s.spawn(async move {
                            let _guard = guard;
                            if i % 2 == 0 {
                                tokio::time::sleep(Duration::from_secs(3600)).await;
                            } else {
                                std::future::pending::<()>().await;
                            }
                        });
                    }
                    let _guard = drops.guard();
                    std::future::pending::<()>().await;
                }),
            )
            .await;
            (r.is_err(), drops.count())
        })
    });
    assert!(timed_out);
    assert_eq!(dropped, 21, "20 children and the body's guard");
}

/// `tokio::select!` between a Send scope and a sleep: the losing scope is dropped with its
/// children; a winning scope gives its value.
#[test]
fn tokio_select_on_a_send_scope() {
    let (lost, won, dropped) = guarded(20, || {
        on_tokio(async {
            let drops = Drops::default();
            let lost = tokio::select! {
                _ = duet::send::scope(async |s| {
                    let guard = drops.guard();
                    s.spawn(async move { let _g = guard; std::future::pending::<()>().await });
                    std::future::pending::<()>().await;
                }) => false,
                _ = tokio::time::sleep(Duration::from_millis(20)) => true,
            };
            let won = tokio::select! {
                r = duet::send::scope(duet::send::infallible(async |s| {
                    let h = s.spawn(async { tokio::time::sleep(Duration::from_millis(5)).await; Ok(3) });
                    h.await.unwrap()
                })) => r.ok(),
                _ = tokio::time::sleep(Duration::from_secs(5)) => None,
            };
            (lost, won, drops.count())
        })
    });
    assert!(lost);
    assert_eq!(won, Some(3));
    assert_eq!(dropped, 1);
}

// ---------------------------------------------------------------------------------------
// Nesting with local scopes and `duet::run`.
// ---------------------------------------------------------------------------------------

/// `duet::run` inside a Send scope's task on a tokio worker (a nested run that blocks the
/// worker until its own scope is done), with a local scope inside it.
#[test]
fn duet_run_inside_a_send_scope_task_on_a_tokio_worker() {
    let total = guarded(20, || {
        on_tokio(async {
            duet::send::scope(duet::send::infallible(async |s| {
                let hs: Vec<_> = (0..4usize)
                    .map(|i| {
                        s.spawn(async move {
                            hop(1).await;
                            let inner = duet::run(duet::scope(duet::infallible(async |l| {
                                let shared = std::rc::Rc::new(i);
                                let a = l.spawn({
                                    let shared = shared.clone();
                                    async move {
                                        duet::sleep(Duration::from_millis(2)).await;
                                        Ok(*shared * 10)
                                    }
                                });
                                a.await.unwrap() + *shared
                            })))
                            .unwrap();
                            Ok(inner)
                        })
                    })
                    .collect();
                let mut total = 0;
                for h in hs {
                    total += h.await.unwrap();
                }
                total
            }))
            .await
            .unwrap()
        })
    });
    assert_eq!(total, (0..4).map(|i| i * 11).sum::<usize>());
}

/// A Send scope inside a local scope's task under `duet::run`, and a local scope's
/// cancellation reaching into it: the Send scope's children are dropped, with the
/// parent's reason.
#[test]
fn a_send_scope_inside_a_local_scope_task_under_duet_run() {
    let (value, cancelled, dropped) = guarded(20, || {
        let drops = Drops::default();
        let value = duet::run(duet::scope(duet::infallible(async |l| {
            let h = l.spawn(async {
                let r = duet::send::scope(duet::send::infallible(async |s| {
                    let a = s.spawn(async {
                        duet::sleep(Duration::from_millis(2)).await;
                        Ok(20)
                    });
                    a.await.unwrap() + 1
                }))
                .await;
                Ok(r.ok())
            });
            h.await.unwrap().expect("the send scope ran")
        })))
        .unwrap();
        let d = drops.clone();
        let cancelled = duet::run(duet::scope(async move |l| {
            l.spawn(async move {
                let r = duet::send::scope(async |s| {
                    for _ in 0..3 {
                        let guard = d.guard();
                        s.spawn(async move {
                            let _g = guard;
                            std::future::pending::<()>().await;
                        });
                    }
                    std::future::pending::<()>().await;
                })
                .await;
                unreachable!("dropped by the outer cancel: {r:?}");
            });
            duet::sleep(Duration::from_millis(10)).await;
            l.cancel();
        }));
        (value, cancelled.unwrap_err().is_cancelled(), drops.count())
    });
    assert_eq!(value, 21);
    assert!(cancelled);
    assert_eq!(dropped, 3);
}

/// A Send scope's body that opens a local scope and awaits it (the body future is then
/// `!Send`): refused at compile time by `send::scope`'s `Fut: Spawnable` bound, even under
/// `duet::run`, which does not need `Send`. Documented here by the equivalent that works:
/// the local scope finished within one synchronous `duet::run` call is fine.
#[test]
fn a_local_scope_inside_a_send_scope_body_via_a_nested_run() {
    let v = guarded(20, || {
        duet::run(duet::send::scope(duet::send::infallible(async |_s| {
            duet::run(duet::scope(duet::infallible(async |l| {
                let rc = std::rc::Rc::new(3);
                let h = l.spawn(async move { Ok(*rc) });
                h.await.unwrap()
            })))
            .unwrap()
        })))
        .unwrap()
    });
    assert_eq!(v, 3);
}

// ---------------------------------------------------------------------------------------
// Grace periods, shields, timeouts, supervisors under tokio.
// ---------------------------------------------------------------------------------------

/// `cancel_with_grace` under tokio: a task that observes cancellation finishes its async
/// cleanup on a tokio timer within the grace; a shielded task finishes its shield even in
/// the hard phase; a task that ignores cancellation is dropped when the grace ends.
#[test]
fn grace_and_shield_in_a_send_scope_under_tokio() {
    let (reason, cleaned, shielded_done, dropped, elapsed) = guarded(20, || {
        on_tokio(async {
            let cleaned = Arc::new(AtomicBool::new(false));
            let shielded_done = Arc::new(AtomicBool::new(false));
            let drops = Drops::default();
            let start = std::time::Instant::now();
            let r = duet::send::scope(async |s| {
                let c = cleaned.clone();
                s.spawn(async move {
                    duet::cancelled().await;
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    c.store(true, Ordering::SeqCst);
                });
                let d = shielded_done.clone();
                s.spawn(async move {
                    hop(1).await;
                    duet::shield(async {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    })
                    .await;
                    d.store(true, Ordering::SeqCst);
                    std::future::pending::<()>().await;
                });
                let guard = drops.guard();
                s.spawn(async move {
                    let _g = guard;
                    std::future::pending::<()>().await;
                });
                hop(3).await;
                s.cancel_with_grace(Duration::from_millis(100));
                std::future::pending::<()>().await;
            });
            let r = tokio::time::timeout(Duration::from_secs(10), r)
                .await
                .expect("no hang");
            (
                r.unwrap_err().cancel_reason().cloned(),
                cleaned.load(Ordering::SeqCst),
                shielded_done.load(Ordering::SeqCst),
                drops.count(),
                start.elapsed(),
            )
        })
    });
    assert_eq!(reason, Some(CancelReason::Explicit));
    assert!(cleaned, "the cleanup ran within the grace period");
    assert!(shielded_done, "the shield ran to its end");
    assert_eq!(dropped, 1, "the task that ignored cancellation was dropped");
    assert!(
        elapsed >= Duration::from_millis(290),
        "waited for the shield: {elapsed:?}"
    );
}

/// `send::timeout_scope`, `send::deadline_scope` and `send::supervise_with` on tokio
/// timers, with children on both workers.
#[test]
fn timed_and_supervised_send_scopes() {
    let (timed, deadline, supervised) = guarded(20, || {
        on_tokio(async {
            let timed = duet::send::timeout_scope(Duration::from_millis(30), async |s| {
                s.spawn(tokio::time::sleep(Duration::from_secs(3600)));
                hop(2).await;
            })
            .await;
            let deadline = duet::send::deadline_scope(
                std::time::Instant::now() + Duration::from_secs(5),
                duet::send::infallible(async |s| {
                    let h = s.spawn(async {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        Ok(9)
                    });
                    h.await.unwrap()
                }),
            )
            .await;
            let supervised = duet::send::supervise(async |s| {
                for i in 0..6u32 {
                    s.spawn(async move {
                        hop(i as usize).await;
                        if i % 2 == 0 { Err(i) } else { Ok(()) }
                    });
                }
                Ok(())
            })
            .await;
            (timed, deadline, supervised)
        })
    });
    assert_eq!(
        timed.unwrap_err().cancel_reason(),
        Some(&CancelReason::TimedOut)
    );
    assert_eq!(deadline.unwrap(), 9);
    let mut errors = supervised.errors.clone();
    errors.sort();
    assert_eq!(
        errors,
        vec![0, 2, 4],
        "a supervisor keeps every error and runs the rest"
    );
    assert_eq!(supervised.cancelled, None);
}

// ---------------------------------------------------------------------------------------
// Moving, context values, wakers from other threads.
// ---------------------------------------------------------------------------------------

/// A Send scope future polled a few times in one tokio task, then moved (boxed) into
/// another tokio task and finished there.
#[test]
fn a_scope_future_moved_to_another_tokio_task_between_polls() {
    let total = guarded(20, || {
        on_tokio(async {
            let data: Arc<Vec<usize>> = Arc::new((1..=10).collect());
            let d = data.clone();
            let mut fut = Box::pin(duet::send::scope(duet::send::infallible(async move |s| {
                let hs: Vec<_> = (0..10)
                    .map(|i| {
                        let d = d.clone();
                        s.spawn(async move {
                            tokio::time::sleep(Duration::from_millis(5 + i as u64)).await;
                            Ok(d[i])
                        })
                    })
                    .collect();
                let mut total = 0;
                for h in hs {
                    total += h.await.unwrap();
                }
                total
            })));
            for _ in 0..3 {
                assert!(futures::poll!(fut.as_mut()).is_pending());
                tokio::task::yield_now().await;
            }
            tokio::spawn(fut).await.unwrap().unwrap()
        })
    });
    assert_eq!(total, 55);
}

static REQUEST_ID: ContextVar<u64> = ContextVar::new("request-id");

/// ContextVar values set in a Send scope's body and tasks are seen by their own tasks and
/// nested Send scopes' tasks, across workers, and do not leak between concurrent scopes.
#[test]
fn context_values_across_workers_and_nested_send_scopes() {
    let seen = guarded(20, || {
        on_tokio(async {
            let handlers: Vec<_> = (0..8u64)
                .map(|id| {
                    tokio::spawn(async move {
                        duet::send::scope(duet::send::infallible(async |s| {
                            REQUEST_ID.set(id);
                            let h = s.spawn(async move {
                                hop(3).await;
                                let inner = duet::send::scope(duet::send::infallible(async |n| {
                                    let h = n.spawn(async {
                                        hop(3).await;
                                        Ok(REQUEST_ID.get())
                                    });
                                    h.await.unwrap()
                                }))
                                .await
                                .unwrap();
                                Ok((REQUEST_ID.get(), inner))
                            });
                            hop(2).await;
                            let mine = REQUEST_ID.get();
                            (mine, h.await.unwrap())
                        }))
                        .await
                        .unwrap()
                    })
                })
                .collect();
            let mut seen = Vec::new();
            for h in handlers {
                seen.push(h.await.unwrap());
            }
            seen
        })
    });
    for (id, (mine, (task, inner))) in seen.into_iter().enumerate() {
        let id = Some(id as u64);
        assert_eq!((mine, task, inner), (id, id, id));
    }
}

/// Tasks woken from std threads through `tokio::sync` and `futures::channel` channels.
#[test]
fn tasks_woken_by_channels_from_std_threads() {
    let (sum, got) = guarded(20, || {
        on_tokio(async {
            duet::send::scope(duet::send::infallible(async |s| {
                let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(4);
                let (otx, orx) = futures::channel::oneshot::channel::<&'static str>();
                let sum = s.spawn(async move {
                    let mut sum = 0;
                    while let Some(v) = rx.recv().await {
                        sum += v;
                    }
                    Ok(sum)
                });
                let got = s.spawn(async move { Ok(orx.await.unwrap()) });
                std::thread::spawn(move || {
                    for v in 1..=1000 {
                        tx.blocking_send(v).unwrap();
                    }
                    otx.send("hello").unwrap();
                });
                (sum.await.unwrap(), got.await.unwrap())
            }))
            .await
            .unwrap()
        })
    });
    assert_eq!(sum, 500_500);
    assert_eq!(got, "hello");
}

// ---------------------------------------------------------------------------------------
// Stress.
// ---------------------------------------------------------------------------------------

/// 10,000 tasks in one Send scope on a 2-worker runtime, each woken by a tokio timer.
#[test]
fn ten_thousand_tasks_in_one_send_scope() {
    let (ran, dropped) = guarded(60, || {
        on_tokio(async {
            let ran = Arc::new(AtomicUsize::new(0));
            let drops = Drops::default();
            duet::send::scope(async |s| {
                for i in 0..10_000u64 {
                    let ran = ran.clone();
                    let guard = drops.guard();
                    s.spawn(async move {
                        let _g = guard;
                        tokio::time::sleep(Duration::from_millis(i % 20)).await;
                        hop((i % 3) as usize).await;
                        ran.fetch_add(1, Ordering::SeqCst);
                    });
                }
            })
            .await
            .unwrap();
            (ran.load(Ordering::SeqCst), drops.count())
        })
    });
    assert_eq!(ran, 10_000);
    assert_eq!(dropped, 10_000);
}

/// 1,000 small Send scopes, each in its own `tokio::spawn`, all at once.
#[test]
fn a_thousand_small_scopes_in_tokio_spawns() {
    let total = guarded(60, || {
        on_tokio(async {
            let handles: Vec<_> = (0..1000u64)
                .map(|i| {
                    tokio::spawn(async move {
                        duet::send::scope(duet::send::infallible(async |s| {
                            let a = s.spawn(async move {
                                hop(2).await;
                                Ok(i)
                            });
                            let b = s.spawn(async move {
                                tokio::time::sleep(Duration::from_millis(i % 5)).await;
                                Ok(1)
                            });
                            a.await.unwrap() + b.await.unwrap()
                        }))
                        .await
                        .unwrap()
                    })
                })
                .collect();
            let mut total = 0;
            for h in handles {
                total += h.await.unwrap();
            }
            total
        })
    });
    assert_eq!(total, (0..1000).sum::<u64>() + 1000);
}

/// The same, harder: 5,000 rounds of one member each, the drainer started first so that
/// it registers while the member ends on the other worker.
#[test]
fn a_task_set_drained_on_the_other_worker_one_member_per_round() {
    let bad = guarded(60, || {
        on_tokio(async {
            let mut bad = Vec::new();
            for round in 0..5000usize {
                let r = duet::send::scope(duet::send::infallible(async |s| {
                    let mut set = duet::send::TaskSet::new(&s);
                    set.spawn(async move {
                        for _ in 0..round % 3 {
                            std::hint::black_box(());
                            tokio::task::yield_now().await;
                        }
                        Ok(round)
                    });
                    let drain = tokio::spawn(async move { set.join_next().await });
                    drain.await.expect("the drainer did not panic")
                }));
                match tokio::time::timeout(Duration::from_secs(5), r).await {
                    Err(_) => {
                        bad.push(format!("round {round}: hang"));
                        break;
                    }
                    Ok(Ok(Some(Ok(v)))) if v == round => {}
                    Ok(other) => bad.push(format!("round {round}: {other:?}")),
                }
            }
            bad
        })
    });
    assert!(bad.is_empty(), "bad rounds: {bad:?}");
}

/// A tokio task running a Send scope is aborted from another tokio task: the scope future
/// is dropped on whichever worker tokio picks, with every child (nested scopes included).
#[test]
fn aborting_the_tokio_task_drops_every_child() {
    let (aborted, dropped) = guarded(20, || {
        on_tokio(async {
            let drops = Drops::default();
            let started = Arc::new(AtomicUsize::new(0));
            let task = tokio::spawn({
                let drops = drops.clone();
                let started = started.clone();
                async move {
                    duet::send::scope(async |s| {
                        for _ in 0..10 {
                            let guard = drops.guard();
                            let started = started.clone();
                            let drops = drops.clone();
                            s.spawn(async move {
                                let _g = guard;
                                duet::send::scope(async |n| {
                                    let guard = drops.guard();
                                    n.spawn(async move {
                                        let _g = guard;
                                        std::future::pending::<()>().await;
                                    });
                                    started.fetch_add(1, Ordering::SeqCst);
                                    std::future::pending::<()>().await;
                                })
                                .await
                                .expect("dropped before it ends");
                            });
                        }
                    })
                    .await
                }
            });
            while started.load(Ordering::SeqCst) < 10 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let aborter = tokio::spawn(async move {
                task.abort();
                task.await
            });
            let out = aborter.await.unwrap();
            (out.unwrap_err().is_cancelled(), drops.count())
        })
    });
    assert!(aborted);
    assert_eq!(dropped, 20);
}

/// A task whose destructor panics, cancelled through its join handle from a std thread:
/// the scope re-raises that panic (the rest is dropped).
#[test]
fn a_destructor_panic_on_a_handle_cancel_from_another_thread() {
    let (message, dropped) = guarded(20, || {
        let runtime = multi_thread();
        let drops = Drops::default();
        let out = runtime.block_on({
            let drops = drops.clone();
            async move {
                tokio::spawn(async move {
                    duet::send::scope(async |s| {
                        let guard = drops.guard();
                        s.spawn(async move {
                            let _g = guard;
                            std::future::pending::<()>().await;
                        });
                        let bomb = s.spawn(async {
                            let _bomb = OnDrop(|| panic!("boom on cancel"));
                            std::future::pending::<()>().await;
                        });
                        hop(2).await;
                        std::thread::spawn(move || bomb.cancel()).join().unwrap();
                        std::future::pending::<()>().await;
                    })
                    .await
                })
                .await
            }
        });
        runtime.shutdown_timeout(Duration::from_secs(1));
        let p = out.expect_err("the scope panicked").into_panic();
        let m = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        (m, drops.count())
    });
    assert!(message.contains("boom on cancel"), "{message}");
    assert_eq!(dropped, 1);
}

/// `Scope::cancel_tasks` called from a std thread while the driver polls: the tasks are
/// cancelled (`TasksCancelled`), the body keeps its value.
#[test]
fn cancel_tasks_from_a_std_thread_keeps_the_body_value() {
    let (value, reasons) = guarded(20, || {
        on_tokio(async {
            duet::send::scope(duet::send::infallible(async |s| {
                let hs: Vec<_> = (0..20)
                    .map(|_| s.spawn(std::future::pending::<()>()))
                    .collect();
                hop(2).await;
                let remote = s.clone();
                std::thread::spawn(move || remote.cancel_tasks())
                    .join()
                    .unwrap();
                let mut reasons = Vec::new();
                for h in hs {
                    reasons.push(h.await.unwrap_err());
                }
                ("kept", reasons)
            }))
            .await
            .unwrap()
        })
    });
    assert_eq!(value, "kept");
    assert_eq!(reasons.len(), 20);
    for r in reasons {
        assert!(
            matches!(r, JoinError::Cancelled(CancelReason::TasksCancelled)),
            "{r:?}"
        );
    }
}

struct Flag(AtomicBool);

impl std::task::Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A `send::TaskSet` polled from a std thread the way an executor does (poll, then wait
/// for the waker, then poll again) while its member ends on the scope's worker: a poll
/// that returned `Pending` must be followed by a wake once the member has ended (a lost
/// wake-up would leave an executor asleep forever; here it shows as a poll that finds the
/// outcome although nothing woke it within a second).
#[test]
fn a_task_set_polled_from_another_thread_never_loses_a_wake_up() {
    let lost = guarded(120, || {
        on_tokio(async {
            let mut lost = Vec::new();
            for round in 0..3000usize {
                let r = duet::send::scope(duet::send::infallible(async |s| {
                    let mut set = duet::send::TaskSet::new(&s);
                    let go = Arc::new(AtomicBool::new(false));
                    let member_go = go.clone();
                    set.spawn(async move {
                        while !member_go.load(Ordering::SeqCst) {
                            tokio::task::yield_now().await;
                        }
                        for _ in 0..(round % 40) * 25 {
                            std::hint::spin_loop();
                        }
                        Ok(round)
                    });
                    let consumer = std::thread::spawn(move || {
                        go.store(true, Ordering::SeqCst);
                        loop {
                            let flag = Arc::new(Flag(AtomicBool::new(false)));
                            let waker = std::task::Waker::from(flag.clone());
                            let mut cx = std::task::Context::from_waker(&waker);
                            if let std::task::Poll::Ready(outcome) = set.poll_join_next(&mut cx) {
                                return (set, outcome, true);
                            }
                            let start = std::time::Instant::now();
                            while !flag.0.load(Ordering::SeqCst)
                                && start.elapsed() < Duration::from_secs(1)
                            {
                                std::thread::yield_now();
                            }
                            if !flag.0.load(Ordering::SeqCst) {
                                // Not woken: is the outcome there all the same?
                                let outcome = set.poll_join_next(&mut cx);
                                match outcome {
                                    std::task::Poll::Ready(outcome) => {
                                        return (set, outcome, false);
                                    }
                                    std::task::Poll::Pending => panic!("the member never ended"),
                                }
                            }
                        }
                    });
                    while !consumer.is_finished() {
                        tokio::task::yield_now().await;
                    }
                    let (set, outcome, woken) =
                        consumer.join().expect("the consumer did not panic");
                    drop(set);
                    (outcome.map(|r| r.ok()), woken)
                }));
                match tokio::time::timeout(Duration::from_secs(5), r).await {
                    Err(_) => {
                        lost.push(format!("round {round}: hang"));
                        break;
                    }
                    Ok(Ok((Some(Some(v)), true))) if v == round => {}
                    Ok(other) => lost.push(format!("round {round}: {other:?}")),
                }
                if lost.len() >= 3 {
                    break;
                }
            }
            lost
        })
    });
    assert!(lost.is_empty(), "lost wake-ups: {lost:?}");
}

/// Chaos: 300 concurrent handlers, each a Send scope whose tasks are joined from other
/// tokio tasks, cancelled from std threads, spawned into from std threads and drained
/// through a task set on another tokio task. Everything ends, every guard is dropped.
#[test]
fn chaos_of_cross_thread_joins_cancels_and_spawns() {
    let (outcomes, made, dropped) = guarded(120, || {
        on_tokio(async {
            let drops = Drops::default();
            let made = Arc::new(AtomicUsize::new(0));
            let handlers: Vec<_> = (0..300usize)
                .map(|h| {
                    let drops = drops.clone();
                    let made = made.clone();
                    tokio::spawn(async move {
                        duet::send::scope(duet::send::infallible(async |s| {
                            let guard = |made: &AtomicUsize| {
                                made.fetch_add(1, Ordering::SeqCst);
                                drops.guard()
                            };
                            // Joined from another tokio task.
                            let g = guard(&made);
                            let joined = s.spawn(async move {
                                let _g = g;
                                hop(h % 4).await;
                                Ok(h)
                            });
                            let joiner = tokio::spawn(async move { joined.await.ok() });
                            // Cancelled from a std thread.
                            let g = guard(&made);
                            let victim = s.spawn(async move {
                                let _g = g;
                                tokio::time::sleep(Duration::from_millis((h % 3) as u64)).await;
                                Ok(0usize)
                            });
                            let canceller = std::thread::spawn(move || {
                                victim.cancel();
                                victim
                            });
                            // Spawned into from a std thread.
                            let remote = s.clone();
                            let g1 = guard(&made);
                            let spawner = std::thread::spawn(move || {
                                let h2 = remote.spawn(async move {
                                    let _g = g1;
                                    hop(1).await;
                                    Ok(1usize)
                                });
                                drop(remote);
                                h2
                            });
                            // A set drained on another tokio task.
                            let mut set = duet::send::TaskSet::new(&s);
                            for i in 0..3usize {
                                let g = guard(&made);
                                set.spawn(async move {
                                    let _g = g;
                                    hop((h + i) % 3).await;
                                    Ok(i)
                                });
                            }
                            let drainer = tokio::spawn(async move {
                                let mut n = 0;
                                while let Some(r) = set.join_next().await {
                                    n += r.unwrap();
                                }
                                n
                            });
                            let joined = joiner.await.unwrap();
                            let victim =
                                tokio::task::spawn_blocking(move || canceller.join().unwrap())
                                    .await
                                    .unwrap();
                            let victim = victim.await;
                            let spawned =
                                tokio::task::spawn_blocking(move || spawner.join().unwrap())
                                    .await
                                    .unwrap()
                                    .await
                                    .ok();
                            let drained = drainer.await.unwrap();
                            (
                                joined == Some(h),
                                victim.is_ok() || victim.unwrap_err().is_cancelled(),
                                spawned == Some(1),
                                drained == 3,
                            )
                        }))
                        .await
                        .unwrap()
                    })
                })
                .collect();
            let mut outcomes = Vec::new();
            for h in handlers {
                outcomes.push(h.await.unwrap());
            }
            (outcomes, made.load(Ordering::SeqCst), drops.count())
        })
    });
    let bad: Vec<_> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| **o != (true, true, true, true))
        .collect();
    assert!(bad.is_empty(), "bad handlers: {bad:?}");
    assert_eq!(dropped, made, "every guard made was dropped");
}

/// Cancels through join handles on another thread free slots that spawns from that
/// thread reuse at once. The driver takes a cancelled task's future out of its slot
/// under the same borrow of the table that frees the slot; before, a spawn could take
/// the slot in between and find the cancelled task's future still there (a debug
/// assertion; in a release build the spawned future overwrote it and was then dropped as
/// the cancelled one, its handle reporting a cancellation nobody asked for). Every kept
/// handle must yield its own task's value.
#[test]
fn spawns_reusing_slots_freed_by_cancels_from_another_thread_lose_nothing() {
    let _watchdog = common::watchdog("slot reuse across threads", Duration::from_secs(60));
    for _ in 0..20 {
        let outcome = duet::run(duet::send::scope(
            async |s: duet::send::Scope<'static, std::convert::Infallible>| {
                let spawner = s.clone();
                let worker = std::thread::spawn(move || {
                    let mut kept = Vec::new();
                    for i in 0..2_000u32 {
                        let handle = spawner.spawn(async move {
                            duet::yield_now().await;
                            Ok(i)
                        });
                        if i % 2 == 0 {
                            handle.cancel();
                        } else {
                            kept.push((i, handle));
                        }
                    }
                    kept
                });
                while !worker.is_finished() {
                    duet::yield_now().await;
                }
                let kept = worker.join().expect("the spawning thread did not panic");
                let mut checked = 0;
                for (i, handle) in kept {
                    assert_eq!(handle.await.expect("a kept task is never cancelled"), i);
                    checked += 1;
                }
                Ok(checked)
            },
        ));
        assert_eq!(outcome.unwrap(), 1_000);
    }
}
