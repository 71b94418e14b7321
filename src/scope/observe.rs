//! Observing cancellation from inside a scope: [`is_cancelled`], [`cancel_reason`] and
//! [`cancelled`].
//!
//! Cancellation is observed through the *cancellation tree*: the scope the running code
//! belongs to, then the scope and task that scope was opened in, and so on up to the
//! root of the `run` loop, stopping at a shield (see [`shield`](crate::shield)). Code is
//! being cancelled when one of those scopes is cancelling (in the soft phase of a
//! graceful cancellation) or tearing down, or was asked to cancel.

use std::sync::Arc;
use std::task::Poll;

use super::current;
use crate::CancelReason;

/// True if the code running now is being cancelled: its scope, or an enclosing one, was
/// asked to cancel or is cancelling. False outside any scope and inside a
/// [`shield`](crate::shield).
///
/// Use it to stop long loops cooperatively. With plain cancellation a task is dropped
/// at its next await point anyway; with a graceful one
/// ([`Scope::cancel_with_grace`](crate::Scope::cancel_with_grace),
/// [`ScopeOptions::grace`](crate::ScopeOptions::grace)) this is how a task learns that it
/// should wrap up.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let units = std::cell::Cell::new(0);
/// let r = duet::run_scope(async |s| {
///     let units = &units;
///     s.spawn(async move {
///         while !duet::is_cancelled() {
///             units.set(units.get() + 1); // a unit of work
///             duet::yield_now().await;
///         }
///     });
///     duet::yield_now().await;
///     s.cancel_with_grace(Duration::from_secs(1));
/// });
/// assert!(r.unwrap_err().is_cancelled());
/// assert!(units.get() >= 1);
/// ```
pub fn is_cancelled() -> bool {
    current::observed_reason().is_some()
}

/// Why the code running now is being cancelled, if it is: its own scope's reason, or
/// [`CancelReason::Parent`] around an enclosing scope's reason. `None` when
/// [`is_cancelled`] is false.
///
/// # Examples
///
/// ```
/// use duet::CancelReason;
///
/// duet::run_scope(async |s| {
///     assert_eq!(duet::cancel_reason(), None);
///     s.cancel();
///     assert_eq!(duet::cancel_reason(), Some(CancelReason::Explicit));
/// })
/// .unwrap_err();
/// ```
pub fn cancel_reason() -> Option<CancelReason> {
    current::observed_reason()
}

/// Waits until the code awaiting it is being cancelled, and returns why.
///
/// Resolves once [`is_cancelled`] would return true: at once if it already does,
/// otherwise when the task's scope or an enclosing one starts cancelling. Useful in
/// select-style code and in the soft phase of a graceful cancellation. Outside any scope,
/// or inside a [`shield`](crate::shield), it never resolves.
///
/// # Cancel safety
///
/// Cancel safe: dropping the future loses nothing.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use duet::CancelReason;
///
/// let r = duet::run_with(duet::Config::new().virtual_clock(), duet::timeout_scope(
///     Duration::from_secs(1),
///     async |s| {
///         s.spawn(async {
///             // Wait for work, or for the scope to end, whichever comes first.
///             let reason = duet::cancelled().await;
///             assert_eq!(reason, CancelReason::TimedOut);
///         });
///     },
/// ));
/// assert!(r.unwrap_err().is_timeout());
/// ```
pub async fn cancelled() -> CancelReason {
    let observer = Arc::new(super::Observer::default());
    let mut registered = false;
    std::future::poll_fn(move |cx| {
        if let Some(reason) = current::observed_reason() {
            return Poll::Ready(reason);
        }
        observer.set_waker(cx.waker());
        if !registered {
            current::observe(&observer);
            registered = true;
            // A scope that settled while we registered did not see us: look again.
            if let Some(reason) = current::observed_reason() {
                return Poll::Ready(reason);
            }
        }
        Poll::Pending
    })
    .await
}
