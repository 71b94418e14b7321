//! Thread-local bookkeeping for "who is being polled right now".
//!
//! This module owns the *poll frame*: the identity (waker data pointer) of the task being
//! polled and how many wakers of that task are held by scopes nested inside it that have
//! reported themselves *stuck* (see `scope::driver`). Both are plain integers, so setting
//! them on every poll costs a couple of thread-local writes and no reference counting.
//!
//! # Invariants
//!
//! 1. Every change is undone by a guard, so a panic that unwinds through a poll or a
//!    nested `run` restores the frame of the caller.
//! 2. A stuck hold is only counted when the holder's waker is the very waker of the task
//!    in the current frame (same data pointer); any other waker is ignored, which can only
//!    make deadlock detection miss a case, never report a false one.

use std::cell::Cell;
use std::task::Waker;

thread_local! {
    static POLL_FRAME: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// Polls with `task` (a waker data pointer) as the current frame and returns what `poll`
/// returned plus the number of stuck holds reported against `task` during the poll.
pub(crate) fn poll_in_frame<R>(task: *const (), poll: impl FnOnce() -> R) -> (R, usize) {
    struct Restore((usize, usize));
    impl Drop for Restore {
        fn drop(&mut self) {
            POLL_FRAME.with(|f| f.set(self.0));
        }
    }
    let restore = Restore(POLL_FRAME.with(|f| f.replace((task as usize, 0))));
    let output = poll();
    let (_, stuck_holds) = POLL_FRAME.with(Cell::get);
    drop(restore);
    (output, stuck_holds)
}

/// The identity (waker data pointer) of the task being polled on this thread, or null.
pub(crate) fn current_task() -> *const () {
    POLL_FRAME.with(|f| f.get().0 as *const ())
}

/// Called by a scope that keeps a clone of `waker` registered but can never use it
/// unless an event reaches the scope itself: its parent may discount that clone.
pub(crate) fn report_stuck_hold(waker: &Waker) {
    POLL_FRAME.with(|f| {
        let (task, holds) = f.get();
        if task != 0 && waker.data() as usize == task {
            f.set((task, holds + 1));
        }
    });
}

/// True when `waker` is the waker of the task a loop is polling right now on this thread,
/// that is, the caller is being polled by that task directly (through `async` blocks and
/// combinators that pass the task's waker on), not by some executor nested inside it.
pub(crate) fn is_polling(waker: &Waker) -> bool {
    let (task, _) = POLL_FRAME.with(Cell::get);
    task != 0 && waker.data() as usize == task
}
