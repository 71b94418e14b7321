//! The futures and the stream adapter of a [`Limiter`]: [`Acquire`], [`Available`],
//! [`Throttle`].
//!
//! Each waiting future owns at most one node of a wait list (see `wait_list`), held in
//! its stage, and gives it back in every way it can end: when it returns, and in its
//! `Drop` when it is cancelled. That is what keeps the queues free of dead entries and
//! makes a served-but-cancelled acquirer pass its slot on.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::Stream;
use pin_project_lite::pin_project;

use super::wait_list::{Key, Status};
use super::{Limiter, Slot, Wakes, pack_wait_key, wake_all};

/// Where an [`Acquire`] stands.
#[derive(Debug, Clone, Copy)]
enum Stage {
    /// Not polled yet.
    Start,
    /// Queued under this key (possibly already served: see [`Status::Notified`]).
    Queued(Key),
    /// The slot was returned.
    Done,
}

/// The future returned by [`Limiter::acquire`]: resolves to a [`Slot`].
///
/// # Cancel safety
///
/// Dropping it while queued removes it from the queue; dropping it after a slot was
/// handed to it passes that slot to the next waiter. No slot is ever lost.
///
/// # Examples
///
/// ```
/// let limiter = duet::Limiter::new(1);
/// let held = limiter.try_acquire().unwrap();
/// duet::run(async {
///     let mut waiting = limiter.acquire();
///     assert!(futures::poll!(&mut waiting).is_pending()); // queued
///     assert_eq!(limiter.waiting(), 1);
///     drop(waiting); // cancelled: it leaves the queue
///     assert_eq!(limiter.waiting(), 0);
/// });
/// drop(held);
/// ```
#[must_use = "futures do nothing unless awaited; the slot is acquired by awaiting"]
pub struct Acquire<'a> {
    limiter: &'a Limiter,
    stage: Stage,
}

impl<'a> Acquire<'a> {
    pub(super) fn new(limiter: &'a Limiter) -> Self {
        Acquire {
            limiter,
            stage: Stage::Start,
        }
    }
}

impl Future for Acquire<'_> {
    type Output = Slot;

    /// # Returns
    ///
    /// - `Poll::Ready(slot)` at the first poll if a slot is free and nobody is queued, or
    ///   at the first poll after a released (or newly created) slot was handed to it.
    /// - `Poll::Pending` while queued; the task is woken when a slot is handed to it.
    ///
    /// # Panics
    ///
    /// When polled again after it returned its slot.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Slot> {
        let this = self.get_mut();
        let mut state = this.limiter.lock();
        match this.stage {
            Stage::Start => {
                if !state.try_take() {
                    let key = state.acquirers.push_back(cx.waker().clone());
                    this.stage = Stage::Queued(key);
                    drop(state);
                    report_wait(this.limiter, pack_wait_key(key, false), cx);
                    return Poll::Pending;
                }
            }
            Stage::Queued(key) => match state.acquirers.status(key) {
                Status::Queued => {
                    state.acquirers.update_waker(key, cx.waker());
                    drop(state);
                    report_wait(this.limiter, pack_wait_key(key, false), cx);
                    return Poll::Pending;
                }
                // Served: the slot was counted as held when it was handed over.
                Status::Notified => {
                    state.acquirers.remove(key);
                }
            },
            Stage::Done => {
                panic!("duet: a Limiter::acquire future was polled after it returned its slot")
            }
        }
        let slot = Slot::taken(this.limiter.clone());
        drop(state);
        this.stage = Stage::Done;
        Poll::Ready(slot)
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Stage::Queued(key) = self.stage else {
            return;
        };
        let mut wakes = Wakes::new();
        {
            let mut state = self.limiter.lock();
            if state.acquirers.remove(key) == Status::Notified {
                // Served but cancelled before it took the slot: pass it on.
                state.release(&mut wakes);
            }
        }
        wake_all(wakes);
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

/// Waiting for a limiter to be available: the state shared by [`Available`] and
/// [`Throttle`], which own the limiter (or a borrow of it) themselves.
#[derive(Debug, Default)]
struct Watch {
    yielded: bool,
    key: Option<Key>,
}

impl Watch {
    /// Yields once, then returns when the limiter is available, re-queuing as a watcher
    /// while it is not.
    fn poll(&mut self, limiter: &Limiter, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = limiter.lock();
        let available = state.is_available();
        if !self.yielded {
            self.yielded = true;
            if available {
                drop(state);
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        } else if available {
            if let Some(key) = self.key.take() {
                state.watchers.remove(key);
            }
            return Poll::Ready(());
        }
        match self.key {
            Some(key) if state.watchers.status(key) == Status::Queued => {
                state.watchers.update_waker(key, cx.waker());
            }
            _ => {
                if let Some(stale) = self.key.take() {
                    state.watchers.remove(stale);
                }
                self.key = Some(state.watchers.push_back(cx.waker().clone()));
            }
        }
        drop(state);
        report_wait(limiter, pack_wait_key(self.key.unwrap_or(0), true), cx);
        Poll::Pending
    }

    /// Leaves the watcher list (on drop).
    fn cancel(&mut self, limiter: &Limiter) {
        if let Some(key) = self.key.take() {
            limiter.lock().watchers.remove(key);
        }
    }
}

/// The future returned by [`Limiter::available`].
///
/// # Cancel safety
///
/// Cancel safe: it holds no slot, and dropping it leaves the list of watchers.
///
/// # Examples
///
/// ```
/// let limiter = duet::Limiter::new(1);
/// duet::run(async {
///     let mut available = limiter.available();
///     assert!(futures::poll!(&mut available).is_pending()); // the one yield
///     available.await;
///     assert!(limiter.is_available());
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Available<'a> {
    limiter: &'a Limiter,
    watch: Watch,
}

impl<'a> Available<'a> {
    pub(super) fn new(limiter: &'a Limiter) -> Self {
        Available {
            limiter,
            watch: Watch::default(),
        }
    }
}

impl Future for Available<'_> {
    type Output = ();

    /// # Returns
    ///
    /// - `Poll::Pending` at the first poll (after waking the task, if the limiter is
    ///   available), and at every later poll while the limiter is not available; the
    ///   task is woken when it may have become available.
    /// - `Poll::Ready(())` at a later poll that finds the limiter available.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.watch.poll(this.limiter, cx)
    }
}

impl Drop for Available<'_> {
    fn drop(&mut self) {
        self.watch.cancel(self.limiter);
    }
}

impl fmt::Debug for Available<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Available")
            .field("yielded", &self.watch.yielded)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The stream returned by [`Limiter::throttle`]: the items of `S`, each pulled only
    /// after the limiter was [available](Limiter::available).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    ///
    /// let limiter = duet::Limiter::new(1);
    /// let held = limiter.try_acquire().unwrap();
    /// duet::run(async {
    ///     let mut items = limiter.throttle(futures::stream::iter([1, 2]));
    ///     for _ in 0..3 {
    ///         assert!(futures::poll!(items.next()).is_pending()); // full: nothing pulled
    ///     }
    ///     drop(held);
    ///     assert_eq!(items.collect::<Vec<_>>().await, [1, 2]);
    /// });
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct Throttle<S> {
        limiter: Limiter,
        watch: Watch,
        // Whether the next pull must first wait for the limiter.
        gate: bool,
        #[pin]
        stream: S,
    }

    impl<S> PinnedDrop for Throttle<S> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.watch.cancel(this.limiter);
        }
    }
}

impl<S> Throttle<S> {
    pub(super) fn new(limiter: Limiter, stream: S) -> Self {
        Throttle {
            limiter,
            watch: Watch::default(),
            gate: true,
            stream,
        }
    }

    /// The limiter that throttles this stream.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = duet::Limiter::new(3);
    /// let throttled = limiter.throttle(futures::stream::iter([1, 2]));
    /// assert_eq!(throttled.limiter().capacity(), Some(3));
    /// ```
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }
}

impl<S: Stream> Stream for Throttle<S> {
    type Item = S::Item;

    /// # Returns
    ///
    /// - `Poll::Pending` while waiting for the limiter (at least one yield per item) or
    ///   for the inner stream.
    /// - `Poll::Ready(Some(item))` with the inner stream's next item, pulled after the
    ///   limiter was available.
    /// - `Poll::Ready(None)` when the inner stream ends.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        if *this.gate {
            ready!(this.watch.poll(this.limiter, cx));
            *this.watch = Watch::default();
            *this.gate = false;
        }
        let item = ready!(this.stream.poll_next(cx));
        *this.gate = item.is_some();
        Poll::Ready(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.stream.size_hint()
    }
}

impl<S> fmt::Debug for Throttle<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

/// Tells the task tree what the polling task waits on (for dumps and the deadlock
/// analysis).
fn report_wait(limiter: &Limiter, key: u32, cx: &Context<'_>) {
    crate::current::waits::report(
        cx.waker(),
        crate::current::waits::Wait::Limiter {
            limiter: limiter.describer(),
            key,
        },
    );
}
