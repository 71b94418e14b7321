//! The timers of one `run` loop: its clock, its timer queue, and its idle step.
//!
//! Each `run` loop creates one [`LoopTimers`] and makes it current (see `source`). Timers
//! polled while the loop is current register in its queue. The loop fires the due ones with
//! [`LoopTimers::fire_due`] when it goes idle, and also between polls while it stays busy
//! (so a task that never stops yielding cannot starve them). When nothing is due and
//! nothing else is ready, [`LoopTimers::on_idle`] jumps a virtual clock to the next
//! deadline if its gate allows (see `gate`), and otherwise tells the loop how long it may
//! park.
//!
//! # Invariants
//!
//! 1. Only timers polled while this loop is current are registered here, so every waker
//!    in the queue was handed out by a poll that this loop (or code it called) made.
//! 2. A virtual clock is advanced only by `on_idle`, only when nothing is due, only while
//!    its gate is open, and only to the earliest pending deadline: virtual time never
//!    skips a timer, nor a wake-up on its way, nor work duet knows is in flight.
//! 3. When the loop ends, its queue is closed and the wakers still in it are woken, so a
//!    future that outlives the loop (polled again by a later `run`) is polled again and
//!    re-registers its timer there.
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
use super::gate::{ClockGate, Closed};
use super::queue::{Service, TimerQueue};

/// What the loop should do after its idle step.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Idle {
    /// Timers fired (their tasks were woken), or a wake-up arrived: poll again without
    /// parking.
    Poll,
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
    /// the next deadline may end (see `Config::timer_slack`); `tie_seed`, for a simulated
    /// loop, orders the timers with equal deadlines.
    pub(crate) fn new(
        virtual_clock: bool,
        slack: Duration,
        outer: Option<&LoopTimers>,
        tie_seed: Option<u64>,
    ) -> Self {
        let clock = match (virtual_clock, outer) {
            (true, outer) => Clock::Virtual(VirtualClock::starting_at(
                outer.map_or_else(Instant::now, LoopTimers::now),
            )),
            (false, Some(outer)) => outer.clock.clone(),
            (false, None) => Clock::Real,
        };
        let now = clock.now();
        let queue = Arc::new(TimerQueue::new(Service::Loop, now));
        if let Some(seed) = tie_seed {
            queue.shuffle_ties(seed);
        }
        LoopTimers {
            queue,
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

    /// The gate of the loop's virtual clock (`None` on the real clock).
    pub(crate) fn gate(&self) -> Option<&Arc<ClockGate>> {
        self.clock.gate()
    }

    /// If this loop's virtual clock cannot reach its next deadline (the user holds it
    /// and no `advance` goes that far), so that none of its timers can fire before a task
    /// of the tree runs: how many of them each waker (by data pointer) is registered in.
    /// `None` when the timers can fire.
    pub(crate) fn frozen_timers(&self) -> Option<std::collections::HashMap<usize, usize>> {
        let gate = self.gate()?;
        let next = self.queue.next_deadline()?;
        gate.is_frozen_before(next)
            .then(|| self.queue.count_by_waker())
    }

    /// Fires every timer due at the current time; true if any fired. Reads the clock
    /// only if a timer is pending.
    pub(crate) fn fire_due(&self) -> bool {
        let Some(next) = self.queue.next_deadline() else {
            return false;
        };
        let now = self.now();
        next <= now && self.fire_until(now)
    }

    /// Fires the timers due at `now` (waking them outside the queue's lock, every one
    /// even if a waker panics) and records `now` as fired through; true if any fired.
    fn fire_until(&self, now: Instant) -> bool {
        let mut fired = self.fired.take();
        self.queue.fire_due(now, &mut fired);
        self.fired_through.set(now);
        let any = !fired.is_empty();
        let panic = crate::wakers::wake_all_catching(fired.drain(..));
        *self.fired.borrow_mut() = fired;
        if let Some(payload) = panic {
            crate::wakers::reraise(payload);
        }
        any
    }

    /// The idle step, once the due timers have fired (`fire_due`) and nothing else is
    /// ready: on a virtual clock, jumps to the earliest pending deadline and fires it, if
    /// the gate is open (and no notification arrived meanwhile, as `notified` tells);
    /// otherwise says how long the loop may park (a real-clock deadline that passed since
    /// `fire_due` makes the park return at once). While a wake-up or work in flight keeps
    /// the gate closed, `waker` (the loop's own) is registered to be woken when it opens.
    pub(crate) fn on_idle(&self, waker: &Waker, notified: impl Fn() -> bool) -> Idle {
        let next = self.queue.next_deadline();
        let (Clock::Virtual(clock), Some(deadline)) = (&self.clock, next) else {
            // Parking a little past the deadline lets timers due close together fire in
            // one wake-up; nothing fires early, since firing compares with the clock. A
            // virtual clock with no timer has no instant to park until.
            return Idle::Park(match self.clock {
                Clock::Real => next.map(|n| n.checked_add(self.slack).unwrap_or(n)),
                Clock::Virtual(_) => None,
            });
        };
        let gate = &clock.gate;
        drop(gate.take_waiter()); // a registration left from an earlier idle step
        let open = match gate.check(deadline) {
            Err(Closed::InFlight) => gate.wait_until_open(deadline, waker),
            other => other,
        };
        if open.is_err() {
            return Idle::Park(None);
        }
        drop(gate.take_waiter());
        if notified() {
            // A wake-up finished just before the gate was seen open: it happened at the
            // current virtual time, so its task runs before the clock moves.
            return Idle::Poll;
        }
        clock.advance_to(deadline);
        self.fire_until(deadline);
        Idle::Poll
    }
}

impl Drop for LoopTimers {
    fn drop(&mut self) {
        self.queue.close();
    }
}
