//! [`timeout_scope`] and [`deadline_scope`]: scopes that are cancelled when their time is
//! up. Thin wrappers over [`ScopeOptions::timeout`] and [`ScopeOptions::deadline`]; the
//! scope driver owns the timer (see `driver`).

use std::time::{Duration, Instant};

use super::kind::Spawnable;
use super::{BodyOutput, BodyValue, Scope, ScopeOptions, scope_with};
use crate::ScopeError;

/// Opens a [`scope`](crate::scope()) that is cancelled if it has not finished within
/// `duration`.
///
/// When the time is up, every task of the scope and its body are dropped at their
/// current await points (nested scopes first) and the scope returns
/// [`ScopeError::Cancelled`] with [`CancelReason::TimedOut`](crate::CancelReason::TimedOut):
/// [`is_timeout`](ScopeError::is_timeout) tells it apart from a failure and from an
/// explicit cancel, and the join handles of the dropped tasks report the same reason. The
/// time counts from the scope's first poll. A scope that finishes in time returns
/// normally, as soon as it finishes.
///
/// Deadlines nest: a task inside the scope that waits on a longer [`timeout`](crate::timeout)
/// or [`sleep`](crate::sleep) is cut at this scope's deadline, and this scope reports the
/// timeout; an inner, earlier deadline fires first. A nested [`run`](crate::run) is not
/// affected: it is a new root.
///
/// # Cancel safety
///
/// As for [`scope`](crate::scope()): dropping the future cancels every task of the scope.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let r = duet::run_with(duet::Config::new().virtual_clock(), async {
///     let start = duet::now();
///     let r = duet::timeout_scope(Duration::from_secs(1), async |s| {
///         s.spawn(async {
///             loop {
///                 duet::sleep(Duration::from_millis(300)).await; // cut at 1 s
///             }
///         });
///     })
///     .await;
///     (r, duet::now() - start)
/// });
/// assert!(r.0.unwrap_err().is_timeout());
/// assert_eq!(r.1, Duration::from_secs(1));
/// ```
#[track_caller]
pub fn timeout_scope<'env, B, Fut, E>(
    duration: Duration,
    body: B,
) -> impl Future<Output = Result<<Fut::Output as BodyValue>::Ok, ScopeError<E>>>
where
    B: FnOnce(Scope<'env, E>) -> Fut + Spawnable,
    Fut: Future + Spawnable,
    Fut::Output: BodyOutput<E>,
    <Fut::Output as BodyValue>::Ok: Spawnable,
    E: Spawnable + 'env,
{
    scope_with(ScopeOptions::new().timeout(duration), body)
}

/// Opens a [`scope`](crate::scope()) that is cancelled if it has not finished when the
/// loop's clock reaches `deadline`; see [`timeout_scope`].
///
/// # Cancel safety
///
/// As for [`scope`](crate::scope()): dropping the future cancels every task of the scope.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// duet::run_with(duet::Config::new().virtual_clock(), async {
///     let at = duet::now() + Duration::from_millis(250);
///     let done = duet::deadline_scope(at, duet::infallible(async |s| {
///         let quick = s.spawn(async { duet::sleep(Duration::from_millis(100)).await; Ok(1) });
///         quick.await.unwrap()
///     }))
///     .await;
///     assert_eq!(done.unwrap(), 1); // finished in time, at 100 ms
///     assert!(duet::now() < at);
/// });
/// ```
#[track_caller]
pub fn deadline_scope<'env, B, Fut, E>(
    deadline: Instant,
    body: B,
) -> impl Future<Output = Result<<Fut::Output as BodyValue>::Ok, ScopeError<E>>>
where
    B: FnOnce(Scope<'env, E>) -> Fut + Spawnable,
    Fut: Future + Spawnable,
    Fut::Output: BodyOutput<E>,
    <Fut::Output as BodyValue>::Ok: Spawnable,
    E: Spawnable + 'env,
{
    scope_with(ScopeOptions::new().deadline(deadline), body)
}
