//! [`CancelHandle`]: cancel a scope from anywhere, including other threads.

use std::fmt;
use std::sync::Arc;

use std::time::Duration;

use super::Signal;
use crate::CancelReason;
use crate::cancel::request::Grace;

/// Cancels a scope from any thread.
///
/// Obtained from [`Scope::cancel_handle`](crate::Scope::cancel_handle). Unlike
/// [`Scope`](crate::Scope) it is `Send + Sync` and does not borrow anything, so it can be
/// given to another thread, a signal handler or a callback. Cancelling through it has the
/// same effect as [`Scope::cancel`](crate::Scope::cancel); cancelling a scope that has
/// already finished does nothing. It is [`Clone`]: give each thread or callback that may
/// cancel the scope a clone of its own.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let result = duet::run_scope(async |s| {
///     let handle = s.cancel_handle();
///     std::thread::spawn(move || {
///         std::thread::sleep(Duration::from_millis(10));
///         handle.cancel();
///     });
///     // Waits for something that never comes; the other thread ends the wait.
///     futures::future::pending::<()>().await;
/// });
/// assert!(result.unwrap_err().is_cancelled());
/// ```
pub struct CancelHandle {
    signal: Arc<Signal>,
}

impl CancelHandle {
    pub(crate) fn new(signal: Arc<Signal>) -> Self {
        signal.add_remote_handle();
        CancelHandle { signal }
    }

    /// Requests cancellation of the scope, with [`CancelReason::Explicit`].
    ///
    /// The scope tears down at its next poll: every task still running is dropped at its
    /// current await point, and the scope reports
    /// [`ScopeError::Cancelled`](crate::ScopeError::Cancelled).
    ///
    /// # Examples
    ///
    /// See [`CancelHandle`].
    pub fn cancel(&self) {
        self.signal.cancel(CancelReason::Explicit, Grace::Default);
    }

    /// Requests a graceful cancellation of the scope: as
    /// [`Scope::cancel_with_grace`](crate::Scope::cancel_with_grace).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let r = duet::run_scope(async |s| {
    ///     let handle = s.cancel_handle();
    ///     std::thread::spawn(move || handle.cancel_with_grace(Duration::from_secs(1)));
    ///     let reason = duet::cancelled().await; // the soft phase: time to clean up
    ///     assert_eq!(reason, duet::CancelReason::Explicit);
    /// });
    /// assert!(r.unwrap_err().is_cancelled());
    /// ```
    pub fn cancel_with_grace(&self, grace: Duration) {
        self.signal
            .cancel(CancelReason::Explicit, Grace::Given(grace));
    }

    /// True once cancellation of the scope was requested (by any means).
    ///
    /// # Examples
    ///
    /// ```
    /// duet::run_scope(async |s| {
    ///     let handle = s.cancel_handle();
    ///     assert!(!handle.is_cancelled());
    ///     s.cancel();
    ///     assert!(handle.is_cancelled());
    /// })
    /// .unwrap_err();
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.signal.is_cancel_requested()
    }
}

impl Clone for CancelHandle {
    /// Another handle to the same scope: any clone cancels it, and each sees the
    /// cancellation, however many were dropped before.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = duet::run_scope(async |s| {
    ///     let watchdog = s.cancel_handle();
    ///     let observer = watchdog.clone();
    ///     let worker = std::thread::spawn(move || watchdog.cancel()); // moves one clone
    ///     worker.join().unwrap();
    ///     assert!(observer.is_cancelled()); // the other saw it
    ///     Ok::<_, std::convert::Infallible>(())
    /// });
    /// assert!(r.unwrap_err().is_cancelled());
    /// ```
    fn clone(&self) -> Self {
        CancelHandle::new(self.signal.clone())
    }
}

impl Drop for CancelHandle {
    fn drop(&mut self) {
        self.signal.remove_remote_handle();
    }
}

impl fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelHandle")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
