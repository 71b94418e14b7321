//! Thread-local bookkeeping for "who is being polled right now".
//!
//! This module owns two pieces of per-thread state, both plain integers so that setting
//! them on every poll costs a couple of thread-local writes and no reference counting:
//!
//! - the id of the innermost [`run`](crate::run) loop active on this thread (0 when none);
//! - the *poll frame*: the identity (waker data pointer) of the task being polled and how
//!   many wakers of that task are held by scopes nested inside it that have reported
//!   themselves *stuck* (see `scope::driver`).
//!
//! # Invariants
//!
//! 1. Every change is undone by a guard, so a panic that unwinds through a poll or a
//!    nested `run` restores the frame of the caller.
//! 2. A stuck hold is only counted when the holder's waker is the very waker of the task
//!    in the current frame (same data pointer); any other waker is ignored, which can only
//!    make deadlock detection miss a case, never report a false one.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Waker;

thread_local! {
    static CURRENT_LOOP: Cell<u64> = const { Cell::new(0) };
    static POLL_FRAME: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// Loop ids start at 1 so that 0 can mean "not inside `run`".
static NEXT_LOOP_ID: AtomicU64 = AtomicU64::new(1);

/// The id of the innermost `run` loop on this thread, or 0 outside any loop.
pub(crate) fn current_loop() -> u64 {
    CURRENT_LOOP.with(Cell::get)
}

/// Makes a fresh loop id current until the guard drops.
pub(crate) struct LoopGuard {
    previous: u64,
}

impl LoopGuard {
    pub(crate) fn enter() -> Self {
        let id = NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed);
        LoopGuard {
            previous: CURRENT_LOOP.with(|c| c.replace(id)),
        }
    }
}

impl Drop for LoopGuard {
    fn drop(&mut self) {
        CURRENT_LOOP.with(|c| c.set(self.previous));
    }
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
