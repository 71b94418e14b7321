//! The lifetime-free part of a scope, shared (by `Rc`) with its handles.
//!
//! [`JoinHandle`](crate::JoinHandle)s must be able to name their scope without carrying
//! its `'env` lifetime, so everything a handle needs lives here rather than in
//! `ScopeInner<'env, E>`.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use super::signal::Signal;
use crate::CancelReason;
use crate::runtime::current_loop;

/// Where a scope is in its life. It only moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The body or some task is still running.
    Running,
    /// The scope is dropping its tasks; spawns are cancelled on arrival.
    TearingDown,
    /// The scope has produced its result (or was dropped); spawning is a misuse.
    Finished,
}

/// Identifies one task of a scope; the generation tells reused slots apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TaskKey {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

pub(crate) struct ScopeCore {
    pub(crate) signal: Arc<Signal>,
    pub(crate) phase: Cell<Phase>,
    /// True while the driver is polling tasks: events raised by those tasks (spawns,
    /// handle cancels) need not wake the parent, the driver checks for them itself.
    pub(crate) polling: Cell<bool>,
    /// Why the scope tore down, once it has started to; join handles of the tasks it
    /// dropped report this reason.
    teardown_reason: RefCell<Option<CancelReason>>,
    /// Tasks whose join handle asked to cancel just them; drained by the driver between
    /// polls.
    handle_cancels: RefCell<Vec<TaskKey>>,
    /// The `run` loop the scope was opened under (0: outside any loop).
    loop_id: u64,
}

impl ScopeCore {
    pub(crate) fn new() -> Self {
        ScopeCore {
            signal: Arc::new(Signal::default()),
            phase: Cell::new(Phase::Running),
            polling: Cell::new(false),
            teardown_reason: RefCell::new(None),
            handle_cancels: RefCell::new(Vec::new()),
            loop_id: current_loop(),
        }
    }

    pub(crate) fn begin_teardown(&self, reason: CancelReason) {
        self.phase.set(Phase::TearingDown);
        self.teardown_reason.borrow_mut().get_or_insert(reason);
    }

    pub(crate) fn teardown_reason(&self) -> Option<CancelReason> {
        self.teardown_reason.borrow().clone()
    }

    pub(crate) fn request_task_cancel(&self, key: TaskKey) {
        if self.phase.get() == Phase::Running {
            self.handle_cancels.borrow_mut().push(key);
            self.notify_unless_polling();
        }
    }

    /// Makes sure the driver looks at the scope again: unnecessary while it is polling.
    pub(crate) fn notify_unless_polling(&self) {
        if !self.polling.get() {
            self.signal.notify();
        }
    }

    pub(crate) fn take_task_cancels(&self) -> Vec<TaskKey> {
        std::mem::take(&mut *self.handle_cancels.borrow_mut())
    }

    pub(crate) fn has_task_cancels(&self) -> bool {
        !self.handle_cancels.borrow().is_empty()
    }

    /// Panics if waiting for this scope's tasks from here can only deadlock: the scope
    /// belongs to a `run` loop on this thread that is not the one currently polling, so
    /// that loop is blocked until the current call returns.
    #[track_caller]
    pub(crate) fn assert_reachable_from_here(&self) {
        if self.loop_id != 0
            && self.phase.get() != Phase::Finished
            && current_loop() != self.loop_id
        {
            panic!(
                "duet: deadlock: awaiting a JoinHandle whose task belongs to an outer \
                 duet::run, from inside a nested duet::run (or another blocking executor) on \
                 the same thread; the outer loop cannot run that task until this call \
                 returns. Await the handle in the outer task instead, or spawn the work \
                 inside the nested run."
            );
        }
    }
}
