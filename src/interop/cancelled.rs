//! [`Cancelled`]: the future a producer awaits to learn that its work is not wanted.
//!
//! It registers a waker in the cell's `cancel_waiters` (not `awaiters`: a producer
//! waiting for cancellation is not waiting for the value, so it neither counts as an
//! awaiter nor cancels anything when dropped). Completion wakes it whatever the outcome;
//! it resolves only if that outcome is "cancelled".

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::cell::{FutureCell, Status};

/// The future returned by [`AwaitableFuture::cancelled`](crate::AwaitableFuture::cancelled).
///
/// # Cancel safety
///
/// Cancel safe: dropping it only unregisters its waker.
///
/// # Examples
///
/// ```
/// use futures::future::{Either, select};
///
/// let f = duet::AwaitableFuture::<u32>::new();
/// let producer = f.clone();
/// f.cancel();
/// let work = std::future::pending::<u32>(); // the producer's long computation
/// let outcome = futures::executor::block_on(async {
///     match select(std::pin::pin!(work), producer.cancelled()).await {
///         Either::Left((value, _)) => Some(value),
///         Either::Right(((), _)) => None, // nobody waits any more: stop
///     }
/// });
/// assert_eq!(outcome, None);
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Cancelled<'a, T> {
    cell: &'a Arc<FutureCell<T>>,
    slot: Option<usize>,
}

impl<'a, T> Cancelled<'a, T> {
    pub(crate) fn new(cell: &'a Arc<FutureCell<T>>) -> Self {
        Cancelled { cell, slot: None }
    }
}

impl<T> Future for Cancelled<'_, T> {
    type Output = ();

    /// # Returns
    ///
    /// `Poll::Ready(())` once the future was cancelled; `Poll::Pending` while it is
    /// pending (the task is woken when it completes) and forever after it completed in
    /// any other way (no waker is kept then).
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut state = this.cell.lock();
        match this.cell.status() {
            Status::Cancelled => Poll::Ready(()),
            Status::Pending => {
                let replaced = state.cancel_waiters.register(&mut this.slot, cx.waker());
                drop(state);
                drop(replaced);
                Poll::Pending
            }
            _ => Poll::Pending,
        }
    }
}

impl<T> Drop for Cancelled<'_, T> {
    fn drop(&mut self) {
        if let Some(index) = self.slot.take() {
            let mut state = self.cell.lock();
            let removed = match state.outcome {
                None => state.cancel_waiters.remove(index),
                Some(_) => None,
            };
            drop(state);
            drop(removed);
        }
    }
}

impl<T> fmt::Debug for Cancelled<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancelled")
            .field("cancelled", &(self.cell.status() == Status::Cancelled))
            .finish()
    }
}
