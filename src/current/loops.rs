//! The innermost `run` loop on this thread: its id, the loops it is nested in, and the
//! identity of its root task.
//!
//! [`run`](crate::run) enters a [`Loop`] for the length of the call ([`Enter`]); a nested
//! `run` enters its own and restores the caller's when it returns or unwinds. This is the
//! part of a loop's state that every layer may need (a scope checks at every poll which
//! loop polls it); each layer keeps the rest of its per-loop state itself, behind its own
//! cursor: the timers in `time::source`, the flush queue in `interop::buffered`, the
//! registry of scopes in `scope::registry`, the simulation in `schedule`.
//!
//! # Invariants
//!
//! 1. The current loop is the innermost active `run` on this thread, or none (also while
//!    a simulation runs an offloaded job, which runs outside every loop).
//! 2. Loop ids are unique per process and never 0 (0 means "outside any loop");
//!    `CURRENT_ID` is always the current loop's id.
//! 3. A loop's chain of outer loops is fixed when it is entered: the loops active on the
//!    thread then, innermost first.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::frame::current_task;

/// Loop ids start at 1 so that 0 can mean "not inside `run`".
static NEXT_LOOP_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static CURRENT: RefCell<Option<Rc<Loop>>> = const { RefCell::new(None) };
    /// `CURRENT`'s id (0: none), for the checks made at every poll of a scope.
    static CURRENT_ID: Cell<u64> = const { Cell::new(0) };
}

/// One `run` loop, as the layers below `runtime` see it.
#[derive(Debug)]
struct Loop {
    id: u64,
    /// The data pointer of the loop's own waker: the identity of the root task.
    root_task: *const (),
    /// The loop this one is nested in, if any.
    outer: Option<Rc<Loop>>,
}

/// A fresh loop id (unique in the process, never 0), for a loop about to be entered.
pub(crate) fn new_loop_id() -> u64 {
    NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed)
}

/// Makes a new loop, with id `id` (from [`new_loop_id`]) and whose root task is polled
/// with a waker of data pointer `root_task`, the current one until dropped; then restores
/// the previous one.
pub(crate) struct Enter {
    current: Rc<Loop>,
}

impl Enter {
    pub(crate) fn new(id: u64, root_task: *const ()) -> Self {
        let outer = CURRENT.with(|c| c.borrow().clone());
        let current = Rc::new(Loop {
            id,
            root_task,
            outer,
        });
        CURRENT.with(|c| *c.borrow_mut() = Some(current.clone()));
        CURRENT_ID.with(|c| c.set(id));
        Enter { current }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let outer = self.current.outer.clone();
        CURRENT_ID.with(|c| c.set(outer.as_ref().map_or(0, |o| o.id)));
        CURRENT.with(|c| *c.borrow_mut() = outer);
    }
}

/// Leaves every loop until dropped (for work that runs as if on another thread), then
/// restores the current one.
pub(crate) struct Outside {
    current: Option<Rc<Loop>>,
    id: u64,
}

impl Outside {
    pub(crate) fn new() -> Self {
        Outside {
            current: CURRENT.with(|c| c.borrow_mut().take()),
            id: CURRENT_ID.with(|c| c.replace(0)),
        }
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = self.current.take());
        CURRENT_ID.with(|c| c.set(self.id));
    }
}

/// The id of the innermost loop on this thread, or 0 outside any loop.
#[inline]
pub(crate) fn current_loop() -> u64 {
    CURRENT_ID.with(Cell::get)
}

/// True if the task being polled on this thread is the root task of the innermost loop:
/// the caller is polled directly by that loop.
pub(crate) fn polled_by_root() -> bool {
    CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .is_some_and(|l| l.root_task == current_task())
    })
}

/// True if the loop `id` is running on this thread and is not the innermost one: an
/// outer loop, blocked until the nested call that runs now returns.
pub(crate) fn is_blocked_outer_loop(id: u64) -> bool {
    CURRENT.with(|c| {
        let mut current = c.borrow().clone();
        let mut innermost = true;
        while let Some(this) = current {
            if this.id == id {
                return !innermost;
            }
            innermost = false;
            current = this.outer.clone();
        }
        false
    })
}
