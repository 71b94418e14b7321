//! `duet::run`: values, nesting, parking and cross-thread wake-ups, deadlock detection.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use common::{Probe, panic_message};
use futures::channel::oneshot;

#[derive(Debug, PartialEq)]
struct AppError(&'static str);

async fn double(x: u32) -> u32 {
    duet::yield_now().await;
    x * 2
}

async fn quadruple(x: u32) -> u32 {
    double(double(x).await).await
}

async fn fallible(ok: bool) -> Result<u32, AppError> {
    duet::yield_now().await;
    if ok { Ok(1) } else { Err(AppError("nope")) }
}

#[test]
fn run_returns_the_output_of_its_future() {
    assert_eq!(duet::run(async { 7 }), 7);
    assert_eq!(duet::run(std::future::ready("ready")), "ready");
}

#[test]
fn nested_async_functions_run_to_completion() {
    assert_eq!(duet::run(quadruple(3)), 12);
}

#[test]
fn failing_future_is_caught_by_its_caller() {
    let out = duet::run(async {
        match fallible(false).await {
            Err(AppError(msg)) => format!("caught {msg}"),
            Ok(_) => "no error".to_string(),
        }
    });
    assert_eq!(out, "caught nope");
    assert_eq!(duet::run(fallible(true)), Ok(1));
}

#[test]
fn wake_from_another_thread_resumes_the_parked_loop() {
    let probe = Probe::new();
    let (tx, rx) = oneshot::channel();
    let worker = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        tx.send(99).unwrap();
    });
    let got = duet::run(probe.track(rx));
    worker.join().unwrap();
    assert_eq!(got, Ok(99));
    // Parked, not spinning: one poll before the wait, one after the wake (a spurious
    // unpark may add one more, but never a poll loop).
    assert!(
        probe.polls() <= 3,
        "root polled {} times while waiting",
        probe.polls()
    );
}

#[test]
fn many_sequential_cross_thread_wakes_are_never_lost() {
    const ROUNDS: usize = 2_000;
    let (to_worker, from_loop) = std::sync::mpsc::channel::<oneshot::Sender<usize>>();
    let worker = thread::spawn(move || {
        for (i, reply) in from_loop.iter().enumerate() {
            reply.send(i).unwrap();
        }
    });
    let sum = duet::run(async {
        let mut sum = 0;
        for _ in 0..ROUNDS {
            let (tx, rx) = oneshot::channel();
            to_worker.send(tx).unwrap();
            sum += rx.await.unwrap();
        }
        drop(to_worker);
        sum
    });
    worker.join().unwrap();
    assert_eq!(sum, (0..ROUNDS).sum());
}

#[test]
fn wakes_from_several_threads_at_once_are_all_delivered() {
    let done = Arc::new(AtomicUsize::new(0));
    let result = duet::run_scope(async |s| {
        for i in 0..8u64 {
            let done = done.clone();
            s.spawn(async move {
                for j in 0..100u64 {
                    let (tx, rx) = oneshot::channel();
                    thread::spawn(move || tx.send(i * 1000 + j).unwrap());
                    assert_eq!(rx.await.unwrap(), i * 1000 + j);
                }
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    assert!(result.is_ok());
    assert_eq!(done.load(Ordering::SeqCst), 8);
}

#[test]
fn run_after_a_panicking_run_works() {
    let msg = panic_message(|| {
        duet::run(async {
            duet::yield_now().await;
            panic!("first run blew up");
        })
    });
    assert_eq!(msg, "first run blew up");
    assert_eq!(duet::run(quadruple(1)), 4);
}

#[test]
fn run_of_a_future_nothing_can_wake_panics_instead_of_hanging() {
    let msg = panic_message(|| duet::run(futures::future::pending::<()>()));
    assert!(msg.contains("deadlock"), "{msg}");
    // The thread is still usable.
    assert_eq!(duet::run(async { 1 }), 1);
}

#[test]
fn a_scope_whose_tasks_nothing_can_wake_is_reported_as_a_deadlock() {
    let probe = Probe::new();
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            s.spawn(probe.track(futures::future::pending::<()>()));
            duet::scope(async |inner| {
                inner.spawn(probe.track(futures::future::pending::<()>()));
            })
            .await
        });
    });
    assert!(msg.contains("deadlock"), "{msg}");
    assert_eq!(
        probe.dropped(),
        2,
        "every stuck task is dropped before the panic leaves run"
    );
}

#[test]
fn a_task_waiting_on_another_thread_is_not_a_deadlock() {
    let (tx, rx) = oneshot::channel();
    let worker = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        tx.send(5).unwrap();
    });
    let got = duet::run_scope(async |s| {
        s.spawn(async {}); // finishes at once
        let h = s.spawn(async move { Ok(rx.await.unwrap()) });
        h.await.map_err(|_| "cancelled")
    });
    worker.join().unwrap();
    assert_eq!(got.unwrap(), 5);
}

#[test]
fn a_task_waiting_for_a_sibling_is_not_a_deadlock() {
    let got = duet::run_scope(async |s| {
        let (tx, rx) = oneshot::channel();
        let waiter = s.spawn(async move { Ok(rx.await.unwrap() + 1) });
        s.spawn(async move {
            for _ in 0..5 {
                duet::yield_now().await;
            }
            tx.send(1).unwrap();
        });
        waiter.await.map_err(|_| "cancelled")
    });
    assert_eq!(got.unwrap(), 2);
}

#[test]
fn run_accepts_into_future() {
    struct Answer;
    impl std::future::IntoFuture for Answer {
        type Output = u8;
        type IntoFuture = std::future::Ready<u8>;
        fn into_future(self) -> Self::IntoFuture {
            std::future::ready(42)
        }
    }
    assert_eq!(duet::run(Answer), 42);
}

/// Runs `future` one `duet::run` per frame, each polling it once, as a game or GUI loop
/// does; returns its output and the number of frames it took.
fn one_run_per_frame<F: std::future::Future>(future: F) -> (F::Output, usize) {
    let mut future = Box::pin(future);
    for frame in 1..=5_000 {
        if let std::task::Poll::Ready(out) = duet::run(async { futures::poll!(future.as_mut()) }) {
            return (out, frame);
        }
        thread::sleep(Duration::from_millis(1));
    }
    panic!("the future did not finish within 5,000 frames");
}

#[test]
fn a_scope_continued_by_later_runs_wakes_its_sleeping_task() {
    let ((), frames) = one_run_per_frame(async {
        duet::scope(async |s| {
            s.spawn(duet::sleep(Duration::from_millis(10)));
            Ok::<_, std::convert::Infallible>(())
        })
        .await
        .unwrap()
    });
    assert!(frames >= 2, "the sleep outlived the first run");
}

#[test]
fn a_scope_continued_by_later_runs_flushes_its_buffered_futures_there() {
    let batcher = duet::Batcher::new(|batch: duet::Batch<u32, u32>| {
        let values: Vec<u32> = batch.keys().map(|k| k + 1).collect();
        batch.complete(values);
    });
    let (got, _frames) = one_run_per_frame(async {
        duet::scope(async |s| {
            let h = s.spawn(async { Ok(batcher.get(41).await.unwrap()) });
            Ok::<_, std::convert::Infallible>(h.await.unwrap())
        })
        .await
        .unwrap()
    });
    assert_eq!(got, 42);
}

#[test]
fn a_scope_continued_by_a_later_run_is_neither_a_deadlock_nor_an_outer_loops_task() {
    // The first run polls the scope once; the second drives it to the end. Its task waits
    // on another thread (not a deadlock), and its body awaits that task's handle (which
    // belongs to the loop driving it now, not to an outer one).
    let (tx, rx) = oneshot::channel();
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        tx.send(5u32).unwrap();
    });
    let mut future = Box::pin(duet::scope(async |s| {
        let h = s.spawn(async { Ok(rx.await.unwrap()) });
        Ok::<_, std::convert::Infallible>(h.await.unwrap())
    }));
    assert!(duet::run(async { futures::poll!(future.as_mut()) }).is_pending());
    assert_eq!(duet::run(future).unwrap(), 5);
    sender.join().unwrap();
}

#[test]
fn a_join_handle_of_a_scope_a_later_run_has_not_polled_yet_is_not_an_outer_loops() {
    // One run per frame: a task woken when the last run ended awaits the handle of a task
    // of a nested scope that this frame's run has not polled yet (so it still names the
    // last run, which has ended: no outer loop is blocked).
    use std::cell::RefCell;
    use std::rc::Rc;
    let slot: Rc<RefCell<Option<duet::JoinHandle<()>>>> = Rc::default();
    let ((), _frames) = one_run_per_frame(async {
        duet::scope(async |s| {
            let (tx, rx) = oneshot::channel::<()>();
            let into_slot = slot.clone();
            s.spawn(async move {
                duet::scope(async |inner| {
                    let h = inner.spawn(async move {
                        let _ = rx.await;
                    });
                    *into_slot.borrow_mut() = Some(h);
                    Ok::<_, std::convert::Infallible>(())
                })
                .await
                .unwrap();
            });
            let from_slot = slot.clone();
            s.spawn(async move {
                let mut h = loop {
                    if let Some(h) = from_slot.borrow_mut().take() {
                        break h;
                    }
                    duet::yield_now().await;
                };
                for _ in 0..3 {
                    let lost = duet::sleep(Duration::from_millis(5));
                    if let futures::future::Either::Left(_) =
                        futures::future::select(&mut h, lost).await
                    {
                        return;
                    }
                }
                let _ = tx.send(());
                let _ = h.await;
            });
            Ok::<_, std::convert::Infallible>(())
        })
        .await
        .unwrap()
    });
}
