//! The future of a scope: the body closure until its first poll, then the driver.
//!
//! A scope is created at its future's first poll, not when the future is made, so that
//! it links to the scope and loop that poll it (`Scope::new` reads the current scope and
//! loop), as an `async fn` would. The body closure is then called with a handle to it
//! (by value: the body owns its handle, and the driver keeps its own clone), and the
//! future it returns is handed to the [`Driver`], which the scope future polls from
//! then on, including after it completed (the driver refuses that with its message).
//!
//! A plain pinned struct rather than an `async fn`: the compiler cannot prove the future
//! of an `async fn` generic over an `AsyncFnOnce(&Scope)` body `Send` inside another
//! future (rust-lang/rust#110338, `design/send-scopes.md`), and it is one state machine
//! less in every poll of every scope.

use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::driver::{Driver, Outcome};
use super::handle::Scope;
use super::output::{BodyOutput, BodyValue};
use super::{Interruptible, ScopeOptions};

/// What opening a scope needs at the first poll.
struct Start<B> {
    body: B,
    options: ScopeOptions,
    location: &'static Location<'static>,
    interruptible: Interruptible,
}

#[cfg(not(feature = "tracing"))]
type Body<Fut> = Fut;
#[cfg(feature = "tracing")]
type Body<Fut> = tracing::instrument::Instrumented<Fut>;

#[cfg(not(feature = "tracing"))]
type Ending = ();
#[cfg(feature = "tracing")]
type Ending = super::trace::ScopeEnding;

pin_project! {
    /// A scope's future, producing its whole [`Outcome`] (see `IntoResult` for the
    /// `Result` a plain scope returns).
    pub(crate) struct ScopeFuture<'env, E, B, Fut, V> {
        start: Option<Start<B>>,
        #[pin]
        driver: Option<Driver<'env, E, Body<Fut>, V>>,
        // After the driver, so that it is dropped after it: the driver's drop sets the
        // reason the scope's span records.
        ending: Option<Ending>,
    }
}

impl<'env, E, B, Fut, V> ScopeFuture<'env, E, B, Fut, V> {
    pub(crate) fn new(
        options: ScopeOptions,
        location: &'static Location<'static>,
        interruptible: Interruptible,
        body: B,
    ) -> Self {
        ScopeFuture {
            start: Some(Start {
                body,
                options,
                location,
                interruptible,
            }),
            driver: None,
            ending: None,
        }
    }
}

impl<'env, E, B, Fut, V> Future for ScopeFuture<'env, E, B, Fut, V>
where
    E: 'env,
    B: FnOnce(Scope<'env, E>) -> Fut,
    Fut: Future,
    Fut::Output: BodyOutput<E> + BodyValue<Ok = V>,
{
    type Output = Outcome<V, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(start) = this.start.take() {
            let scope = Scope::new(start.location, start.interruptible);
            if start.interruptible == Interruptible::AtTheRoot {
                super::registry::adopt_if_root_scope(&scope.inner.core.signal);
            }
            let body = (start.body)(scope.clone());
            #[cfg(feature = "tracing")]
            let body = {
                let core = &scope.inner.core;
                *this.ending = Some(super::trace::ScopeEnding::new(core.clone()));
                tracing::Instrument::instrument(body, core.span().clone())
            };
            this.driver
                .set(Some(Driver::new(scope, body, start.options)));
        }
        let Some(driver) = this.driver.as_pin_mut() else {
            // Only a poll after the body closure's call panicked gets here: the closure
            // is gone and no driver was made.
            panic!(
                "duet: a scope future was polled again after its body panicked when it \
                 was called; a future that panicked must not be polled again"
            );
        };
        let outcome = ready!(driver.poll(cx));
        #[cfg(feature = "tracing")]
        if let Some(ending) = this.ending.take() {
            ending.finished(&outcome);
        }
        Poll::Ready(outcome)
    }
}
