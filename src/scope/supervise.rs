//! [`supervise`]: a collect-all scope that keeps its body's value alongside the errors.
//!
//! A scope that returns `Result<T, ScopeError<E>>` has to drop the body's value when any
//! task failed, so a supervisor that gathers the successes would have to smuggle them out
//! through a `RefCell`. A supervised scope returns its whole outcome instead.

use std::panic::Location;

use super::driver::Outcome;
use super::open::ScopeFuture;
use super::{BodyOutput, ErrorPolicy, Interruptible, Scope, ScopeOptions};
use crate::{CancelReason, ScopeError};

/// The whole outcome of a [`supervise`]d scope: the body's value, if it returned one,
/// next to every error.
///
/// `value` is `Some` whenever the body returned `Ok`, even if tasks failed, and even if
/// the scope was cancelled (its timeout, say) after the body had returned; it is `None`
/// if the body failed, or was cancelled before it returned. A panic is re-raised, as by
/// every scope.
///
/// # Examples
///
/// ```
/// let outcome = duet::run(duet::supervise(async |s| {
///     let calls: Vec<_> = (1..=4).map(|n| s.spawn(async move {
///         if n % 2 == 0 { Err(format!("{n} failed")) } else { Ok(n) }
///     })).collect();
///     let mut successes = Vec::new();
///     for call in calls {
///         if let Ok(n) = call.await {
///             successes.push(n);
///         }
///     }
///     Ok(successes)
/// }));
/// let duet::Supervised { value, errors, .. } = outcome;
/// assert_eq!(value, Some(vec![1, 3]));
/// assert_eq!(errors, ["2 failed", "4 failed"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Supervised<T, E> {
    /// The body's value, if it returned `Ok`.
    pub value: Option<T>,
    /// Every error of the body and the tasks, in the order they happened.
    pub errors: Vec<E>,
    /// Why the scope was cancelled, if it was (a timeout, [`Scope::cancel`], an enclosing
    /// scope, Ctrl-C); `None` if it ran to the end.
    pub cancelled: Option<CancelReason>,
}

impl<T, E> Supervised<T, E> {
    /// True if the body returned a value, no error happened and the scope was not
    /// cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let outcome = duet::run(duet::supervise(async |s| {
    ///     s.spawn(async { Err::<(), _>("one failure") });
    ///     Ok(())
    /// }));
    /// assert!(!outcome.is_ok());
    /// assert_eq!(outcome.value, Some(()));
    /// ```
    pub fn is_ok(&self) -> bool {
        self.value.is_some() && self.errors.is_empty() && self.cancelled.is_none()
    }

    /// The result a plain scope with the same options would have returned: `Ok(value)` if
    /// nothing went wrong, otherwise the [`ScopeError`] (dropping the value).
    ///
    /// # Panics
    ///
    /// If the outcome reports no error and no cancellation but its `value` was taken out
    /// (a scope that went well always has one).
    ///
    /// # Examples
    ///
    /// ```
    /// let outcome = duet::run(duet::supervise(async |s| {
    ///     s.spawn(async { Err::<(), _>("bad") });
    ///     Ok(1)
    /// }));
    /// assert_eq!(outcome.into_result().unwrap_err().into_errors(), ["bad"]);
    /// ```
    pub fn into_result(self) -> Result<T, ScopeError<E>> {
        if self.value.is_none() && self.errors.is_empty() && self.cancelled.is_none() {
            panic!(
                "duet::Supervised::into_result: the outcome has no error and no cancellation, \
                 but its value was taken out; take the value or call into_result, not both"
            );
        }
        Outcome {
            value: self.value,
            errors: self.errors,
            cancelled: self.cancelled,
        }
        .into_result()
    }
}

/// Opens a supervisor scope that keeps its body's value: like
/// `scope_with(ScopeOptions::new().collect_all(), body)` (a failure cancels nothing; every
/// task runs to its end), but the result is the whole [`Supervised`] outcome, so the body
/// can gather the successes and return them next to the errors.
///
/// # Cancel safety
///
/// As for [`scope`](crate::scope): dropping the future cancels every task of the scope.
///
/// # Examples
///
/// Fetch every page, keep the ones that loaded, report the rest:
///
/// ```
/// async fn fetch(id: u32) -> Result<String, String> {
///     if id == 3 { Err(format!("page {id}: 404")) } else { Ok(format!("page {id}")) }
/// }
///
/// let outcome = duet::run(duet::supervise(async |s| {
///     let pages: Vec<_> = (1..=4).map(|id| s.spawn(fetch(id))).collect();
///     let mut loaded = Vec::new();
///     for page in pages {
///         loaded.extend(page.await.ok());
///     }
///     Ok(loaded)
/// }));
/// assert_eq!(outcome.value.unwrap(), ["page 1", "page 2", "page 4"]);
/// assert_eq!(outcome.errors, ["page 3: 404"]);
/// ```
#[track_caller]
pub fn supervise<'env, B, Fut, E>(
    body: B,
) -> impl Future<Output = Supervised<<Fut::Output as BodyOutput<E>>::Ok, E>>
where
    B: FnOnce(Scope<'env, E>) -> Fut,
    Fut: Future,
    Fut::Output: BodyOutput<E>,
    E: 'env,
{
    supervise_with(ScopeOptions::new(), body)
}

/// Opens a supervisor scope with a time limit or grace period from `options`; see
/// [`supervise`]. What finished before the time limit is kept: the body can return the
/// successes so far when it observes the cancellation (with a
/// [`grace`](ScopeOptions::grace) period), or collect them as they come in.
///
/// # Panics
///
/// If `options` chose [`ErrorPolicy::FailFast`]: a supervised scope always collects.
///
/// # Cancel safety
///
/// As for [`scope`](crate::scope): dropping the future cancels every task of the scope.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use duet::ScopeOptions;
///
/// let options = ScopeOptions::new().timeout(Duration::from_secs(1));
/// let outcome = duet::run_with(duet::Config::new().virtual_clock(), duet::supervise_with(options, duet::infallible(async |s| {
///     s.spawn(duet::sleep(Duration::from_secs(60))); // still running at the deadline
///     "the body's value"
/// })));
/// assert_eq!(outcome.value, Some("the body's value")); // returned before the timeout
/// assert_eq!(outcome.cancelled, Some(duet::CancelReason::TimedOut));
/// ```
#[track_caller]
pub fn supervise_with<'env, B, Fut, E>(
    options: ScopeOptions,
    body: B,
) -> impl Future<Output = Supervised<<Fut::Output as BodyOutput<E>>::Ok, E>>
where
    B: FnOnce(Scope<'env, E>) -> Fut,
    Fut: Future,
    Fut::Output: BodyOutput<E>,
    E: 'env,
{
    if options.policy == Some(ErrorPolicy::FailFast) {
        panic!(
            "duet::supervise_with: a supervised scope always collects every error, so it \
             cannot be fail-fast; use duet::scope_with for a fail-fast scope, or drop the \
             .error_policy(ErrorPolicy::FailFast)"
        );
    }
    let options = options.collect_all();
    let location = Location::caller();
    async move {
        let outcome = ScopeFuture::new(options, location, Interruptible::AtTheRoot, body).await;
        Supervised {
            value: outcome.value,
            errors: outcome.errors,
            cancelled: outcome.cancelled,
        }
    }
}
