//! [`yield_now`]: let the rest of the tree run before continuing.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields once: the task is queued again and resumes after the other tasks queued in its
/// scope had a turn. (A scope in turn yields to the rest of the tree after a bounded
/// number of polls, so a task that yields in a loop never starves anything.)
///
/// # Cancel safety
///
/// Cancel safe: dropping the future loses nothing.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
///
/// let order = RefCell::new(Vec::new());
/// duet::run_scope(async |s| {
///     let order = &order;
///     s.spawn(async move { order.borrow_mut().push("a1"); duet::yield_now().await; order.borrow_mut().push("a2") });
///     s.spawn(async move { order.borrow_mut().push("b1") });
/// })
/// .unwrap();
/// assert_eq!(*order.borrow(), ["a1", "b1", "a2"]);
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
///
/// # Examples
///
/// ```
/// use std::task::Poll;
///
/// duet::run(async {
///     let mut once = duet::yield_now();
///     assert_eq!(futures::poll!(&mut once), Poll::Pending); // gives the others a turn
///     assert_eq!(futures::poll!(&mut once), Poll::Ready(()));
/// });
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    /// # Returns
    ///
    /// `Pending` the first time (after waking the task), `Ready(())` afterwards.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
