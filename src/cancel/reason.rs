//! The typed reason every cancellation carries.

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
///     Ok::<_, std::convert::Infallible>(())
/// });
/// match result {
///     Err(ScopeError::Cancelled { reason, .. }) => assert_eq!(reason, CancelReason::Explicit),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum CancelReason {
    /// [`Scope::cancel`](crate::Scope::cancel) or [`CancelHandle::cancel`](crate::CancelHandle::cancel) was called.
    #[error("cancelled explicitly")]
    Explicit,
    /// The task alone was cancelled through [`JoinHandle::cancel`](crate::JoinHandle::cancel).
    #[error("cancelled through its join handle")]
    JoinHandle,
    /// Another task of the same scope (or its body) failed with an error, and the scope's
    /// policy is to fail fast.
    #[error("cancelled because a sibling task failed")]
    SiblingFailed,
    /// Another task of the same scope (or its body) panicked.
    #[error("cancelled because a sibling task panicked")]
    SiblingPanicked,
    /// The program was interrupted (Ctrl-C, with
    /// [`Config::cancel_on_ctrl_c`](crate::Config) and the `ctrl-c` feature).
    #[error("cancelled because the program was interrupted (Ctrl-C)")]
    Interrupted,
    /// The scope itself was dropped before it finished, because something above it was
    /// cancelled (or its future was simply dropped).
    #[error("cancelled because its enclosing scope was cancelled")]
    Parent,
    /// The scope's timeout or deadline passed (see [`timeout_scope`](crate::timeout_scope),
    /// [`deadline_scope`](crate::deadline_scope) and
    /// [`ScopeOptions::timeout`](crate::ScopeOptions::timeout)).
    #[error("cancelled because its deadline passed")]
    TimedOut,
}
