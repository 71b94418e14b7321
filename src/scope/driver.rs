//! The scope driver: the future that owns a scope's body and polls it and its tasks.
//!
//! # How a poll goes
//!
//! 1. Apply cancellation: an explicit request ends the scope; tasks whose join handles
//!    asked to cancel them are dropped.
//! 2. Run a *round*: take the tasks queued so far (spawned ones first, then woken ones)
//!    and poll each once; tasks queued during the round wait for the next round, so a
//!    task that keeps waking itself is polled once per round and cannot starve its
//!    siblings. Cancellation is applied again after every task poll. A scope with a
//!    deadline runs its rounds under it (see `time::deadline`), so deadline holders
//!    inside see it as enclosing.
//! 3. Run further rounds while tasks are queued, until [`ROUND_BUDGET`] task polls have
//!    been made in this poll of the scope, or the scope's deadline has passed; then yield
//!    to the parent (wake it and return `Pending`), so a busy scope cannot starve the
//!    rest of the tree. A round is never cut short: every task queued at its start is
//!    polled.
//! 4. If the scope has a deadline that has passed, it is not done yet, and no enclosing
//!    deadline is earlier or equal, it ends as cancelled with `CancelReason::TimedOut`.
//!    (Like a timeout, a deadline takes effect at the next await: the rounds run first.)
//! 5. If a task failed (fail-fast), panicked, or cancellation was requested, tear down:
//!    drop every task, the body last, then report.
//! 6. If the body and all tasks are done, report the result.
//! 7. Otherwise register the parent's waker, then re-check for work that arrived while
//!    polling (wakes during a poll do not wake the parent, see `signal`); if there is
//!    some, yield.
//! 8. Otherwise return `Pending`. If no pending task's waker is held by anything (see
//!    [`WakerSlot::is_held`]) and the scope has no deadline, the scope is *stuck*: it
//!    reports the clone of the parent's waker it keeps as a stuck hold, so the parent can
//!    tell that only this scope, which nothing can wake, would ever wake it. (A
//!    deadline's timer holds the parent's waker and will wake it.)
//!
//! # Invariants
//!
//! 1. No task of a scope is polled after the scope started tearing down; teardown drops
//!    every task before the scope reports, and before it re-raises a panic.
//! 2. A task is polled only after a wake queued it (or its spawn did).
//! 3. Every task future is dropped exactly once: when it is ready, when its handle
//!    cancels it, or at teardown (including when the scope future itself is dropped).
//! 4. Drops happen outside any borrow of the task set, and a panic in one drop does not
//!    prevent the others; the first panic is re-raised after all of them.
//! 5. Errors are never discarded: each one ends up in the scope's result.
//!
//! [`WakerSlot::is_held`]: super::waker::WakerSlot::is_held

use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::core::Phase;
use super::handle::Scope;
use super::output::BodyOutput;
use super::tasks::{Exit, PanicPayload};
use super::waker::WakerSlot;
use super::{ErrorPolicy, ScopeOptions};
use crate::runtime::{poll_in_frame, report_stuck_hold};
use crate::time::{EnteredDeadline, Sleep, yields_to_enclosing};
use crate::{CancelReason, ScopeError};

/// The ready-queue index of the body (task slots never reach it).
const BODY: u32 = u32::MAX;

/// Task polls after which a scope that still has queued tasks yields to its parent
/// (beyond the first round, which always runs whole).
pub(crate) const ROUND_BUDGET: usize = 128;

/// Why the scope is ending early.
enum Ending {
    Failed,
    Panicked,
    Cancelled(CancelReason),
}

pin_project! {
    #[project = Projection]
    pub(crate) struct Driver<'s, 'env, E, B, V> {
        scope: &'s Scope<'env, E>,
        #[pin]
        body: Option<B>,
        body_waker: WakerSlot,
        body_held: bool,
        body_value: Option<V>,
        policy: ErrorPolicy,
        errors: Vec<E>,
        ending: Option<Ending>,
        panic: Option<PanicPayload>,
        batch: Vec<u32>,
        // The timer of the scope's timeout or deadline; it wakes the parent.
        deadline: Option<Sleep>,
    }

    impl<'s, 'env, E, B, V> PinnedDrop for Driver<'s, 'env, E, B, V> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let core = &this.scope.inner.core;
            if core.phase.get() != Phase::Finished {
                let mut panic = None;
                teardown(this.scope, this.body, CancelReason::Parent, &mut panic);
                core.phase.set(Phase::Finished);
                if let Some(payload) = panic {
                    if !std::thread::panicking() {
                        panic::resume_unwind(payload);
                    }
                }
            }
        }
    }
}

impl<'s, 'env, E, B, V> Driver<'s, 'env, E, B, V> {
    pub(crate) fn new(scope: &'s Scope<'env, E>, body: B, options: ScopeOptions) -> Self {
        let body_waker = WakerSlot::new(scope.inner.core.signal.clone(), BODY);
        body_waker.wake();
        let deadline = options.deadline_timer();
        Driver {
            scope,
            body: Some(body),
            body_waker,
            body_held: true,
            body_value: None,
            policy: options.policy,
            errors: Vec::new(),
            ending: None,
            panic: None,
            batch: Vec::new(),
            deadline,
        }
    }
}

impl<'env, E, B, V> Future for Driver<'_, 'env, E, B, V>
where
    B: Future,
    B::Output: BodyOutput<E, Ok = V>,
{
    type Output = Result<V, ScopeError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let scope = *this.scope;
        let core = &scope.inner.core;
        assert!(
            core.phase.get() != Phase::Finished,
            "duet: a scope future was polled after it completed"
        );

        core.polling.set(true);
        let mut batch = mem::take(this.batch);
        let entered = this
            .deadline
            .as_ref()
            .map(|t| EnteredDeadline::new(t.deadline()));
        let mut polls = 0;
        loop {
            apply_cancellations(&mut this);
            if this.ending.is_some() {
                break;
            }
            scope.inner.tasks.borrow_mut().take_spawned(&mut batch);
            core.signal.begin_round(&mut batch);
            if batch.is_empty() {
                break;
            }
            for index in batch.drain(..) {
                let exit = if index == BODY {
                    poll_body(&mut this)
                } else {
                    poll_task(scope, index)
                };
                polls += 1;
                if let Some(exit) = exit {
                    record_exit(&mut this, exit);
                }
                apply_cancellations(&mut this);
                if this.ending.is_some() {
                    break;
                }
            }
            if this.ending.is_some() || polls >= ROUND_BUDGET {
                break;
            }
            // A deadline takes effect at the next await: once it has passed, no further
            // round runs (the check below ends the scope).
            if this.deadline.as_ref().is_some_and(Sleep::is_elapsed) {
                break;
            }
        }
        batch.clear();
        *this.batch = batch;
        core.polling.set(false);
        drop(entered);
        if this.ending.is_none() && deadline_passed(&mut this, cx) {
            *this.ending = Some(Ending::Cancelled(CancelReason::TimedOut));
        }

        if let Some(ending) = this.ending.take() {
            let reason = match &ending {
                Ending::Failed => CancelReason::SiblingFailed,
                Ending::Panicked => CancelReason::SiblingPanicked,
                Ending::Cancelled(reason) => reason.clone(),
            };
            teardown(scope, this.body.as_mut(), reason, this.panic);
            return Poll::Ready(finish(this, Some(ending)));
        }
        if this.body.is_none() && scope.inner.tasks.borrow().live() == 0 {
            return Poll::Ready(finish(this, None));
        }

        // Register first, then look for work that arrived while polling: an event after
        // the registration wakes the parent, one before it is seen here.
        core.signal.register(cx.waker());
        let more_work = core.signal.end_polling()
            || scope.inner.tasks.borrow().has_spawned()
            || core.signal.is_cancel_requested()
            || core.has_task_cancels();
        if more_work {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let stuck = !*this.body_held
            && this.deadline.is_none()
            && scope.inner.tasks.borrow().held_count() == 0
            && !core.signal.has_remote_handles();
        if stuck {
            report_stuck_hold(cx.waker());
        }
        Poll::Pending
    }
}

/// Turns an explicit cancel request into an ending, and drops tasks whose handles asked.
fn apply_cancellations<E, B, V>(this: &mut Projection<'_, '_, '_, E, B, V>) {
    let scope = *this.scope;
    let core = &scope.inner.core;
    if this.ending.is_none() {
        if let Some(reason) = core.signal.cancel_reason() {
            *this.ending = Some(Ending::Cancelled(reason));
            return;
        }
    }
    if core.has_task_cancels() {
        for key in core.take_task_cancels() {
            let removed = scope.inner.tasks.borrow_mut().remove(key);
            if let Some(payload) = removed.and_then(drop_catching) {
                // A destructor panicked while its task was cancelled: that is a panic of
                // the task, and it ends the scope like one.
                record_exit(this, Exit::Panicked(payload));
            }
        }
    }
}

/// True when the scope's deadline has passed while it still has work, and no enclosing
/// deadline (which would report instead) is earlier or equal. Registers the timer with
/// the parent's waker while it has not passed.
fn deadline_passed<E, B, V>(
    this: &mut Projection<'_, '_, '_, E, B, V>,
    cx: &mut Context<'_>,
) -> bool {
    let Some(timer) = this.deadline.as_mut() else {
        return false;
    };
    let done = this.body.is_none() && this.scope.inner.tasks.borrow().live() == 0;
    if done || Pin::new(&mut *timer).poll(cx).is_pending() {
        return false;
    }
    if yields_to_enclosing(timer.deadline()) {
        // An enclosing holder, no later, reports when this poll returns to it; the wake
        // is a safety net should the poll not return through it.
        cx.waker().wake_by_ref();
        return false;
    }
    true
}

fn poll_body<E, B, V>(this: &mut Projection<'_, '_, '_, E, B, V>) -> Option<Exit<E>>
where
    B: Future,
    B::Output: BodyOutput<E, Ok = V>,
{
    if !this.body_waker.take_queued() {
        return None;
    }
    let mut body = this.body.as_mut().as_pin_mut()?;
    *this.body_held = false;
    let waker = this.body_waker.waker();
    let mut cx = Context::from_waker(waker);
    let (poll, stuck_holds) = poll_in_frame(waker.data(), || {
        panic::catch_unwind(AssertUnwindSafe(|| body.as_mut().poll(&mut cx)))
    });
    match poll {
        Ok(Poll::Pending) => {
            *this.body_held = this.body_waker.is_held(stuck_holds);
            None
        }
        Ok(Poll::Ready(output)) => {
            let body = &mut this.body;
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| body.set(None))) {
                return Some(Exit::Panicked(payload));
            }
            match output.into_result() {
                Ok(value) => {
                    *this.body_value = Some(value);
                    Some(Exit::Done)
                }
                Err(error) => Some(Exit::Failed(error)),
            }
        }
        Err(payload) => Some(Exit::Panicked(payload)),
    }
}

fn poll_task<E>(scope: &Scope<'_, E>, index: u32) -> Option<Exit<E>> {
    let tasks = &scope.inner.tasks;
    let mut polling = tasks.borrow_mut().start_poll(index)?;
    let waker = polling.waker.waker();
    let mut cx = Context::from_waker(waker);
    let task = &mut polling.task;
    let (poll, stuck_holds) = poll_in_frame(waker.data(), || task.as_mut().poll_task(&mut cx));
    match poll {
        Poll::Pending => {
            tasks.borrow_mut().finish_pending(polling, stuck_holds);
            None
        }
        Poll::Ready(exit) => {
            let task = tasks.borrow_mut().finish_ready(polling);
            match drop_catching(task) {
                Some(payload) => Some(Exit::Panicked(payload)),
                None => Some(exit),
            }
        }
    }
}

fn record_exit<E, B, V>(this: &mut Projection<'_, '_, '_, E, B, V>, exit: Exit<E>) {
    match exit {
        Exit::Done => {}
        Exit::Failed(error) => {
            this.errors.push(error);
            if *this.policy == ErrorPolicy::FailFast && this.ending.is_none() {
                *this.ending = Some(Ending::Failed);
            }
        }
        Exit::Panicked(payload) => {
            this.panic.get_or_insert(payload);
            *this.ending = Some(Ending::Panicked);
        }
    }
}

/// Drops every task and then the body, keeping the first panic any destructor raises.
fn teardown<E, B>(
    scope: &Scope<'_, E>,
    mut body: Pin<&mut Option<B>>,
    reason: CancelReason,
    panic: &mut Option<PanicPayload>,
) {
    scope.inner.core.begin_teardown(reason);
    let tasks = scope.inner.tasks.borrow_mut().drain();
    for task in tasks {
        if let Some(payload) = drop_catching(task) {
            panic.get_or_insert(payload);
        }
    }
    if body.is_some() {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| body.set(None))) {
            panic.get_or_insert(payload);
        }
    }
}

/// Produces the scope's result (or re-raises its panic) and marks it finished.
fn finish<E, B, V>(
    this: Projection<'_, '_, '_, E, B, V>,
    ending: Option<Ending>,
) -> Result<V, ScopeError<E>> {
    this.scope.inner.core.phase.set(Phase::Finished);
    if let Some(payload) = this.panic.take() {
        panic::resume_unwind(payload);
    }
    let mut errors = mem::take(this.errors);
    match ending {
        Some(Ending::Cancelled(reason)) => Err(ScopeError::Cancelled { reason, errors }),
        _ if !errors.is_empty() => {
            let error = errors.remove(0);
            Err(ScopeError::Failed {
                error,
                others: errors,
            })
        }
        Some(Ending::Failed | Ending::Panicked) => {
            unreachable!("a failure always leaves an error or a panic")
        }
        None => Ok(this
            .body_value
            .take()
            .expect("the body finished successfully before the scope did")),
    }
}

fn drop_catching<T>(value: T) -> Option<PanicPayload> {
    panic::catch_unwind(AssertUnwindSafe(move || drop(value))).err()
}
