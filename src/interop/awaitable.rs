//! [`AwaitableFuture`]: a completable future any thread can complete and any task await.
//!
//! A handle is an `Arc` of the shared cell (`cell.rs`) plus the index of the waker slot
//! it registered when it was polled, if any. Handles being awaited are told apart from
//! idle ones by that slot; that is how the cell knows when nobody is left to complete the
//! future ("abandoned") and when the last awaiter gave up ("cancelled").
//!
//! # Invariants
//!
//! 1. Each live handle is counted once in the cell's `handles`; each handle with a slot
//!    is counted once in its `awaiters`.
//! 2. Dropping a handle that is registered as awaiting, while the future is pending and
//!    no other handle awaits it, cancels the future: that is how the cancellation of an
//!    awaiting task (which drops the future it awaits) reaches the producer.
//! 3. Every state change that can leave only awaiting handles (a drop, a registration,
//!    the end of a flush) checks for abandonment under the lock, so an awaiter whose
//!    producers are all gone is always woken with [`AwaitError::Abandoned`].

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::buffered::schedule_flush;
use super::cancelled::Cancelled;
use super::cell::{Callback, FutureCell, Status};
use super::error::AwaitError;

/// A thread-safe, cloneable future that is completed by hand, from any thread.
///
/// Create one, give a clone to whoever produces the value (another thread, a callback,
/// a thread pool job), and await it in a task. The producer calls
/// [`set_result`](AwaitableFuture::set_result) or [`set_error`](AwaitableFuture::set_error);
/// every task awaiting the future then resumes with the outcome. Awaiting works under
/// [`run`](crate::run) and under any other executor.
///
/// ```
/// let f = duet::AwaitableFuture::new();
/// let done = f.clone();
/// std::thread::spawn(move || done.set_result(42));
/// assert_eq!(duet::run(f).unwrap(), 42);
/// ```
///
/// # What awaiting gives
///
/// `f.await` yields `Result<T, AwaitError>`: the value, or an [`AwaitError`] saying that
/// the producer failed (with its error), the future was cancelled, every handle that
/// could complete it was dropped ([`Abandoned`](AwaitError::Abandoned)), or the job
/// computing it panicked. Errors are type-erased (`Arc<dyn Error + Send + Sync>`), as
/// in Python, where any exception can be set; [`AwaitError::downcast_ref`] gets the
/// concrete type back. One type parameter keeps `AwaitableFuture::new()` inferable from
/// the value alone.
///
/// # Several awaiters
///
/// Any number of handles may be awaited, in any tasks, loops or threads; each gets its
/// own clone of the outcome, which is why awaiting needs `T: Clone` (wrap a large or
/// non-`Clone` value in an [`Arc`]; [`unblock`](crate::unblock) hands a non-`Clone`
/// value to its single awaiter). Awaiting a future that is already complete returns at
/// once.
///
/// # Producers, awaiters and abandonment
///
/// Every handle can complete the future. A handle counts as *awaiting* from the first
/// time it is polled until it returns `Ready` or is dropped; all other live handles are
/// potential producers. When nothing but awaiting handles is left (the producer's thread
/// returned or panicked and dropped its clone), nobody can ever complete the future, so
/// it completes at once with [`AwaitError::Abandoned`] instead of hanging. Awaiting the
/// only handle of a new future is therefore an immediate `Abandoned`. (A handle that was
/// polled once, e.g. through `&mut f` in a `select`, counts as awaiting until dropped;
/// complete the future through a clone that is not being awaited.)
///
/// # Cancellation
///
/// Cancellation travels back to the producer. The future is cancelled by
/// [`cancel`](AwaitableFuture::cancel), or when the last handle awaiting it is dropped
/// before it completed, which is what happens when the awaiting task is cancelled (its
/// scope is cancelled, a join handle cancels it), a timeout drops it, or it loses a
/// `select`. While other handles still await it, dropping one awaiter cancels nothing.
/// The producer sees [`is_cancelled`](AwaitableFuture::is_cancelled) turn true, or awaits
/// [`cancelled`](AwaitableFuture::cancelled), and can stop the real work; a result set
/// after cancellation is silently dropped, since the producer cannot avoid that race.
///
/// ```
/// use std::sync::mpsc;
///
/// let (tx, rx) = mpsc::channel();
/// let r = duet::run_scope(async |s| {
///     let f = duet::AwaitableFuture::<u32>::new();
///     tx.send(f.clone()).unwrap(); // the producer's handle
///     s.spawn(async move { f.await.map(drop).map_err(|_| ()) });
///     duet::yield_now().await; // the task starts awaiting
///     s.cancel();
///     Ok(())
/// });
/// assert!(r.unwrap_err().is_cancelled());
/// assert!(rx.recv().unwrap().is_cancelled()); // the producer learns it
/// ```
///
/// # Cancel safety
///
/// Dropping a handle never loses the outcome for the other handles. But dropping the
/// *last awaiting* handle of a pending future cancels the future (above): that is how a
/// cancelled task tells its producer to stop. To wait for a future in a `select` loop
/// without cancelling it each time, keep the handle and await `&mut handle`.
///
/// # Done-callbacks
///
/// [`add_done_callback`](AwaitableFuture::add_done_callback) runs a closure exactly once
/// with the outcome: on the thread that completes the future, or at once if it is
/// already complete.
///
/// # Buffered futures
///
/// A [`buffered`](AwaitableFuture::buffered) future defers its work until the loop
/// awaiting it has nothing else to do; that is how requests from many tasks are sent as
/// one batch (see [`Batcher`](crate::Batcher)).
///
/// # Auto traits
///
/// `Send + Sync` when `T: Send`; never for a `T` that cannot cross threads:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(duet::AwaitableFuture::<std::rc::Rc<u8>>::new());
/// ```
#[must_use = "an AwaitableFuture does nothing unless completed and awaited"]
pub struct AwaitableFuture<T> {
    pub(crate) inner: Arc<FutureCell<T>>,
    /// The waker slot this handle registered when polled; `Some` while it is awaiting.
    slot: Option<usize>,
}

impl<T> AwaitableFuture<T> {
    /// Creates a pending future, with this handle as its only one.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = duet::AwaitableFuture::new();
    /// assert!(!f.is_done());
    /// f.set_result("ready");
    /// assert!(f.is_done());
    /// ```
    pub fn new() -> Self {
        AwaitableFuture::from_counted(FutureCell::new(None))
    }

    /// A handle for a cell whose `handles` count already includes it.
    pub(crate) fn from_counted(inner: Arc<FutureCell<T>>) -> Self {
        AwaitableFuture { inner, slot: None }
    }

    /// Creates a pending *buffered* future: `flush` is the work that will complete it,
    /// deferred until the loop that awaits the future has nothing else to do.
    ///
    /// `flush` runs once, with a handle to the future, at the first of: the idle point of
    /// a [`run`](crate::run) loop one of whose tasks awaits the future (when no task of
    /// that loop is ready, before the loop parks), the future being polled by anything
    /// other than a duet task (`futures::executor::block_on`, another runtime, a
    /// sub-executor like `FuturesUnordered`), where waiting for an idle point could
    /// deadlock, or a call to [`flush`](AwaitableFuture::flush). If the future completes
    /// (or is cancelled) first, `flush` is dropped without running.
    ///
    /// `flush` runs on the thread that flushes, usually the loop's, so it should only
    /// start work (hand it to another thread, send a request), not block. If it panics,
    /// the future fails with [`AwaitError::Panicked`]. If it returns without completing
    /// the future and drops its handle, the future is abandoned once only awaiting
    /// handles are left.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    ///
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let out = duet::run_scope(async |s| {
    ///     let log2 = log.clone();
    ///     let f = duet::AwaitableFuture::buffered(move |f| {
    ///         log2.lock().unwrap().push("flush");
    ///         f.set_result(7);
    ///     });
    ///     let log3 = log.clone();
    ///     s.spawn(async move {
    ///         duet::yield_now().await; // still busy: no flush yet
    ///         log3.lock().unwrap().push("busy task done");
    ///     });
    ///     Ok::<_, duet::AwaitError>(f.await?)
    /// });
    /// assert_eq!(out.unwrap(), 7);
    /// assert_eq!(*log.lock().unwrap(), ["busy task done", "flush"]);
    /// ```
    pub fn buffered(flush: impl FnOnce(AwaitableFuture<T>) + Send + 'static) -> Self
    where
        T: Send + 'static,
    {
        AwaitableFuture::from_counted(FutureCell::buffered(Box::new(flush)))
    }

    /// Completes the future with `value`, waking every task awaiting it.
    ///
    /// If the future was cancelled (or abandoned) first, `value` is dropped and nothing
    /// happens: the producer cannot avoid racing with cancellation.
    ///
    /// # Panics
    ///
    /// If a result or an error was already set: a future completes once. Use
    /// [`try_set_result`](AwaitableFuture::try_set_result) when several producers race.
    /// Also re-raises the first panic of a done-callback, after every callback has run.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = duet::AwaitableFuture::new();
    /// let producer = f.clone();
    /// std::thread::spawn(move || producer.set_result(vec![1, 2, 3]));
    /// assert_eq!(duet::run(f).unwrap(), [1, 2, 3]);
    /// ```
    #[track_caller]
    pub fn set_result(&self, value: T) {
        self.set(Ok(value), "set_result", "try_set_result");
    }

    /// Completes the future with an error, waking every task awaiting it; they get
    /// [`AwaitError::Failed`] with this error.
    ///
    /// If the future was cancelled (or abandoned) first, nothing happens.
    ///
    /// # Panics
    ///
    /// If a result or an error was already set. Use
    /// [`try_set_error`](AwaitableFuture::try_set_error) when several producers race.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = duet::AwaitableFuture::<u32>::new();
    /// let producer = f.clone();
    /// std::thread::spawn(move || producer.set_error("backend unavailable"));
    /// let error = duet::run(f).unwrap_err();
    /// assert_eq!(error.to_string(), "backend unavailable");
    /// ```
    #[track_caller]
    pub fn set_error(&self, error: impl Into<Box<dyn Error + Send + Sync>>) {
        let error = AwaitError::Failed(Arc::from(error.into()));
        self.set(Err(error), "set_error", "try_set_error");
    }

    #[track_caller]
    fn set(&self, outcome: Result<T, AwaitError>, method: &str, try_method: &str) {
        if let Err((outcome, status)) = self.inner.try_complete(outcome) {
            drop(outcome);
            if status.set_by_producer() {
                panic!(
                    "duet: AwaitableFuture::{method} on a future that is already complete \
                     (a result or an error was set before); a future completes once. Use \
                     {try_method}, which returns false when another producer won, or check \
                     is_done() first."
                );
            }
        }
    }

    /// Completes the future with `value` unless it is already complete; returns whether
    /// this call completed it (won the race).
    ///
    /// # Examples
    ///
    /// ```
    /// let f = duet::AwaitableFuture::new();
    /// assert!(f.try_set_result(1));
    /// assert!(!f.try_set_result(2)); // lost: the first value stays
    /// assert_eq!(duet::run(f).unwrap(), 1);
    /// ```
    pub fn try_set_result(&self, value: T) -> bool {
        self.inner.try_complete(Ok(value)).is_ok()
    }

    /// Completes the future with an error unless it is already complete; returns whether
    /// this call completed it.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = duet::AwaitableFuture::<u32>::new();
    /// assert!(f.try_set_error("timed out upstream"));
    /// assert!(!f.try_set_error("too late"));
    /// assert!(!f.try_set_result(3));
    /// ```
    pub fn try_set_error(&self, error: impl Into<Box<dyn Error + Send + Sync>>) -> bool {
        let error = AwaitError::Failed(Arc::from(error.into()));
        self.inner.try_complete(Err(error)).is_ok()
    }

    /// Cancels the future unless it is already complete; returns whether this call
    /// cancelled it. Awaiters get [`AwaitError::Cancelled`]; producers see
    /// [`is_cancelled`](AwaitableFuture::is_cancelled) and their
    /// [`cancelled`](AwaitableFuture::cancelled) futures resolve.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = duet::AwaitableFuture::<u32>::new();
    /// assert!(f.cancel());
    /// assert!(f.is_cancelled());
    /// assert!(!f.cancel());
    /// f.set_result(1); // dropped: the producer lost the race with cancellation
    /// assert!(duet::run(f).unwrap_err().is_cancelled());
    /// ```
    pub fn cancel(&self) -> bool {
        self.inner.try_complete(Err(AwaitError::Cancelled)).is_ok()
    }

    /// True once the future is complete: it has a result, an error, was cancelled or was
    /// abandoned. Awaiting it then returns at once.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = duet::AwaitableFuture::new();
    /// assert!(!f.is_done());
    /// f.set_result(());
    /// assert!(f.is_done());
    /// ```
    pub fn is_done(&self) -> bool {
        self.inner.status() != Status::Pending
    }

    /// True once the future was cancelled, by [`cancel`](AwaitableFuture::cancel) or by
    /// its last awaiter going away. Producers poll this to stop work nobody waits for.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = duet::AwaitableFuture::<u32>::new();
    /// let producer = f.clone();
    /// let worker = std::thread::spawn(move || {
    ///     while !producer.is_cancelled() {
    ///         std::thread::yield_now(); // a chunk of the real work
    ///     }
    /// });
    /// // The awaiter loses a race against a ready future, so it is dropped mid-wait.
    /// duet::run(async { futures::future::select(f, std::future::ready(())).await; });
    /// worker.join().unwrap();
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.inner.status() == Status::Cancelled
    }

    /// Waits until the future is cancelled: for producers that stop their work then.
    ///
    /// If the future completes in any other way, the returned future never resolves
    /// (drop it once your own work is done, as a `select` does).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping it only unregisters its waker.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = duet::AwaitableFuture::<u32>::new();
    /// let producer = f.clone();
    /// let worker = std::thread::spawn(move || {
    ///     futures::executor::block_on(producer.cancelled());
    ///     "stopped"
    /// });
    /// f.cancel();
    /// assert_eq!(worker.join().unwrap(), "stopped");
    /// ```
    pub fn cancelled(&self) -> Cancelled<'_, T> {
        Cancelled::new(&self.inner)
    }

    /// Runs the flush action of a [`buffered`](AwaitableFuture::buffered) future now, if
    /// it has not run and the future is still pending; returns whether it ran.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = duet::AwaitableFuture::buffered(|f| f.set_result(1));
    /// assert!(!f.is_done());
    /// assert!(f.flush());
    /// assert!(f.is_done());
    /// assert!(!f.flush());
    /// ```
    pub fn flush(&self) -> bool {
        self.inner.run_flush()
    }

    /// Drops the flush action of a buffered future without running it: its work is being
    /// done by someone else now (the [`Batcher`](crate::Batcher) sending a whole batch).
    pub(crate) fn disarm_flush(&self) {
        let action = self.inner.lock().flush.take();
        drop(action);
    }

    /// Internal completion with any outcome (a job's panic); true if it completed it.
    pub(crate) fn try_complete(&self, outcome: Result<T, AwaitError>) -> bool {
        self.inner.try_complete(outcome).is_ok()
    }

    /// True while this handle is registered as awaiting (polled, not yet `Ready`).
    pub(crate) fn is_awaiting(&self) -> bool {
        self.slot.is_some()
    }

    /// Runs `f` once the future is complete (at once if it is), whatever the outcome,
    /// without reading it.
    pub(crate) fn on_done(&self, f: impl FnOnce() + Send + 'static) {
        let callback: Callback<T> = Box::new(move |_: &FutureCell<T>| f());
        if let Some(callback) = self.inner.add_callback(callback) {
            callback(&self.inner);
        }
    }
}

impl<T: Clone> AwaitableFuture<T> {
    /// The outcome, if the future is complete; `None` while it is pending. Never blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = duet::AwaitableFuture::new();
    /// assert!(f.try_result().is_none());
    /// f.set_result(5);
    /// assert_eq!(f.try_result().unwrap().unwrap(), 5);
    /// ```
    pub fn try_result(&self) -> Option<Result<T, AwaitError>> {
        self.inner.lock().outcome.clone()
    }

    /// Registers `callback` to run exactly once with the outcome (a clone of it).
    ///
    /// It runs on the thread that completes the future (a producer's thread, or a task
    /// dropping the last awaiter), after every awaiter was woken, or at once on this
    /// thread if the future is already complete. It may use any handle of the future.
    ///
    /// A panicking callback does not affect the future or the other callbacks: they all
    /// run, and the first panic is then re-raised on the completing thread (from
    /// `set_result`, `cancel`, ...), unless that thread is already unwinding. On a
    /// [`ThreadPool`](crate::ThreadPool) worker the panic is reported by the panic hook
    /// and the worker carries on.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let f = duet::AwaitableFuture::new();
    /// let tx2 = tx.clone();
    /// f.add_done_callback(move |r| tx2.send(format!("first: {r:?}")).unwrap());
    /// f.set_result(1);
    /// f.add_done_callback(move |r| tx.send(format!("late: {r:?}")).unwrap()); // runs now
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), ["first: Ok(1)", "late: Ok(1)"]);
    /// ```
    pub fn add_done_callback(&self, callback: impl FnOnce(Result<T, AwaitError>) + Send + 'static)
    where
        T: 'static,
    {
        let callback: Callback<T> = Box::new(move |cell: &FutureCell<T>| {
            let outcome = cell.lock().outcome.clone();
            callback(outcome.expect("done-callbacks run after completion"));
        });
        if let Some(callback) = self.inner.add_callback(callback) {
            callback(&self.inner);
        }
    }
}

impl<T> Default for AwaitableFuture<T> {
    fn default() -> Self {
        AwaitableFuture::new()
    }
}

impl<T> Clone for AwaitableFuture<T> {
    /// Another handle to the same future (not awaiting, even if `self` is).
    fn clone(&self) -> Self {
        self.inner.add_handle();
        AwaitableFuture::from_counted(self.inner.clone())
    }
}

impl<T> Drop for AwaitableFuture<T> {
    fn drop(&mut self) {
        if self.slot.is_none() && self.inner.try_remove_handle_unlocked() {
            return;
        }
        let mut state = self.inner.lock();
        self.inner.remove_handle(&mut state);
        if state.outcome.is_some() {
            return;
        }
        let removed = self
            .slot
            .take()
            .and_then(|index| state.awaiters.remove(index));
        let ending = if removed.is_some() && state.awaiters.len() == 0 {
            // Invariant 2: the last awaiter went away before the outcome arrived.
            Some(AwaitError::Cancelled)
        } else if self.inner.is_abandoned(&state) {
            Some(AwaitError::Abandoned)
        } else {
            None
        };
        let completion = ending.map(|ending| self.inner.complete(&mut state, Err(ending)));
        drop(state);
        drop(removed); // after unlocking: a waker's drop may run arbitrary code
        if let Some(completion) = completion {
            completion.finish(&self.inner);
        }
    }
}

impl<T: Clone> Future for AwaitableFuture<T> {
    type Output = Result<T, AwaitError>;

    /// # Returns
    ///
    /// - `Poll::Ready(Ok(value))`, a clone of the value, once a result is set.
    /// - `Poll::Ready(Err(error))` once an error is set or the future was cancelled,
    ///   abandoned (no handle left that could complete it) or its job panicked.
    /// - `Poll::Pending` otherwise; the handle then counts as awaiting and the task is
    ///   woken when the outcome arrives. Polling a pending buffered future schedules its
    ///   flush (on the polling loop's idle point, or now outside a duet task).
    ///
    /// Polling again after `Ready` returns the same outcome again.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut state = this.inner.lock();
        if let Some(outcome) = &state.outcome {
            this.slot = None;
            return Poll::Ready(outcome.clone());
        }
        let replaced = state.awaiters.register(&mut this.slot, cx.waker());
        if this.inner.is_abandoned(&state) {
            let ours = this
                .slot
                .take()
                .and_then(|index| state.awaiters.remove(index));
            let completion = this.inner.complete(&mut state, Err(AwaitError::Abandoned));
            drop(state);
            drop((replaced, ours));
            completion.finish(&this.inner);
            return Poll::Ready(Err(AwaitError::Abandoned));
        }
        let flush_now = schedule_flush(&this.inner, &mut state, cx.waker());
        drop(state);
        drop(replaced);
        if flush_now && this.inner.run_flush() {
            // The action may have completed the future at once.
            if let Some(outcome) = &this.inner.lock().outcome {
                this.slot = None;
                return Poll::Ready(outcome.clone());
            }
        }
        crate::current::waits::report(
            cx.waker(),
            crate::current::waits::Wait::External("an AwaitableFuture (completed by its producer)"),
        );
        Poll::Pending
    }
}

impl<T> fmt::Debug for AwaitableFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.inner.status() {
            Status::Pending => "pending",
            Status::Value => "done",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
            Status::Abandoned => "abandoned",
            Status::Panicked => "panicked",
        };
        f.debug_struct("AwaitableFuture")
            .field("status", &status)
            .field("awaiting", &self.slot.is_some())
            .finish()
    }
}

/// A future that is already complete with `value`.
///
/// # Examples
///
/// ```
/// let f = duet::completed_future("cached");
/// assert!(f.is_done());
/// assert_eq!(duet::run(f).unwrap(), "cached");
/// ```
pub fn completed_future<T>(value: T) -> AwaitableFuture<T> {
    AwaitableFuture::from_counted(FutureCell::new(Some(Ok(value))))
}

/// A future that has already failed with `error`; awaiting it gives
/// [`AwaitError::Failed`].
///
/// # Examples
///
/// ```
/// let f = duet::failed_future::<u32>("not configured");
/// assert!(f.is_done());
/// assert_eq!(duet::run(f).unwrap_err().to_string(), "not configured");
/// ```
pub fn failed_future<T>(error: impl Into<Box<dyn Error + Send + Sync>>) -> AwaitableFuture<T> {
    let error = AwaitError::Failed(Arc::from(error.into()));
    AwaitableFuture::from_counted(FutureCell::new(Some(Err(error))))
}
