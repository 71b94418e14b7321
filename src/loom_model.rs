//! The loom model of duet's cross-thread paths (built only with `--cfg loom`).
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test --release --lib --target-dir target/loom loom_model
//! ```
//!
//! With `--cfg loom`, `crate::sync` hands out loom's `Mutex`, atomics, fences and
//! `thread::{current, park}`, so loom explores every interleaving of:
//!
//! - an `AwaitableFuture`'s cell (`interop/cell.rs`): completion, cancellation, awaiting,
//!   dropping handles;
//! - the loop's notifier (`runtime/park.rs`): a wake racing the loop's decision to park;
//! - a scope's ready queue and task wakers (`scope/signal.rs`, `scope/waker.rs`): a wake
//!   from another thread racing the driver's round, its `end_polling` and its
//!   registration of the parent's waker;
//! - a Send scope's cells (`scope/kind/send.rs`, mutexes from `crate::sync`): a spawn
//!   through a handle on another thread racing the driver's final re-check, and a join
//!   handle awaited (or cancelling its task) on another thread while the task ends on
//!   the loop's.
//!
//! A lost wake-up shows up as loom's deadlock report (the loop thread parked, every
//! other thread finished); a double completion or a wrong winner as a failed assertion.
//! What loom does not see: `Arc` reference counts (std's, needed by `std::task::Wake`)
//! and `futures::task::AtomicWaker`'s internal atomics, which run as opaque steps.

use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

use crate::runtime::LoopWaker;
use crate::{AwaitError, AwaitableFuture};

/// A waker that records its wake in a loom atomic and unparks the thread that made it.
struct Unparker {
    woken: AtomicBool,
    thread: thread::Thread,
}

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        // A swap, not a store: loom 0.7 lets a plain store slip between the read and
        // the write of a concurrent swap (tokio-rs/loom#254), a false lost wake-up.
        self.woken.swap(true, Ordering::Release);
        self.thread.unpark();
    }
}

fn unparker() -> (Arc<Unparker>, Waker) {
    let unparker = Arc::new(Unparker {
        woken: AtomicBool::new(false),
        thread: thread::current(),
    });
    let waker = Waker::from(unparker.clone());
    (unparker, waker)
}

/// Polls `future` until it is ready, parking between polls until woken: a lost wake-up
/// leaves this thread parked forever, which loom reports as a deadlock.
fn block_on<F: std::future::Future + Unpin>(mut future: F) -> F::Output {
    let (unparker, waker) = unparker();
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = std::pin::Pin::new(&mut future).poll(&mut cx) {
            return output;
        }
        while !unparker.woken.swap(false, Ordering::Acquire) {
            thread::park();
        }
    }
}

/// A loom thread whose end can be awaited without blocking in `join` while it may still
/// unpark us: loom 0.7 aborts when a thread blocked in `join` is unparked
/// (tokio-rs/loom#249), which `std` allows and duet's wakers do.
struct Spawned<T> {
    handle: thread::JoinHandle<T>,
    done: Arc<AtomicBool>,
}

fn spawn<T: 'static>(f: impl FnOnce() -> T + 'static) -> Spawned<T> {
    let done = Arc::new(AtomicBool::new(false));
    let finished = done.clone();
    let handle = thread::spawn(move || {
        let output = f();
        finished.swap(true, Ordering::Release);
        output
    });
    Spawned { handle, done }
}

impl<T> Spawned<T> {
    /// Waits (yielding) until the thread has done its work; it may still be exiting.
    fn wait(&self) {
        while !self.done.load(Ordering::Acquire) {
            thread::yield_now();
        }
    }

    /// Joins the thread; with several threads, `wait` for all of them first, so that no
    /// other thread can unpark us while we block here.
    fn join(self) -> T {
        self.wait();
        self.handle.join().unwrap()
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

#[test]
fn a_result_set_on_another_thread_wakes_the_awaiter() {
    model(|| {
        let f = AwaitableFuture::new();
        let producer = f.clone();
        let t = spawn(move || producer.set_result(7u32));
        assert_eq!(block_on(f).unwrap(), 7);
        t.join();
    });
}

#[test]
fn completion_races_cancellation_with_exactly_one_winner() {
    model(|| {
        let f = AwaitableFuture::new();
        let (setter, canceller) = (f.clone(), f.clone());
        let a = spawn(move || setter.try_set_result(1u32));
        let b = spawn(move || canceller.cancel());
        let outcome = block_on(f.clone());
        b.wait();
        let (set, cancelled) = (a.join(), b.join());
        assert!(
            set ^ cancelled,
            "exactly one winner: set {set}, cancel {cancelled}"
        );
        match outcome {
            Ok(1) => assert!(set && !f.is_cancelled()),
            Err(AwaitError::Cancelled) => assert!(cancelled && f.is_cancelled()),
            other => panic!("unexpected outcome {other:?}"),
        }
    });
}

#[test]
fn two_producers_race_and_exactly_one_value_is_seen() {
    model(|| {
        let f = AwaitableFuture::new();
        let (p1, p2) = (f.clone(), f.clone());
        let a = spawn(move || p1.try_set_result(1u32));
        let b = spawn(move || p2.try_set_result(2u32));
        let value = block_on(f).unwrap();
        b.wait();
        let (won1, won2) = (a.join(), b.join());
        assert!(won1 ^ won2);
        assert_eq!(value, if won1 { 1 } else { 2 });
    });
}

#[test]
fn an_awaiter_dropped_while_the_producer_completes_either_wins_never_both() {
    model(|| {
        let f = AwaitableFuture::<u32>::new();
        let (producer, watcher) = (f.clone(), f.clone());
        let t = spawn(move || producer.try_set_result(3));
        // Register as the only awaiter, then stop awaiting (the task was cancelled).
        let (_unparker, waker) = unparker();
        let mut awaiting = f;
        let first = std::pin::Pin::new(&mut awaiting).poll(&mut Context::from_waker(&waker));
        drop(awaiting);
        let won = t.join();
        assert!(
            won ^ watcher.is_cancelled(),
            "set {won}, cancelled {}",
            watcher.is_cancelled()
        );
        if let Poll::Ready(outcome) = first {
            assert_eq!(outcome.unwrap(), 3);
            assert!(won);
        }
    });
}

#[test]
fn a_producer_dropped_on_another_thread_abandons_the_future() {
    model(|| {
        let f = AwaitableFuture::<u32>::new();
        let producer = f.clone();
        let t = spawn(move || drop(producer));
        assert!(block_on(f).unwrap_err().is_abandoned());
        t.join();
    });
}

#[test]
fn a_wake_racing_the_loops_decision_to_park_is_never_lost() {
    model(|| {
        let (notifier, waker) = LoopWaker::new();
        let remote = waker.clone();
        let t = spawn(move || remote.wake());
        // The loop's tick after a poll that left the root pending: consume the flag,
        // otherwise park until notified.
        if !notifier.take_notification() {
            notifier.park(None);
        }
        t.join();
        drop(waker);
    });
}

#[test]
fn two_remote_wakes_and_two_parks_never_strand_the_loop() {
    model(|| {
        let (notifier, waker) = LoopWaker::new();
        let (w1, w2) = (waker.clone(), waker.clone());
        let a = spawn(move || w1.wake());
        let b = spawn(move || w2.wake());
        // However the two wakes fold into one notification, the loop parks at most
        // once per notification it needs and never sleeps through the last one.
        if !notifier.take_notification() {
            notifier.park(None);
        }
        b.wait();
        a.join();
        b.join();
    });
}

#[test]
fn a_task_woken_from_another_thread_is_polled_again_through_its_scope() {
    // End to end: a task of a root scope awaits a future that another thread completes.
    // The wake goes TaskWaker -> the scope's ready queue -> the parent's waker (the
    // loop's notifier) -> unpark, racing the driver's round, end_polling, registration
    // and the loop's park.
    model(|| {
        let f = AwaitableFuture::new();
        let producer = f.clone();
        let t = spawn(move || producer.set_result(5u32));
        let r = crate::run_scope(async |s| {
            let task = s.spawn(async move { Ok(f.await.unwrap()) });
            Ok::<_, std::convert::Infallible>(task.await.unwrap())
        });
        assert_eq!(r.unwrap(), 5);
        t.join();
    });
}

#[test]
fn two_tasks_woken_from_two_threads_are_both_polled_again() {
    model(|| {
        let (f, g) = (AwaitableFuture::new(), AwaitableFuture::new());
        let (pf, pg) = (f.clone(), g.clone());
        let a = spawn(move || pf.set_result(1u32));
        let b = spawn(move || pg.set_result(2u32));
        let r = crate::run_scope(async |s| {
            let x = s.spawn(async move { Ok(f.await.unwrap()) });
            let y = s.spawn(async move { Ok(g.await.unwrap()) });
            Ok::<_, std::convert::Infallible>(x.await.unwrap() + y.await.unwrap())
        });
        assert_eq!(r.unwrap(), 3);
        b.wait();
        a.join();
        b.join();
    });
}

#[test]
fn a_completion_racing_the_scopes_cancellation_is_kept_or_cancelled_never_both() {
    model(|| {
        let f = AwaitableFuture::<u32>::new();
        let producer = f.clone();
        let t = spawn(move || producer.try_set_result(9));
        let seen = std::cell::Cell::new(None);
        let r = crate::run_scope(async |s| {
            let seen = &seen;
            let awaiting = f.clone();
            s.spawn(async move { seen.set(Some(awaiting.await)) });
            crate::yield_now().await;
            s.cancel();
            Ok::<_, std::convert::Infallible>(())
        });
        assert!(r.unwrap_err().is_cancelled());
        let won = t.join();
        // The producer won, or the awaiter's drop cancelled the future: never both.
        assert!(won ^ f.is_cancelled());
        if let Some(outcome) = seen.take() {
            assert_eq!(outcome.unwrap(), 9);
            assert!(won);
        }
    });
}

#[test]
fn a_timer_firing_while_another_thread_wakes_the_same_task_never_lets_the_clock_skip() {
    // The other thread sets the task's queued flag, and may be preempted before it pushes
    // the task on its scope's ready queue. Meanwhile the loop jumps its virtual clock to
    // the 2 ms timeout, whose wake of the same task finds the flag set. The loop must not
    // then take itself for idle and jump on to the outer scope's 1000 s deadline.
    use std::time::Duration;
    model(|| {
        let f = AwaitableFuture::<u32>::new();
        let producer = f.clone();
        let t = spawn(move || producer.set_result(1));
        let config = crate::Config::new().virtual_clock();
        let (r, took) = crate::run_with(config, async {
            let start = crate::now();
            let r = crate::timeout_scope(Duration::from_secs(1000), async |_| {
                let r = crate::timeout(Duration::from_millis(2), async {
                    let _ = f.await;
                    std::future::pending::<()>().await
                })
                .await;
                Ok::<_, std::convert::Infallible>(r)
            })
            .await;
            (r, crate::now() - start)
        });
        assert!(r.unwrap().is_err(), "the 2 ms timeout fired");
        assert_eq!(took, Duration::from_millis(2));
        t.join();
    });
}

#[test]
fn a_spawn_into_a_send_scope_from_another_thread_is_run() {
    // The other thread spawns through a clone of the handle while the driver polls,
    // re-checks for work and registers the loop's waker: the spawn lands before the
    // re-check (seen there) or after the registration (it wakes the loop), and the task
    // runs; it completes the body's future, so a lost spawn leaves the loop parked.
    model(|| {
        let done = AwaitableFuture::<u32>::new();
        let r = crate::run(crate::send::scope(
            async move |s: crate::send::Scope<'static, std::convert::Infallible>| {
                let spawner = s.clone();
                let producer = done.clone();
                let t = spawn(move || {
                    spawner.spawn(async move { producer.set_result(7) });
                });
                let value = done.await.unwrap();
                Ok((value, t))
            },
        ));
        let (value, t) = r.unwrap();
        assert_eq!(value, 7);
        t.join();
    });
}

#[test]
fn a_send_join_handle_awaited_on_another_thread_gets_its_tasks_value() {
    // The handle's state and waiter are one cell: the other thread's poll (look, then
    // register) races the task settling it on the loop's thread, and must not miss it.
    model(|| {
        let r = crate::run(crate::send::scope(
            async move |s: crate::send::Scope<'static, std::convert::Infallible>| {
                let handle = s.spawn(async { Ok(5u32) });
                Ok(spawn(move || block_on(handle)))
            },
        ));
        assert_eq!(r.unwrap().join().unwrap(), 5);
    });
}

#[test]
fn a_send_join_handle_cancelling_from_another_thread_races_its_tasks_end() {
    // `cancel` on another thread queues a handle cancel and notifies the scope while the
    // task may be finishing: the task is cancelled or finishes, the handle says which,
    // and nothing waits for ever.
    model(|| {
        let r = crate::run(crate::send::scope(
            async move |s: crate::send::Scope<'static, std::convert::Infallible>| {
                let handle = s.spawn(async {
                    crate::yield_now().await;
                    Ok(5u32)
                });
                Ok(spawn(move || {
                    handle.cancel();
                    block_on(handle)
                }))
            },
        ));
        match r.unwrap().join() {
            Ok(value) => assert_eq!(value, 5),
            Err(error) => assert!(error.is_cancelled(), "{error}"),
        }
    });
}

#[test]
fn a_slot_freed_by_a_cancel_from_another_thread_is_reused_by_its_next_spawn_safely() {
    // The other thread cancels a pending task, then spawns: the spawn takes the first
    // free slot, which the driver frees while it drops the cancelled task. The driver
    // must have taken that task's future out of the slot in the same step (a spawn in
    // between found it still there: a lost task in a release build).
    model(|| {
        let r = crate::run(crate::send::scope(
            async move |s: crate::send::Scope<'static, std::convert::Infallible>| {
                let pending = s.spawn(std::future::pending::<()>());
                // Keeps the scope open until the new task runs (it cancels the keeper).
                let keeper = s.spawn(std::future::pending::<()>());
                let spawner = s.clone();
                Ok(spawn(move || {
                    pending.cancel();
                    spawner.spawn(async move {
                        keeper.cancel();
                        Ok(6u32)
                    })
                }))
            },
        ));
        let handle = r.unwrap().join();
        assert_eq!(block_on(handle).unwrap(), 6);
    });
}
