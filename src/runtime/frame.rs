//! Thread-local bookkeeping for "who is being polled right now".
//!
//! This module owns the *poll frame*: the identity (waker data pointer) of the task being
//! polled, how many wakers of that task are held by scopes nested inside it that have
//! reported themselves *stuck* (see `scope::driver`), and whether the task stays
//! suspended inside a shield. All plain values, so setting them on every poll costs a
//! couple of thread-local writes and no reference counting.
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

#[derive(Clone, Copy, Default)]
struct Frame {
    /// The data pointer of the polled task's waker (0: none).
    task: usize,
    stuck_holds: usize,
    shielded: bool,
}

thread_local! {
    static POLL_FRAME: Cell<Frame> = const {
        Cell::new(Frame {
            task: 0,
            stuck_holds: 0,
            shielded: false,
        })
    };
}

/// What a poll left behind, reported by code nested in it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameReport {
    /// Clones of the task's waker kept by stuck scopes nested in the task.
    pub(crate) stuck_holds: usize,
    /// The task is suspended inside a shield (directly, or in a nested scope).
    pub(crate) shielded: bool,
}

/// Polls with `task` (a waker data pointer) as the current frame and returns what `poll`
/// returned plus what code nested in the poll reported.
pub(crate) fn poll_in_frame<R>(task: *const (), poll: impl FnOnce() -> R) -> (R, FrameReport) {
    struct Restore(Frame);
    impl Drop for Restore {
        fn drop(&mut self) {
            POLL_FRAME.with(|f| f.set(self.0));
        }
    }
    let fresh = Frame {
        task: task as usize,
        stuck_holds: 0,
        shielded: false,
    };
    let restore = Restore(POLL_FRAME.with(|f| f.replace(fresh)));
    let output = poll();
    let frame = POLL_FRAME.with(Cell::get);
    drop(restore);
    let report = FrameReport {
        stuck_holds: frame.stuck_holds,
        shielded: frame.shielded,
    };
    (output, report)
}

/// The identity (waker data pointer) of the task being polled on this thread, or null.
pub(crate) fn current_task() -> *const () {
    POLL_FRAME.with(|f| f.get().task as *const ())
}

/// Called by a scope that keeps a clone of `waker` registered but can never use it
/// unless an event reaches the scope itself: its parent may discount that clone.
pub(crate) fn report_stuck_hold(waker: &Waker) {
    POLL_FRAME.with(|f| {
        let mut frame = f.get();
        if frame.task != 0 && waker.data() as usize == frame.task {
            frame.stuck_holds += 1;
            f.set(frame);
        }
    });
}

/// Called when the polled task stays suspended inside a shield (a `shield` future, or a
/// scope holding shielded work): the scope polling the task must not drop it yet.
pub(crate) fn report_shielded() {
    POLL_FRAME.with(|f| {
        let mut frame = f.get();
        frame.shielded = true;
        f.set(frame);
    });
}

/// Runs `poll` and tells whether it reported shielded work, keeping the report for the
/// enclosing task too (for combinators, like `timeout`, that must not drop shielded work).
pub(crate) fn observe_shield<R>(poll: impl FnOnce() -> R) -> (R, bool) {
    let before = POLL_FRAME.with(|f| {
        let mut frame = f.get();
        let before = std::mem::replace(&mut frame.shielded, false);
        f.set(frame);
        before
    });
    let output = poll();
    let shielded = POLL_FRAME.with(|f| {
        let mut frame = f.get();
        let shielded = frame.shielded;
        frame.shielded = before || shielded;
        f.set(frame);
        shielded
    });
    (output, shielded)
}

/// True when `waker` is the waker of the task a loop is polling right now on this thread,
/// that is, the caller is being polled by that task directly (through `async` blocks and
/// combinators that pass the task's waker on), not by some executor nested inside it.
pub(crate) fn is_polling(waker: &Waker) -> bool {
    let task = POLL_FRAME.with(Cell::get).task;
    task != 0 && waker.data() as usize == task
}
