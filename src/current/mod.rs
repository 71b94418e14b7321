//! What runs on this thread right now: the bottom of the crate's own layers.
//!
//! - `loops`: the innermost `run` loop (its id, the loops it is nested in, its root task);
//! - `frame`: the poll frame, the identity of the task being polled and what code nested
//!   in its poll reports to it (stuck holds, shielded work, poll counts), and the
//!   constants the poll counts serve (`BODY`, `ROUND_BUDGET`);
//! - `waits`: what a suspended task waits on, as the futures it polled reported it, and
//!   who holds its waker ([`HeldBy`]), for the task-tree dump and the deadlock analysis.
//!
//! Everything here is per-thread bookkeeping over plain values and wakers: it names no
//! type of the layers above (scopes, timers, loops), so that every one of them may read
//! it. Each folder of `src/` imports only from the layers below it (`design/README.md`,
//! "Layers"; `design/tools/layers.py --check`).
//!
//! # Invariants
//!
//! 1. Every change to a thread-local here is undone by a guard, so a panic that unwinds
//!    through a poll or a nested `run` restores the caller's state.
//! 2. Nothing here imports anything of duet outside `current/` (checked by
//!    `layers.py --check-target`, which `.ci/run` runs).

pub(crate) mod frame;
pub(crate) mod loops;
pub(crate) mod waits;

pub(crate) use frame::{
    FrameReport, add_polls, current_index, observe_shield, poll_in_frame, report_shielded,
    retract_stuck_hold, settle_stuck_hold,
};
pub(crate) use waits::HeldBy;

/// A cell that a scope keeps its part of this thread's state in (the frame of its
/// stuck hold, its signal while it is not current): `std::cell::Cell` in a local scope,
/// a mutex-backed cell in a Send scope (`scope/kind/send.rs`). For `Cell` both methods
/// are `Cell`'s own, so a local scope's code is unchanged.
pub(crate) trait ScopeCell<T> {
    fn replace(&self, value: T) -> T;

    fn get(&self) -> T
    where
        T: Copy;
}

impl<T> ScopeCell<T> for std::cell::Cell<T> {
    #[inline]
    fn replace(&self, value: T) -> T {
        std::cell::Cell::replace(self, value)
    }

    #[inline]
    fn get(&self) -> T
    where
        T: Copy,
    {
        std::cell::Cell::get(self)
    }
}
