//! `tracing` spans for scopes and tasks (feature `tracing`; without it, nothing here is
//! compiled and no other code changes).
//!
//! A scope's span is made when the scope is opened, with the span current at that moment
//! as its parent: the span of the task (or scope body) that opened it, or whatever the
//! caller of `run` had entered. It lives in the scope's `ScopeCore`, where spawns find
//! it, and the scope's body is polled and dropped inside it. A task's span is made at its
//! spawn with its scope's span as the parent, whatever span the spawner is in, and lives
//! in a [`TracedTask`] around the spawned task, which enters it for every poll and for
//! the drop (see [`traced`]). So the span tree is the scope tree: a scope opened in a task sits under that
//! task's span, and a destructor of a cancelled task logs inside that task's span.
//!
//! The driver never sees any of it: it polls and drops a `TracedTask` as it would the
//! task itself, and a scope's ending is recorded by [`ScopeEnding`], which the scope
//! future holds next to the driver (`open.rs`).
//!
//! # Invariants
//!
//! 1. A task span records `outcome` exactly once: `done`, `failed` or `panicked` when its
//!    poll returns `Ready`, otherwise `cancelled` (with the `reason` the scope drops it
//!    for) when it is dropped. A scope span likewise, when the scope returns (`done`,
//!    `failed` with the number of `errors`, `cancelled` with its `reason`), re-raises a
//!    panic (`panicked`) or is dropped unfinished (`cancelled`).
//! 2. A span that no subscriber is interested in costs its creation check and nothing
//!    more: a task whose span is disabled at its spawn is boxed bare, without a
//!    `TracedTask` (a disabled span never becomes enabled), and nothing is formatted or
//!    recorded on a disabled scope span (`Span::is_disabled`).

use super::kind::Shared;
use std::any::Any;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tracing::Span;
use tracing::field::{Empty, display};

use super::core::ScopeCore;
use super::current;
use super::driver::Outcome;
use super::tasks::{BoxedTask, Exit, Task};
use crate::CancelReason;
use crate::context::Values;

/// The span of a scope opened at `location`, under the span current now.
pub(crate) fn scope_span(id: u64, location: &'static Location<'static>) -> Span {
    tracing::info_span!(
        target: "duet",
        "scope",
        id,
        location = %location,
        outcome = Empty,
        reason = Empty,
        errors = Empty,
    )
}

/// Boxes task `index` of the scope whose span is `scope`, inside a span of its own if a
/// subscriber wants it; otherwise bare, to be polled and dropped as without the feature.
pub(crate) fn traced<'env, T, E>(
    task: T,
    scope: &Span,
    index: u32,
    name: Option<&str>,
    location: &'static Location<'static>,
) -> BoxedTask<'env, E>
where
    T: Task<E> + 'env,
    E: 'env,
{
    let span = tracing::info_span!(
        target: "duet",
        parent: scope,
        "task",
        index,
        name,
        location = %location,
        outcome = Empty,
        reason = Empty,
        panic = Empty,
    );
    if span.is_disabled() {
        Box::pin(task)
    } else {
        Box::pin(TracedTask::new(task, span))
    }
}

fn record_cancelled(span: &Span, reason: &CancelReason) {
    span.record("outcome", "cancelled");
    span.record("reason", display(reason));
}

pin_project! {
    /// A spawned task that runs inside its (enabled) span. `task` is `None` only while
    /// it is dropped, inside the span.
    pub(crate) struct TracedTask<T> {
        #[pin]
        task: Option<T>,
        span: Span,
        // The outcome is recorded: the task returned `Ready`.
        ended: bool,
    }

    impl<T> PinnedDrop for TracedTask<T> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if !*this.ended {
                // Every drop of an unfinished task is under `current::while_dropping`.
                let reason = current::dropping_reason().unwrap_or(CancelReason::Dropped);
                record_cancelled(this.span, &reason);
            }
            let _entered = this.span.enter();
            this.task.set(None);
        }
    }
}

impl<T> TracedTask<T> {
    pub(crate) fn new(task: T, span: Span) -> Self {
        TracedTask {
            task: Some(task),
            span,
            ended: false,
        }
    }
}

impl<T: Task<E>, E> Task<E> for TracedTask<T>
where
    TracedTask<T>: super::kind::Spawnable,
{
    fn poll_task(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Exit<E>> {
        let this = self.project();
        let _entered = this.span.enter();
        let Some(task) = this.task.as_pin_mut() else {
            unreachable!("a traced task is polled only before it is dropped");
        };
        let poll = task.poll_task(cx);
        if let Poll::Ready(exit) = &poll {
            *this.ended = true;
            record_exit(this.span, exit);
        }
        poll
    }

    fn context(&self) -> Values {
        match &self.task {
            Some(task) => task.context(),
            None => unreachable!("a traced task is dropped only once"),
        }
    }
}

fn record_exit<E>(span: &Span, exit: &Exit<E>) {
    match exit {
        Exit::Done => span.record("outcome", "done"),
        Exit::Failed(_) => span.record("outcome", "failed"),
        Exit::Panicked(payload) => {
            span.record("outcome", "panicked");
            match panic_text(&**payload) {
                Some(text) => span.record("panic", text),
                None => span.record("panic", "<non-string panic payload>"),
            }
        }
    };
}

fn panic_text(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// Records how a scope ended on its span: [`finished`](Self::finished) with its
/// outcome, or when dropped before that (the scope re-raised a panic, or its future was
/// dropped unfinished).
pub(crate) struct ScopeEnding {
    core: Shared<ScopeCore>,
    ended: bool,
}

impl ScopeEnding {
    pub(crate) fn new(core: Shared<ScopeCore>) -> Self {
        ScopeEnding { core, ended: false }
    }

    pub(crate) fn finished<V, E>(mut self, outcome: &Outcome<V, E>) {
        self.ended = true;
        let span = self.core.span();
        if span.is_disabled() {
            return;
        }
        match &outcome.cancelled {
            Some(reason) => record_cancelled(span, reason),
            None => {
                let failed = !outcome.errors.is_empty();
                span.record("outcome", if failed { "failed" } else { "done" });
            }
        }
        if !outcome.errors.is_empty() {
            span.record("errors", outcome.errors.len());
        }
    }
}

impl Drop for ScopeEnding {
    fn drop(&mut self) {
        let span = self.core.span();
        if self.ended || span.is_disabled() {
            return;
        }
        if std::thread::panicking() {
            span.record("outcome", "panicked");
        } else {
            // The driver, dropped just before this guard, has set the reason.
            let reason = self.core.cancel_reason().unwrap_or(CancelReason::Dropped);
            record_cancelled(span, &reason);
        }
    }
}
