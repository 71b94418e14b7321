//! [`AsyncCollector`]: producers add values and then say how the sequence ended; a
//! consumer reads them as a [`Stream`].
//!
//! Built on [`futures::channel::mpsc`]'s unbounded channel, which queues the values and
//! wakes the consumer. What the channel lacks is an *explicit* end: a channel ends when
//! every sender is gone, which cannot tell "the producer said it is done" from "the
//! producer was cancelled half-way". The collector adds that: `done()` and `error(e)`
//! record how the sequence ended (once: the first of them wins) and then close the
//! channel; a channel that ends without either is reported as abandoned.
//!
//! # Invariants
//!
//! 1. `finished` goes from false to true exactly once, by `done` or `error`, before the
//!    channel is closed; an error is stored before the channel is closed, so a consumer
//!    that sees the channel end sees it.
//! 2. Every value whose `add` returned `Ok` is delivered before the end (the channel
//!    keeps what was sent before it was closed).
//! 3. After the end (or the error), the stream yields `None` forever.

use std::convert::Infallible;
use std::error::Error;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use futures::channel::mpsc;
use futures::stream::{FusedStream, Stream, StreamExt};

/// Lets producers feed values to a consumer that reads them as a stream.
///
/// [`AsyncCollector::new`] returns the producer handle and the consumer's
/// [`CollectorStream`]. Producers call [`add`](AsyncCollector::add) for each value and
/// finish with [`done`](AsyncCollector::done) or [`error`](AsyncCollector::error); the
/// stream yields the values in the order they were added, then ends (`None`) or yields
/// the error. Adding after the collector finished is an error, returned to the producer
/// with its value.
///
/// The handle is cheap to clone; every clone feeds the same stream, and `done` from any of
/// them finishes it for all. If every handle is dropped without `done` or `error` (for
/// example because the producing task was cancelled), the stream ends with
/// [`CollectorError::Abandoned`] rather than pretend the sequence was complete.
///
/// Handles are `Send` and `Sync` when `T` and `E` are `Send`: a producer may run on
/// another thread, and its values wake the consumer's loop.
///
/// # Examples
///
/// ```
/// use futures::TryStreamExt;
///
/// let values = duet::run_scope(async |s| {
///     let (collector, stream) = duet::AsyncCollector::<u32, String>::new();
///     s.spawn(async move {
///         for i in 1..=3 {
///             collector.add(i).unwrap();
///             duet::yield_now().await;
///         }
///         collector.done().unwrap();
///     });
///     let values: Vec<u32> = stream.try_collect().await.map_err(|e| e.to_string())?;
///     Ok::<_, String>(values)
/// });
/// assert_eq!(values.unwrap(), [1, 2, 3]);
/// ```
pub struct AsyncCollector<T, E = Infallible> {
    sender: mpsc::UnboundedSender<T>,
    shared: Arc<Shared<E>>,
}

/// How the sequence ended, shared by the producers and the consumer.
struct Shared<E> {
    /// Set once, by `done` or `error`, before the channel is closed.
    finished: AtomicBool,
    /// The error given to `error`, until the consumer takes it.
    error: Mutex<Option<E>>,
}

/// The consumer's end of an [`AsyncCollector`]: a stream of the values added, in order.
///
/// Yields `Ok(value)` for each value, then ends with `None` after
/// [`done`](AsyncCollector::done), or yields one `Err` (the producer's error, or
/// [`CollectorError::Abandoned`]) and then ends.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
///
/// let (collector, mut stream) = duet::AsyncCollector::<char>::new();
/// duet::run(async {
///     assert!(futures::poll!(stream.next()).is_pending()); // nothing yet
///     collector.add('a').unwrap();
///     collector.done().unwrap();
///     assert_eq!(stream.next().await, Some(Ok('a')));
///     assert_eq!(stream.next().await, None);
/// });
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct CollectorStream<T, E = Infallible> {
    receiver: mpsc::UnboundedReceiver<T>,
    shared: Arc<Shared<E>>,
    ended: bool,
}

impl<T, E> AsyncCollector<T, E> {
    /// A new collector: the producer handle and the consumer's stream.
    ///
    /// # Examples
    ///
    /// ```
    /// let (collector, stream) = duet::AsyncCollector::<&str>::new();
    /// collector.add("only").unwrap();
    /// collector.done().unwrap();
    /// let got: Vec<_> = duet::run(futures::StreamExt::collect(stream));
    /// assert_eq!(got, [Ok("only")]);
    /// ```
    pub fn new() -> (Self, CollectorStream<T, E>) {
        let (sender, receiver) = mpsc::unbounded();
        let shared = Arc::new(Shared {
            finished: AtomicBool::new(false),
            error: Mutex::new(None),
        });
        let stream = CollectorStream {
            receiver,
            shared: shared.clone(),
            ended: false,
        };
        (AsyncCollector { sender, shared }, stream)
    }

    /// Adds a value for the consumer.
    ///
    /// # Errors
    ///
    /// [`CollectorClosed`] with the value, if the collector has finished (`done` or
    /// `error` was called) or the consumer dropped its stream.
    ///
    /// # Examples
    ///
    /// ```
    /// let (collector, _stream) = duet::AsyncCollector::<i32>::new();
    /// assert!(collector.add(1).is_ok());
    /// collector.done().unwrap();
    /// let rejected = collector.add(2).unwrap_err();
    /// assert!(rejected.is_finished());
    /// assert_eq!(rejected.into_inner(), 2);
    /// ```
    pub fn add(&self, value: T) -> Result<(), CollectorClosed<T>> {
        self.sender
            .unbounded_send(value)
            .map_err(|e| self.closed(e.into_inner()))
    }

    /// Finishes the sequence: the consumer gets the values added so far, then the end.
    ///
    /// # Errors
    ///
    /// [`CollectorClosed`] if the collector had already finished (the first `done` or
    /// `error` wins).
    ///
    /// # Examples
    ///
    /// ```
    /// let (collector, _stream) = duet::AsyncCollector::<i32>::new();
    /// assert!(collector.done().is_ok());
    /// assert!(collector.done().is_err());
    /// ```
    pub fn done(&self) -> Result<(), CollectorClosed<()>> {
        if self.shared.finished.swap(true, Ordering::AcqRel) {
            return Err(self.closed(()));
        }
        self.sender.close_channel();
        Ok(())
    }

    /// Finishes the sequence with an error: the consumer gets the values added so far,
    /// then `Err(CollectorError::Failed(error))`.
    ///
    /// # Errors
    ///
    /// [`CollectorClosed`] with the error, if the collector had already finished: the
    /// error is handed back rather than lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    ///
    /// let (collector, stream) = duet::AsyncCollector::<i32, &str>::new();
    /// collector.add(1).unwrap();
    /// collector.error("disk full").unwrap();
    /// let got: Vec<_> = duet::run(stream.collect());
    /// assert_eq!(got, [Ok(1), Err(duet::CollectorError::Failed("disk full"))]);
    /// ```
    pub fn error(&self, error: E) -> Result<(), CollectorClosed<E>> {
        if self.shared.finished.swap(true, Ordering::AcqRel) {
            return Err(self.closed(error));
        }
        *self.shared.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
        self.sender.close_channel();
        Ok(())
    }

    /// True once the collector finished or its consumer dropped the stream: `add` would
    /// fail.
    ///
    /// # Examples
    ///
    /// ```
    /// let (collector, stream) = duet::AsyncCollector::<i32>::new();
    /// assert!(!collector.is_closed());
    /// drop(stream);
    /// assert!(collector.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    fn closed<V>(&self, value: V) -> CollectorClosed<V> {
        CollectorClosed {
            value,
            finished: self.shared.finished.load(Ordering::Acquire),
        }
    }
}

impl<T, E> Clone for AsyncCollector<T, E> {
    fn clone(&self) -> Self {
        AsyncCollector {
            sender: self.sender.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<T, E> fmt::Debug for AsyncCollector<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncCollector")
            .field("finished", &self.shared.finished.load(Ordering::Acquire))
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<T, E> Stream for CollectorStream<T, E> {
    type Item = Result<T, CollectorError<E>>;

    /// # Returns
    ///
    /// - `Poll::Ready(Some(Ok(value)))` for each value added, in order;
    /// - `Poll::Pending` while no value is queued and the collector has not finished (the
    ///   task is woken by the next `add`, `done`, `error`, or the drop of the last handle);
    /// - `Poll::Ready(Some(Err(error)))` once, after the values, if a producer called
    ///   `error` or every handle was dropped without finishing;
    /// - `Poll::Ready(None)` after `done` and the values, and forever after the end.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        let next = this.receiver.poll_next_unpin(cx);
        if next.is_pending() {
            crate::current::waits::report(
                cx.waker(),
                crate::current::waits::Wait::External("an AsyncCollector (fed by its producers)"),
            );
        }
        if let Some(value) = ready!(next) {
            return Poll::Ready(Some(Ok(value)));
        }
        this.ended = true;
        let error = this
            .shared
            .error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        Poll::Ready(match error {
            Some(error) => Some(Err(CollectorError::Failed(error))),
            None if this.shared.finished.load(Ordering::Acquire) => None,
            None => Some(Err(CollectorError::Abandoned)),
        })
    }
}

impl<T, E> FusedStream for CollectorStream<T, E> {
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

impl<T, E> fmt::Debug for CollectorStream<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CollectorStream")
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// How a [`CollectorStream`] ended other than by [`done`](AsyncCollector::done).
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
///
/// let (collector, stream) = duet::AsyncCollector::<i32>::new();
/// collector.add(1).unwrap();
/// drop(collector); // never said done()
/// let got: Vec<_> = duet::run(stream.collect());
/// assert_eq!(got, [Ok(1), Err(duet::CollectorError::Abandoned)]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CollectorError<E> {
    /// A producer finished the sequence with [`error`](AsyncCollector::error).
    #[error("a producer reported an error: {0}")]
    Failed(E),
    /// Every producer handle was dropped without calling `done()` or `error()`, so the
    /// values received may be incomplete.
    #[error(
        "every AsyncCollector handle was dropped without calling done() or error(); the \
         values received may be incomplete (was the producer cancelled?)"
    )]
    Abandoned,
}

/// The value (or error) a producer tried to hand to an [`AsyncCollector`] that no longer
/// takes any: it had finished, or its consumer dropped the stream.
///
/// # Examples
///
/// ```
/// let (collector, _stream) = duet::AsyncCollector::<&str>::new();
/// collector.done().unwrap();
/// let err = collector.add("late").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "duet: the AsyncCollector has already finished (done() or error() was called); \
///      nothing can be added or reported after that"
/// );
/// assert_eq!(err.into_inner(), "late");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CollectorClosed<T> {
    value: T,
    finished: bool,
}

impl<T> CollectorClosed<T> {
    /// The value that was not added.
    ///
    /// # Examples
    ///
    /// ```
    /// let (collector, stream) = duet::AsyncCollector::<Vec<u8>>::new();
    /// drop(stream);
    /// let buffer = collector.add(vec![1, 2]).unwrap_err().into_inner(); // reuse it
    /// assert_eq!(buffer, [1, 2]);
    /// ```
    pub fn into_inner(self) -> T {
        self.value
    }

    /// True if the collector had finished (`done` or `error` was called); false if it was
    /// open but its consumer had dropped the stream.
    ///
    /// # Examples
    ///
    /// ```
    /// let (collector, stream) = duet::AsyncCollector::<u8>::new();
    /// drop(stream);
    /// assert!(!collector.add(1).unwrap_err().is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

impl<T> fmt::Debug for CollectorClosed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CollectorClosed")
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for CollectorClosed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.finished {
            "duet: the AsyncCollector has already finished (done() or error() was called); \
             nothing can be added or reported after that"
        } else {
            "duet: the AsyncCollector's stream was dropped; nobody will read what is added"
        })
    }
}

impl<T> Error for CollectorClosed<T> {}
