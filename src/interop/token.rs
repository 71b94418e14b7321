//! [`CancelToken`]: what a pool job polls to learn that nobody waits for its result.
//!
//! A token is a type-erased view of the [`FutureCell`] the job completes: it reads the
//! same status byte as [`AwaitableFuture::is_cancelled`](crate::AwaitableFuture::is_cancelled),
//! so the token turns cancelled exactly when the future does (its last awaiter was
//! dropped, or someone called `cancel`). It holds the cell, not a handle: it is not
//! counted among the future's handles, so a token kept alive does not keep the future
//! from being abandoned, and it can never complete the future.

use std::fmt;
use std::sync::Arc;

use super::cell::{FutureCell, Status};

/// What a token reads: the cancellation status of one future's cell.
trait CancelSource: Send + Sync {
    fn is_cancelled(&self) -> bool;
}

impl<T: Send> CancelSource for FutureCell<T> {
    fn is_cancelled(&self) -> bool {
        self.status() == Status::Cancelled
    }
}

/// Tells a job running on another thread that its result is no longer wanted.
///
/// [`unblock_cancellable`](crate::unblock_cancellable),
/// [`ThreadPool::unblock_cancellable`](crate::ThreadPool::unblock_cancellable) and
/// [`ThreadPool::submit_cancellable`](crate::ThreadPool::submit_cancellable) pass one to
/// their closure. It turns cancelled when the future of the job's result is cancelled:
/// the task awaiting it was cancelled (its scope was cancelled or failed, a
/// [`timeout`](crate::timeout) expired, it lost a `select`), the future was dropped, or
/// [`AwaitableFuture::cancel`](crate::AwaitableFuture::cancel) was called. A thread
/// cannot be interrupted, so a job that wants to stop early polls
/// [`is_cancelled`](CancelToken::is_cancelled) between chunks of its work and returns.
///
/// The token only observes; it cannot cancel anything. It is cheap to clone, `Send` and
/// `Sync`, so it can go to threads the job starts itself. Once cancelled, it stays
/// cancelled; if the job's result is delivered instead, it never turns cancelled.
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// let (started_tx, started) = mpsc::channel();
/// let (stopped_tx, stopped) = mpsc::channel();
/// let r = duet::run(async {
///     let job = duet::unblock_cancellable(move |token| {
///         started_tx.send(()).unwrap();
///         let mut chunks = 0;
///         while !token.is_cancelled() {
///             std::thread::sleep(Duration::from_millis(1)); // a chunk of the work
///             chunks += 1;
///         }
///         stopped_tx.send("stopped early").unwrap();
///         chunks
///     });
///     duet::unblock(move || started.recv()).await.unwrap(); // the job is running
///     duet::timeout(Duration::from_millis(20), job).await
/// });
/// assert!(r.is_err()); // timed out: the job's future was dropped, its token cancelled
/// assert_eq!(stopped.recv().unwrap(), "stopped early");
/// ```
#[derive(Clone)]
pub struct CancelToken {
    source: Arc<dyn CancelSource>,
}

impl CancelToken {
    /// The token of the future whose cell this is.
    pub(crate) fn of<T: Send + 'static>(cell: &Arc<FutureCell<T>>) -> CancelToken {
        CancelToken {
            source: cell.clone(),
        }
    }

    /// True once the job's result is no longer wanted: stop the work and return (the
    /// value returned then is dropped).
    ///
    /// Lock-free (one atomic load of the status byte that
    /// [`AwaitableFuture::is_cancelled`](crate::AwaitableFuture::is_cancelled) reads), so
    /// it is cheap to call in a tight loop; a cancellation made on another thread is seen
    /// by the next call after it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let pool = duet::ThreadPool::new(1);
    /// let (started_tx, started) = mpsc::channel();
    /// let (stopped_tx, stopped) = mpsc::channel();
    /// let job = pool.submit_cancellable(move |token| {
    ///     started_tx.send(()).unwrap();
    ///     while !token.is_cancelled() {
    ///         std::thread::yield_now(); // a chunk of the work
    ///     }
    ///     stopped_tx.send("saw the cancellation").unwrap();
    /// });
    /// started.recv().unwrap();
    /// job.cancel(); // from this thread; the job sees it on its own
    /// assert_eq!(stopped.recv().unwrap(), "saw the cancellation");
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.source.is_cancelled()
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
