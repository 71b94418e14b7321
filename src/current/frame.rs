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
//!    make deadlock detection miss a case, never report a false one. A scope counts at
//!    most one stuck hold per frame, as its last poll in the frame left it.

use std::cell::Cell;
use std::task::Waker;

use super::ScopeCell;

/// The slot index that stands for a scope's body (and, in the frame, for a loop's root).
pub(crate) const BODY: u32 = u32::MAX;

/// Task polls after which a scope that still has queued tasks yields to its parent
/// (beyond the first round, which always runs whole). Here, next to the poll counts it
/// bounds, so that the simulation's scheduler (`schedule`) can vary it.
pub(crate) const ROUND_BUDGET: u32 = 128;

#[derive(Clone, Copy)]
struct Frame {
    /// The data pointer of the polled task's waker (0: none).
    task: usize,
    /// The polled task's slot in its scope (`BODY` for a body or a loop's root).
    index: u32,
    stuck_holds: u32,
    shielded: bool,
    /// Where this poll's wait reports start in the report stack (see `waits`), once
    /// something reported (`NO_REPORT` until then). Kept small: the frame is copied in
    /// and out at every poll.
    first_report: u32,
    /// Task polls made by scopes nested in this poll, for the poll budget of the scope
    /// polling this task: a deep tree of busy scopes then yields to the loop after a
    /// bounded number of polls in all, not a budget per level multiplied by the depth.
    polls: u32,
    /// Identifies this poll (unique on the thread; 0 until a stuck hold is counted in
    /// it, which is rare, so that most polls never draw one), so that a scope polled
    /// twice in it counts its stuck hold once, and the state of its last poll.
    poll_id: u64,
}

const NO_FRAME: Frame = Frame {
    task: 0,
    index: u32::MAX,
    stuck_holds: 0,
    shielded: false,
    first_report: NO_REPORT,
    polls: 0,
    poll_id: 0,
};

/// `Frame::first_report` before any report.
pub(crate) const NO_REPORT: u32 = u32::MAX;

/// The id the next poll frame that counts a stuck hold gets (ids start at 1: 0 means
/// "none"). Unique in the process, not per thread: a scope keeps the id of the frame it
/// counted a hold in across its polls (`ScopeCore::stuck_reported`), and a scope polled on
/// another thread next must not find its id naming a frame of that thread.
static NEXT_POLL_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

thread_local! {
    static POLL_FRAME: Cell<Frame> = const { Cell::new(NO_FRAME) };
    /// The active frames that counted stuck holds (innermost last), with how many of their
    /// holds scopes have taken back from inside nested frames since.
    static STUCK_FRAMES: std::cell::RefCell<Vec<(u64, u32)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// What a poll left behind, reported by code nested in it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameReport {
    /// Clones of the task's waker kept by stuck scopes nested in the task.
    pub(crate) stuck_holds: usize,
    /// The task is suspended inside a shield (directly, or in a nested scope).
    pub(crate) shielded: bool,
    /// Where the poll's wait reports start (`NO_REPORT` if it made none).
    pub(crate) first_report: u32,
    /// Task polls made by scopes nested in the poll.
    pub(crate) polls: u32,
}

/// Polls with `task` (a waker data pointer; `index`, its slot in the current scope) as
/// the current frame and returns what `poll` returned plus what code nested in the poll
/// reported.
pub(crate) fn poll_in_frame<R>(
    task: *const (),
    index: u32,
    poll: impl FnOnce() -> R,
) -> (R, FrameReport) {
    /// Restores the caller's frame if `poll` unwinds (the normal path does it itself).
    struct Restore(Frame);
    impl Drop for Restore {
        fn drop(&mut self) {
            let ended = POLL_FRAME.with(|f| f.replace(self.0));
            if ended.poll_id != 0 {
                let _ = settle_frame(ended);
            }
        }
    }
    let fresh = Frame {
        task: task as usize,
        index,
        ..NO_FRAME
    };
    let restore = Restore(POLL_FRAME.with(|f| f.replace(fresh)));
    let output = poll();
    let mut frame = POLL_FRAME.with(|f| f.replace(restore.0));
    std::mem::forget(restore);
    if frame.poll_id != 0 {
        frame = settle_frame(frame);
    }
    let report = FrameReport {
        stuck_holds: frame.stuck_holds as usize,
        shielded: frame.shielded,
        first_report: frame.first_report,
        polls: frame.polls,
    };
    (output, report)
}

/// Called by a scope as its poll returns: counts the task polls it made (nested ones
/// included) in the poll of the enclosing task.
pub(crate) fn add_polls(polls: u32) {
    POLL_FRAME.with(|f| {
        let mut frame = f.get();
        frame.polls = frame.polls.wrapping_add(polls);
        f.set(frame);
    });
}

/// The slot of the task being polled in the current scope (`u32::MAX`: a body or root).
pub(crate) fn current_index() -> u32 {
    POLL_FRAME.with(|f| f.get().index)
}

/// Records that the polled task made a wait report at `position` of the report stack, if
/// `waker` is its own waker, and returns where this poll's reports start; `None` (and
/// nothing recorded) for another waker.
pub(crate) fn note_report(waker: &Waker, position: usize) -> Option<usize> {
    POLL_FRAME.with(|f| {
        let mut frame = f.get();
        if frame.task == 0 || waker.data() as usize != frame.task {
            return None;
        }
        if frame.first_report == NO_REPORT {
            // One poll keeps a few dozen reports (`waits`): positions stay small.
            frame.first_report = u32::try_from(position).unwrap_or(NO_REPORT - 1);
        }
        f.set(frame);
        Some(frame.first_report as usize)
    })
}

/// The identity (waker data pointer) of the task being polled on this thread, or null.
pub(crate) fn current_task() -> *const () {
    POLL_FRAME.with(|f| f.get().task as *const ())
}

/// Called by a scope at the end of each of its polls: `stuck` says whether it keeps a
/// clone of `waker` registered that it can never use unless an event reaches the scope
/// itself, so that its parent may discount that clone. `reported` is the scope's record of
/// the poll in which it last counted one: a scope polled twice in one poll of its task
/// holds one clone, and what counts is the state its last poll left.
#[inline]
pub(crate) fn settle_stuck_hold(waker: &Waker, stuck: bool, reported: &impl ScopeCell<u64>) {
    if stuck || reported.get() != 0 {
        settle_stuck_hold_slow(waker, stuck, reported);
    }
}

fn settle_stuck_hold_slow(waker: &Waker, stuck: bool, reported: &impl ScopeCell<u64>) {
    // Whatever the scope counted before, in this frame or in one it is nested in, its
    // registration has just been replaced: take it back first.
    retract_stuck_hold(reported);
    POLL_FRAME.with(|f| {
        let mut frame = f.get();
        if !stuck || frame.task == 0 || waker.data() as usize != frame.task {
            return;
        }
        if frame.poll_id == 0 {
            frame.poll_id = NEXT_POLL_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            STUCK_FRAMES.with(|s| s.borrow_mut().push((frame.poll_id, 0)));
        }
        frame.stuck_holds += 1;
        reported.replace(frame.poll_id);
        f.set(frame);
    });
}

/// Takes back the stuck hold a scope counted (`reported` names the frame), because the
/// scope is dropped or registers another waker: from the current frame, or, if the hold
/// was counted in a frame the current one is nested in, at that frame's end. A hold
/// counted in a frame that has ended stays counted: that poll's result was right when
/// it was computed, and the hold's clone has gone since, which only lowers counts.
pub(crate) fn retract_stuck_hold(reported: &impl ScopeCell<u64>) {
    let id = reported.replace(0);
    if id == 0 {
        return;
    }
    POLL_FRAME.with(|f| {
        let mut frame = f.get();
        if frame.poll_id == id {
            frame.stuck_holds -= 1;
            f.set(frame);
            return;
        }
        STUCK_FRAMES.with(|s| {
            if let Some(entry) = s.borrow_mut().iter_mut().find(|(frame, _)| *frame == id) {
                entry.1 += 1;
            }
        });
    });
}

/// Ends a frame that counted stuck holds: applies the holds retracted from nested frames
/// (see `retract_stuck_hold`) and forgets the frame.
fn settle_frame(mut frame: Frame) -> Frame {
    let retracted = STUCK_FRAMES.with(|s| {
        let mut frames = s.borrow_mut();
        match frames.iter().rposition(|(id, _)| *id == frame.poll_id) {
            Some(i) => frames.remove(i).1,
            None => 0,
        }
    });
    frame.stuck_holds = frame.stuck_holds.saturating_sub(retracted);
    frame.poll_id = 0;
    frame
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
