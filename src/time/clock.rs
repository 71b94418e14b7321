//! Clocks: what "now" means for a loop, and deadline arithmetic that never overflows.
//!
//! A loop reads time from a [`Clock`]: the real monotonic clock, or a [`VirtualClock`]
//! shared by a virtual-clock `run` and the runs nested in it. Virtual time is kept as a
//! `std::time::Instant` on the same timeline as real time (it starts at the real instant
//! the virtual-clock run began), so deadlines are plain `Instant`s whatever the clock.
//!
//! # Invariants
//!
//! 1. A virtual clock never goes backwards: it only moves by [`VirtualClock::advance_to`],
//!    which keeps the later of the two instants.
//! 2. Virtual clock ids are unique per process and never 0; 0 means "the real clock".
//! 3. [`deadline_after`] never panics: a deadline that `Instant` cannot represent, or one
//!    further than [`FAR_FUTURE`] ahead, is clamped to `now + FAR_FUTURE`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::gate::ClockGate;

/// How far ahead a deadline may lie: about 30 years. Longer durations (up to
/// `Duration::MAX`) are clamped to this horizon instead of overflowing `Instant`.
pub(crate) const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// How late a park for the next deadline may end by default (see
/// `Config::timer_slack`); the fallback timer thread uses it too.
pub(crate) const DEFAULT_SLACK: Duration = Duration::from_micros(250);

/// Virtual clock ids start at 1 so that 0 can mean "the real clock".
static NEXT_CLOCK_ID: AtomicU64 = AtomicU64::new(1);

/// `now + duration`, clamped to `now + FAR_FUTURE`.
pub(crate) fn deadline_after(now: Instant, duration: Duration) -> Instant {
    let duration = duration.min(FAR_FUTURE);
    // `now + FAR_FUTURE` fits on every platform std supports; the fallbacks only guard
    // against a clock that was already pushed to the edge of `Instant`'s range.
    now.checked_add(duration)
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}

/// Clamps a caller-supplied deadline to the horizon of `now`.
pub(crate) fn clamp_deadline(now: Instant, deadline: Instant) -> Instant {
    deadline.min(deadline_after(now, FAR_FUTURE))
}

/// The time source of one loop.
#[derive(Debug, Clone)]
pub(crate) enum Clock {
    /// `Instant::now()`.
    Real,
    /// Time that moves only when the loop jumps it to the next deadline.
    Virtual(Arc<VirtualClock>),
}

impl Clock {
    pub(crate) fn now(&self) -> Instant {
        match self {
            Clock::Real => Instant::now(),
            Clock::Virtual(clock) => clock.now(),
        }
    }

    /// The gate of a virtual clock (`None` for the real clock, which nothing holds).
    pub(crate) fn gate(&self) -> Option<&Arc<ClockGate>> {
        match self {
            Clock::Real => None,
            Clock::Virtual(clock) => Some(&clock.gate),
        }
    }

    /// 0 for the real clock, the virtual clock's id otherwise.
    pub(crate) fn id(&self) -> u64 {
        match self {
            Clock::Real => 0,
            Clock::Virtual(clock) => clock.id,
        }
    }
}

/// A clock that stands still until the loop advances it.
#[derive(Debug)]
pub(crate) struct VirtualClock {
    id: u64,
    now: Mutex<Instant>,
    /// What keeps the clock from jumping (see `gate`).
    pub(crate) gate: Arc<ClockGate>,
}

impl VirtualClock {
    /// A virtual clock reading `start`.
    pub(crate) fn starting_at(start: Instant) -> Arc<Self> {
        Arc::new(VirtualClock {
            id: NEXT_CLOCK_ID.fetch_add(1, Ordering::Relaxed),
            now: Mutex::new(start),
            gate: Arc::default(),
        })
    }

    pub(crate) fn now(&self) -> Instant {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the clock forward to `instant` (never backwards).
    pub(crate) fn advance_to(&self, instant: Instant) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        if instant > *now {
            *now = instant;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_saturate_at_the_horizon() {
        let now = Instant::now();
        assert_eq!(deadline_after(now, Duration::MAX), now + FAR_FUTURE);
        assert_eq!(deadline_after(now, Duration::ZERO), now);
        assert_eq!(
            deadline_after(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
    }

    #[test]
    fn virtual_clocks_only_move_forward() {
        let start = Instant::now();
        let clock = VirtualClock::starting_at(start);
        clock.advance_to(start + Duration::from_secs(5));
        clock.advance_to(start + Duration::from_secs(1));
        assert_eq!(clock.now(), start + Duration::from_secs(5));
    }
}
