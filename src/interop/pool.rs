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
//!    result is in (or it is skipped): `time::gate`. A cancellable job that stops early
//!    releases it when it returns, like any other.
//! 5. The [`CancelToken`] a cancellable job gets reads the status of the future the job
//!    completes: it turns cancelled exactly when that future does. An [`Unblock`] is its
//!    future's only awaiter, so dropping it (polled or not) cancels the job.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, ready};

use super::awaitable::AwaitableFuture;
use super::error::{AwaitError, panic_message};
use super::token::CancelToken;
use crate::schedule::Lane;
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
/// interrupted) and its result is dropped. A job that should stop early is submitted with
/// [`submit_cancellable`](ThreadPool::submit_cancellable) or
/// [`unblock_cancellable`](ThreadPool::unblock_cancellable): it gets a [`CancelToken`]
/// to poll.
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
    /// What the simulation models the pool as (see `schedule`): which pool a job belongs to,
    /// and how many of its jobs may run at once.
    lane: Lane,
}

static NEXT_POOL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

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
        let lane = Lane {
            pool: NEXT_POOL.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            threads,
        };
        ThreadPool {
            pool,
            threads,
            lane,
        }
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
            let mut pool = ThreadPool::new((cores + 4).min(32));
            // Its size is the machine's: a simulation that counted it would explore other
            // schedules on other machines. Any number of its jobs may run at once there.
            pool.lane.threads = usize::MAX;
            pool
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
        self.submit_cancellable(move |_| job())
    }

    /// Runs `job` on the pool, giving it a [`CancelToken`], and returns a future of its
    /// result.
    ///
    /// As [`submit`](ThreadPool::submit), and the token turns cancelled when the returned
    /// future is: the last task awaiting it was cancelled or dropped it (a timeout, a
    /// cancelled scope, a lost `select`), or a handle called
    /// [`cancel`](AwaitableFuture::cancel). The job polls
    /// [`is_cancelled`](CancelToken::is_cancelled) and returns early; what it returns then
    /// is dropped. The token reads the same status as the future's
    /// [`is_cancelled`](AwaitableFuture::is_cancelled).
    ///
    /// # Cancel safety
    ///
    /// As for [`submit`](ThreadPool::submit): dropping the last awaiting handle cancels
    /// the future; a job that has not started never runs, a running one sees its token
    /// cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = duet::ThreadPool::new(1);
    /// let search = pool.submit_cancellable(|token| {
    ///     let mut tried = 0u64;
    ///     while !token.is_cancelled() {
    ///         tried += 1; // try the next candidate
    ///         std::thread::sleep(Duration::from_millis(1));
    ///     }
    ///     tried
    /// });
    /// let watcher = search.clone();
    /// let r = duet::run(duet::timeout(Duration::from_millis(20), search));
    /// assert!(r.is_err()); // timed out; the search was told to stop
    /// assert!(watcher.is_cancelled());
    /// ```
    pub fn submit_cancellable<T, F>(&self, job: F) -> AwaitableFuture<T>
    where
        F: FnOnce(CancelToken) -> T + Send + 'static,
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
        self.unblock_cancellable(move |_| job())
    }

    /// Runs `job` on the pool, giving it a [`CancelToken`], and returns a future of its
    /// value, for one awaiter.
    ///
    /// As [`unblock`](ThreadPool::unblock) (`T` need not be `Clone`; a panic is re-raised
    /// in the awaiting task), and the token turns cancelled when the [`Unblock`] is
    /// dropped before the value arrived: the awaiting task was cancelled, a timeout
    /// expired, it lost a `select`. See [`unblock_cancellable`] for the default pool.
    ///
    /// # Cancel safety
    ///
    /// As for [`Unblock`](Unblock#cancel-safety): dropping the future before the job
    /// started means it never runs; dropping it while the job runs cancels the token.
    ///
    /// Under simulation ([`sim`](crate::sim)) the job runs on the loop's thread while the
    /// loop waits for it, so its token never turns cancelled while it runs: a job that
    /// runs until it is cancelled never returns there.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = duet::ThreadPool::new(1);
    /// let r = duet::run_scope(async |s| {
    ///     let job = pool.unblock_cancellable(|token| {
    ///         while !token.is_cancelled() {
    ///             std::thread::sleep(Duration::from_millis(1)); // polling a device
    ///         }
    ///     });
    ///     s.spawn(job);
    ///     duet::sleep(Duration::from_millis(5)).await;
    ///     s.cancel(); // drops the task awaiting the job, which then stops
    ///     Ok::<_, std::convert::Infallible>(())
    /// });
    /// assert!(r.unwrap_err().is_cancelled());
    /// // The pool's one thread is free again: the cancelled job has returned.
    /// assert_eq!(duet::run(pool.unblock(|| 7)), 7);
    /// ```
    pub fn unblock_cancellable<T, F>(&self, job: F) -> Unblock<T>
    where
        F: FnOnce(CancelToken) -> T + Send + 'static,
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
        self.run_job(move || {
            let _ = panic::catch_unwind(AssertUnwindSafe(job));
            drop(hold);
        });
    }

    /// Runs `job` on a pool thread, or, on a simulated loop's thread, hands it to the
    /// simulation, which runs it on the loop's thread at a seeded step (see `schedule`).
    fn run_job(&self, job: impl FnOnce() + Send + 'static) {
        if let Some(job) = crate::schedule::try_offload(self.lane, job) {
            self.pool.spawn_ok(async move { job() });
        }
    }

    /// Queues a job that completes `producer` through `complete` (invariants 1, 2, 5).
    fn spawn<R, T, F>(
        &self,
        producer: AwaitableFuture<R>,
        job: F,
        complete: fn(AwaitableFuture<R>, std::thread::Result<T>) -> bool,
    ) where
        R: Send + 'static,
        F: FnOnce(CancelToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        // Under a virtual clock the job holds it until its result is in (the clock
        // stands still while it runs, as it would for work done on the loop's thread).
        let hold = hold_for_work();
        self.run_job(move || {
            if producer.is_done() {
                return;
            }
            let token = CancelToken::of(&producer.inner);
            let result = panic::catch_unwind(AssertUnwindSafe(move || job(token)));
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
/// the job starts (the task was cancelled) means the job never runs; a job that should
/// stop early once it runs is started with [`unblock_cancellable`] instead.
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

/// Runs a blocking closure on the [global](ThreadPool::global) thread pool, giving it a
/// [`CancelToken`] to poll, and returns a future of its value.
///
/// As [`unblock`], and the closure can learn that its value is no longer wanted: the
/// token turns cancelled when the returned future is dropped before the value arrived
/// (the awaiting task was cancelled, a [`timeout`](crate::timeout) expired, the future
/// lost a `select`). A thread cannot be interrupted, so the closure polls
/// [`is_cancelled`](CancelToken::is_cancelled) between chunks of work and returns; what
/// it returns then is dropped, on the pool's thread.
///
/// On a [virtual clock](crate::Config::virtual_clock) the clock stands still while the
/// closure runs (as for every pool job), so a virtual timeout cannot fire during it: a
/// closure that runs *until* cancelled must be cancelled by something else there (a
/// scope's cancellation, a `select`), or tested on the real clock.
///
/// # Cancel safety
///
/// As for [`Unblock`](Unblock#cancel-safety): a job not yet started never runs; a job
/// already running sees its token cancelled, and its value is dropped.
///
/// Under simulation ([`sim`](crate::sim)) the job runs on the loop's thread while the
/// loop waits for it, so its token never turns cancelled while it runs: a job that runs
/// until it is cancelled (as the example below does) never returns there.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let r = duet::run(duet::timeout(
///     Duration::from_millis(20),
///     duet::unblock_cancellable(|token| {
///         let mut sum = 0u64;
///         for chunk in 0.. {
///             if token.is_cancelled() {
///                 return None; // nobody waits for the sum any more
///             }
///             sum += chunk;
///             std::thread::sleep(Duration::from_millis(1));
///         }
///         Some(sum)
///     }),
/// ));
/// assert!(r.is_err()); // timed out; the closure returned at its next check
/// ```
pub fn unblock_cancellable<T, F>(job: F) -> Unblock<T>
where
    F: FnOnce(CancelToken) -> T + Send + 'static,
    T: Send + 'static,
{
    ThreadPool::global().unblock_cancellable(job)
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
/// Dropping it before the job started cancels the job: it never runs, whether or not the
/// future was polled. Once the job is running it finishes on its thread and its value is
/// dropped; a job started with [`unblock_cancellable`] sees its [`CancelToken`] turn
/// cancelled, so it can return early.
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

impl<T> Drop for Unblock<T> {
    /// Cancels the job unless its value was already delivered (invariant 5). An `Unblock`
    /// being awaited is its future's last awaiter, whose drop cancels the future anyway;
    /// one dropped without ever being polled is not, so it cancels by hand.
    fn drop(&mut self) {
        if !self.future.is_awaiting() {
            self.future.cancel();
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
