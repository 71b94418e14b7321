//! [`Batcher`]: many tasks ask for one key each; one batch is sent per idle point.
//!
//! Built on buffered futures only: [`Batcher::get`] queues the key with a producer
//! handle and returns a buffered [`AwaitableFuture`] whose flush action sends every
//! request queued so far. The first flush of an idle point sends the batch and disarms
//! the other requests' flush actions; requests whose awaiter was cancelled by then are
//! left out.
//!
//! # Invariants
//!
//! 1. A request is in exactly one place: the batcher's queue, then one [`Batch`]; the
//!    batch owns the only producer handle of its future.
//! 2. A batch is sent only with live requests (not cancelled, not otherwise done), and
//!    never empty.
//! 3. A request is never left hanging: a batch that is dropped without completing all its
//!    requests completes the rest with an error (abandoned, or "panicked" if dropped
//!    during a panic, with the panic's message when `send` panicked); a batcher dropped
//!    with queued requests abandons them.
//! 4. Under a virtual clock, a batch holds the clock from the moment it is sent until it
//!    is completed or dropped (see `time::gate`).

use std::cell::Cell;
use std::error::Error;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, Weak};

use super::awaitable::AwaitableFuture;
use super::error::{AwaitError, panic_message};
use crate::time::{WorkHold, hold_for_work};

/// Collects requests from many tasks and sends them as one batch when the loop is idle.
///
/// Each task calls [`get`](Batcher::get) with one key and awaits the returned future.
/// Nothing is sent while any task of the loop can still run; when none can, the loop
/// flushes and the batcher calls its `send` function once with a [`Batch`] of every
/// request made since the last batch. `send` runs on the flushing thread (normally the
/// loop's), so it should hand the batch to another thread or an asynchronous client
/// rather than block; whoever finishes completes the batch, which wakes each task with
/// its own value.
///
/// A request whose task was cancelled before the batch was sent is left out of it;
/// awaiting a request from blocking code sends the batch at once (see
/// [`AwaitableFuture::buffered`]).
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// let pool = duet::ThreadPool::new(1);
/// let sent = Arc::new(Mutex::new(Vec::new()));
/// let log = sent.clone();
/// let batcher = duet::Batcher::new(move |batch: duet::Batch<u32, String>| {
///     log.lock().unwrap().push(batch.len());
///     // One round trip for the whole batch, on another thread.
///     pool.execute(move || {
///         let values: Vec<String> = batch.keys().map(|k| format!("user{k}")).collect();
///         batch.complete(values);
///     });
/// });
///
/// let names = duet::run_scope(async |s| {
///     let handles: Vec<_> = (0..10)
///         .map(|id| {
///             let batcher = &batcher;
///             s.spawn(async move { batcher.get(id).await })
///         })
///         .collect();
///     let mut names = Vec::new();
///     for h in handles {
///         names.push(h.await.unwrap());
///     }
///     Ok(names) // the error type, AwaitError, comes from the tasks
/// });
/// assert_eq!(names.unwrap()[3], "user3");
/// assert_eq!(*sent.lock().unwrap(), [10]); // ten requests, one batch
/// ```
pub struct Batcher<K, V> {
    shared: Arc<Shared<K, V>>,
}

type SendFn<K, V> = dyn Fn(Batch<K, V>) + Send + Sync;

struct Shared<K, V> {
    queued: Mutex<Vec<(K, AwaitableFuture<V>)>>,
    send: Box<SendFn<K, V>>,
}

impl<K, V> Shared<K, V> {
    /// Sends every live queued request as one batch (invariant 2).
    fn send_queued(&self) {
        let queued = std::mem::take(&mut *self.queued.lock().unwrap_or_else(|e| e.into_inner()));
        let requests: Vec<_> = queued.into_iter().filter(|(_, f)| !f.is_done()).collect();
        if requests.is_empty() {
            return;
        }
        for (_, future) in &requests {
            future.disarm_flush();
        }
        // Handles of our own, so that a panic of `send` can fail the requests with its
        // message (the batch it dropped leaves them pending for this).
        let sent_futures: Vec<AwaitableFuture<V>> =
            requests.iter().map(|(_, f)| f.clone()).collect();
        let batch = Batch {
            requests,
            hold: hold_for_work(),
        };
        let sending = Sending::enter();
        let sent = panic::catch_unwind(AssertUnwindSafe(|| (self.send)(batch)));
        drop(sending);
        if let Err(payload) = sent {
            let message = panic_message(&*payload);
            complete_all(
                sent_futures
                    .into_iter()
                    .map(|future| (future, Err(AwaitError::Panicked(message.clone())))),
            );
            panic::resume_unwind(payload);
        }
    }
}

impl<K: Send + 'static, V: Send + 'static> Batcher<K, V> {
    /// Creates a batcher that hands each batch to `send`.
    ///
    /// # Examples
    ///
    /// ```
    /// // A batcher that answers at once, on the loop's thread.
    /// let squares = duet::Batcher::new(|batch: duet::Batch<u64, u64>| {
    ///     let values: Vec<u64> = batch.keys().map(|k| k * k).collect();
    ///     batch.complete(values);
    /// });
    /// assert_eq!(duet::run(squares.get(12)).unwrap(), 144);
    /// ```
    pub fn new(send: impl Fn(Batch<K, V>) + Send + Sync + 'static) -> Self {
        Batcher {
            shared: Arc::new(Shared {
                queued: Mutex::new(Vec::new()),
                send: Box::new(send),
            }),
        }
    }

    /// Requests the value for `key`; it is sent with the next batch.
    ///
    /// Await the returned future (in a duet task, for batching) to get the value. It
    /// fails with [`AwaitError::Abandoned`] if the batch is dropped without an answer
    /// for this key, or with the batch's error.
    ///
    /// # Cancel safety
    ///
    /// Dropping the awaiting future before the batch is sent cancels the request: it is
    /// left out of the batch. After that the batch still asks for the key; the answer is
    /// dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let echo = duet::Batcher::new(|batch: duet::Batch<&'static str, &'static str>| {
    ///     let values: Vec<_> = batch.keys().copied().collect();
    ///     batch.complete(values);
    /// });
    /// assert_eq!(duet::run(echo.get("hello")).unwrap(), "hello");
    /// ```
    pub fn get(&self, key: K) -> AwaitableFuture<V> {
        let batcher: Weak<Shared<K, V>> = Arc::downgrade(&self.shared);
        let future = AwaitableFuture::buffered(move |_| {
            if let Some(shared) = batcher.upgrade() {
                shared.send_queued();
            }
        });
        self.shared
            .queued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((key, future.clone()));
        future
    }

    /// Sends the queued requests now, without waiting for an idle point; returns how many
    /// were sent.
    ///
    /// # Examples
    ///
    /// ```
    /// let sizes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    /// let log = sizes.clone();
    /// let batcher = duet::Batcher::new(move |batch: duet::Batch<u8, u8>| {
    ///     log.lock().unwrap().push(batch.len());
    ///     let values: Vec<u8> = batch.keys().copied().collect();
    ///     batch.complete(values);
    /// });
    /// let a = batcher.get(1);
    /// let b = batcher.get(2);
    /// assert_eq!(batcher.flush(), 2);
    /// assert!(a.is_done() && b.is_done());
    /// assert_eq!(*sizes.lock().unwrap(), [2]);
    /// ```
    pub fn flush(&self) -> usize {
        let pending = self.queued();
        self.shared.send_queued();
        pending
    }

    /// The number of requests waiting for the next batch.
    ///
    /// # Examples
    ///
    /// ```
    /// let batcher = duet::Batcher::new(|batch: duet::Batch<u8, u8>| drop(batch));
    /// let _request = batcher.get(1);
    /// assert_eq!(batcher.queued(), 1);
    /// ```
    pub fn queued(&self) -> usize {
        self.shared
            .queued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, f)| !f.is_done())
            .count()
    }
}

impl<K, V> Clone for Batcher<K, V> {
    /// Another handle to the same batcher (same queue, same `send`).
    fn clone(&self) -> Self {
        Batcher {
            shared: self.shared.clone(),
        }
    }
}

impl<K, V> fmt::Debug for Batcher<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let queued = self
            .shared
            .queued
            .lock()
            .map(|q| q.len())
            .unwrap_or_default();
        f.debug_struct("Batcher").field("queued", &queued).finish()
    }
}

/// One batch of requests, handed to a [`Batcher`]'s `send` function.
///
/// Complete it with [`complete`](Batch::complete) (values in key order),
/// [`fail`](Batch::fail), or key by key through [`into_requests`](Batch::into_requests).
/// It is `Send`: complete it on any thread. Dropping it without completing fails the
/// requests left ([`AwaitError::Abandoned`], or [`AwaitError::Panicked`] when it is
/// dropped by a panic), so no task waits forever.
///
/// # Examples
///
/// ```
/// let batcher = duet::Batcher::new(|batch: duet::Batch<i32, i32>| {
///     assert_eq!(batch.keys().collect::<Vec<_>>(), [&1, &2]);
///     batch.fail("backend unavailable");
/// });
/// let (a, b) = duet::run(async { futures::join!(batcher.get(1), batcher.get(2)) });
/// assert_eq!(a.unwrap_err().to_string(), "backend unavailable");
/// assert!(b.unwrap_err().is_failed());
/// ```
pub struct Batch<K, V> {
    requests: Vec<(K, AwaitableFuture<V>)>,
    /// A batch being sent holds a virtual clock still until it is completed or dropped.
    hold: Option<WorkHold>,
}

impl<K, V> Batch<K, V> {
    /// The number of requests.
    ///
    /// # Examples
    ///
    /// ```
    /// let sizes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    /// let seen = sizes.clone();
    /// let batcher = duet::Batcher::new(move |batch: duet::Batch<u8, u8>| {
    ///     seen.lock().unwrap().push((batch.len(), batch.is_empty()));
    ///     let values: Vec<u8> = batch.keys().copied().collect();
    ///     batch.complete(values);
    /// });
    /// duet::run(async { futures::join!(batcher.get(1), batcher.get(2), batcher.get(3)) });
    /// assert_eq!(*sizes.lock().unwrap(), [(3, false)]); // one batch of three
    /// ```
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    /// True if there are no requests (a batcher never sends an empty batch).
    ///
    /// # Examples
    ///
    /// See [`len`](Batch::len).
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// The requested keys, in request order.
    ///
    /// # Examples
    ///
    /// ```
    /// let lengths = duet::Batcher::new(|batch: duet::Batch<&'static str, usize>| {
    ///     let values: Vec<usize> = batch.keys().map(|k| k.len()).collect();
    ///     batch.complete(values); // in the order of the keys
    /// });
    /// let (a, b) = duet::run(async { futures::join!(lengths.get("duet"), lengths.get("run")) });
    /// assert_eq!((a.unwrap(), b.unwrap()), (4, 3));
    /// ```
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &K> {
        self.requests.iter().map(|(key, _)| key)
    }

    /// Completes the requests with `values`, the i-th value for the i-th key.
    ///
    /// If there are fewer values than keys, the requests left fail with an error saying
    /// so; extra values are dropped. A `Batch` is `Send`: it may be completed later, on
    /// another thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let squares = duet::Batcher::new(|batch: duet::Batch<u64, u64>| {
    ///     std::thread::spawn(move || {
    ///         let values: Vec<u64> = batch.keys().map(|k| k * k).collect();
    ///         batch.complete(values); // from another thread
    ///     });
    /// });
    /// let (a, b) = duet::run(async { futures::join!(squares.get(3), squares.get(4)) });
    /// assert_eq!((a.unwrap(), b.unwrap()), (9, 16));
    /// ```
    pub fn complete(mut self, values: impl IntoIterator<Item = V>) {
        let requests = std::mem::take(&mut self.requests);
        let expected = requests.len();
        let mut values = values.into_iter();
        complete_all(
            requests
                .into_iter()
                .enumerate()
                .map(|(index, (_, future))| {
                    let outcome = values.next().ok_or_else(|| {
                let message = format!(
                    "duet::Batch::complete: the batch got {index} values for {expected} keys; \
                     give one value per key, in key order"
                );
                AwaitError::Failed(Arc::from(Box::<dyn Error + Send + Sync>::from(message)))
            });
                    (future, outcome)
                }),
        );
    }

    /// Fails every request with `error` (each awaiter gets the same error, shared).
    ///
    /// # Examples
    ///
    /// ```
    /// let down = duet::Batcher::new(|batch: duet::Batch<u32, String>| {
    ///     batch.fail("the user service is down");
    /// });
    /// let (a, b) = duet::run(async { futures::join!(down.get(1), down.get(2)) });
    /// assert_eq!(a.unwrap_err().to_string(), "the user service is down");
    /// assert!(b.unwrap_err().is_failed());
    /// ```
    pub fn fail(mut self, error: impl Into<Box<dyn Error + Send + Sync>>) {
        let error = AwaitError::Failed(Arc::from(error.into()));
        complete_all(
            std::mem::take(&mut self.requests)
                .into_iter()
                .map(|(_, future)| (future, Err(error.clone()))),
        );
    }

    /// The requests, each a key and the producer handle of its future, for completing
    /// them one by one (answers keyed by id, partial failures).
    ///
    /// # Examples
    ///
    /// ```
    /// let batcher = duet::Batcher::new(|batch: duet::Batch<i32, i32>| {
    ///     for (key, future) in batch.into_requests() {
    ///         if key >= 0 { future.set_result(key * 2) } else { future.set_error("negative") }
    ///     }
    /// });
    /// let (a, b) = duet::run(async { futures::join!(batcher.get(4), batcher.get(-1)) });
    /// assert_eq!(a.unwrap(), 8);
    /// assert!(b.unwrap_err().is_failed());
    /// ```
    pub fn into_requests(mut self) -> Vec<(K, AwaitableFuture<V>)> {
        let requests = std::mem::take(&mut self.requests);
        // The batch is still being answered: a virtual clock's hold passes to the
        // requests, and ends when the last of them is complete.
        if let Some(hold) = self.hold.take() {
            let hold = Arc::new(hold);
            for (_, future) in &requests {
                let hold = hold.clone();
                future.on_done(move || drop(hold));
            }
        }
        requests
    }
}

/// Completes each future with its outcome, every one even if waking an awaiter panics;
/// the first panic is re-raised once all are complete (a producer dropped while
/// unwinding would otherwise abandon the requests after it).
fn complete_all<V>(
    completions: impl IntoIterator<Item = (AwaitableFuture<V>, Result<V, AwaitError>)>,
) {
    let mut first_panic = None;
    for (future, outcome) in completions {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| future.try_complete(outcome)))
        {
            first_panic.get_or_insert(payload);
        }
    }
    if let Some(payload) = first_panic {
        crate::wakers::reraise(payload);
    }
}

impl<K, V> Drop for Batch<K, V> {
    fn drop(&mut self) {
        // Dropped by a panic of a `send` function running on this thread: that send
        // fails the requests with the panic's own message once it has caught it (its
        // handles keep them pending meanwhile). Dropped by another panic, whose message
        // is out of reach here: fail them with a generic one. Otherwise, dropping the
        // producer handles abandons the requests left.
        if std::thread::panicking() && SENDING.with(Cell::get) == 0 {
            for (_, future) in &self.requests {
                future.try_complete(Err(AwaitError::Panicked(
                    "the batch was dropped by a panic before it was completed".to_string(),
                )));
            }
        }
    }
}

thread_local! {
    /// How many `send` functions are running on this thread (a send may flush another
    /// batcher).
    static SENDING: Cell<usize> = const { Cell::new(0) };
}

/// Counts a running `send` function on this thread until dropped.
struct Sending;

impl Sending {
    fn enter() -> Self {
        SENDING.with(|s| s.set(s.get() + 1));
        Sending
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        SENDING.with(|s| s.set(s.get() - 1));
    }
}

impl<K: fmt::Debug, V> fmt::Debug for Batch<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.keys()).finish()
    }
}
