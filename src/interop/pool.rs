//! Blocking offload: [`ThreadPool`], [`unblock`] and the [`Unblock`] future.
//!
//! The threads are `futures::executor::ThreadPool`'s; duet adds the hand-off. Each job
//! is a closure wrapped in a one-poll future that (1) skips the closure if the future it
//! completes is already done (its awaiter was cancelled before the job started), (2)
//! runs it inside `catch_unwind`, (3) completes the future with the value or the panic.
//!
//! # Invariants
//!
//! 1. A job whose future is done before the job starts never runs its closure.
//! 2. A job's panic never unwinds into the pool (a futures pool loses the worker thread
//!    it unwinds through): it is caught and handed to the awaiter, as
//!    [`AwaitError::Panicked`] through [`ThreadPool::submit`], as the original panic
//!    through [`unblock`]. A done-callback's panic on a worker is reported by the panic
//!    hook and swallowed.
//! 3. A job dropped unrun (the pool shut down) drops its producer handle, so its awaiter
//!    sees [`AwaitError::Abandoned`] rather than hanging.
//! 4. A job submitted under a virtual clock holds the clock from submission until its
//!    result is in (or it is skipped): `time::gate`.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, ready};

use super::awaitable::AwaitableFuture;
use super::error::{AwaitError, panic_message};
use crate::time::hold_for_work;

/// A pool of threads for blocking work, whose results are awaited from duet tasks.
///
/// [`submit`](ThreadPool::submit) runs a closure on one of the pool's threads and
/// returns an [`AwaitableFuture`] of its result, as Python's
/// `ThreadPoolExecutor.submit` returns a future that duet awaits;
/// [`unblock`](ThreadPool::unblock) does the same for a single awaiter, without requiring
/// `T: Clone` and re-raising a panic of the job. A handle is cheap to clone; the threads
/// exit once every handle is dropped and the queued jobs have run. Jobs start in
/// submission order.
///
/// Cancelling the task that awaits a job's result cancels the job if it has not started
/// (it then never runs); a job that is already running finishes (threads cannot be
/// interrupted) and its result is dropped.
///
/// The threads are `futures::executor::ThreadPool`'s, which mark themselves as executor
/// threads: `futures::executor::block_on` refuses to run inside a job (it panics). Drive
/// a future inside a job with [`run`](crate::run) instead.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// fn long_running_sync_task(value: &str) -> String {
///     std::thread::sleep(Duration::from_millis(10)); // blocking work
///     format!("Processed {value}")
/// }
///
/// let pool = duet::ThreadPool::new(4);
/// let result = duet::run(async {
///     let future = pool.submit(|| long_running_sync_task("data_item_A"));
///     future.await
/// });
/// assert_eq!(result.unwrap(), "Processed data_item_A");
/// ```
#[derive(Clone)]
pub struct ThreadPool {
    pool: futures::executor::ThreadPool,
    threads: usize,
}

impl ThreadPool {
    /// Starts a pool of `threads` threads, named `duet-pool-N`.
    ///
    /// # Panics
    ///
    /// If `threads` is 0 (no job could ever run), or if the operating system refuses to
    /// start the threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = duet::ThreadPool::new(2);
    /// assert_eq!(pool.threads(), 2);
    /// ```
    #[track_caller]
    pub fn new(threads: usize) -> ThreadPool {
        assert!(
            threads > 0,
            "duet: ThreadPool::new(0): a pool needs at least one thread to run its jobs; pass \
             the number of blocking calls you want in flight at once"
        );
        let pool = futures::executor::ThreadPool::builder()
            .pool_size(threads)
            .name_prefix("duet-pool-")
            .create()
            .unwrap_or_else(|e| panic!("duet: could not start {threads} pool threads: {e}"));
        ThreadPool { pool, threads }
    }

    /// The pool [`unblock`] uses, created on first use with `min(32, cores + 4)` threads
    /// (the default of Python's `ThreadPoolExecutor`: blocking calls mostly wait, so
    /// there may be more of them than cores).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = duet::ThreadPool::global();
    /// assert!(pool.threads() >= 5);
    /// let doubled = duet::run(pool.submit(|| 21 * 2)).unwrap();
    /// assert_eq!(doubled, 42);
    /// ```
    pub fn global() -> &'static ThreadPool {
        static GLOBAL: OnceLock<ThreadPool> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            ThreadPool::new((cores + 4).min(32))
        })
    }

    /// The number of threads.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(duet::ThreadPool::new(3).threads(), 3);
    /// ```
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `job` on the pool and returns a future of its result.
    ///
    /// The returned future is an ordinary [`AwaitableFuture`]: await it (several times,
    /// in several tasks, since `T: Clone` is needed to await), attach done-callbacks, or
    /// cancel it. If the job panics, awaiting gives [`AwaitError::Panicked`] with the
    /// panic message; if it is cancelled before it starts, it never runs.
    ///
    /// # Cancel safety
    ///
    /// As for any [`AwaitableFuture`](AwaitableFuture#cancel-safety): dropping the last
    /// handle that awaits it cancels the future, so a job that has not started yet never
    /// runs; a job already running finishes and its value is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = duet::ThreadPool::new(2);
    /// let sizes = duet::run(async {
    ///     let a = pool.submit(|| "alpha".len());
    ///     let b = pool.submit(|| "beta".len());
    ///     (a.await.unwrap(), b.await.unwrap())
    /// });
    /// assert_eq!(sizes, (5, 4));
    ///
    /// let crashed = duet::run(pool.submit(|| -> u32 { panic!("out of cheese") }));
    /// assert_eq!(crashed.unwrap_err().to_string(),
    ///            "the job completing this AwaitableFuture panicked: out of cheese");
    /// ```
    pub fn submit<T, F>(&self, job: F) -> AwaitableFuture<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let future = AwaitableFuture::new();
        self.spawn(future.clone(), job, |producer, result| match result {
            Ok(value) => producer.try_set_result(value),
            Err(payload) => {
                producer.try_complete(Err(AwaitError::Panicked(panic_message(&*payload))))
            }
        });
        future
    }

    /// Runs `job` on the pool and returns a future of its value, for one awaiter.
    ///
    /// Unlike [`submit`](ThreadPool::submit), `T` need not be `Clone`, and a panic of the
    /// job is re-raised, with its original payload, in the task awaiting the result (so
    /// it propagates like a panic of that task). See [`unblock`] for the default pool.
    ///
    /// # Cancel safety
    ///
    /// As for [`Unblock`](Unblock#cancel-safety): dropping the future before the job
    /// started means it never runs.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = duet::ThreadPool::new(1);
    /// let file = duet::run(pool.unblock(|| std::fs::read_to_string("Cargo.toml")));
    /// assert!(file.unwrap().contains("[package]"));
    /// ```
    pub fn unblock<T, F>(&self, job: F) -> Unblock<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let future = AwaitableFuture::new();
        self.spawn(future.clone(), job, |producer, result| {
            producer.try_set_result(Handoff(Arc::new(Mutex::new(Some(result)))))
        });
        Unblock { future }
    }

    /// Runs `job` on the pool without waiting for it: fire and forget.
    ///
    /// A panic of the job is reported by the panic hook (printed, by default) and does
    /// not harm the pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = duet::ThreadPool::new(1);
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// pool.execute(move || tx.send("done in the background").unwrap());
    /// assert_eq!(rx.recv().unwrap(), "done in the background");
    /// ```
    pub fn execute(&self, job: impl FnOnce() + Send + 'static) {
        let hold = hold_for_work();
        self.pool.spawn_ok(async move {
            let _ = panic::catch_unwind(AssertUnwindSafe(job));
            drop(hold);
        });
    }

    /// Queues a job that completes `producer` through `complete` (invariants 1 and 2).
    fn spawn<R, T, F>(
        &self,
        producer: AwaitableFuture<R>,
        job: F,
        complete: fn(AwaitableFuture<R>, std::thread::Result<T>) -> bool,
    ) where
        R: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // Under a virtual clock the job holds it until its result is in (the clock
        // stands still while it runs, as it would for work done on the loop's thread).
        let hold = hold_for_work();
        self.pool.spawn_ok(async move {
            if producer.is_done() {
                return;
            }
            let result = panic::catch_unwind(AssertUnwindSafe(job));
            let _ = panic::catch_unwind(AssertUnwindSafe(|| complete(producer, result)));
            drop(hold);
        });
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("threads", &self.threads)
            .finish()
    }
}

/// Runs a blocking closure on the [global](ThreadPool::global) thread pool and returns a
/// future of its value.
///
/// The loop's thread stays free while the closure runs elsewhere: other tasks keep
/// running, and the awaiting task resumes when the value is ready. A panic in the closure
/// is re-raised in the awaiting task with its original payload. Dropping the future before
/// the job starts (the task was cancelled) means the job never runs.
///
/// # Cancel safety
///
/// As for [`Unblock`](Unblock#cancel-safety): a job not yet started never runs; a job
/// already running finishes on its thread and its value is dropped.
///
/// # Examples
///
/// ```
/// let (a, b) = duet::run(async {
///     futures::join!(
///         duet::unblock(|| std::thread::sleep(std::time::Duration::from_millis(20))),
///         duet::unblock(|| "blocking calls overlap"),
///     )
/// });
/// assert_eq!(b, "blocking calls overlap");
/// # let () = a;
/// ```
pub fn unblock<T, F>(job: F) -> Unblock<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    ThreadPool::global().unblock(job)
}

/// Moves one job result (or its panic) to the single awaiter of an [`Unblock`].
struct Handoff<T>(Arc<Mutex<Option<std::thread::Result<T>>>>);

impl<T> Clone for Handoff<T> {
    fn clone(&self) -> Self {
        Handoff(self.0.clone())
    }
}

impl<T> Handoff<T> {
    fn take(&self) -> Option<Result<T, Box<dyn Any + Send>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// The future returned by [`unblock`] and [`ThreadPool::unblock`]: the value of a
/// blocking closure running on a pool thread.
///
/// # Cancel safety
///
/// Dropping it before the job started cancels the job: it never runs. Once the job is
/// running it finishes on its thread and its value is dropped.
///
/// # Examples
///
/// ```
/// let n: duet::Unblock<usize> = duet::unblock(|| (1..=10).sum());
/// assert_eq!(duet::run(n), 55);
/// ```
#[must_use = "the job's value is lost unless the future is awaited; dropping it before the \
              job starts cancels the job"]
pub struct Unblock<T> {
    future: AwaitableFuture<Handoff<T>>,
}

impl<T> Future for Unblock<T> {
    type Output = T;

    /// # Returns
    ///
    /// `Poll::Ready(value)` once the job returned; `Poll::Pending` while it is queued or
    /// running (the task is woken when it ends).
    ///
    /// # Panics
    ///
    /// Re-raises the job's panic with its original payload. Panics with a message if the
    /// pool dropped the job without running it, or if polled again after `Ready`.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let handoff = match ready!(Pin::new(&mut self.future).poll(cx)) {
            Ok(handoff) => handoff,
            Err(error) => panic!("duet::unblock: the job did not run: {error}"),
        };
        match handoff.take() {
            Some(Ok(value)) => Poll::Ready(value),
            Some(Err(payload)) => panic::resume_unwind(payload),
            None => panic!("duet::Unblock polled again after it returned its value"),
        }
    }
}

impl<T> fmt::Debug for Unblock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unblock")
            .field("done", &self.future.is_done())
            .finish()
    }
}
