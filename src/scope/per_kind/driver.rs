//! The scope driver: the future that owns a scope's body and polls it and its tasks.
//!
//! # How a poll goes
//!
//! The scope is made current (see `current`) for the whole poll, so that code inside it
//! observes its cancellation and scopes opened inside it link to it.
//!
//! 1. Apply cancellation: a request (explicit, Ctrl-C) starts the soft or the hard phase
//!    (see below); tasks whose join handles asked to cancel them are dropped; in the hard
//!    phase, every task that is not shielded is dropped.
//! 2. Run a *round*: take the tasks queued so far (spawned ones first, then woken ones)
//!    and poll each once; tasks queued during the round wait for the next round, so a
//!    task that keeps waking itself is polled once per round and cannot starve its
//!    siblings. Cancellation is applied again after every task poll. A scope with a
//!    deadline runs its rounds under it (see `time::deadline`).
//! 3. Run further rounds while tasks are queued, until [`ROUND_BUDGET`] task polls have
//!    been made in this poll of the scope, or [`TREE_BUDGET`] counting the polls made by
//!    scopes nested in its tasks (reported through the poll frame); then yield
//!    to the parent (wake it and return `Pending`), so a busy scope cannot starve the
//!    rest of the tree, nor keep the loop from its timers for long. A round is never cut
//!    short: every task queued at its start is polled.
//! 4. Check the timers: a passed deadline (with no enclosing deadline that is earlier or
//!    equal) starts cancellation with `CancelReason::TimedOut`; the end of a grace period
//!    starts the hard phase.
//! 5. If the body and all tasks are done (finished, or dropped in the hard phase), report.
//! 6. Otherwise register the parent's waker, then re-check for work that arrived while
//!    polling (wakes during a poll do not wake the parent, see `signal`); if there is
//!    some, yield.
//! 7. Otherwise return `Pending`, telling the enclosing task (through the poll frame) if
//!    the scope holds shielded work, and reporting a stuck hold if no pending task's waker
//!    is held by anything (see [`WakerSlot::is_held`]) and no timer of the scope is
//!    pending: the parent can then tell that only this scope, which nothing can wake,
//!    would ever wake it.
//!
//! # Phases of cancellation
//!
//! Whatever ends the scope early (a request, a failure under fail-fast, a panic, the
//! deadline) is its *ending*; the first one decides the result. A panic is always hard.
//! Otherwise, with a grace period (requested, or the scope's default from
//! `ScopeOptions::grace`), the scope first enters the *soft* phase: observers are woken and
//! tasks keep running; when they have all finished, or the grace period ends, the *hard*
//! phase drops what is left. In the hard phase a shielded task (suspended inside
//! `duet::shield`) is kept and polled until its shield ends, then dropped.
//!
//! # Invariants
//!
//! 1. No task is polled after the hard phase dropped it; a task that is not shielded is
//!    dropped before any other task of the scope is polled again.
//! 2. A task is polled only after a wake queued it (or its spawn did).
//! 3. Every task future is dropped exactly once: when it is ready, when its handle
//!    cancels it, in the hard phase, or when the scope future itself is dropped.
//! 4. Drops happen outside any borrow of the task tables, and a panic in one drop does not
//!    prevent the others; the first panic is re-raised after all of them.
//! 5. Errors are never discarded: each one ends up in the scope's result.
//!
//! [`WakerSlot::is_held`]: super::waker::WakerSlot::is_held

use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::core::{BODY, Phase, TaskCancel};
use super::current;
use super::handle::Scope;
use super::output::{BodyOutput, BodyValue};
use super::table::Cancel;
use super::tasks::{BoxedTask, Exit, PanicPayload, drop_task};
use super::{ErrorPolicy, ScopeOptions};
use crate::current::waits::{self, Wait};
use crate::current::{add_polls, poll_in_frame, report_shielded, settle_stuck_hold};
use crate::time::{EnteredDeadline, Sleep, sleep_until, yields_to_enclosing};
use crate::{CancelReason, ScopeError, TaskRef};

// Task polls after which a scope that still has queued tasks yields to its parent
// (beyond the first round, which always runs whole); defined with the poll frame.
use crate::current::frame::ROUND_BUDGET;

/// Task polls, counting those of the scopes nested in its tasks, after which a scope
/// that still has queued tasks yields to its parent. A budget of its own polls alone lets
/// a tree of busy scopes poll 128 to the power of its depth tasks before the loop gets a
/// turn (its timers, its flush); counting nested polls against `ROUND_BUDGET` itself made
/// scopes high in a tree yield before their subtrees finished, which kept more of the tree
/// alive at once and made a tree of small scopes 20 % slower (`performance.md`). With this
/// larger tree budget a poll of the root stays within a few thousand task polls per level.
pub(crate) const TREE_BUDGET: u32 = 32 * ROUND_BUDGET;

/// What ended the scope early. The first one decides the scope's result.
enum Ending {
    Failed(TaskRef),
    Panicked(TaskRef),
    Cancelled(CancelReason),
}

impl Ending {
    /// The reason the rest of the scope is cancelled for.
    fn reason(&self) -> CancelReason {
        match self {
            Ending::Failed(task) => CancelReason::SiblingFailed(task.clone()),
            Ending::Panicked(task) => CancelReason::SiblingPanicked(task.clone()),
            Ending::Cancelled(reason) => reason.clone(),
        }
    }
}

pin_project! {
    /// The scope's own handle next to the rest of the driver's state, so that a poll can
    /// hold `&Scope` while it changes the state (and so that the handle outlives the
    /// body and tasks, which are in the state and dropped first).
    #[project = DriverProjection]
    pub(crate) struct Driver<'env, E, B, V> {
        scope: Scope<'env, E>,
        #[pin]
        state: State<E, B, V>,
    }

    impl<'env, E, B, V> PinnedDrop for Driver<'env, E, B, V> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let scope = &*this.scope;
            let mut state = this.state.project();
            let core = &scope.inner.core;
            // Its registration goes with it: a stuck hold it counted is no hold any more.
            crate::current::retract_stuck_hold(&core.stuck_reported);
            if core.phase.get() != Phase::Finished {
                // Dropped before finishing: by a scope tearing down the task that held
                // it (its reason is current), or by something else.
                let reason = current::dropping_reason().map_or(CancelReason::Dropped, |r| r.as_parent());
                core.begin_teardown(reason);
                let mut panic = None;
                drop_everything(scope, state.body.as_mut(), &mut panic);
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

pin_project! {
    #[project = Projection]
    struct State<E, B, V> {
        #[pin]
        body: Option<B>,
        body_held: bool,
        body_shielded: bool,
        body_value: Option<V>,
        policy: ErrorPolicy,
        // The grace period of cancellations that do not give their own.
        default_grace: Duration,
        errors: Vec<E>,
        ending: Option<Ending>,
        // The hard phase has started: unshielded tasks are dropped.
        hard: bool,
        panic: Option<PanicPayload>,
        batch: Vec<u32>,
        deadline: Option<Sleep>,
        grace_timer: Option<Sleep>,
    }
}

impl<'env, E, B, V> Driver<'env, E, B, V> {
    pub(crate) fn new(scope: Scope<'env, E>, body: B, options: ScopeOptions) -> Self {
        scope.inner.core.body_waker.wake();
        let deadline = options.deadline_timer();
        scope
            .inner
            .core
            .set_deadline(deadline.as_ref().map(Sleep::deadline));
        Driver {
            scope,
            state: State {
                body: Some(body),
                body_held: true,
                body_shielded: false,
                body_value: None,
                policy: options.policy.unwrap_or_default(),
                default_grace: options.grace.unwrap_or(Duration::ZERO),
                errors: Vec::new(),
                ending: None,
                hard: false,
                panic: None,
                batch: Vec::new(),
                deadline,
                grace_timer: None,
            },
        }
    }
}

pub(crate) use super::status::Outcome;

pin_project! {
    /// A scope's outcome as a plain scope returns it. Not an `async` block around an
    /// `.await`: one state machine less in every poll of every scope (2 % of the
    /// instructions of the nested benchmark); and not `FutureExt::map`, so that a scope
    /// polled after it completed reaches the driver's own message.
    pub(crate) struct IntoResult<F> {
        #[pin]
        outcome: F,
    }
}

impl<F> IntoResult<F> {
    pub(crate) fn new(outcome: F) -> Self {
        IntoResult { outcome }
    }
}

impl<F, V, E> Future for IntoResult<F>
where
    F: Future<Output = Outcome<V, E>>,
{
    type Output = Result<V, ScopeError<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().outcome.poll(cx).map(Outcome::into_result)
    }
}

impl<'env, E, B, V> Future for Driver<'env, E, B, V>
where
    B: Future,
    B::Output: BodyOutput<E> + BodyValue<Ok = V>,
{
    type Output = Outcome<V, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let DriverProjection { scope, state } = self.project();
        let scope: &Scope<'env, E> = scope;
        let mut this = state.project();
        let core = &scope.inner.core;
        assert!(
            core.phase.get() != Phase::Finished,
            "duet: a scope future was polled after it completed"
        );
        core.follow_polling_loop();
        let _detached = core.enter_detached_root();
        let _current = current::enter_scope(&core.cursor);

        core.polling.set(true);
        // A simulated loop's seed orders the rounds (see `schedule`); one predicted branch per
        // round otherwise.
        let simulation = if core.simulated.get() {
            crate::schedule::current_simulation()
        } else {
            None
        };
        let mut batch = mem::take(this.batch);
        let entered = this
            .deadline
            .as_ref()
            .map(|t| EnteredDeadline::new(t.deadline()));
        // Task polls made in this poll of the scope, and those made by scopes nested in
        // its tasks (see `TREE_BUDGET`).
        let mut polls: u32 = 0;
        let mut nested_polls: u32 = 0;
        loop {
            apply_cancellations(scope, &mut this);
            if is_done(scope, &this) {
                break;
            }
            core.tasks.borrow_mut().take_spawned(&mut batch);
            core.signal.begin_round(&mut batch);
            if batch.is_empty() {
                break;
            }
            // Under simulation a round may poll only some of its tasks: the others stay
            // queued in `batch`, ahead of the next round's.
            let round = match &simulation {
                None => batch.len(),
                Some(simulation) => simulation.plan_round(core.id(), &mut batch),
            };
            for index in batch.drain(..round) {
                if let Some(simulation) = &simulation {
                    simulation.record_poll(Some(core.id()), index);
                }
                let exit = if index == BODY {
                    poll_body(scope, &mut this, &mut nested_polls)
                } else {
                    poll_task(scope, index, &mut nested_polls)
                };
                polls = polls.wrapping_add(1);
                if let Some((exit, task)) = exit {
                    record_exit(scope, &mut this, exit, task);
                }
                apply_cancellations(scope, &mut this);
            }
            // A passed deadline does not stop the rounds: like `timeout`, which polls its
            // future once more and keeps a value that is ready, the scope runs what is
            // queued (within the budget) and is cut only if that did not finish it.
            let budget = simulation
                .as_ref()
                .map_or(ROUND_BUDGET, |s| s.round_budget());
            if polls >= budget || polls.wrapping_add(nested_polls) >= TREE_BUDGET {
                break;
            }
        }
        if simulation.is_none() || is_done(scope, &this) {
            batch.clear();
        }
        *this.batch = batch;
        core.polling.set(false);
        drop(entered);
        add_polls(polls.wrapping_add(nested_polls));

        if this.ending.is_none() && deadline_passed(scope, &mut this, cx) {
            let grace = *this.default_grace;
            begin_cancel(
                scope,
                &mut this,
                Ending::Cancelled(CancelReason::TimedOut),
                grace,
            );
        }
        let grace_over = this
            .grace_timer
            .as_mut()
            .is_some_and(|timer| Pin::new(timer).poll(cx).is_ready());
        if grace_over && !*this.hard {
            let reason = this
                .ending
                .as_ref()
                .map(Ending::reason)
                .unwrap_or(CancelReason::Explicit);
            go_hard(scope, &mut this, reason);
        }
        apply_cancellations(scope, &mut this);

        if is_done(scope, &this) && core.finish_unless_spawned() {
            settle_stuck_hold(cx.waker(), false, &core.stuck_reported);
            return Poll::Ready(finish(scope, this));
        }

        // The enclosing task must not be dropped while this scope holds shielded work.
        if core.tasks.borrow().shielded_count() > 0 || *this.body_shielded {
            report_shielded();
        }
        waits::report(cx.waker(), Wait::Scope(core.id()));
        // Register first, then look for work that arrived while polling: an event after
        // the registration wakes the parent, one before it is seen here.
        core.signal.register(cx.waker());
        let more_work = core.signal.end_polling()
            || !this.batch.is_empty()
            || core.tasks.borrow().has_spawned()
            || new_cancel_request(scope, &this)
            || core.has_task_cancels();
        if more_work {
            settle_stuck_hold(cx.waker(), false, &core.stuck_reported);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let tasks = core.tasks.borrow();
        // A handle that may be on another thread (a cancel handle; in a Send scope also a
        // join handle or a `Scope` clone, `kind/send.rs`) may yet spawn or cancel. A Send
        // scope never counts a stuck hold (`kind::COUNTS_STUCK_HOLDS`).
        let stuck = super::kind::COUNTS_STUCK_HOLDS
            && !*this.body_held
            && this.deadline.is_none()
            && this.grace_timer.is_none()
            && tasks.held_count() == 0
            && !core.signal.has_remote_handles();
        settle_stuck_hold(cx.waker(), stuck, &core.stuck_reported);
        Poll::Pending
    }
}

fn is_done<E, B, V>(scope: &Scope<'_, E>, this: &Projection<'_, E, B, V>) -> bool {
    this.body.is_none() && scope.inner.core.tasks.borrow().live() == 0
}

/// True if a cancellation request arrived that the driver has not acted on yet.
#[inline]
fn new_cancel_request<E, B, V>(scope: &Scope<'_, E>, this: &Projection<'_, E, B, V>) -> bool {
    let core = &scope.inner.core;
    if !core.signal.is_cancel_requested() {
        return false;
    }
    match core.signal.cancel_request(*this.default_grace) {
        None => false,
        Some((_, grace)) => match core.phase.get() {
            Phase::Running => true,
            Phase::Cancelling => grace.is_zero() || grace_ends_sooner(core.grace_until(), grace),
            Phase::TearingDown | Phase::Finished => false,
        },
    }
}

fn grace_ends_sooner(current_end: Option<std::time::Instant>, grace: Duration) -> bool {
    let end = crate::time::deadline_after_now(grace);
    current_end.is_none_or(|current| end < current)
}

/// Starts cancelling the scope (or shortens a soft phase already under way).
fn begin_cancel<E, B, V>(
    scope: &Scope<'_, E>,
    this: &mut Projection<'_, E, B, V>,
    ending: Ending,
    grace: Duration,
) {
    let core = &scope.inner.core;
    if this.ending.is_none() {
        *this.ending = Some(ending);
    }
    let reason = this.ending.as_ref().map(Ending::reason).expect("just set");
    if *this.hard {
        return;
    }
    if grace.is_zero() {
        go_hard(scope, this, reason);
    } else if core.phase.get() == Phase::Running || grace_ends_sooner(core.grace_until(), grace) {
        let end = crate::time::deadline_after_now(grace);
        core.begin_soft_cancel(reason, end);
        *this.grace_timer = Some(sleep_until(end));
    }
}

fn go_hard<E, B, V>(
    scope: &Scope<'_, E>,
    this: &mut Projection<'_, E, B, V>,
    reason: CancelReason,
) {
    *this.hard = true;
    *this.grace_timer = None;
    scope.inner.core.begin_teardown(reason);
}

/// Acts on cancellation requests, drops tasks whose handles asked, and in the hard phase
/// drops every task that is not shielded. Runs after every task poll, so the common case
/// (nothing to do) is two flag reads.
#[inline]
fn apply_cancellations<E, B, V>(scope: &Scope<'_, E>, this: &mut Projection<'_, E, B, V>) {
    let core = &scope.inner.core;
    if !*this.hard && !core.signal.is_cancel_requested() && !core.has_task_cancels() {
        return;
    }
    apply_pending_cancellations(scope, this);
}

fn apply_pending_cancellations<E, B, V>(scope: &Scope<'_, E>, this: &mut Projection<'_, E, B, V>) {
    let core = &scope.inner.core;
    if new_cancel_request(scope, this) {
        if let Some((reason, grace)) = core.signal.cancel_request(*this.default_grace) {
            begin_cancel(scope, this, Ending::Cancelled(reason), grace);
        }
    }
    if core.has_task_cancels() {
        for (key, by) in core.take_task_cancels() {
            if by == TaskCancel::AllTasks && core.phase.get() != Phase::Running {
                // The scope is being cancelled (a request that arrived with it, or a
                // failure): that cancellation, with its grace and reason, takes the tasks.
                continue;
            }
            // A task suspended inside a shield is dropped when it leaves it (`poll_task`).
            let task = core.task_ref(key.index); // before its release forgets its name
            let released = {
                let mut tasks = core.tasks.borrow_mut();
                (tasks.cancel(key, by) == Cancel::Released)
                    .then(|| take_released_future(scope, key.index))
            };
            if let Some(exit) = released.and_then(|future| drop_cancelled_task(future, by)) {
                record_exit(scope, this, exit, Some(task));
            }
        }
    }
    if *this.hard {
        drop_unshielded(scope, this);
    }
}

/// The hard phase: drops every task that is not suspended inside a shield.
fn drop_unshielded<E, B, V>(scope: &Scope<'_, E>, this: &mut Projection<'_, E, B, V>) {
    let core = &scope.inner.core;
    let reason = core.cancel_reason().unwrap_or(CancelReason::Explicit);
    let victims: Vec<u32> = {
        let mut tasks = core.tasks.borrow_mut();
        let victims: Vec<u32> = tasks
            .live_tasks()
            .filter(|&(_, shielded)| !shielded)
            .map(|(index, _)| index)
            .collect();
        for &index in &victims {
            tasks.release(index);
        }
        victims
    };
    // One `while_dropping` for the batch: each drop restores it if it changes it.
    current::while_dropping(reason.clone(), || {
        for index in victims {
            let task = scope.inner.futures.borrow_mut().take(index);
            if let Some(payload) = task.and_then(drop_task) {
                note_panic(&payload, None);
                this.panic.get_or_insert(payload);
            }
        }
    });
    if this.body.is_some() && !*this.body_shielded {
        let body = &mut this.body;
        let dropped = current::while_dropping(reason, || {
            panic::catch_unwind(AssertUnwindSafe(|| body.set(None)))
        });
        if let Err(payload) = dropped {
            note_panic(&payload, None);
            this.panic.get_or_insert(payload);
        }
    }
}

/// True when the scope's deadline has passed while it still has work, and no enclosing
/// deadline (which would report instead) is earlier or equal. Registers the timer with
/// the parent's waker while it has not passed.
fn deadline_passed<E, B, V>(
    scope: &Scope<'_, E>,
    this: &mut Projection<'_, E, B, V>,
    cx: &mut Context<'_>,
) -> bool {
    let Some(timer) = this.deadline.as_mut() else {
        return false;
    };
    let done = this.body.is_none() && scope.inner.core.tasks.borrow().live() == 0;
    if done || Pin::new(&mut *timer).poll(cx).is_pending() {
        return false;
    }
    if yields_to_enclosing(timer.deadline()) {
        // An enclosing holder, no later, acts on its deadline when this poll returns to
        // it (see `time::deadline`, invariant 2).
        return false;
    }
    true
}

fn poll_body<E, B, V>(
    scope: &Scope<'_, E>,
    this: &mut Projection<'_, E, B, V>,
    polls: &mut u32,
) -> Option<(Exit<E>, Option<TaskRef>)>
where
    B: Future,
    B::Output: BodyOutput<E> + BodyValue<Ok = V>,
{
    let core = &scope.inner.core;
    if !core.body_waker.take_queued() {
        return None;
    }
    let mut body = this.body.as_mut().as_pin_mut()?;
    *this.body_held = false;
    core.body.borrow_mut().polling = true;
    let waker = core.body_waker.waker();
    let mut cx = Context::from_waker(waker);
    let (poll, report) = poll_in_frame(waker.data(), BODY, || {
        panic::catch_unwind(AssertUnwindSafe(|| body.as_mut().poll(&mut cx)))
    });
    *polls = polls.wrapping_add(report.polls);
    let waits = waits::take(report.first_report);
    if let Err(payload) = &poll {
        note_panic(payload, Some(&scope.inner.core.task_ref(BODY))); // while the body still shows in the tree
    }
    {
        let mut view = core.body.borrow_mut();
        view.polling = false;
        view.shielded = poll.as_ref().is_ok_and(Poll::is_pending) && report.shielded;
        view.done = !matches!(poll, Ok(Poll::Pending));
        view.waits = waits.unwrap_or_default();
    }
    let body_ref = || Some(scope.inner.core.task_ref(BODY));
    match poll {
        Ok(Poll::Pending) => {
            *this.body_held = core.body_waker.is_held(report.stuck_holds);
            *this.body_shielded = report.shielded;
            None
        }
        Ok(Poll::Ready(output)) => {
            *this.body_shielded = false;
            let body = &mut this.body;
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| body.set(None))) {
                return Some((Exit::Panicked(payload), body_ref()));
            }
            match output.into_result() {
                Ok(value) => {
                    *this.body_value = Some(value);
                    Some((Exit::Done, None))
                }
                Err(error) => Some((Exit::Failed(error), body_ref())),
            }
        }
        Err(payload) => {
            *this.body_shielded = false;
            Some((Exit::Panicked(payload), body_ref()))
        }
    }
}

/// Takes the future of a task whose slot the table has just released, called while the
/// table's borrow that released it is still held: a spawn from another thread (a Send
/// scope's handle may be anywhere) takes the first free slot under that borrow, and must
/// find the slot's future gone (the order of the borrows, table then futures, is
/// `spawn`'s).
fn take_released_future<'env, E>(scope: &Scope<'env, E>, index: u32) -> Option<BoxedTask<'env, E>> {
    scope.inner.futures.borrow_mut().take(index)
}

/// Drops the future of a task its join handle (or `Scope::cancel_tasks`) cancelled,
/// taken by `take_released_future`. A destructor that panics is a panic of the task,
/// and ends the scope like one.
fn drop_cancelled_task<E>(future: Option<BoxedTask<'_, E>>, by: TaskCancel) -> Option<Exit<E>> {
    let dropped = current::while_dropping(by.reason(), || drop_task(future?));
    dropped.map(Exit::Panicked)
}

fn poll_task<E>(
    scope: &Scope<'_, E>,
    index: u32,
    polls: &mut u32,
) -> Option<(Exit<E>, Option<TaskRef>)> {
    let core = &scope.inner.core;
    let waker = core.tasks.borrow_mut().start_poll(index)?;
    let Some(mut task) = scope.inner.futures.borrow_mut().take(index) else {
        unreachable!("a live task that is not being polled has its future in its slot");
    };
    let mut cx = Context::from_waker(waker.waker());
    let (poll, report) = poll_in_frame(waker.waker().data(), index, || {
        task.as_mut().poll_task(&mut cx)
    });
    *polls = polls.wrapping_add(report.polls);
    let waits = waits::take(report.first_report);
    match poll {
        Poll::Pending => {
            scope.inner.futures.borrow_mut().put(index, task);
            let left_its_shield = core
                .tasks
                .borrow_mut()
                .finish_pending(index, waker, report, waits);
            if let Some(by) = left_its_shield {
                // Its handle cancelled it inside a shield, and the shield has ended.
                let task = core.task_ref(index);
                let future = {
                    let mut tasks = core.tasks.borrow_mut();
                    tasks.release(index);
                    take_released_future(scope, index)
                };
                return drop_cancelled_task(future, by).map(|exit| (exit, Some(task)));
            }
            None
        }
        Poll::Ready(exit) => {
            if let Exit::Panicked(payload) = &exit {
                // Before the task leaves the tree: the failure report shows it.
                note_panic(payload, Some(&core.task_ref(index)));
            }
            let culprit = match exit {
                Exit::Done => None,
                Exit::Failed(_) | Exit::Panicked(_) => Some(core.task_ref(index)),
            };
            core.tasks.borrow_mut().finish_ready(index, waker);
            // A finished future has dropped its state already: no context needed.
            match drop_catching(task) {
                Some(payload) => Some((
                    Exit::Panicked(payload),
                    culprit.or_else(|| Some(core.task_ref(index))),
                )),
                None => Some((exit, culprit)),
            }
        }
    }
}

fn record_exit<E, B, V>(
    scope: &Scope<'_, E>,
    this: &mut Projection<'_, E, B, V>,
    exit: Exit<E>,
    task: Option<TaskRef>,
) {
    let culprit = || {
        task.clone()
            .unwrap_or_else(|| scope.inner.core.task_ref(BODY))
    };
    match exit {
        Exit::Done => {}
        Exit::Failed(error) => {
            let culprit = culprit();
            this.errors.push(error);
            if *this.policy == ErrorPolicy::FailFast && this.ending.is_none() {
                let grace = *this.default_grace;
                begin_cancel(scope, this, Ending::Failed(culprit), grace);
            }
        }
        Exit::Panicked(payload) => {
            let culprit = culprit();
            // Noted already where it was caught, unless it came from a destructor.
            note_panic(&payload, Some(&culprit));
            this.panic.get_or_insert(payload);
            begin_cancel(scope, this, Ending::Panicked(culprit), Duration::ZERO);
        }
    }
}

/// Drops every task and then the body, shielded or not (the scope future is being
/// dropped: nothing can wait), keeping the first panic any destructor raises.
fn drop_everything<E, B>(
    scope: &Scope<'_, E>,
    mut body: Pin<&mut Option<B>>,
    panic: &mut Option<PanicPayload>,
) {
    let core = &scope.inner.core;
    let reason = core.cancel_reason().unwrap_or(CancelReason::Dropped);
    core.tasks.borrow_mut().clear();
    let tasks = scope.inner.futures.borrow_mut().drain();
    current::while_dropping(reason.clone(), || {
        for task in tasks {
            if let Some(payload) = drop_task(task) {
                note_panic(&payload, None);
                panic.get_or_insert(payload);
            }
        }
    });
    if body.is_some() {
        let dropped = current::while_dropping(reason, || {
            panic::catch_unwind(AssertUnwindSafe(|| body.set(None)))
        });
        if let Err(payload) = dropped {
            note_panic(&payload, None);
            panic.get_or_insert(payload);
        }
    }
}

/// Produces the scope's outcome (or re-raises its panic) and marks it finished.
/// Produces the outcome of a scope that `finish_unless_spawned` marked finished.
fn finish<E, B, V>(scope: &Scope<'_, E>, this: Projection<'_, E, B, V>) -> Outcome<V, E> {
    debug_assert!(scope.inner.core.phase.get() == Phase::Finished);
    if let Some(payload) = this.panic.take() {
        panic::resume_unwind(payload);
    }
    let errors = mem::take(this.errors);
    let cancelled = match this.ending.take() {
        Some(Ending::Cancelled(reason)) => Some(reason),
        Some(Ending::Failed(_)) => {
            debug_assert!(!errors.is_empty(), "a failure always leaves an error");
            None
        }
        Some(Ending::Panicked(_)) => unreachable!("a panic was re-raised above"),
        None => None,
    };
    Outcome {
        value: this.body_value.take(),
        errors,
        cancelled,
    }
}

/// Under simulation, the task tree as a task panic found it, for the failure report (see
/// `sim`); the first note of a panic counts.
#[cold]
fn note_panic(payload: &PanicPayload, task: Option<&TaskRef>) {
    if let Some(simulation) = crate::schedule::current_simulation() {
        simulation.note_panic(&**payload, task, crate::dump);
    }
}

fn drop_catching<T>(value: T) -> Option<PanicPayload> {
    panic::catch_unwind(AssertUnwindSafe(move || drop(value))).err()
}
