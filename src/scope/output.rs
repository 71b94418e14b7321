//! What tasks and scope bodies may return: `()` or a `Result`; and [`infallible`](crate::infallible), for a
//! body that returns a plain value.
//!
//! A task's `Err` is what fails its scope, so the scope has to see errors as errors;
//! without specialization a trait over "any `T`" cannot tell `Result<T, E>` apart, so the
//! two shapes are spelled out. Infallible work returns `()` and needs no
//! `Ok::<_, E>(())`; a task that produces a value returns `Ok(value)`, and the scope's
//! error type is inferred from the other tasks or the body. When nothing in the scope
//! returns an `Err`, nothing names that type either, so a body returning `Ok(value)`
//! would need `Ok::<_, Infallible>(value)`: [`infallible`](crate::infallible) fixes the error type to
//! [`Infallible`] instead and lets the body return the value itself.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

/// Names the never type `!` on stable Rust: a task that loops until it is cancelled
/// (`async { loop { .. } }`) has output `!` under edition 2024's never-type fallback, and
/// must be spawnable. The trait has to be `pub` to appear in a public impl; its module
/// keeps it unnameable outside the crate.
mod never {
    #[allow(unreachable_pub)]
    pub trait FnOutput {
        type Output;
    }

    impl<T> FnOutput for fn() -> T {
        type Output = T;
    }

    pub(crate) type Never = <fn() -> ! as FnOutput>::Output;
}

use never::Never;

/// Keeps [`TaskOutput`] and [`BodyOutput`] closed: duet alone decides which outputs count
/// as success and which as failure.
mod sealed {
    #[allow(unreachable_pub)]
    pub trait Sealed {}

    impl<T, E> Sealed for Result<T, E> {}
    impl Sealed for () {}
    impl Sealed for super::Never {}
}

/// The output of a task spawned with [`Scope::spawn`](crate::Scope::spawn) (sealed: it
/// is implemented for exactly these types): `()`,
/// `Result<T, E>` where `E` is the scope's error type, or `!` for a task that runs until
/// it is cancelled.
///
/// An `Err` fails the scope (see [`ScopeOptions`](crate::ScopeOptions) for the policies);
/// an `Ok(value)` becomes the output of the task's [`JoinHandle`](crate::JoinHandle).
///
/// A plain value is not a task output: `Ok(value)` says that it is one. (An impl for
/// every type would overlap the one for `Result`, and a task returning a `Result` as its
/// value would then be ambiguous: does its `Err` fail the scope? `design/scopes.md`.)
///
/// # Examples
///
/// ```
/// async fn mul(a: i32, b: i32) -> i32 {
///     a * b
/// }
///
/// let n = duet::run_scope(async |s| {
///     s.spawn(async { println!("infallible tasks return ()") });
///     let answer = s.spawn(async { Ok(mul(6, 7).await) }); // a value is returned as Ok(value)
///     let forever = s.spawn(async { loop { duet::yield_now().await } });
///     forever.cancel();
///     answer.await.map_err(|_| "cancelled")
/// });
/// assert_eq!(n.unwrap(), 42);
/// ```
///
/// Spawning the plain value does not compile; the message says to write
/// `s.spawn(async { Ok(work.await) })` instead:
///
/// ```compile_fail,E0277
/// # async fn mul(a: i32, b: i32) -> i32 { a * b }
/// let _ = duet::run_scope(duet::infallible(async |s| {
///     s.spawn(mul(6, 7)).await // error: a duet task must return `()` or `Result<_, E>` ..
/// }));
/// ```
#[diagnostic::on_unimplemented(
    message = "a duet task must return `()` or `Result<_, E>` (E: the scope's error type), not `{Self}`",
    label = "this task returns `{Self}`",
    note = "a task that produces a plain value wraps it in `Ok`: write `s.spawn(async {{ Ok(work.await) }})` instead of `s.spawn(work)`; the task's JoinHandle then yields the value, and a task's `Err` must have the scope's error type"
)]
pub trait TaskOutput<E>: sealed::Sealed {
    /// The value a [`JoinHandle`](crate::JoinHandle) yields when the task succeeds.
    type Ok;

    /// Splits the output into success and failure.
    fn into_result(self) -> Result<Self::Ok, E>;
}

impl<T, E> TaskOutput<E> for Result<T, E> {
    type Ok = T;

    fn into_result(self) -> Result<T, E> {
        self
    }
}

impl<E> TaskOutput<E> for () {
    type Ok = ();

    fn into_result(self) -> Result<(), E> {
        Ok(())
    }
}

/// A task that never returns (it loops until cancelled).
impl<E> TaskOutput<E> for Never {
    type Ok = Never;

    fn into_result(self) -> Result<Never, E> {
        self
    }
}

/// The output of a scope body (sealed): `Result<T, E>`, `()` for a scope that cannot
/// fail, or `!` for a body that never returns.
///
/// A body that returns `()` fixes the scope's error type to
/// [`Infallible`]: its tasks may then only return `()` or `Result<_, Infallible>`.
/// If tasks need to fail, return `Ok(())` from the body instead. A body that cannot fail
/// but returns a value is wrapped in [`infallible`](crate::infallible).
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
///
/// // A body returning () makes an infallible scope.
/// let r: Result<(), duet::ScopeError<Infallible>> = duet::run_scope(async |s| {
///     s.spawn(async {});
/// });
/// assert!(r.is_ok());
///
/// // A body returning Result lets tasks fail with the same error type.
/// let r = duet::run_scope(async |s| {
///     s.spawn(async { Err::<(), _>("boom") });
///     Ok(())
/// });
/// assert_eq!(r.unwrap_err().into_errors(), vec!["boom"]);
///
/// // A body that cannot fail and returns a value is wrapped in `infallible`.
/// let r = duet::run_scope(duet::infallible(async |_s| 42));
/// assert_eq!(r.unwrap(), 42);
/// ```
///
/// Returning the plain value without the wrapper does not compile; the message points
/// to [`infallible`](crate::infallible):
///
/// ```compile_fail,E0277
/// let _ = duet::run_scope(async |_s| 42); // error: a duet scope body must return `Result<_, E>` ..
/// ```
#[diagnostic::on_unimplemented(
    message = "a duet scope body must return `Result<_, E>` (E: the scope's error type), or `()` when E is `Infallible`; this one returns `{Self}`, and E is `{E}`",
    label = "this body returns `{Self}`",
    note = "return `Ok(value)`, or `()` if nothing in the scope can fail; the scope's error type comes from the `Result`s of its tasks and body",
    note = "for a scope that cannot fail and returns a value, wrap the body: `duet::run_scope(duet::infallible(async |s| value))`"
)]
pub trait BodyOutput<E>: BodyValue {
    /// Splits the output into success and failure.
    fn into_result(self) -> Result<Self::Ok, E>;
}

/// The value part of a [`BodyOutput`]: what a scope returns on success, whatever its
/// error type (`T` for `Result<T, _>`, `()` for `()`). Implemented for the body outputs
/// only; it is named in the openers' return types.
///
/// It is a trait of its own, without the error type, so that the type of a scope's
/// value does not depend on the error type's lifetimes: otherwise the compiler cannot
/// prove a Send scope's future `Send` inside another future when the error type is a
/// reference such as `&'static str` (rust-lang/rust#110338).
///
/// # Examples
///
/// ```
/// fn value_of<O: duet::BodyValue>(_: &O) -> &'static str {
///     std::any::type_name::<O::Ok>()
/// }
/// assert_eq!(value_of(&Ok::<u8, &str>(1)), "u8");
/// ```
pub trait BodyValue: sealed::Sealed {
    /// The scope's value on success.
    type Ok;
}

impl<T, E> BodyValue for Result<T, E> {
    type Ok = T;
}

impl BodyValue for () {
    type Ok = ();
}

impl BodyValue for Never {
    type Ok = Never;
}

impl<T, E> BodyOutput<E> for Result<T, E> {
    fn into_result(self) -> Result<T, E> {
        self
    }
}

impl BodyOutput<Infallible> for () {
    fn into_result(self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// A body that never returns (for example an accept loop that runs until cancelled). The
/// scope's error type then comes from its tasks; if they cannot fail either, name the
/// handle's type, `async |s: Scope<'_>| ..`, whose default error type is
/// [`Infallible`].
impl<E> BodyOutput<E> for Never {
    fn into_result(self) -> Result<Never, E> {
        self
    }
}

pin_project! {
    /// The future of an [`infallible`](crate::infallible()) body: the body's future, with its value wrapped
    /// in `Ok`. Only [`infallible`](crate::infallible()) makes one; the name exists so that its signature can
    /// say what it returns.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = duet::run(duet::scope(duet::infallible(async |s| {
    ///     s.spawn(async {});
    ///     "value"
    /// })));
    /// assert_eq!(r.unwrap(), "value");
    /// ```
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct Infallibly<Fut> {
        #[pin]
        body: Fut,
    }
}

impl<Fut> Infallibly<Fut> {
    pub(crate) fn new(body: Fut) -> Self {
        Infallibly { body }
    }
}

impl<Fut: Future> Future for Infallibly<Fut> {
    type Output = Result<Fut::Output, Infallible>;

    /// `Ready(Ok(value))` when the body returned `value`; `Pending` while it runs.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().body.poll(cx).map(Ok)
    }
}
