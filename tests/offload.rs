//! Blocking offload: `unblock`, `ThreadPool::submit`, panics in jobs, jobs cancelled
//! before they start.

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::Duration;

use common::{panic_message, watchdog};
use duet::ThreadPool;

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
