//! [`Supervised`]: the whole outcome of a supervised scope, the same for both kinds of
//! scope.

use super::status::Outcome;
use crate::{CancelReason, ScopeError};

/// The whole outcome of a supervised scope ([`supervise`](crate::supervise())): the body's value, if it returned one,
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
    /// Why the scope was cancelled, if it was (a timeout, [`Scope::cancel`](crate::Scope::cancel), an enclosing
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
