//! [`Sleep`]: a future that completes at a deadline; the building block of every timer.
//!
//! A `Sleep` is registered in a timer queue only while it is pending: the first poll
//! that finds its deadline in the future registers it (with the poll's waker) in the queue
//! of whoever polls it (see `source`); later polls refresh the waker; the poll that finds
//! the deadline passed, or dropping the `Sleep`, removes it. Being registered is what keeps
//! a sleeping task's waker *held*, so deadlock detection never reports a sleeping task.
//!
//! # Invariants
//!
//! 1. A `Sleep` completes only when the clock it is polled under has reached its
//!    deadline: never early, whatever woke it.
//! 2. While pending after a poll, it is registered exactly once, in the queue of the
//!    source that polled it last, with that poll's waker (or one that wakes the same
//!    task).
//! 3. Dropping it removes its registration (O(1); the heap entry is deleted lazily).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::current::waits::{self, Wait};

use super::clock::{clamp_deadline, deadline_after};
use super::heap::TimerKey;
use super::queue::{Refresh, TimerQueue};
use super::source::{Source, with_source};
use super::tokio_timer::{RuntimeId, TokioTimer};

/// Waits until `duration` has passed on the current clock.
///
/// The deadline is [`now()`](crate::now) + `duration`, computed when `sleep` is called:
/// under [`run`](crate::run) that is the loop's clock (real, or virtual under
/// [`Config::virtual_clock`](crate::Config::virtual_clock)); outside any loop, the real
/// clock. A zero duration completes at the first poll. Durations too long for
/// [`Instant`] (up to [`Duration::MAX`]) are clamped to about 30 years instead of
/// overflowing.
///
/// While the sleep is pending the loop fires it: the thread parks until the earliest
/// deadline, and does not busy-wait. A `Sleep` awaited by another executor (tokio,
/// `futures::executor::block_on`) is served by a timer thread that duet starts the first
/// time it is needed; with the `tokio` feature, one awaited inside a tokio runtime (outside
/// every duet loop) is served by that runtime's timer and follows its clock, paused
/// (`tokio::time::pause`) or not.
///
/// # Cancel safety
///
/// Cancel safe: dropping a `Sleep` removes its timer and loses nothing.
///
/// # Panics
///
/// When awaited outside the virtual clock its deadline was computed on (see
/// [`Config::virtual_clock`](crate::Config::virtual_clock)).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// duet::run(duet::sleep(Duration::from_millis(20)));
/// assert!(start.elapsed() >= Duration::from_millis(20));
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    let (now, clock) = with_source(|source| (source.now(), source.clock_id()));
    Sleep::new(deadline_after(now, duration), clock)
}

/// Waits until the current clock reaches `deadline`.
///
/// A deadline in the past completes at the first poll. Deadlines more than about 30
/// years ahead are clamped to that horizon. See [`sleep`] for the clock used and how
/// timers are fired.
///
/// # Cancel safety
///
/// Cancel safe: dropping a `Sleep` removes its timer and loses nothing.
///
/// # Panics
///
/// As [`sleep`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// duet::run_with(duet::Config::new().virtual_clock(), async {
///     let deadline = duet::now() + Duration::from_secs(90);
///     duet::sleep_until(deadline).await;
///     assert_eq!(duet::now(), deadline);
/// });
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    let (now, clock) = with_source(|source| (source.now(), source.clock_id()));
    Sleep::new(clamp_deadline(now, deadline), clock)
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// It is `Send`, `Sync` and `Unpin`, and may be polled by any executor. Its deadline is
/// fixed when it is created; its timer is registered at the first poll that finds the
/// deadline ahead, and removed when it completes or is dropped.
///
/// # Examples
///
/// A `Sleep` is `Unpin`, so it can be polled by reference, for example to keep one
/// deadline across several waits:
///
/// ```
/// use std::time::Duration;
///
/// duet::run_with(duet::Config::new().virtual_clock(), async {
///     let start = duet::now();
///     let mut budget = duet::sleep(Duration::from_secs(1));
///     for _ in 0..3 {
///         duet::sleep(Duration::from_millis(100)).await; // some work
///         assert!(!budget.is_elapsed());
///     }
///     (&mut budget).await;
///     assert_eq!(duet::now() - start, Duration::from_secs(1));
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    /// The virtual clock the deadline was computed on (0: real).
    clock: u64,
    registration: Option<Registration>,
    /// The tokio timer serving it instead (feature `tokio`; never together with
    /// `registration`).
    tokio: Option<TokioTimer>,
}

struct Registration {
    queue: Arc<TimerQueue>,
    key: TimerKey,
}

impl Sleep {
    pub(crate) fn new(deadline: Instant, clock: u64) -> Self {
        Sleep {
            deadline,
            clock,
            registration: None,
            tokio: None,
        }
    }

    /// The instant at which the sleep completes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// duet::run_with(duet::Config::new().virtual_clock(), async {
    ///     let s = duet::sleep(Duration::from_secs(5));
    ///     assert_eq!(s.deadline() - duet::now(), Duration::from_secs(5));
    /// });
    /// ```
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the current clock has reached the deadline (awaiting then completes
    /// without waiting).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// assert!(duet::sleep(Duration::ZERO).is_elapsed());
    /// assert!(!duet::sleep(Duration::from_secs(60)).is_elapsed());
    /// ```
    pub fn is_elapsed(&self) -> bool {
        with_source(|source| source.now() >= self.deadline)
    }

    fn deregister(&mut self) {
        if let Some(Registration { queue, key }) = self.registration.take() {
            queue.remove(key);
        }
        self.tokio = None;
    }
}

impl Future for Sleep {
    type Output = ();

    /// # Returns
    ///
    /// `Poll::Ready(())` once the clock of whoever polls has reached the deadline (and
    /// again on every later poll); otherwise `Poll::Pending`, with the timer registered to
    /// wake `cx`'s waker at the deadline.
    ///
    /// # Panics
    ///
    /// When polled outside the virtual clock its deadline was computed on.
    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let poll = this.poll_timer(cx);
        if poll.is_pending() {
            waits::report(cx.waker(), Wait::Sleep(this.deadline));
        }
        poll
    }
}

impl Sleep {
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        enum Step {
            Fired,
            Due,
            Refresh,
            Register(Arc<TimerQueue>),
            Tokio(RuntimeId),
        }
        let this = self;
        // Decided under the source's borrow; queue operations, which may drop user
        // wakers, happen after it.
        let step = with_source(|source| {
            source.check_clock(this.clock);
            if let (Source::Loop(timers), Some(registration)) = (&source, &this.registration) {
                if Arc::ptr_eq(&registration.queue, timers.queue())
                    && timers.has_fired(this.deadline)
                {
                    // The common case of a sleep woken by its own timer: no lock, no
                    // clock reading.
                    return Step::Fired;
                }
            }
            if source.now() >= this.deadline {
                return Step::Due;
            }
            if let Some(runtime) = source.tokio_runtime() {
                return Step::Tokio(runtime);
            }
            let queue = source.queue();
            match &this.registration {
                Some(registration) if Arc::ptr_eq(&registration.queue, queue) => Step::Refresh,
                _ => Step::Register(queue.clone()),
            }
        });
        let queue = match step {
            Step::Fired => {
                this.registration = None;
                return Poll::Ready(());
            }
            Step::Due => {
                this.deregister();
                return Poll::Ready(());
            }
            Step::Refresh => {
                let registration = this.registration.as_ref().expect("registered");
                match registration.queue.update(registration.key, cx.waker()) {
                    Refresh::Registered => return Poll::Pending,
                    // It left the queue although this clock has not reached the deadline
                    // (not expected with a monotonic clock): register it again.
                    Refresh::Gone => this.registration.take().expect("registered").queue,
                }
            }
            Step::Register(queue) => {
                this.deregister(); // registered with another loop (or none) before
                queue
            }
            Step::Tokio(runtime) => return this.poll_tokio(runtime, cx),
        };
        match queue.insert(this.deadline, cx.waker()) {
            Some(key) => this.registration = Some(Registration { queue, key }),
            // Only a loop that has ended closes its queue, and it is no longer current
            // then; should it ever happen, polling again is the safe fallback.
            None => cx.waker().wake_by_ref(),
        }
        Poll::Pending
    }
}

impl Sleep {
    /// Polls the tokio timer of the current runtime, `runtime`, creating it if the sleep
    /// has none there yet. (Without the `tokio` feature `RuntimeId` is uninhabited, so
    /// this is never called and its body is unreachable.)
    #[cfg_attr(not(feature = "tokio"), allow(unreachable_code, unused_variables))]
    fn poll_tokio(&mut self, runtime: RuntimeId, cx: &mut Context<'_>) -> Poll<()> {
        let timer = match &mut self.tokio {
            Some(timer) if timer.runtime() == runtime => timer,
            _ => {
                self.deregister(); // a loop's queue, the fallback's, or another runtime
                self.tokio.insert(TokioTimer::new(runtime, self.deadline))
            }
        };
        let poll = timer.poll(cx);
        if poll.is_ready() {
            self.tokio = None;
        }
        poll
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.deregister();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field(
                "registered",
                &(self.registration.is_some() || self.tokio.is_some()),
            )
            .finish()
    }
}
