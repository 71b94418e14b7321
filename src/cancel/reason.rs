//! The typed reason every cancellation carries.

use crate::TaskRef;

/// Why a scope or task was cancelled.
///
/// Carried by [`ScopeError::Cancelled`](crate::ScopeError::Cancelled) and
/// [`JoinError::Cancelled`](crate::JoinError::Cancelled), and shown by their `Display`.
/// More reasons (interruption, ..) join this list as those features land, so match it
/// with a wildcard arm.
///
/// # Examples
///
/// ```
/// use duet::{CancelReason, ScopeError};
///
/// let result = duet::run_scope(async |s| {
///     s.cancel();
/// });
/// match result {
///     Err(ScopeError::Cancelled { reason, .. }) => assert_eq!(reason, CancelReason::Explicit),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum CancelReason {
    /// [`Scope::cancel`](crate::Scope::cancel), [`Scope::cancel_with_grace`](crate::Scope::cancel_with_grace)
    /// or [`CancelHandle::cancel`](crate::CancelHandle::cancel) was called.
    #[error("cancelled explicitly")]
    Explicit,
    /// The task alone was cancelled through [`JoinHandle::cancel`](crate::JoinHandle::cancel).
    #[error("cancelled through its join handle")]
    JoinHandle,
    /// Cancelled by [`Scope::cancel_tasks`](crate::Scope::cancel_tasks): its scope stopped
    /// its tasks and keeps the body's value.
    #[error("cancelled because its scope stopped its tasks (Scope::cancel_tasks)")]
    TasksCancelled,
    /// The named task of the same scope (or its body) failed with an error, and the
    /// scope's policy is to fail fast.
    #[error("cancelled because a sibling failed: {0}")]
    SiblingFailed(TaskRef),
    /// The named task of the same scope (or its body) panicked.
    #[error("cancelled because a sibling panicked: {0}")]
    SiblingPanicked(TaskRef),
    /// The program was interrupted (Ctrl-C, with
    /// [`Config::cancel_on_ctrl_c`](crate::Config) and the `ctrl-c` feature).
    #[error("cancelled because the program was interrupted (Ctrl-C)")]
    Interrupted,
    /// The scope's timeout or deadline passed (see [`timeout_scope`](crate::timeout_scope),
    /// [`deadline_scope`](crate::deadline_scope) and
    /// [`ScopeOptions::timeout`](crate::ScopeOptions::timeout)).
    #[error("cancelled because its deadline passed")]
    TimedOut,
    /// An enclosing scope was cancelled, for the reason inside. Seen by code observing
    /// cancellation ([`is_cancelled`](crate::is_cancelled), [`cancelled`](crate::cancelled))
    /// in a nested scope, and by join handles of tasks dropped with their scope.
    #[error("cancelled because an enclosing scope was ({0})")]
    Parent(Box<CancelReason>),
    /// The scope's future was dropped before it finished, by something other than a
    /// duet scope (for example the losing branch of a `select`).
    #[error("cancelled because its scope's future was dropped")]
    Dropped,
}

impl CancelReason {
    /// This reason as seen from a nested scope: [`CancelReason::Parent`] around it (a
    /// reason that is already `Parent` is kept as it is, so nesting does not pile up).
    pub(crate) fn as_parent(&self) -> CancelReason {
        match self {
            CancelReason::Parent(_) => self.clone(),
            other => CancelReason::Parent(Box::new(other.clone())),
        }
    }

    /// The reason at the origin: inside any number of [`CancelReason::Parent`] layers.
    ///
    /// # Examples
    ///
    /// ```
    /// use duet::CancelReason;
    ///
    /// let seen = CancelReason::Parent(Box::new(CancelReason::TimedOut));
    /// assert_eq!(seen.root_cause(), &CancelReason::TimedOut);
    /// ```
    pub fn root_cause(&self) -> &CancelReason {
        match self {
            CancelReason::Parent(inner) => inner.root_cause(),
            other => other,
        }
    }
}
