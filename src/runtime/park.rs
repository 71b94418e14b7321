//! The root waker: how any thread tells a parked loop to poll again.
//!
//! `notified` is the single source of truth. A wake sets it and unparks the loop's thread
//! only when it was clear, so repeated wakes (and wakes from the loop's own thread while
//! it is polling) cost one atomic swap and no system call. The loop clears it before it
//! polls, so a wake that lands during a poll is never lost: the loop sees the flag set
//! and polls again instead of parking.

use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::Instant;

use crate::sync::atomic::{AtomicBool, Ordering, fence};
use crate::sync::thread::{self, Thread};

pub(crate) struct LoopWaker {
    thread: Thread,
    notified: AtomicBool,
}

impl LoopWaker {
    /// Returns the shared notifier and a [`Waker`] for it; the pair is the loop's
    /// baseline of two strong references.
    pub(crate) fn new() -> (Arc<Self>, Waker) {
        let notifier = Arc::new(LoopWaker {
            thread: thread::current(),
            notified: AtomicBool::new(false),
        });
        let waker = Waker::from(notifier.clone());
        (notifier, waker)
    }

    /// Consumes a pending notification; true when the root should be polled.
    pub(crate) fn take_notification(&self) -> bool {
        self.notified.swap(false, Ordering::Acquire)
    }

    /// True while a notification is pending (without consuming it).
    pub(crate) fn is_notified(&self) -> bool {
        self.notified.load(Ordering::Acquire)
    }

    /// Parks for up to `duration`; true if a notification arrived (and was consumed).
    #[cfg(not(all(loom, test)))]
    pub(crate) fn park_briefly(&self, duration: std::time::Duration) -> bool {
        let deadline = Instant::now() + duration;
        loop {
            if self.take_notification() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            thread::park_timeout(deadline - now);
        }
    }

    /// Under loom, time does not pass (a timed park is a yield), so a brief park is one
    /// yield: the analysis that follows it then runs against every interleaving.
    #[cfg(all(loom, test))]
    pub(crate) fn park_briefly(&self, _duration: std::time::Duration) -> bool {
        if self.take_notification() {
            return true;
        }
        thread::park_timeout(_duration);
        self.take_notification()
    }

    /// The root task as the deadlock analysis sees it: queued (notified), and the clones
    /// of its waker beyond the loop's own two references.
    pub(crate) fn held_by(self: &Arc<Self>) -> crate::current::HeldBy {
        crate::current::HeldBy {
            queued: self.notified.load(Ordering::Acquire),
            clones: Arc::strong_count(self).saturating_sub(2),
            waker: Arc::as_ptr(self) as usize,
        }
    }

    /// Parks until notified, consuming the notification, or until `until` (a timer's
    /// deadline on the real clock) has passed. Spurious unparks (e.g. from an outer loop's
    /// wakers when this loop is nested) are absorbed here.
    pub(crate) fn park(&self, until: Option<Instant>) {
        while !self.take_notification() {
            match until {
                None => thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return;
                    }
                    thread::park_timeout(deadline - now);
                }
            }
        }
    }

    /// Spins for up to `spin` (never past `until`) waiting for a notification; true if
    /// one arrived (and was consumed). Spinning keeps the thread running, so a wake from
    /// another thread during the spin costs no scheduler wake-up: much lower latency for
    /// CPU time (see `Config::spin_before_park`).
    pub(crate) fn spin(&self, spin: std::time::Duration, until: Option<Instant>) -> bool {
        if spin.is_zero() {
            return false;
        }
        let start = Instant::now();
        let stop = until.map_or(start + spin, |until| until.min(start + spin));
        loop {
            for _ in 0..64 {
                if self.notified.load(Ordering::Relaxed) {
                    return self.take_notification();
                }
                std::hint::spin_loop();
            }
            if Instant::now() >= stop {
                return false;
            }
        }
    }

    /// True when, besides the loop's own two references and `stuck_holds` clones held by
    /// scopes that can never use them, nothing holds this waker and no wake is pending:
    /// then nothing in the world can ever wake the root again.
    pub(crate) fn is_unreachable(self: &Arc<Self>, stuck_holds: usize) -> bool {
        if self.notified.load(Ordering::Acquire) || Arc::strong_count(self) > 2 + stuck_holds {
            return false;
        }
        // Pairs with the release decrement of a waker dropped on another thread after it
        // woke us, so a wake that happened before that drop is visible below.
        fence(Ordering::Acquire);
        !self.notified.load(Ordering::Relaxed)
    }
}

impl Wake for LoopWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.notified.swap(true, Ordering::Release) {
            self.thread.unpark();
        }
    }
}
