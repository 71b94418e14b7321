//! [`shield`]: a section that cancellation does not interrupt.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::current;
use crate::current::report_shielded;
use crate::time::EnteredDeadline;

/// Runs `future` so that cancellation does not interrupt it: this is how async cleanup on
/// cancellation is written in duet (Rust has no async drop).
///
/// While a task is suspended inside a shield, its scope does not drop it: a cancelled
/// scope (explicitly, by a failure, by its deadline, by Ctrl-C, or by an enclosing scope's
/// cancellation) waits for the shielded future to finish, then drops the rest of the task
/// at its next await point. Inside the shield, cancellation is not observable
/// ([`is_cancelled`](crate::is_cancelled) is false, [`cancelled`](crate::cancelled) never
/// resolves), and scopes opened inside it are not cancelled by enclosing scopes.
///
/// A shielded future's own time limit still applies: give cleanup a bound with
/// `shield(timeout(d, cleanup()))`. Deadlines around the shield do not reach inside it,
/// so that bound fires by itself even after an enclosing deadline has passed. A shield
/// protects against duet's cancellation only; a future dropped by other code (say, the
/// losing branch of a `select`) is dropped, shield or not.
///
/// # Cancel safety
///
/// As cancel safe as `future`: when something other than a duet scope drops the shield,
/// `future` is dropped with it.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::time::Duration;
///
/// let log = RefCell::new(Vec::new());
/// let r = duet::run_with(duet::Config::new().virtual_clock(), duet::timeout_scope(
///     Duration::from_millis(100),
///     async |s| {
///         let log = &log;
///         s.spawn(async move {
///             log.borrow_mut().push("working");
///             duet::sleep(Duration::from_secs(60)).await; // cut at the timeout
///         });
///         s.spawn(async move {
///             duet::sleep(Duration::from_millis(50)).await;
///             duet::shield(async {
///                 // Async cleanup the timeout cannot interrupt (bounded by its own limit).
///                 let _ = duet::timeout(Duration::from_secs(1), duet::sleep(Duration::from_millis(200))).await;
///                 log.borrow_mut().push("flushed");
///             })
///             .await;
///             log.borrow_mut().push("never: dropped at its next await after the shield");
///             duet::yield_now().await;
///         });
///     },
/// ));
/// assert!(r.unwrap_err().is_timeout());
/// assert_eq!(*log.borrow(), ["working", "flushed", "never: dropped at its next await after the shield"]);
/// ```
pub fn shield<F: IntoFuture>(future: F) -> Shield<F::IntoFuture> {
    Shield {
        inner: future.into_future(),
    }
}

pin_project! {
    /// The future returned by [`shield`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct Shield<F> {
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for Shield<F> {
    type Output = F::Output;

    /// # Returns
    ///
    /// What the shielded future returns; while it is `Pending`, the task polling it is
    /// marked as shielded for its scope.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let inner = self.project().inner;
        // Out of reach of the deadlines around the shield, as of their cancellation: a
        // time limit inside it (`shield(timeout(d, cleanup))`) fires on its own.
        let outside_deadlines = EnteredDeadline::none();
        let poll = current::shielded(|| inner.poll(cx));
        drop(outside_deadlines);
        if poll.is_pending() {
            report_shielded();
        }
        poll
    }
}
