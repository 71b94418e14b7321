//! The functions that open a scope of this kind: [`scope`], [`scope_with`], the
//! toolkit's [`internal_scope`], and [`infallible`] for bodies that cannot fail.

use std::convert::Infallible;
use std::panic::Location;

use super::handle::Scope;
use super::kind::Spawnable;
use super::output::{BodyOutput, BodyValue, Infallibly};
use super::{Interruptible, ScopeOptions, driver, open};
use crate::ScopeError;

/// Opens a scope (a nursery): runs `body`, lets it spawn tasks, and waits for all of them.
///
/// The body receives a [`Scope`] to [`spawn`](Scope::spawn) tasks with. The scope
/// completes when the body and every task have completed, and returns the body's value.
/// The first error, from the body or any task, cancels everything still running (each
/// task is dropped at its current await point, nested scopes first) and the scope returns
/// [`ScopeError::Failed`]. A panic in a task cancels the rest and is re-raised by the
/// scope, as [`std::thread::scope`] does. See [`scope_with`] for other error policies.
///
/// The scope's error type `E` is inferred from the `Result`s the tasks and the body
/// return. A body that cannot fail returns `()`, or is wrapped in [`infallible`] to
/// return a value; a body that uses `?` on errors no task returns names `E` once
/// (`Ok::<_, MyError>(value)`).
///
/// # Cancel safety
///
/// Dropping the returned future cancels the scope: every task in it is dropped, and
/// their join handles report [`CancelReason::Parent`](crate::CancelReason::Parent).
///
/// # Examples
///
/// ```
/// #[derive(Debug)]
/// struct NotFound(&'static str);
///
/// async fn fetch(key: &'static str) -> Result<usize, NotFound> {
///     if key.is_empty() { Err(NotFound(key)) } else { Ok(key.len()) }
/// }
///
/// let keys = ["alpha", "beta"];
/// let total = duet::run(async {
///     duet::scope(async |s| {
///         let lens: Vec<_> = keys.iter().map(|&k| s.spawn(fetch(k))).collect();
///         let mut total = 0;
///         for len in lens {
///             total += len.await.expect("no task of a running scope is cancelled here");
///         }
///         Ok(total) // the scope's error type, NotFound, comes from the tasks
///     })
///     .await
/// });
/// assert_eq!(total.unwrap(), 9);
///
/// let failed = duet::run_scope(async |s| {
///     s.spawn(fetch(""));
///     s.spawn(futures::future::pending::<Result<(), NotFound>>()); // cancelled by the failure
///     Ok(())
/// });
/// assert!(matches!(failed, Err(duet::ScopeError::Failed { error: NotFound(""), .. })));
/// ```
#[track_caller]
pub fn scope<'env, B, Fut, E>(
    body: B,
) -> impl Future<Output = Result<<Fut::Output as BodyValue>::Ok, ScopeError<E>>>
where
    B: FnOnce(Scope<'env, E>) -> Fut + Spawnable,
    Fut: Future + Spawnable,
    Fut::Output: BodyOutput<E>,
    <Fut::Output as BodyValue>::Ok: Spawnable,
    E: Spawnable + 'env,
{
    scope_with(ScopeOptions::new(), body)
}

/// Opens a scope with [`ScopeOptions`]; see [`scope`].
///
/// # Cancel safety
///
/// As for [`scope`]: dropping the future cancels every task of the scope.
///
/// # Examples
///
/// ```
/// use duet::{ScopeError, ScopeOptions};
///
/// // A supervisor: failures do not cancel the other tasks.
/// let done = std::cell::Cell::new(0);
/// let result = duet::run(duet::scope_with(ScopeOptions::new().collect_all(), async |s| {
///     for i in 0..4 {
///         let done = &done;
///         s.spawn(async move {
///             done.set(done.get() + 1);
///             if i % 2 == 0 { Err(i) } else { Ok(()) }
///         });
///     }
///     Ok(())
/// }));
/// assert_eq!(done.get(), 4);
/// match result {
///     Err(ScopeError::Failed { error, others }) => assert_eq!((error, others), (0, vec![2])),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[track_caller]
pub fn scope_with<'env, B, Fut, E>(
    options: ScopeOptions,
    body: B,
) -> impl Future<Output = Result<<Fut::Output as BodyValue>::Ok, ScopeError<E>>>
where
    B: FnOnce(Scope<'env, E>) -> Fut + Spawnable,
    Fut: Future + Spawnable,
    Fut::Output: BodyOutput<E>,
    <Fut::Output as BodyValue>::Ok: Spawnable,
    E: Spawnable + 'env,
{
    open(options, Location::caller(), Interruptible::AtTheRoot, body)
}

/// A scope of duet's own (the calls of a `pmap`), whose result its caller turns into
/// something else: Ctrl-C never adopts it as a root scope (whatever it runs under
/// reports the interruption instead), and nothing else can cancel it.
#[track_caller]
pub(crate) fn internal_scope<'env, B, Fut, E>(
    body: B,
) -> impl Future<Output = Result<<Fut::Output as BodyValue>::Ok, ScopeError<E>>>
where
    B: FnOnce(Scope<'env, E>) -> Fut + Spawnable,
    Fut: Future + Spawnable,
    Fut::Output: BodyOutput<E>,
    <Fut::Output as BodyValue>::Ok: Spawnable,
    E: Spawnable + 'env,
{
    open(
        ScopeOptions::new(),
        Location::caller(),
        Interruptible::Never,
        body,
    )
}

fn open<'env, B, Fut, E>(
    options: ScopeOptions,
    location: &'static Location<'static>,
    interruptible: Interruptible,
    body: B,
) -> impl Future<Output = Result<<Fut::Output as BodyValue>::Ok, ScopeError<E>>>
where
    B: FnOnce(Scope<'env, E>) -> Fut + Spawnable,
    Fut: Future + Spawnable,
    Fut::Output: BodyOutput<E>,
    <Fut::Output as BodyValue>::Ok: Spawnable,
    E: Spawnable + 'env,
{
    driver::IntoResult::new(open::ScopeFuture::new(
        options,
        location,
        interruptible,
        body,
    ))
}

/// Wraps a scope body that cannot fail and returns a plain value: the scope's error type
/// is [`Infallible`], and the body's value is the scope's.
///
/// Pass the result to any function that opens a scope ([`run_scope`](crate::run_scope),
/// [`scope`](crate::scope()), [`scope_with`](crate::scope_with),
/// [`timeout_scope`](crate::timeout_scope), ..). It saves the annotation a body returning
/// `Ok(value)` otherwise needs when no task can fail, since then nothing names the error
/// type: `Ok::<_, Infallible>(value)` becomes `value`. The tasks may return `()`,
/// `Ok(value)` (inferred as `Result<_, Infallible>`) or never return. The scope still
/// returns a `Result`: it may be cancelled ([`Scope::cancel`], a timeout, Ctrl-C), and
/// that is its only error.
///
/// A scope whose tasks or body can fail does not take this wrapper; its error type is
/// inferred from the `Result`s they return, or named once (`Ok::<_, MyError>(value)`, or
/// the handle's type `async |s: duet::Scope<'_, MyError>|`; see `design/scopes.md`).
///
/// # Examples
///
/// ```
/// let words = ["ada", "grace"];
/// let total = duet::run_scope(duet::infallible(async |s| {
///     let lens: Vec<_> = words.iter().map(|w| s.spawn(async move { Ok(w.len()) })).collect();
///     let mut total = 0;
///     for len in lens {
///         total += len.await.expect("nothing cancels these tasks");
///     }
///     total
/// }));
/// assert_eq!(total.unwrap(), 8);
///
/// // Nested, with a time limit: the scope can only be cancelled.
/// use std::time::Duration;
/// let r = duet::run_with(duet::Config::new().virtual_clock(), async {
///     duet::timeout_scope(Duration::from_secs(1), duet::infallible(async |s| {
///         s.spawn(duet::sleep(Duration::from_secs(60)));
///         "never returned: the timeout cancels the scope first"
///     }))
///     .await
/// });
/// assert!(r.unwrap_err().is_timeout());
/// ```
///
/// A task of an infallible scope cannot return an error; the compiler says which error
/// type the scope has:
///
/// ```compile_fail,E0277
/// let _ = duet::run_scope(duet::infallible(async |s| {
///     s.spawn(async { Err::<(), _>("boom") }); // error: the scope's error type is Infallible
///     1
/// }));
/// ```
pub fn infallible<'env, B, Fut>(body: B) -> impl FnOnce(Scope<'env, Infallible>) -> Infallibly<Fut>
where
    B: FnOnce(Scope<'env, Infallible>) -> Fut,
    Fut: Future,
{
    move |s| Infallibly::new(body(s))
}
