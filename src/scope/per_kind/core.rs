//! The lifetime-free part of a scope, shared (by `Rc`) with its handles, its descendants
//! and the loop's registry of live scopes.
//!
//! [`JoinHandle`](crate::JoinHandle)s, nested scopes (through their parent link), the
//! task-tree dump and the deadlock analysis must reach a scope without carrying its
//! `'env` lifetime, so everything they need lives here rather than in
//! `ScopeInner<'env, E>`: the scope's identity, its task table, and its cancellation
//! state. The chain of parent links is the *cancellation tree*: observing cancellation
//! (`duet::is_cancelled`, `duet::cancelled`) walks it upwards until a shield.
//!
//! # Invariants
//!
//! 1. The phase only moves forward: `Running` → `Cancelling` (soft) → `TearingDown`
//!    (hard) → `Finished`, possibly skipping steps.
//! 2. The cancel reason is set once, when the scope leaves `Running`, and never changes.
//! 3. Observers registered on a scope are woken when it leaves `Running`.
//!
//! The cancellation tree itself (parent links, the reason, the observers) is kept in the
//! scope's [`Signal`], which is thread-safe, so that the tree can link scopes polled on
//! different threads (see `signal`).

use super::kind::Shared;
use super::kind::{Cell, RefCell, RefMut};
use std::panic::Location;
use std::sync::Arc;
use std::time::Instant;

use super::Interruptible;
use super::signal::{ParentLink, Signal};
use super::table::TaskTable;
use super::view::{BodySnapshot, ScopeSnapshot, ScopeView};
use super::waker::WakerSlot;
use crate::context::{EnteredCell, Values};
use crate::current::HeldBy;
use crate::current::loops::current_loop;
use crate::{CancelReason, TaskRef};

pub(crate) use super::status::{BODY, BodyView, Phase, TaskCancel, TaskKey};

pub(crate) struct ScopeCore {
    id: u64,
    location: &'static Location<'static>,
    pub(crate) signal: Arc<Signal>,
    pub(crate) phase: Cell<Phase>,
    /// True while the driver is polling tasks: events raised by those tasks (spawns,
    /// handle cancels) need not wake the parent, the driver checks for them itself.
    pub(crate) polling: Cell<bool>,
    /// The lifetime-free half of the task set.
    pub(crate) tasks: RefCell<TaskTable>,
    /// When a soft cancellation turns hard (for dumps).
    grace_until: Cell<Option<Instant>>,
    /// The scope's own deadline, if it has one (for dumps).
    deadline: Cell<Option<Instant>>,
    /// The body's state, for dumps and the deadlock analysis (the body itself is in the
    /// driver).
    pub(crate) body: RefCell<BodyView>,
    /// The body's waker (queued under [`BODY`] in the ready queue).
    pub(crate) body_waker: WakerSlot,
    /// Tasks whose join handle asked to cancel them; drained by the driver between
    /// polls. `has_handle_cancels` mirrors "not empty" for the driver's fast path.
    handle_cancels: RefCell<Vec<(TaskKey, TaskCancel)>>,
    has_handle_cancels: Cell<bool>,
    /// The `run` loop that polled the scope last (0: outside any loop); a scope future
    /// continued by a later `run` moves to it (see `follow_polling_loop`).
    loop_id: Cell<u64>,
    /// Whether Ctrl-C may adopt the scope as a root scope of its loop.
    interruptible: Interruptible,
    /// The poll frame in which the scope last counted a stuck hold (see
    /// `current::settle_stuck_hold`); 0: none.
    pub(crate) stuck_reported: Cell<u64>,
    /// A join handle of one of its tasks was polled while it could not record its waiter
    /// (from inside that task's own poll): the deadlock analysis no longer counts joins
    /// on this scope's tasks as internal waits.
    pub(crate) join_records_stale: Cell<bool>,
    /// The loop that polls the scope is simulated (`sim`): its rounds follow the seed.
    pub(crate) simulated: Cell<bool>,
    /// The task-local values of a *detached root*: a scope polled with no `run` loop on
    /// the thread and no enclosing scope (a tokio task, `block_on`). It is a root of its
    /// own, so its body must not write the values of whatever else the executor polls on
    /// that thread; `None` until its first detached poll (see `enter_detached_root`).
    root_values: RefCell<Option<Values>>,
    /// A detached root's registry of its tree, entered around each of its polls so that
    /// `duet::dump()` inside the tree shows it; `None` until its first detached poll.
    detached_tree: RefCell<Option<super::kind::DetachedTree>>,
    /// A spare reference to `signal`, moved into the current-scope cursor for the length
    /// of each driver poll (see `current::enter_scope`); `None` during that poll.
    pub(crate) cursor: Cell<Option<Arc<Signal>>>,
    /// The scope's span, under the span current when it was opened (see `trace`).
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

impl ScopeCore {
    pub(crate) fn new(
        location: &'static Location<'static>,
        parent: Option<ParentLink>,
        interruptible: Interruptible,
    ) -> Self {
        let loop_id = current_loop();
        let (gate, simulated) = if loop_id == 0 {
            (None, false)
        } else {
            (
                crate::time::current_gate(),
                crate::schedule::loop_is_simulated(),
            )
        };
        let id = super::status::next_scope_id();
        let signal = Arc::new(Signal::new(id, parent, gate));
        ScopeCore {
            id,
            location,
            body_waker: WakerSlot::new(signal.clone(), BODY),
            cursor: Cell::new(Some(signal.clone())),
            signal,
            phase: Cell::new(Phase::Running),
            polling: Cell::new(false),
            tasks: RefCell::new(TaskTable::new()),
            grace_until: Cell::new(None),
            deadline: Cell::new(None),
            body: RefCell::new(BodyView::default()),
            handle_cancels: RefCell::new(Vec::new()),
            has_handle_cancels: Cell::new(false),
            loop_id: Cell::new(loop_id),
            interruptible,
            stuck_reported: Cell::new(0),
            join_records_stale: Cell::new(false),
            simulated: Cell::new(simulated),
            root_values: RefCell::new(None),
            detached_tree: RefCell::new(None),
            #[cfg(feature = "tracing")]
            span: super::trace::scope_span(id, location),
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Called as the scope's driver starts a poll: a scope polled by another loop than
    /// the last one (a future continued by a later `run`, one frame per `run`) joins that
    /// loop's task tree, so that its dumps and deadlock analysis see it, and Ctrl-C
    /// reaches it if it is that loop's root scope.
    #[inline]
    pub(crate) fn follow_polling_loop(self: &Shared<Self>) {
        let polling = current_loop();
        if polling != self.loop_id.get() {
            self.move_to_loop(polling);
        }
    }

    #[cold]
    fn move_to_loop(self: &Shared<Self>, polling: u64) {
        self.loop_id.set(polling);
        super::kind::register(self, super::registry::Moved::Back);
        self.simulated.set(crate::schedule::loop_is_simulated());
        if self.interruptible == Interruptible::AtTheRoot {
            super::registry::adopt_if_root_scope(&self.signal);
        }
    }

    /// Called as the driver starts a poll, after `follow_polling_loop`: a detached root
    /// (no loop, no parent) runs its poll in its own task-local values, snapshotted from
    /// its poller's at its first detached poll (values set before it are visible inside),
    /// as `run` does for its root, and with its own registry of its tree current. Anything
    /// else runs in its poller's values: a scope body is part of the task that opened it.
    #[inline]
    pub(crate) fn enter_detached_root(self: &Shared<Self>) -> Option<DetachedPoll<'_>> {
        if self.loop_id.get() != 0 || self.parent().is_some() {
            return None;
        }
        Some(self.enter_detached_root_slow())
    }

    #[cold]
    fn enter_detached_root_slow(self: &Shared<Self>) -> DetachedPoll<'_> {
        let tree = self
            .detached_tree
            .borrow_mut()
            .get_or_insert_with(|| super::kind::new_detached_tree(self))
            .clone();
        DetachedPoll {
            _values: Values::enter_borrowed(self.root_values.borrow_mut()),
            _tree: super::kind::enter_detached_tree(&tree),
        }
    }

    /// The scope's span: its body runs in it, and its tasks' spans are its children.
    #[cfg(feature = "tracing")]
    pub(crate) fn span(&self) -> &tracing::Span {
        &self.span
    }

    pub(crate) fn parent(&self) -> Option<&ParentLink> {
        self.signal.parent()
    }

    /// Identifies a task of this scope, or its body.
    pub(crate) fn task_ref(&self, index: u32) -> TaskRef {
        if index == BODY {
            TaskRef::body(self.id, self.location)
        } else {
            self.tasks.borrow().task_ref(self.id, index)
        }
    }

    /// Moves to the soft phase with `reason`, waking observers; in the soft phase
    /// already, moves its end to `grace_until`.
    pub(crate) fn begin_soft_cancel(&self, reason: CancelReason, grace_until: Instant) {
        match self.phase.get() {
            Phase::Running => {
                self.phase.set(Phase::Cancelling);
                self.grace_until.set(Some(grace_until));
                self.set_reason(reason);
            }
            Phase::Cancelling => self.grace_until.set(Some(grace_until)),
            Phase::TearingDown | Phase::Finished => {}
        }
    }

    /// Moves to the hard phase: tasks are dropped from now on.
    pub(crate) fn begin_teardown(&self, reason: CancelReason) {
        if matches!(self.phase.get(), Phase::Running | Phase::Cancelling) {
            self.phase.set(Phase::TearingDown);
            self.set_reason(reason);
        }
    }

    fn set_reason(&self, reason: CancelReason) {
        self.signal.settle(reason);
    }

    /// The reason the scope is cancelling or was torn down, if it is.
    pub(crate) fn cancel_reason(&self) -> Option<CancelReason> {
        self.signal.settled_reason()
    }

    /// True once anything asked the scope to cancel, even if the driver has not acted on
    /// it yet.
    pub(crate) fn is_cancel_requested(&self) -> bool {
        self.signal.is_cancel_requested() || self.signal.settled_reason().is_some()
    }

    pub(crate) fn grace_until(&self) -> Option<Instant> {
        self.grace_until.get()
    }

    pub(crate) fn set_deadline(&self, deadline: Option<Instant>) {
        self.deadline.set(deadline);
    }

    /// Accepts spawns and handle cancels (running, or cancelling softly).
    pub(crate) fn is_accepting(&self) -> bool {
        matches!(self.phase.get(), Phase::Running | Phase::Cancelling)
    }

    pub(crate) fn request_task_cancel(&self, key: TaskKey, by: TaskCancel) {
        if self.is_accepting() {
            self.handle_cancels.borrow_mut().push((key, by));
            self.has_handle_cancels.set(true);
            self.notify_unless_polling();
        }
    }

    /// Makes sure the driver looks at the scope again: unnecessary while it is polling.
    /// Marks the scope finished, unless a task was spawned since the driver found it
    /// done: the phase changes under the task table's lock, under which `spawn` reads
    /// it, so a spawn from another thread (a Send scope's handle may be anywhere) either
    /// lands first, and the driver runs it, or finds the scope finished and panics;
    /// it is never accepted into a scope that will not run it.
    pub(crate) fn finish_unless_spawned(&self) -> bool {
        let mut tasks = self.tasks.borrow_mut();
        if tasks.live() != 0 {
            return false;
        }
        self.phase.set(Phase::Finished);
        tasks.clear();
        true
    }

    pub(crate) fn notify_unless_polling(&self) {
        if !self.polling.get() {
            self.signal.notify();
        }
    }

    /// Asks for every task of the scope to be cancelled (not the body, and not tasks
    /// spawned later): [`Scope::cancel_tasks`](crate::Scope::cancel_tasks).
    pub(crate) fn request_cancel_tasks(&self) {
        if !self.is_cancel_requested() && self.phase.get() == Phase::Running {
            let keys: Vec<TaskKey> = self.tasks.borrow().live_keys().collect();
            if keys.is_empty() {
                return;
            }
            self.handle_cancels
                .borrow_mut()
                .extend(keys.into_iter().map(|key| (key, TaskCancel::AllTasks)));
            self.has_handle_cancels.set(true);
            self.notify_unless_polling();
        }
    }

    pub(crate) fn take_task_cancels(&self) -> Vec<(TaskKey, TaskCancel)> {
        self.has_handle_cancels.set(false);
        std::mem::take(&mut *self.handle_cancels.borrow_mut())
    }

    #[inline]
    pub(crate) fn has_task_cancels(&self) -> bool {
        self.has_handle_cancels.get()
    }

    /// Who holds the body's waker (meaningful while the body is suspended).
    fn body_held_by(&self) -> HeldBy {
        HeldBy {
            queued: self.body_waker.is_queued(),
            clones: self.body_waker.clones(),
            waker: self.body_waker.waker().data() as usize,
        }
    }

    /// Panics if waiting for this scope's tasks from here can only deadlock: the scope
    /// belongs to a `run` loop that is still running on this thread, outside the one
    /// polling now, so it is blocked until the current call returns. (A loop that has
    /// ended is no such loop: its scope is continued by whichever loop polls it next.)
    #[track_caller]
    pub(crate) fn assert_reachable_from_here(&self, awaiting: &str, it: &str) {
        let loop_id = self.loop_id.get();
        if loop_id != 0
            && self.phase.get() != Phase::Finished
            && crate::current::loops::is_blocked_outer_loop(loop_id)
        {
            panic!(
                "duet: deadlock: awaiting {awaiting} an outer duet::run, from inside a nested \
                 duet::run (or another blocking executor) on the same thread; the outer loop \
                 cannot run that task until this call returns. Await {it} in the outer task \
                 instead, or spawn the work inside the nested run."
            );
        }
    }
}

/// What a detached root's poll runs in (see `ScopeCore::enter_detached_root`), until
/// dropped.
pub(crate) struct DetachedPoll<'a> {
    _values: EnteredCell<RefMut<'a, Option<Values>>>,
    _tree: super::kind::EnteredTree,
}

impl ScopeView for ScopeCore {
    /// One cell at a time, each borrow ended before the next (see `view`).
    fn snapshot(&self) -> ScopeSnapshot {
        // First: a handle that goes after this read went after its last use too (a new
        // one is made only from another, or by the scope's own code, which is not running
        // while its loop reads it), and the analysis re-checks the loop's notification.
        let remote_handles = self.signal.has_remote_handles();
        let body = {
            let body = self.body.borrow();
            (!body.done).then(|| (body.polling, body.shielded, body.waits.to_vec()))
        };
        let body = body.map(|(polling, shielded, waits)| BodySnapshot {
            held: (!polling).then(|| self.body_held_by()),
            shielded,
            waits,
        });
        let tasks = self.tasks.borrow().views(self.id);
        ScopeSnapshot {
            id: self.id,
            location: self.location,
            parent: self.parent().map(|link| (link.signal.id(), link.task)),
            loop_id: self.loop_id.get(),
            phase: self.phase.get(),
            cancel_reason: self.cancel_reason(),
            grace_until: self.grace_until.get(),
            deadline: self.deadline.get(),
            remote_handles,
            registered: self.signal.registered(),
            join_records_stale: self.join_records_stale.get(),
            body,
            tasks,
        }
    }
}
