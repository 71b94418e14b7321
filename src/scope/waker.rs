//! Per-task wakers: waking a task queues exactly that task in its scope.
//!
//! A [`TaskWaker`] belongs to one task slot. Waking it sets `queued` and, if it was not
//! already set, pushes the slot index onto the scope's ready queue and wakes the scope's
//! parent; the scope then polls that task and no other. The scope clears `queued` just
//! before it polls the task, so a wake during the poll queues the task again.
//!
//! The scope also asks a waker whether anything besides the scope still holds it
//! ([`TaskWaker::is_held`]); that is how scopes notice that a task can never be woken.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::task::Wake;

use super::signal::Signal;

pub(crate) struct TaskWaker {
    signal: Arc<Signal>,
    index: u32,
    queued: AtomicBool,
}

impl TaskWaker {
    pub(crate) fn new(signal: Arc<Signal>, index: u32) -> Arc<Self> {
        Arc::new(TaskWaker {
            signal,
            index,
            queued: AtomicBool::new(false),
        })
    }

    /// Clears the queued flag before a poll; false means the queue entry was stale.
    pub(crate) fn take_queued(&self) -> bool {
        self.queued.swap(false, Ordering::AcqRel)
    }

    /// True unless the task is certainly unreachable: not queued, and no clone of this
    /// waker exists besides the scope's own reference and `stuck_holds` clones kept by
    /// stuck scopes nested in the task. Never wrongly false: counts only go down
    /// concurrently, and the fence makes a wake that preceded a remote drop visible.
    pub(crate) fn is_held(self: &Arc<Self>, stuck_holds: usize) -> bool {
        if self.queued.load(Ordering::Acquire) || Arc::strong_count(self) > 1 + stuck_holds {
            return true;
        }
        fence(Ordering::Acquire);
        self.queued.load(Ordering::Relaxed)
    }

    /// True when the scope holds the only reference, so the waker can serve a new task
    /// without any stale clone waking it.
    pub(crate) fn is_unshared(self: &Arc<Self>) -> bool {
        Arc::strong_count(self) == 1
    }
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.signal.push(self.index);
        }
    }
}
