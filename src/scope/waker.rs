//! Per-task wakers: waking a task queues exactly that task in its scope.
//!
//! A [`TaskWaker`] belongs to one task slot. Waking it sets `queued` and, if it was not
//! already set, pushes the slot index onto the scope's ready queue (which wakes the
//! scope's parent when needed, see `signal`); the scope then polls that task and no
//! other. The scope clears `queued` just before it polls the task, so a wake during the
//! poll queues the task again. Under a virtual clock, a wake is counted in the clock's
//! gate from before it sets `queued` until it has pushed and woken the parent
//! (`time::gate`): a second wake that finds `queued` set while the first is on its way
//! must not let the clock jump.
//!
//! The scope keeps each waker as a [`WakerSlot`]: the shared `Arc` plus a ready-made
//! [`Waker`] of it, so polling costs no reference-count traffic. It also asks the waker
//! whether anything besides the slot still holds it ([`WakerSlot::is_held`]); that is how
//! scopes notice that a task can never be woken.

use std::sync::Arc;
use std::task::{Wake, Waker};

use super::signal::Signal;
use crate::sync::atomic::{AtomicBool, Ordering, fence};

pub(crate) struct TaskWaker {
    signal: Arc<Signal>,
    index: u32,
    queued: AtomicBool,
    /// The data pointer of the waker this task's join handle registered last (0: none),
    /// for the deadlock analysis (loop thread only; an atomic for `Sync`). It fits in
    /// this allocation's padding.
    join_waiter: std::sync::atomic::AtomicUsize,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        match self.signal.gate() {
            None => self.queue(),
            Some(gate) => {
                // Under a virtual clock, the wake counts itself until it has reached the
                // scope's parent, so that the clock does not jump while it is on its way.
                let _in_flight = gate.begin_wake();
                self.queue();
            }
        }
    }
}

impl TaskWaker {
    #[inline]
    fn queue(&self) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.signal.push(self.index);
        }
    }
}

/// The scope's own references to a task's waker: the `Arc` (for counts and flags) and a
/// [`Waker`] made from it (to poll with).
pub(crate) struct WakerSlot {
    shared: Arc<TaskWaker>,
    waker: Waker,
}

/// References a [`WakerSlot`] itself holds.
const OWN_REFERENCES: usize = 2;

impl WakerSlot {
    pub(crate) fn new(signal: Arc<Signal>, index: u32) -> Self {
        let shared = Arc::new(TaskWaker {
            signal,
            index,
            queued: AtomicBool::new(false),
            join_waiter: std::sync::atomic::AtomicUsize::new(0),
        });
        WakerSlot {
            waker: Waker::from(shared.clone()),
            shared,
        }
    }

    pub(crate) fn waker(&self) -> &Waker {
        &self.waker
    }

    /// Sets the queued flag without pushing to the shared queue (for a new task, which
    /// the scope queues locally); false if it was already set, i.e. a stale entry for
    /// this slot is still in the shared queue.
    pub(crate) fn mark_queued(&self) -> bool {
        !self.shared.queued.swap(true, Ordering::AcqRel)
    }

    /// Queues the task through the shared ready queue.
    pub(crate) fn wake(&self) {
        self.shared.wake_by_ref();
    }

    /// Clears the queued flag before a poll; false means the queue entry was stale.
    pub(crate) fn take_queued(&self) -> bool {
        self.shared.queued.swap(false, Ordering::AcqRel)
    }

    /// True unless the task is certainly unreachable: not queued, and no clone of this
    /// waker exists besides the slot's own references and `stuck_holds` clones kept by
    /// stuck scopes nested in the task. Never wrongly false: counts only go down
    /// concurrently, and the fence makes a wake that preceded a remote drop visible.
    pub(crate) fn is_held(&self, stuck_holds: usize) -> bool {
        let queued = &self.shared.queued;
        if queued.load(Ordering::Acquire)
            || Arc::strong_count(&self.shared) > OWN_REFERENCES + stuck_holds
        {
            return true;
        }
        fence(Ordering::Acquire);
        queued.load(Ordering::Relaxed)
    }

    /// Records the waker the task's join handle waits with.
    pub(crate) fn set_join_waiter(&self, waker: &Waker) {
        let data = waker.data() as usize;
        self.shared
            .join_waiter
            .store(data, std::sync::atomic::Ordering::Relaxed);
    }

    /// Forgets it, for a slot reused by a new task.
    pub(crate) fn clear_join_waiter(&self) {
        self.shared
            .join_waiter
            .store(0, std::sync::atomic::Ordering::Relaxed);
    }

    /// The waker (data pointer) the task's join handle waits with (0: none).
    pub(crate) fn join_waiter(&self) -> usize {
        self.shared
            .join_waiter
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// True while the task is queued to run.
    pub(crate) fn is_queued(&self) -> bool {
        self.shared.queued.load(Ordering::Acquire)
    }

    /// Clones of this waker held by anything besides the slot itself.
    pub(crate) fn clones(&self) -> usize {
        Arc::strong_count(&self.shared).saturating_sub(OWN_REFERENCES)
    }

    /// True when only the slot holds the waker, so it can serve a new task without any
    /// stale clone waking that task.
    pub(crate) fn is_unshared(&self) -> bool {
        Arc::strong_count(&self.shared) == OWN_REFERENCES
    }
}
