//! [`supervise`]: a collect-all scope that keeps its body's value alongside the errors.
//!
//! A scope that returns `Result<T, ScopeError<E>>` has to drop the body's value when any
//! task failed, so a supervisor that gathers the successes would have to smuggle them out
//! through a `RefCell`. A supervised scope returns its whole outcome instead.

use std::panic::Location;

use super::kind::Spawnable;
use super::open::ScopeFuture;
use super::supervised::Supervised;
use super::{BodyOutput, BodyValue, ErrorPolicy, Interruptible, Scope, ScopeOptions};

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
) -> impl Future<Output = Supervised<<Fut::Output as BodyValue>::Ok, E>>
where
    B: FnOnce(Scope<'env, E>) -> Fut + Spawnable,
    Fut: Future + Spawnable,
    Fut::Output: BodyOutput<E>,
    <Fut::Output as BodyValue>::Ok: Spawnable,
    E: Spawnable + 'env,
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
) -> impl Future<Output = Supervised<<Fut::Output as BodyValue>::Ok, E>>
where
    B: FnOnce(Scope<'env, E>) -> Fut + Spawnable,
    Fut: Future + Spawnable,
    Fut::Output: BodyOutput<E>,
    <Fut::Output as BodyValue>::Ok: Spawnable,
    E: Spawnable + 'env,
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
