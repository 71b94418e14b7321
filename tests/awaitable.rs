//! `AwaitableFuture`: completion from other threads, races between producers,
//! cancellation back to the producer, abandonment, done-callbacks.

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use common::{CountingWaker, Probe, panic_message};
use duet::{AwaitError, AwaitableFuture, completed_future, failed_future};
use futures::channel::oneshot;
use futures::future::{Either, select};
use tokio_test::{assert_pending, assert_ready};

#[test]
fn a_result_set_from_another_thread_wakes_the_awaiting_task() {
    let probe = Probe::new();
    let f = AwaitableFuture::new();
    let producer = f.clone();
    let r = duet::run_scope(async |s| {
        let h = s.spawn(probe.track(f));
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(10));
            producer.set_result(String::from("from a thread"));
        });
        Ok::<_, AwaitError>(h.await.unwrap())
    });
    assert_eq!(r.unwrap(), "from a thread");
    // Pending once, then ready after the cross-thread wake: no busy polling.
    assert_eq!((probe.polls(), probe.completed()), (2, 1));
}

#[test]
fn an_error_set_from_another_thread_reaches_the_awaiter_as_itself() {
    let f = AwaitableFuture::<u32>::new();
    let producer = f.clone();
    let worker = thread::spawn(move || {
        thread::sleep(Duration::from_millis(5));
        producer.set_error(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "backend refused",
        ));
    });
    let error = duet::run(f).unwrap_err();
    worker.join().unwrap();
    assert!(error.is_failed());
    assert_eq!(error.to_string(), "backend refused");
    let io = error.downcast_ref::<std::io::Error>().unwrap();
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn try_set_race_between_eight_threads_has_exactly_one_winner() {
    for _round in 0..100 {
        let f = AwaitableFuture::<usize>::new();
        let barrier = Arc::new(Barrier::new(8));
        let racers: Vec<_> = (0..8)
            .map(|id| {
                let f = f.clone();
                let barrier = barrier.clone();
                thread::spawn(move || {
                    barrier.wait();
                    let won = if id % 2 == 0 {
                        f.try_set_result(id)
                    } else {
                        f.try_set_error(format!("racer {id}"))
                    };
                    won.then_some(id)
                })
            })
            .collect();
        let winners: Vec<usize> = racers
            .into_iter()
            .filter_map(|r| r.join().unwrap())
            .collect();
        assert_eq!(winners.len(), 1, "exactly one winner: {winners:?}");
        let winner = winners[0];
        match duet::run(f) {
            Ok(value) => assert_eq!(value, winner),
            Err(error) => assert_eq!(error.to_string(), format!("racer {winner}")),
        }
    }
}

#[test]
fn setting_a_result_twice_panics_with_advice() {
    let f = AwaitableFuture::new();
    f.set_result(1);
    let msg = panic_message(|| f.set_result(2));
    assert_eq!(
        msg,
        "duet: AwaitableFuture::set_result on a future that is already complete (a result or \
         an error was set before); a future completes once. Use try_set_result, which returns \
         false when another producer won, or check is_done() first."
    );
    let msg = panic_message(|| f.set_error("late"));
    assert!(
        msg.contains("set_error") && msg.contains("try_set_error"),
        "{msg}"
    );
    assert_eq!(duet::run(f).unwrap(), 1, "the first value stays");
}

#[test]
fn a_result_set_after_cancellation_is_dropped_silently() {
    let f = AwaitableFuture::<Arc<()>>::new();
    let value = Arc::new(());
    assert!(f.cancel());
    f.set_result(value.clone());
    f.set_error("also ignored");
    assert_eq!(Arc::strong_count(&value), 1, "the late value was dropped");
    assert!(duet::run(f).unwrap_err().is_cancelled());
}

#[test]
fn every_awaiter_gets_its_own_clone_of_the_value() {
    let f = AwaitableFuture::<Vec<u32>>::new();
    let producer = f.clone();
    let on_other_executor = {
        let f = f.clone();
        thread::spawn(move || futures::executor::block_on(f))
    };
    let r = duet::run_scope(async |s| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let f = f.clone();
                s.spawn(async move { Ok(f.await.unwrap()) })
            })
            .collect();
        duet::yield_now().await;
        producer.set_result(vec![1, 2, 3]);
        let mut all = Vec::new();
        for h in handles {
            all.push(h.await.unwrap());
        }
        Ok::<_, Infallible>(all)
    });
    assert_eq!(r.unwrap(), vec![vec![1, 2, 3]; 3]);
    assert_eq!(on_other_executor.join().unwrap().unwrap(), [1, 2, 3]);
}

#[test]
fn a_completed_future_is_ready_on_the_first_poll() {
    let mut done = tokio_test::task::spawn(completed_future(5));
    assert_eq!(assert_ready!(done.poll()).unwrap(), 5);
    let mut failed = tokio_test::task::spawn(failed_future::<u8>("no"));
    assert_eq!(assert_ready!(failed.poll()).unwrap_err().to_string(), "no");
    // Polling again returns the same outcome again.
    assert_eq!(assert_ready!(done.poll()).unwrap(), 5);
}

#[test]
fn a_pending_poll_keeps_the_waker_and_completion_wakes_it_once() {
    let f = AwaitableFuture::new();
    let producer = f.clone();
    let mut task = tokio_test::task::spawn(f);
    assert_pending!(task.poll());
    assert_pending!(task.poll());
    assert!(!task.is_woken());
    producer.set_result(9);
    assert!(task.is_woken());
    assert_eq!(
        task.waker_ref_count(),
        1,
        "completion dropped the stored waker"
    );
    assert_eq!(assert_ready!(task.poll()).unwrap(), 9);
}

#[test]
fn a_wake_goes_to_the_latest_waker_when_the_awaiter_moves() {
    let f = AwaitableFuture::new();
    let producer = f.clone();
    let mut f = std::pin::pin!(f);
    let first = CountingWaker::new();
    let second = CountingWaker::new();
    let w1 = std::task::Waker::from(first.clone());
    let w2 = std::task::Waker::from(second.clone());
    assert!(
        f.as_mut()
            .poll(&mut std::task::Context::from_waker(&w1))
            .is_pending()
    );
    assert!(
        f.as_mut()
            .poll(&mut std::task::Context::from_waker(&w2))
            .is_pending()
    );
    producer.set_result(());
    assert_eq!((first.wakes(), second.wakes()), (0, 1));
}

#[test]
fn dropping_every_producer_gives_the_abandoned_error() {
    let f = AwaitableFuture::<u32>::new();
    let producer = f.clone();
    let worker = thread::spawn(move || {
        thread::sleep(Duration::from_millis(10));
        drop(producer); // returned early without completing
    });
    let error = duet::run(f).unwrap_err();
    worker.join().unwrap();
    assert!(error.is_abandoned());
    assert_eq!(
        error.to_string(),
        "the AwaitableFuture was abandoned: every handle that could complete it was dropped \
         without setting a result or an error (did the producer return early or panic?)"
    );
}

#[test]
fn a_producer_thread_that_panics_abandons_the_future() {
    let f = AwaitableFuture::<u32>::new();
    let producer = f.clone();
    let worker = thread::spawn(move || {
        let _producer = producer;
        thread::sleep(Duration::from_millis(5));
        panic!("producer crashed");
    });
    assert!(duet::run(f).unwrap_err().is_abandoned());
    assert!(worker.join().is_err());
}

#[test]
fn awaiting_the_only_handle_is_abandoned_at_once() {
    assert!(
        duet::run(AwaitableFuture::<u32>::new())
            .unwrap_err()
            .is_abandoned()
    );
    // Two handles, both awaited: still nobody to complete it.
    let f = AwaitableFuture::<u32>::new();
    let g = f.clone();
    let (a, b) = duet::run(async { futures::join!(f, g) });
    assert!(a.unwrap_err().is_abandoned() && b.unwrap_err().is_abandoned());
}

#[test]
fn an_idle_clone_kept_by_anyone_is_a_possible_producer() {
    let f = AwaitableFuture::<u32>::new();
    let kept = f.clone();
    let mut task = tokio_test::task::spawn(f);
    assert_pending!(task.poll());
    assert!(
        !kept.is_done(),
        "a live idle handle could still complete it"
    );
    drop(kept);
    assert!(task.is_woken());
    assert!(assert_ready!(task.poll()).unwrap_err().is_abandoned());
}

#[test]
fn done_callbacks_run_exactly_once_also_when_added_after_completion() {
    let runs = Arc::new(Mutex::new(Vec::new()));
    let f = AwaitableFuture::new();
    for name in ["a", "b", "c"] {
        let runs = runs.clone();
        f.add_done_callback(move |r: Result<u32, AwaitError>| {
            runs.lock().unwrap().push(format!("{name}={}", r.unwrap()))
        });
    }
    let producer = f.clone();
    thread::spawn(move || producer.set_result(7))
        .join()
        .unwrap();
    assert!(!f.try_set_result(8));
    assert!(!f.cancel());
    let late = runs.clone();
    f.add_done_callback(move |r| late.lock().unwrap().push(format!("late={}", r.unwrap())));
    assert_eq!(*runs.lock().unwrap(), ["a=7", "b=7", "c=7", "late=7"]);
}

#[test]
fn done_callbacks_see_cancellation_and_abandonment() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let cancelled = AwaitableFuture::<u8>::new();
    let abandoned = AwaitableFuture::<u8>::new();
    for f in [&cancelled, &abandoned] {
        let seen = seen.clone();
        f.add_done_callback(move |r| seen.lock().unwrap().push(r.unwrap_err().to_string()));
    }
    cancelled.cancel();
    assert!(duet::run(abandoned).unwrap_err().is_abandoned());
    let seen = seen.lock().unwrap();
    assert!(
        seen[0].contains("cancelled") && seen[1].contains("abandoned"),
        "{seen:?}"
    );
}

#[test]
fn a_panicking_callback_neither_poisons_the_future_nor_loses_the_others() {
    let ran = Arc::new(AtomicUsize::new(0));
    let f = AwaitableFuture::new();
    let r1 = ran.clone();
    f.add_done_callback(move |_| {
        r1.fetch_add(1, Ordering::SeqCst);
    });
    f.add_done_callback(|_| panic!("callback bug"));
    let r2 = ran.clone();
    f.add_done_callback(move |_| {
        r2.fetch_add(1, Ordering::SeqCst);
    });
    let waiter = {
        let f = f.clone();
        thread::spawn(move || futures::executor::block_on(f))
    };
    thread::sleep(Duration::from_millis(10)); // let the waiter register
    // The panic is re-raised on the completing thread after everything else ran.
    assert_eq!(panic_message(|| f.set_result(3)), "callback bug");
    assert_eq!(ran.load(Ordering::SeqCst), 2);
    assert_eq!(waiter.join().unwrap().unwrap(), 3);
    assert_eq!(f.try_result().unwrap().unwrap(), 3);
    assert_eq!(duet::run(f).unwrap(), 3);
}

/// A producer thread that waits for cancellation and reports it.
fn cancellation_watcher(producer: AwaitableFuture<u32>) -> mpsc::Receiver<&'static str> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        futures::executor::block_on(producer.cancelled());
        tx.send(if producer.is_cancelled() {
            "cancelled"
        } else {
            "?"
        })
        .unwrap();
    });
    rx
}

#[test]
fn cancelling_the_awaiting_tasks_scope_cancels_the_future_for_the_producer() {
    let f = AwaitableFuture::<u32>::new();
    let stopped = cancellation_watcher(f.clone());
    let r = duet::run_scope(async |s| {
        s.spawn(async move { f.await.map(drop).map_err(|_| ()) });
        duet::yield_now().await; // the task is now awaiting
        s.cancel();
        Ok(())
    });
    assert!(r.unwrap_err().is_cancelled());
    assert_eq!(stopped.recv().unwrap(), "cancelled");
}

#[test]
fn cancelling_the_awaiting_task_through_its_join_handle_cancels_the_future() {
    let f = AwaitableFuture::<u32>::new();
    let producer = f.clone();
    let stopped = cancellation_watcher(f.clone());
    duet::run_scope(async |s| {
        let h = s.spawn(f);
        duet::yield_now().await;
        h.cancel();
        assert!(h.await.unwrap_err().is_cancelled());
        Ok::<_, AwaitError>(())
    })
    .unwrap();
    assert_eq!(stopped.recv().unwrap(), "cancelled");
    assert!(
        !producer.try_set_result(1),
        "the producer lost to cancellation"
    );
}

/// Stands in for `duet::timeout` (built in parallel): a thread-driven timer raced
/// against the awaiter with `select`; the timer winning drops the awaiter, exactly as a
/// timeout drops the future it wraps.
#[test]
fn a_timeout_that_drops_the_awaiter_cancels_the_future() {
    let f = AwaitableFuture::<u32>::new();
    let stopped = cancellation_watcher(f.clone());
    let (tx, timer) = oneshot::channel::<()>();
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(10));
        let _ = tx.send(());
    });
    let timed_out = duet::run(async move {
        match select(f, timer).await {
            Either::Left(_) => false,
            Either::Right(_) => true, // `f` is dropped here, mid-wait
        }
    });
    assert!(timed_out);
    assert_eq!(stopped.recv().unwrap(), "cancelled");
}

#[test]
fn duet_timeout_and_timeout_scope_cancel_the_awaited_future() {
    // duet::timeout around the await: the producer learns at the deadline.
    let f = AwaitableFuture::<u32>::new();
    let producer = f.clone();
    let r = duet::run_with(duet::Config::new().virtual_clock(), async move {
        duet::timeout(Duration::from_secs(5), f).await
    });
    assert!(r.is_err());
    assert!(producer.is_cancelled());
    assert!(
        !producer.try_set_result(1),
        "the producer lost to cancellation"
    );

    // A timeout scope whose task awaits it: the same, through the scope's teardown.
    let f = AwaitableFuture::<u32>::new();
    let producer = f.clone();
    let r = duet::run_with(
        duet::Config::new().virtual_clock(),
        duet::timeout_scope(Duration::from_secs(5), async |s| {
            s.spawn(async move { f.await.map(drop) });
            Ok(())
        }),
    );
    assert!(r.unwrap_err().is_timeout());
    assert!(producer.is_cancelled());
}

#[test]
fn the_future_is_not_cancelled_while_another_task_still_awaits_it() {
    let f = AwaitableFuture::<u32>::new();
    let producer = f.clone();
    let r = duet::run_scope(async |s| {
        let first = s.spawn(f.clone());
        let second = s.spawn(f);
        duet::yield_now().await;
        first.cancel();
        assert!(first.await.unwrap_err().is_cancelled());
        assert!(!producer.is_cancelled(), "one awaiter is left");
        producer.set_result(11);
        Ok::<_, AwaitError>(second.await.unwrap())
    });
    assert_eq!(r.unwrap(), 11);
}

#[test]
fn awaiting_by_mutable_reference_keeps_interest_after_a_lost_select() {
    let mut f = AwaitableFuture::<u32>::new();
    let producer = f.clone();
    let out = duet::run(async {
        // Lose a race without giving up on `f`.
        let lost = select(&mut f, std::future::ready(())).await;
        assert!(matches!(lost, Either::Right(_)));
        assert!(!producer.is_cancelled());
        producer.set_result(4);
        f.await
    });
    assert_eq!(out.unwrap(), 4);
}

#[test]
fn explicit_cancel_wakes_awaiters_with_the_cancelled_error() {
    let f = AwaitableFuture::<u32>::new();
    let canceller = f.clone();
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(5));
        assert!(canceller.cancel());
    });
    let error = duet::run(f).unwrap_err();
    assert!(error.is_cancelled());
    assert_eq!(
        error.to_string(),
        "the AwaitableFuture was cancelled before it completed"
    );
}

#[test]
fn cancelled_never_resolves_once_the_future_completed_otherwise() {
    let f = AwaitableFuture::<u32>::new();
    let mut cancelled = tokio_test::task::spawn(f.cancelled());
    assert_pending!(cancelled.poll());
    f.set_result(1);
    assert!(
        cancelled.is_woken(),
        "completion wakes it (so no waker is left behind)"
    );
    assert_pending!(cancelled.poll());
    assert_eq!(
        cancelled.waker_ref_count(),
        1,
        "and it keeps no waker afterwards"
    );
}

#[test]
fn awaitable_future_is_send_and_sync_when_its_value_is_send() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<AwaitableFuture<u32>>();
    send_sync::<AwaitableFuture<std::cell::Cell<u32>>>(); // Send but not Sync
    send_sync::<duet::Cancelled<'static, std::cell::Cell<u32>>>();
    send_sync::<AwaitError>();
    send_sync::<duet::ThreadPool>();
    send_sync::<duet::Batcher<u32, std::cell::Cell<u32>>>();
    fn send<T: Send>() {}
    send::<duet::Unblock<std::cell::Cell<u32>>>();
    send::<duet::Batch<u32, std::cell::Cell<u32>>>();
}

#[test]
fn awaiting_works_under_other_executors() {
    let f = AwaitableFuture::new();
    let producer = f.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    thread::spawn(move || producer.set_result("tokio"));
    assert_eq!(rt.block_on(f).unwrap(), "tokio");
}

/// A waker that owns a handle of the future it waits for: dropping it drops that handle.
struct OwningWaker(#[allow(dead_code)] AwaitableFuture<u32>);

impl std::task::Wake for OwningWaker {
    fn wake(self: Arc<Self>) {}
}

/// Polls `f` once with `waker`.
fn poll_with<F: Future + Unpin>(f: &mut F, waker: &std::task::Waker) -> std::task::Poll<F::Output> {
    std::pin::Pin::new(f).poll(&mut std::task::Context::from_waker(waker))
}

#[test]
fn a_replaced_waker_is_dropped_outside_the_futures_lock() {
    let _watchdog = common::watchdog("waker dropped under the lock", Duration::from_secs(60));
    let mut f = AwaitableFuture::<u32>::new();
    let producer = f.clone();
    let owning = std::task::Waker::from(Arc::new(OwningWaker(producer.clone())));
    assert!(poll_with(&mut f, &owning).is_pending());
    drop(owning); // the future's slot now holds the only reference
    let plain = std::task::Waker::from(CountingWaker::new());
    // Replacing the waker drops the old one, and with it a handle of this future.
    assert!(poll_with(&mut f, &plain).is_pending());
    producer.set_result(1);
    assert_eq!(
        poll_with(&mut f, &plain).map(Result::unwrap),
        std::task::Poll::Ready(1)
    );
}

#[test]
fn a_done_callback_may_use_handles_of_its_own_future() {
    let f = AwaitableFuture::new();
    let (tx, rx) = mpsc::channel();
    let own = f.clone();
    f.add_done_callback(move |r| {
        let again = own.clone();
        let value = again.try_result().unwrap().unwrap();
        let seen = (again.is_done(), value, r.unwrap());
        drop(again);
        drop(own);
        tx.send(seen).unwrap();
    });
    f.set_result(5u8);
    assert_eq!(rx.recv().unwrap(), (true, 5, 5));
}

#[test]
fn a_panicking_waker_strands_neither_the_other_awaiters_nor_the_done_callbacks() {
    use std::task::{Context, Waker};
    let f = AwaitableFuture::<u32>::new();
    let producer = f.clone();
    let called = Arc::new(AtomicUsize::new(0));
    let seen = called.clone();
    f.add_done_callback(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    let bad = common::PanickingWaker::new();
    let got = duet::run_scope(async |s| {
        // A foreign future awaits first, with a waker that panics...
        let mut foreign = f.clone();
        let waker = Waker::from(bad.clone());
        assert!(
            std::pin::Pin::new(&mut foreign)
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        // ...then a duet task.
        let task = s.spawn(async { Ok(f.clone().await.unwrap()) });
        duet::yield_now().await;
        let message = panic_message(|| producer.set_result(7));
        assert_eq!(
            message, "the foreign waker panicked",
            "the first panic is re-raised"
        );
        drop(foreign);
        Ok::<_, Infallible>(task.await.unwrap())
    });
    assert_eq!(
        got.unwrap(),
        7,
        "the duet task was woken after the panicking waker"
    );
    assert_eq!(bad.wakes(), 1);
    assert_eq!(called.load(Ordering::SeqCst), 1, "the done-callback ran");
}
