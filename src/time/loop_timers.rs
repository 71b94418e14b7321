//! The timers of one `run` loop: its clock, its timer queue, and its idle step.
//!
//! Each [`LoopContext`](crate::runtime) owns one [`LoopTimers`]. Timers polled while the
//! loop is current register in its queue; when the loop goes idle it calls
//! [`LoopTimers::on_idle`], which fires the due timers, jumps a virtual clock to the next
//! deadline when nothing is due, and otherwise tells the loop how long it may park.
//!
//! # Invariants
//!
//! 1. Only timers polled while this loop is current are registered here, so every waker
//!    in the queue was handed out by a poll that this loop (or code it called) made.
//! 2. A virtual clock is advanced only by `on_idle`, only when nothing is due, and only
//!    to the earliest pending deadline: virtual time never skips a timer.
//! 3. When the loop ends, its queue is closed and its wakers dropped, so a timer that
//!    outlives the loop holds no waker there (it re-registers where it is polled next).
//! 4. Every timer in the queue has a deadline later than `fired_through`: the idle step
//!    fires everything up to the clock reading it passes as `now` before recording it,
//!    and a timer registers only when its deadline is ahead of the clock, which is never
//!    behind `fired_through`. So a timer of this queue whose deadline is at or before
//!    `fired_through` has fired (and is due), which its poll can tell without a lock.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use super::clock::{Clock, VirtualClock};
use super::queue::{Service, TimerQueue};

/// What the loop should do after its idle step.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Idle {
    /// Timers fired (their tasks were woken): poll again without parking.
    Fired,
    /// Nothing is due: park until notified, or at the latest until this real instant.
    Park(Option<Instant>),
}

/// The time state of one loop.
#[derive(Debug)]
pub(crate) struct LoopTimers {
    clock: Clock,
    queue: Arc<TimerQueue>,
    /// The earliest deadline enclosing whatever is being polled right now (see
    /// `deadline`); `None` outside every deadline. Each loop starts with none, which is
    /// what keeps an outer deadline out of a nested run.
    enclosing: Cell<Option<Instant>>,
    /// Reused buffer for the wakers of fired timers.
    fired: RefCell<Vec<Waker>>,
    /// Every timer due at or before this instant has fired (see invariant 4).
    fired_through: Cell<Instant>,
    /// How late a real-clock park may end, to fire close deadlines in one wake-up.
    slack: Duration,
}

impl LoopTimers {
    /// The timers of a new loop. With `virtual_clock`, the loop gets a new virtual clock
    /// reading the caller's current time; otherwise it uses the clock of `outer` (the loop
    /// it is nested in), or the real clock at top level. `slack` is how late a park for
    /// the next deadline may end (see `Config::timer_slack`).
    pub(crate) fn new(virtual_clock: bool, slack: Duration, outer: Option<&LoopTimers>) -> Self {
        let clock = match (virtual_clock, outer) {
            (true, outer) => Clock::Virtual(VirtualClock::starting_at(
                outer.map_or_else(Instant::now, LoopTimers::now),
            )),
            (false, Some(outer)) => outer.clock.clone(),
            (false, None) => Clock::Real,
        };
        let now = clock.now();
        LoopTimers {
            queue: Arc::new(TimerQueue::new(Service::Loop, now)),
            fired_through: Cell::new(now),
            slack,
            clock,
            enclosing: Cell::new(None),
            fired: RefCell::new(Vec::new()),
        }
    }

    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    pub(crate) fn clock_id(&self) -> u64 {
        self.clock.id()
    }

    pub(crate) fn is_virtual(&self) -> bool {
        matches!(self.clock, Clock::Virtual(_))
    }

    pub(crate) fn queue(&self) -> &Arc<TimerQueue> {
        &self.queue
    }

    pub(crate) fn enclosing(&self) -> &Cell<Option<Instant>> {
        &self.enclosing
    }

    /// True if a timer of this loop's queue with this deadline has certainly fired.
    pub(crate) fn has_fired(&self, deadline: Instant) -> bool {
        deadline <= self.fired_through.get()
    }

    /// The loop's idle step: fires due timers; with a virtual clock, nothing due and
    /// `advance_virtual_clock`, first jumps the clock to the earliest pending deadline.
    /// (The loop asks without advancing first, so that other idle work, such as flushing
    /// buffered futures, happens at the current virtual time.)
    pub(crate) fn on_idle(&self, advance_virtual_clock: bool) -> Idle {
        let mut fired = self.fired.take();
        let now = self.now();
        let mut next = self.queue.fire_due(now, &mut fired);
        self.fired_through.set(now);
        if let (true, true, Some(deadline), Clock::Virtual(clock)) =
            (advance_virtual_clock, fired.is_empty(), next, &self.clock)
        {
            clock.advance_to(deadline);
            next = self.queue.fire_due(deadline, &mut fired);
            self.fired_through.set(deadline);
        }
        let idle = match (fired.is_empty(), &self.clock) {
            (false, _) => Idle::Fired,
            // Parking a little past the deadline lets timers due close together fire in
            // one wake-up; nothing fires early, since firing compares with the clock.
            (true, Clock::Real) => Idle::Park(next.map(|n| n.checked_add(self.slack).unwrap_or(n))),
            // A virtual deadline is no real instant to park until (and with a timer
            // pending, the jump above always fires one).
            (true, Clock::Virtual(_)) => Idle::Park(None),
        };
        for waker in fired.drain(..) {
            waker.wake();
        }
        *self.fired.borrow_mut() = fired;
        idle
    }
}

impl Drop for LoopTimers {
    fn drop(&mut self) {
        self.queue.close();
    }
}
