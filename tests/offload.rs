//! Blocking offload: `unblock`, `ThreadPool::submit`, panics in jobs, jobs cancelled
//! before they start, and cancellable jobs that stop when their awaiter goes away.

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::{panic_message, watchdog};
use duet::{CancelToken, Config, ThreadPool};

#[test]
fn unblock_returns_the_value_of_a_closure_run_on_another_thread() {
    let loop_thread = thread::current().id();
    let job_thread = duet::run(duet::unblock(|| thread::current().id()));
    assert_ne!(job_thread, loop_thread);
    // The value need not be Clone.
    struct NotClone(u8);
    assert_eq!(duet::run(duet::unblock(|| NotClone(3))).0, 3);
}

#[test]
fn submit_returns_an_awaitable_future_of_the_result() {
    let pool = ThreadPool::new(2);
    let f = pool.submit(|| "Processed data_item_A".to_string());
    let again = f.clone();
    let (a, b) = duet::run(async { futures::join!(f, again) });
    assert_eq!(a.unwrap(), "Processed data_item_A");
    assert_eq!(b.unwrap(), "Processed data_item_A");
}

#[test]
fn a_panicking_unblock_job_is_re_raised_in_the_awaiting_task() {
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            s.spawn(async {
                duet::unblock(|| panic!("job exploded")).await;
            });
            Ok::<_, Infallible>(())
        });
    });
    assert_eq!(msg, "job exploded", "the original payload comes back");
}

#[test]
fn a_panicking_submitted_job_gives_the_panicked_error() {
    let pool = ThreadPool::new(1);
    let error = duet::run(pool.submit(|| -> u32 { panic!("job exploded") })).unwrap_err();
    assert!(error.is_panic());
    assert_eq!(
        error.to_string(),
        "the job completing this AwaitableFuture panicked: job exploded"
    );
    // The worker survived the panic.
    assert_eq!(duet::run(pool.submit(|| 5)).unwrap(), 5);
}

#[test]
fn a_job_cancelled_before_it_started_never_runs() {
    let _watchdog = watchdog("cancelled-before-start", Duration::from_secs(60));
    let pool = ThreadPool::new(1);
    let ran = Arc::new(AtomicUsize::new(0));
    let (release, blocked) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    // Occupy the only worker until the second job has been cancelled.
    let blocker = pool.submit(move || {
        started_tx.send(()).unwrap();
        blocked.recv().unwrap();
    });
    started.recv().unwrap();
    let r = duet::run_scope(async |s| {
        let ran1 = ran.clone();
        let queued = s.spawn(pool.unblock(move || {
            ran1.fetch_add(1, Ordering::SeqCst);
        }));
        let ran2 = ran.clone();
        let job = pool.submit(move || {
            ran2.fetch_add(1, Ordering::SeqCst);
        });
        let submitted = s.spawn(async move { job.await.unwrap() });
        duet::yield_now().await; // both tasks are awaiting their queued jobs
        queued.cancel();
        submitted.cancel();
        assert!(queued.await.unwrap_err().is_cancelled());
        assert!(submitted.await.unwrap_err().is_cancelled());
        Ok::<_, Infallible>(())
    });
    r.unwrap();
    release.send(()).unwrap();
    duet::run(blocker).unwrap();
    // Jobs start in order on the single worker: once a later job ran, the cancelled
    // ones had their turn.
    duet::run(pool.submit(|| ())).unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn a_running_job_whose_awaiter_was_cancelled_finishes_and_sees_the_cancellation() {
    let pool = ThreadPool::new(1);
    let (started_tx, started) = mpsc::channel::<()>();
    let (release, wait) = mpsc::channel::<()>();
    let f = pool.submit(move || {
        started_tx.send(()).unwrap();
        wait.recv().unwrap();
        "finished anyway"
    });
    let producer_view = f.clone();
    started.recv().unwrap();
    duet::run(async {
        let lost = futures::future::select(f, std::future::ready(())).await;
        assert!(matches!(lost, futures::future::Either::Right(_)));
    });
    assert!(producer_view.is_cancelled());
    release.send(()).unwrap();
    assert!(duet::run(producer_view).unwrap_err().is_cancelled());
}

#[test]
fn jobs_run_in_parallel_on_the_pool() {
    let _watchdog = watchdog("parallel jobs", Duration::from_secs(60));
    let pool = ThreadPool::new(2);
    let barrier = Arc::new(Barrier::new(2));
    let (a, b) = (barrier.clone(), barrier);
    // Each job waits for the other: this only finishes if both run at once.
    let (x, y) = duet::run(async {
        futures::join!(
            pool.unblock(move || a.wait().is_leader()),
            pool.unblock(move || b.wait().is_leader())
        )
    });
    assert!(x ^ y);
}

#[test]
fn the_loop_keeps_running_other_tasks_while_a_job_blocks() {
    let _watchdog = watchdog("loop runs during a job", Duration::from_secs(60));
    let (tx, rx) = mpsc::channel::<u32>();
    let r = duet::run_scope(async |s| {
        let job = s.spawn(async move { Ok(duet::unblock(move || rx.recv().unwrap() * 2).await) });
        s.spawn(async move {
            for _ in 0..3 {
                duet::yield_now().await;
            }
            tx.send(21).unwrap(); // only possible if the loop is not blocked by the job
        });
        Ok::<_, Infallible>(job.await.unwrap())
    });
    assert_eq!(r.unwrap(), 42);
}

#[test]
fn a_nested_run_inside_an_async_function_awaits_another_pool_job() {
    let pool = ThreadPool::new(2);
    async fn nested_task(pool: &ThreadPool) -> String {
        pool.submit(|| "Processed data_item_B".to_string())
            .await
            .unwrap()
    }
    let out = duet::run(async {
        let first = pool.submit(|| "A".to_string()).await.unwrap();
        let nested = duet::run(nested_task(&pool));
        format!("{first} then {nested}")
    });
    assert_eq!(out, "A then Processed data_item_B");
}

#[test]
fn a_job_may_run_its_own_duet_loop() {
    let value = duet::run(duet::unblock(|| duet::run(async { 6 * 7 })));
    assert_eq!(value, 42);
}

#[test]
fn fire_and_forget_jobs_run_and_survive_panics() {
    let pool = ThreadPool::new(1);
    let (tx, rx) = mpsc::channel();
    pool.execute(|| panic!("reported by the panic hook"));
    pool.execute(move || tx.send("still working").unwrap());
    assert_eq!(rx.recv().unwrap(), "still working");
}

#[test]
fn a_pool_with_zero_threads_is_refused_with_a_message() {
    let msg = panic_message(|| drop(ThreadPool::new(0)));
    assert_eq!(
        msg,
        "duet: ThreadPool::new(0): a pool needs at least one thread to run its jobs; pass the \
         number of blocking calls you want in flight at once"
    );
}

#[test]
fn the_global_pool_is_shared() {
    let a = ThreadPool::global();
    let b = ThreadPool::global();
    assert!(std::ptr::eq(a, b));
    assert!(a.threads() >= 5);
}

/// Counts its drops; `Send`, for values that live on pool threads.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A job body that reports when it started, polls its token until cancelled, and
/// reports when it stopped.
fn until_cancelled(
    started: mpsc::Sender<()>,
    stopped: mpsc::Sender<Instant>,
) -> impl FnOnce(CancelToken) -> u64 + Send + 'static {
    move |token| {
        started.send(()).unwrap();
        let mut rounds = 0;
        while !token.is_cancelled() {
            thread::sleep(Duration::from_millis(1));
            rounds += 1;
        }
        stopped.send(Instant::now()).unwrap();
        rounds
    }
}

/// Waits (off the loop's thread) until a job reported that it started.
async fn started(rx: mpsc::Receiver<()>) {
    duet::unblock(move || rx.recv().unwrap()).await;
}

#[test]
fn a_cancellable_unblock_stops_soon_after_a_timeout_drops_its_future() {
    let _watchdog = watchdog("cancellable unblock + timeout", Duration::from_secs(60));
    let (started_tx, started_rx) = mpsc::channel();
    let (stopped_tx, stopped) = mpsc::channel();
    let timed_out_at = duet::run(async {
        let job = duet::unblock_cancellable(until_cancelled(started_tx, stopped_tx));
        started(started_rx).await; // the job is running, not merely queued
        let r = duet::timeout(Duration::from_millis(50), job).await;
        assert!(r.is_err(), "the job only ends when cancelled");
        Instant::now()
    });
    // Without the token the job would loop forever; 10 s is the bound for "never".
    let stopped_at = stopped
        .recv_timeout(Duration::from_secs(10))
        .expect("the job saw its token cancelled and returned");
    assert!(
        stopped_at.saturating_duration_since(timed_out_at) < Duration::from_secs(2),
        "the job stopped {:?} after the timeout",
        stopped_at - timed_out_at
    );
}

#[test]
fn a_cancellable_job_sees_a_scope_cancelled_from_another_thread() {
    let _watchdog = watchdog("cancellable job + CancelHandle", Duration::from_secs(60));
    let pool = ThreadPool::new(1);
    let (started_tx, started_rx) = mpsc::channel();
    let (stopped_tx, stopped) = mpsc::channel();
    let r = duet::run_scope(async |s| {
        let job = pool.unblock_cancellable(until_cancelled(started_tx, stopped_tx));
        s.spawn(async move {
            job.await;
        });
        started(started_rx).await;
        let handle = s.cancel_handle();
        thread::spawn(move || handle.cancel()).join().unwrap();
        futures::future::pending::<()>().await; // dropped by the cancellation
        Ok::<_, Infallible>(())
    });
    assert!(r.unwrap_err().is_cancelled());
    stopped
        .recv_timeout(Duration::from_secs(10))
        .expect("the job saw its token cancelled and returned");
    // The pool's only thread is free again.
    assert_eq!(duet::run(pool.unblock(|| 5)), 5);
}

#[test]
fn a_submitted_cancellable_job_sees_cancel_called_on_another_thread() {
    let _watchdog = watchdog("submit_cancellable + cancel", Duration::from_secs(60));
    let pool = ThreadPool::new(1);
    let (started_tx, started_rx) = mpsc::channel();
    let (stopped_tx, stopped) = mpsc::channel();
    let job = pool.submit_cancellable(until_cancelled(started_tx, stopped_tx));
    let canceller = job.clone();
    started_rx.recv().unwrap();
    thread::spawn(move || assert!(canceller.cancel()))
        .join()
        .unwrap();
    stopped
        .recv_timeout(Duration::from_secs(10))
        .expect("the job saw its token cancelled and returned");
    assert!(duet::run(job).unwrap_err().is_cancelled());
}

#[test]
fn a_token_stays_clear_while_the_result_is_awaited_and_when_it_is_delivered() {
    let pool = ThreadPool::new(1);
    let (token_tx, token_rx) = mpsc::channel();
    let value = duet::run(pool.unblock_cancellable(move |token| {
        thread::sleep(Duration::from_millis(5)); // awaited meanwhile
        let clear = !token.is_cancelled();
        token_tx.send(token).unwrap();
        clear
    }));
    assert!(
        value,
        "the token was not cancelled while the job was awaited"
    );
    let token = token_rx.recv().unwrap();
    assert!(
        !token.is_cancelled(),
        "a delivered result never cancels the token"
    );
    assert_eq!(format!("{token:?}"), "CancelToken { cancelled: false }");
    let f = pool.submit_cancellable(|token| token.is_cancelled());
    assert!(!duet::run(f).unwrap());
}

#[test]
fn dropping_an_unblock_that_was_never_polled_cancels_its_job() {
    let _watchdog = watchdog("unpolled unblock dropped", Duration::from_secs(60));
    let pool = ThreadPool::new(1);
    let (started_tx, started_rx) = mpsc::channel();
    let (stopped_tx, stopped) = mpsc::channel();
    let job = pool.unblock_cancellable(until_cancelled(started_tx, stopped_tx));
    started_rx.recv().unwrap();
    drop(job);
    stopped
        .recv_timeout(Duration::from_secs(10))
        .expect("dropping the only handle to the result cancelled the token");

    // Not started yet: it never runs.
    let ran = Arc::new(AtomicUsize::new(0));
    let (release, blocked) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel();
    let blocker = pool.unblock(move || {
        started_tx.send(()).unwrap();
        blocked.recv().unwrap();
    });
    started_rx.recv().unwrap();
    let ran2 = ran.clone();
    drop(pool.unblock(move || ran2.fetch_add(1, Ordering::SeqCst)));
    release.send(()).unwrap();
    duet::run(blocker);
    duet::run(pool.unblock(|| ())); // jobs start in order: the dropped one had its turn
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn a_cancelled_jobs_captures_and_value_are_dropped_on_the_pool() {
    let _watchdog = watchdog("cancelled job drops", Duration::from_secs(60));
    let pool = ThreadPool::new(1);
    let drops = Arc::new(AtomicUsize::new(0));
    let (started_tx, started_rx) = mpsc::channel();
    let captured = DropCount(drops.clone());
    let returned = drops.clone();
    duet::run(async {
        let job = pool.unblock_cancellable(move |token| {
            let _captured = captured; // cleanup the job owns
            started_tx.send(()).unwrap();
            while !token.is_cancelled() {
                thread::sleep(Duration::from_millis(1));
            }
            DropCount(returned) // the value nobody will receive
        });
        started(started_rx).await;
        let lost = futures::future::select(job, std::future::ready(())).await;
        assert!(matches!(lost, futures::future::Either::Right(_)));
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while drops.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(drops.load(Ordering::SeqCst), 2, "the capture and the value");
}

#[test]
fn values_that_are_not_clone_come_back_through_every_unblock_form() {
    struct NotClone(Vec<u8>);
    let pool = ThreadPool::new(1);
    assert_eq!(duet::run(pool.unblock(|| NotClone(vec![1]))).0, [1]);
    assert_eq!(
        duet::run(pool.unblock_cancellable(|_token| NotClone(vec![2]))).0,
        [2]
    );
    assert_eq!(
        duet::run(duet::unblock_cancellable(|_token| NotClone(vec![3]))).0,
        [3]
    );
}

#[test]
fn a_panicking_cancellable_job_is_re_raised_or_reported() {
    let msg = panic_message(|| {
        duet::run(duet::unblock_cancellable(|_token| -> u8 {
            panic!("job exploded")
        }));
    });
    assert_eq!(msg, "job exploded");
    let pool = ThreadPool::new(1);
    let error =
        duet::run(pool.submit_cancellable(|_token| -> u8 { panic!("job exploded") })).unwrap_err();
    assert!(error.is_panic());
}

/// Under a virtual clock a cancellable job holds the clock like any pool job: a timeout
/// does not fire while it works, and once it stopped after a cancellation the clock
/// moves again.
#[test]
fn a_cancellable_job_holds_the_virtual_clock_while_it_runs_and_releases_it_when_it_stops() {
    let _watchdog = watchdog("cancellable job + virtual clock", Duration::from_secs(60));
    let (started_tx, started_rx) = mpsc::channel();
    let (stopped_tx, stopped) = mpsc::channel();
    duet::run_with(
        Config::new().virtual_clock(),
        duet::scope(async |s| {
            let start = duet::now();
            let work = duet::unblock_cancellable(|_token| {
                thread::sleep(Duration::from_millis(20));
                7
            });
            let r = duet::timeout(Duration::from_millis(1), work).await;
            assert_eq!(r.unwrap(), 7, "the clock stood still while the job worked");
            assert_eq!(duet::now(), start);

            let job = duet::unblock_cancellable(until_cancelled(started_tx, stopped_tx));
            let task = s.spawn(async move {
                job.await;
            });
            started(started_rx).await;
            task.cancel(); // drops the job's future: the token turns cancelled
            // The job returns, its hold is released, and the clock jumps again. (Were the
            // hold kept, this sleep would never end: the watchdog would fail the test.)
            duet::sleep(Duration::from_secs(60)).await;
            assert_eq!(duet::now() - start, Duration::from_secs(60));
            Ok::<_, Infallible>(())
        }),
    )
    .unwrap();
    stopped
        .recv_timeout(Duration::from_secs(10))
        .expect("the job saw its token cancelled and returned");
}

#[test]
fn a_cancel_token_is_send_sync_and_clone() {
    fn send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    send_sync_clone::<CancelToken>();
}
