//! The gate of a virtual clock: what keeps it from jumping while the world still moves.
//!
//! A virtual clock jumps to the next deadline when its loop has nothing ready. "Nothing
//! ready" must mean that nothing *can* become ready at the current virtual time, and two
//! things break that:
//!
//! - **A wake-up on its way.** A task waker woken on another thread first sets the task's
//!   queued flag, then pushes the task on its scope's ready queue and wakes the scope's
//!   parent, up to the loop. A wake of the same task on the loop's thread (a timer
//!   firing) that lands in between finds the flag set and adds nothing, and the loop
//!   would see no work. So every wake of a task of this clock's loops counts itself
//!   in `wakes` for its whole length ([`ClockGate::begin_wake`]).
//! - **Work that duet knows is in flight.** A job of a [`ThreadPool`](crate::ThreadPool)
//!   (`unblock`, `submit`, `execute`) or a batch of a [`Batcher`](crate::Batcher) being
//!   sent will complete something at the current virtual time; it holds the clock
//!   (`work`) until it has. A test holds it by hand with
//!   [`hold_clock`](crate::hold_clock) (`user`), and moves it by hand with
//!   [`advance`](crate::advance), which opens the gate up to a target
//!   (`advance_limits`) despite the user's holds.
//!
//! A loop that finds the gate closed by a wake or by work registers its waker here and
//! parks; whoever opens the gate wakes it. User holds are only ever released on the
//! loop's thread ([`ClockHold`](crate::ClockHold) is `!Send`), by a task the loop is
//! polling, so nothing needs to wake the loop for them.
//!
//! # Invariants
//!
//! 1. A wake counts itself before it sets a queued flag and uncounts itself after it
//!    finished pushing and waking parents. So if the loop's own wake of a task found the
//!    flag already set, the loop then sees that wake counted, or sees everything it did
//!    (the uncount releases what the wake wrote).
//! 2. The clock jumps only while the gate is open: no wake counted, no work held, and
//!    either no user hold or a pending `advance` whose target is not before the jump.
//! 3. When `wakes` or `work` drops to zero, the registered loop (if any) is woken.

use std::task::Waker;
use std::time::Instant;

use crate::sync::Mutex;
use crate::sync::atomic::{AtomicUsize, Ordering};

#[derive(Default)]
pub(crate) struct ClockGate {
    wakes: AtomicUsize,
    work: AtomicUsize,
    user: AtomicUsize,
    /// Targets of the `advance` calls under way (loop thread only; a mutex for `Sync`).
    advance_limits: std::sync::Mutex<Vec<Instant>>,
    /// The loop parked until the gate opens. A mutex rather than an `AtomicWaker`: the
    /// loop registers, then reads the counts; an opener drops a count, then takes the
    /// waker. The lock orders the two, so one of them sees the other.
    waiter: Mutex<Option<Waker>>,
}

impl std::fmt::Debug for ClockGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClockGate")
            .field("wakes", &self.wakes.load(Ordering::Relaxed))
            .field("work", &self.work.load(Ordering::Relaxed))
            .field("user", &self.user.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Why the clock may not jump now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    /// A wake-up or duet-known work is in flight: the loop must wait to be woken.
    InFlight,
    /// A user hold, and no `advance` reaches this far: only a task can change that.
    Held,
}

impl ClockGate {
    /// Counts a wake of a task of this clock until the guard drops (invariant 1).
    #[inline]
    pub(crate) fn begin_wake(&self) -> WakeInFlight<'_> {
        self.wakes.fetch_add(1, Ordering::Relaxed);
        WakeInFlight(self)
    }

    pub(crate) fn hold_work(&self) {
        self.work.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn release_work(&self) {
        if self.work.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.wake_waiter();
        }
    }

    fn wake_waiter(&self) {
        let waiter = self.lock_waiter().take();
        if let Some(waker) = waiter {
            waker.wake();
        }
    }

    fn lock_waiter(&self) -> crate::sync::MutexGuard<'_, Option<Waker>> {
        self.waiter.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn hold_user(&self) {
        self.user.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn release_user(&self) {
        self.user.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn start_advance(&self, target: Instant) {
        self.limits().push(target);
    }

    pub(crate) fn end_advance(&self, target: Instant) {
        let mut limits = self.limits();
        if let Some(i) = limits.iter().position(|&t| t == target) {
            limits.swap_remove(i);
        }
    }

    fn limits(&self) -> std::sync::MutexGuard<'_, Vec<Instant>> {
        self.advance_limits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the clock may jump to `deadline` now (invariant 2).
    pub(crate) fn check(&self, deadline: Instant) -> Result<(), Closed> {
        if self.wakes.load(Ordering::Acquire) > 0 || self.work.load(Ordering::Acquire) > 0 {
            return Err(Closed::InFlight);
        }
        if self.user.load(Ordering::Relaxed) > 0
            && !self.limits().iter().any(|&limit| deadline <= limit)
        {
            return Err(Closed::Held);
        }
        Ok(())
    }

    /// True while the user holds the clock and no `advance` reaches `deadline`: the clock
    /// cannot get there unless a task runs (only tasks release a `ClockHold`, and an
    /// `advance` that could lets the clock reach its own target first, which is earlier).
    pub(crate) fn is_frozen_before(&self, deadline: Instant) -> bool {
        self.user.load(Ordering::Relaxed) > 0
            && !self.limits().iter().any(|&limit| deadline <= limit)
    }

    /// Takes the loop's registration back (the loop is running again: a clone of its
    /// waker left here would look like a possible wake-up to the deadlock check).
    pub(crate) fn take_waiter(&self) -> Option<Waker> {
        self.lock_waiter().take()
    }

    /// Registers the loop to be woken when in-flight wakes and work are over; checks
    /// again afterwards, so an end between the check and the registration is not lost.
    pub(crate) fn wait_until_open(&self, deadline: Instant, waker: &Waker) -> Result<(), Closed> {
        let replaced = self.lock_waiter().replace(waker.clone());
        drop(replaced);
        self.check(deadline)
    }
}

/// A wake-up counted in its clock's gate until dropped (also when a waker it calls
/// panics).
pub(crate) struct WakeInFlight<'a>(&'a ClockGate);

impl Drop for WakeInFlight<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.0.wakes.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.wake_waiter();
        }
    }
}
