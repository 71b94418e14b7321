//! Buffered futures and the idle flush: batches per idle point, poll order, cancelled
//! requests, blocking and nested awaiters, failures.

mod common;

use std::cell::RefCell;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::watchdog;
use duet::{AwaitError, AwaitableFuture, Batch, Batcher};

/// The keys of every batch sent, in order.
type BatchLog = Arc<Mutex<Vec<Vec<u32>>>>;

/// A batcher that answers `key * 10` on a helper thread and records each batch's keys.
fn tens() -> (Batcher<u32, u32>, BatchLog) {
    let batches = Arc::new(Mutex::new(Vec::new()));
    let log = batches.clone();
    let batcher = Batcher::new(move |batch: Batch<u32, u32>| {
        log.lock().unwrap().push(batch.keys().copied().collect());
        thread::spawn(move || {
            let values: Vec<u32> = batch.keys().map(|k| k * 10).collect();
            batch.complete(values);
        });
    });
    (batcher, batches)
}

#[test]
fn a_hundred_concurrent_requests_are_sent_as_one_batch() {
    let _watchdog = watchdog("hundred requests", Duration::from_secs(60));
    let (batcher, batches) = tens();
    let r = duet::run_scope(async |s| {
        let handles: Vec<_> = (0..100)
            .map(|key| {
                let batcher = &batcher;
                s.spawn(async move { batcher.get(key).await })
            })
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        Ok::<_, AwaitError>(sum)
    });
    assert_eq!(r.unwrap(), (0..100).map(|k| k * 10).sum::<u32>());
    let batches = batches.lock().unwrap();
    assert_eq!(batches.len(), 1, "one batch: {batches:?}");
    assert_eq!(batches[0], (0..100).collect::<Vec<_>>());
}

#[test]
fn each_idle_point_sends_one_batch() {
    // Answered on the loop's thread, so that every task of a round is woken before the
    // next idle point (a helper thread could answer some requests after it).
    let batches = Arc::new(Mutex::new(Vec::new()));
    let log = batches.clone();
    let batcher = Batcher::new(move |batch: Batch<u32, u32>| {
        log.lock()
            .unwrap()
            .push(batch.keys().copied().collect::<Vec<_>>());
        let values: Vec<u32> = batch.keys().map(|k| k * 10).collect();
        batch.complete(values);
    });
    duet::run_scope(async |s| {
        for key in 0..20 {
            let batcher = &batcher;
            s.spawn(async move {
                let first = batcher.get(key).await?;
                let second = batcher.get(first).await?;
                assert_eq!(second, key * 100);
                Ok(())
            });
        }
        Ok::<_, AwaitError>(())
    })
    .unwrap();
    let batches = batches.lock().unwrap();
    assert_eq!(batches.len(), 2, "{batches:?}");
    assert_eq!(batches[1], (0..20).map(|k| k * 10).collect::<Vec<_>>());
}

#[test]
fn the_flush_waits_until_no_task_is_ready() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = events.clone();
    let batcher = Batcher::new(move |batch: Batch<&'static str, usize>| {
        log.lock().unwrap().push(format!("flush {}", batch.len()));
        let values: Vec<usize> = batch.keys().map(|k| k.len()).collect();
        batch.complete(values);
    });
    let order = RefCell::new(Vec::new());
    duet::run_scope(async |s| {
        let (batcher, order, events) = (&batcher, &order, &events);
        s.spawn(async move {
            let len = batcher.get("first").await?;
            events.lock().unwrap().push(format!("got {len}"));
            Ok::<_, AwaitError>(())
        });
        s.spawn(async move {
            for i in 0..5 {
                order.borrow_mut().push(i);
                events.lock().unwrap().push(format!("busy {i}"));
                duet::yield_now().await; // still ready: the loop must not flush yet
            }
            let len = batcher.get("second").await?;
            events.lock().unwrap().push(format!("got {len}"));
            Ok(())
        });
        Ok::<_, AwaitError>(())
    })
    .unwrap();
    assert_eq!(
        *events.lock().unwrap(),
        [
            "busy 0", "busy 1", "busy 2", "busy 3", "busy 4", "flush 2", "got 5", "got 6"
        ]
    );
    assert_eq!(*order.borrow(), [0, 1, 2, 3, 4]);
}

#[test]
fn requests_cancelled_before_the_flush_are_left_out_of_the_batch() {
    let (batcher, batches) = tens();
    let r = duet::run_scope(async |s| {
        let keep = s.spawn(batcher.get(1));
        let drop_me = s.spawn(batcher.get(2));
        duet::yield_now().await; // both requests are being awaited
        drop_me.cancel();
        assert!(drop_me.await.unwrap_err().is_cancelled());
        Ok::<_, AwaitError>(keep.await.unwrap())
    });
    assert_eq!(r.unwrap(), 10);
    assert_eq!(*batches.lock().unwrap(), [vec![1]]);
}

#[test]
fn a_buffered_future_cancelled_before_the_idle_point_never_flushes() {
    let flushed = Arc::new(AtomicUsize::new(0));
    let counter = flushed.clone();
    let f = AwaitableFuture::<u8>::buffered(move |f| {
        counter.fetch_add(1, Ordering::SeqCst);
        f.set_result(1);
    });
    let producer = f.clone();
    let r = duet::run_scope(async |s| {
        let h = s.spawn(f);
        duet::yield_now().await;
        h.cancel();
        Ok::<_, AwaitError>(())
    });
    r.unwrap();
    assert!(producer.is_cancelled());
    assert_eq!(flushed.load(Ordering::SeqCst), 0);
}

#[test]
fn awaiting_a_buffered_future_from_blocking_code_flushes_it_first() {
    let _watchdog = watchdog("blocking awaiter", Duration::from_secs(60));
    let (batcher, batches) = tens();
    // Outside any loop.
    assert_eq!(futures::executor::block_on(batcher.get(4)).unwrap(), 40);
    // Inside a duet task, through an executor nested in it: the loop cannot go idle
    // while `block_on` holds its thread, so the request is flushed at once.
    let r = duet::run(async { futures::executor::block_on(batcher.get(5)) });
    assert_eq!(r.unwrap(), 50);
    assert_eq!(*batches.lock().unwrap(), [vec![4], vec![5]]);
}

#[test]
fn a_nested_run_flushes_its_own_buffered_futures() {
    let _watchdog = watchdog("nested run flush", Duration::from_secs(60));
    let (batcher, batches) = tens();
    let r = duet::run_scope(async |s| {
        let outer = batcher.get(1);
        let waiter = s.spawn(outer.clone()); // queued on the outer loop's idle flush
        s.spawn(async {
            duet::yield_now().await;
            // The outer loop cannot go idle while this nested run blocks its thread; the
            // nested loop flushes the request (and the outer one, in the same batch).
            let inner = duet::run(async { futures::join!(outer, batcher.get(2)) });
            assert_eq!((inner.0.unwrap(), inner.1.unwrap()), (10, 20));
        });
        Ok::<_, AwaitError>(waiter.await.unwrap())
    });
    assert_eq!(r.unwrap(), 10);
    assert_eq!(*batches.lock().unwrap(), [vec![1, 2]]);
}

#[test]
fn a_dropped_batch_abandons_its_requests() {
    let batcher = Batcher::new(|batch: Batch<u8, u8>| drop(batch));
    let error = duet::run(batcher.get(1)).unwrap_err();
    assert!(error.is_abandoned(), "{error}");
}

#[test]
fn a_batch_with_too_few_values_fails_the_rest_with_a_message() {
    let batcher = Batcher::new(|batch: Batch<u8, u8>| batch.complete([1]));
    let (a, b) = duet::run(async { futures::join!(batcher.get(1), batcher.get(2)) });
    assert_eq!(a.unwrap(), 1);
    assert_eq!(
        b.unwrap_err().to_string(),
        "duet::Batch::complete: the batch got 1 values for 2 keys; give one value per key, in \
         key order"
    );
}

#[test]
fn a_panicking_send_fails_every_request_with_the_panics_own_message() {
    let batcher = Batcher::new(|_batch: Batch<u8, u8>| panic!("send failed: backend gone"));
    let (a, b) = duet::run(async { futures::join!(batcher.get(1), batcher.get(2)) });
    for error in [a.unwrap_err(), b.unwrap_err()] {
        assert!(error.is_panic());
        assert_eq!(
            error.to_string(),
            "the job completing this AwaitableFuture panicked: send failed: backend gone"
        );
    }
    // The loop and the batcher still work afterwards.
    assert_eq!(duet::run(async { 1 }), 1);
}

#[test]
fn a_batch_dropped_by_a_panic_elsewhere_still_fails_its_requests() {
    // The batch goes to another thread, which panics while holding it: no hang, and a
    // message that says what happened.
    let batcher = Batcher::new(|batch: Batch<u8, u8>| {
        thread::spawn(move || {
            let _batch = batch;
            panic!("the worker crashed");
        });
    });
    let got = duet::run(batcher.get(1));
    assert_eq!(
        got.unwrap_err().to_string(),
        "the job completing this AwaitableFuture panicked: the batch was dropped by a panic \
         before it was completed"
    );
}

#[test]
fn a_panicking_flush_action_fails_its_future_with_the_panic_message() {
    let f = AwaitableFuture::<u8>::buffered(|_f| panic!("flush exploded"));
    let error = duet::run(f).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the job completing this AwaitableFuture panicked: flush exploded"
    );
}

#[test]
fn a_flush_that_completes_nothing_abandons_instead_of_deadlocking() {
    let f = AwaitableFuture::<u8>::buffered(drop);
    let r = duet::run_scope(async |s| {
        let h = s.spawn(async move { Ok(f.await) });
        Ok::<_, Infallible>(h.await.unwrap())
    });
    assert!(r.unwrap().unwrap_err().is_abandoned());
}

#[test]
fn a_dropped_batcher_abandons_its_queued_requests() {
    let batcher = Batcher::new(|batch: Batch<u8, u8>| batch.complete([0]));
    let request = batcher.get(1);
    assert_eq!(batcher.queued(), 1);
    drop(batcher);
    assert!(duet::run(request).unwrap_err().is_abandoned());
}

#[test]
fn batches_from_other_threads_are_completed_per_key() {
    let _watchdog = watchdog("per-key completion", Duration::from_secs(60));
    let batcher = Batcher::new(|batch: Batch<i32, String>| {
        thread::spawn(move || {
            // Answer in reverse order, key by key.
            for (key, future) in batch.into_requests().into_iter().rev() {
                if key < 0 {
                    future.set_error(format!("{key} is negative"));
                } else {
                    future.set_result(format!("#{key}"));
                }
            }
        });
    });
    let (a, b, c) =
        duet::run(async { futures::join!(batcher.get(1), batcher.get(-2), batcher.get(3)) });
    assert_eq!(a.unwrap(), "#1");
    assert_eq!(b.unwrap_err().to_string(), "-2 is negative");
    assert_eq!(c.unwrap(), "#3");
}

/// A batcher whose batches a thread answers 100 ms later, with `answer`.
fn answered_by_a_thread(answer: fn(Batch<u32, u32>)) -> Batcher<u32, u32> {
    Batcher::new(move |batch: Batch<u32, u32>| {
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            answer(batch);
        });
    })
}

#[test]
fn a_panicking_waker_of_one_request_strands_none_of_the_others() {
    use std::future::Future;
    use std::task::{Context, Waker};
    let _watchdog = watchdog("a batch with a panicking waker", Duration::from_secs(20));
    let complete = answered_by_a_thread(|batch| {
        let values: Vec<u32> = batch.keys().map(|k| k * 10).collect();
        batch.complete(values);
    });
    let fail = answered_by_a_thread(|batch| batch.fail("down"));
    for (batcher, completes) in [(complete, true), (fail, false)] {
        let bad = common::PanickingWaker::new();
        let (a, b, c) = duet::run(async {
            let first = batcher.get(1);
            let mut foreign = Box::pin(first.clone());
            let late = async {
                duet::sleep(Duration::from_millis(20)).await; // the batch is sent by now
                let waker = Waker::from(bad.clone());
                assert!(
                    foreign
                        .as_mut()
                        .poll(&mut Context::from_waker(&waker))
                        .is_pending()
                );
            };
            let (a, b, c, ()) = futures::join!(first, batcher.get(2), batcher.get(3), late);
            (a, b, c)
        });
        assert_eq!(bad.wakes(), 1);
        if completes {
            assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (10, 20, 30));
        } else {
            assert!(a.unwrap_err().is_failed() && b.unwrap_err().is_failed());
            assert!(c.unwrap_err().is_failed(), "not abandoned by the panic");
        }
    }
}
