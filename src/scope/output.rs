//! What tasks and scope bodies may return: `()` or a `Result`.
//!
//! A task's `Err` is what fails its scope, so the scope has to see errors as errors;
//! without specialization a trait over "any `T`" cannot tell `Result<T, E>` apart, so the
//! two shapes are spelled out. Infallible work returns `()` and needs no
//! `Ok::<_, E>(())`; a task that produces a value returns `Ok(value)`, and the scope's
//! error type is inferred from the other tasks or the body.

use std::convert::Infallible;

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
/// # Examples
///
/// ```
/// let n = duet::run_scope(async |s| {
///     s.spawn(async { println!("infallible tasks return ()") });
///     let answer = s.spawn(async { Ok(42) }); // a value is returned as Ok(value)
///     let forever = s.spawn(async { loop { duet::yield_now().await } });
///     forever.cancel();
///     answer.await.map_err(|_| "cancelled")
/// });
/// assert_eq!(n.unwrap(), 42);
/// ```
#[diagnostic::on_unimplemented(
    message = "a duet task must return `()` or `Result<_, E>` (E: the scope's error type), not `{Self}`",
    label = "this task returns `{Self}`",
    note = "return `Ok(value)` to give a task's value to its JoinHandle"
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
/// If tasks need to fail, return `Ok(())` from the body instead.
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
/// ```
#[diagnostic::on_unimplemented(
    message = "a duet scope body must return `Result<_, E>` or `()`, not `{Self}`",
    label = "this body returns `{Self}`",
    note = "return `Ok(value)`; a body returning `()` makes the scope infallible"
)]
pub trait BodyOutput<E>: sealed::Sealed {
    /// The scope's value on success.
    type Ok;

    /// Splits the output into success and failure.
    fn into_result(self) -> Result<Self::Ok, E>;
}

impl<T, E> BodyOutput<E> for Result<T, E> {
    type Ok = T;

    fn into_result(self) -> Result<T, E> {
        self
    }
}

impl BodyOutput<Infallible> for () {
    type Ok = ();

    fn into_result(self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// A body that never returns (for example an accept loop that runs until cancelled). The
/// scope's error type then comes from its tasks; if they cannot fail either, name the
/// handle's type, `async |s: &Scope<'_>| ..`, whose default error type is
/// [`Infallible`].
impl<E> BodyOutput<E> for Never {
    type Ok = Never;

    fn into_result(self) -> Result<Never, E> {
        self
    }
}
