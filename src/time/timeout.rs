//! [`timeout`] and [`deadline`]: run a future against a deadline; the [`Timeout`] future
//! and its [`Elapsed`] error.
//!
//! # How a poll goes
//!
//! 1. Poll the inner future under the deadline (see `deadline`): deadline holders nested
//!    inside see it as enclosing.
//! 2. If it is ready, return its output, even if the deadline has passed meanwhile: work
//!    that is done is not thrown away.
//! 3. Otherwise poll the timer. If the deadline has passed and no enclosing deadline is
//!    earlier or equal, drop the inner future now (its destructors run before the caller
//!    sees the error) and return [`Elapsed`]; if an enclosing one is, stay pending: it
//!    fires as soon as this poll returns to it.
//!
//! # Invariants
//!
//! 1. The inner future is dropped exactly once: when it completes, when the deadline
//!    fires, or with the `Timeout`.
//! 2. `Elapsed` is returned only after the inner future was dropped.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

use crate::current::observe_shield;

use super::deadline::{EnteredDeadline, yields_to_enclosing};
use super::sleep::{Sleep, sleep, sleep_until};

/// The error of a [`timeout`] or [`deadline`] whose time ran out.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let r = duet::run(duet::timeout(Duration::from_millis(1), futures::future::pending::<()>()));
/// let error: duet::Elapsed = r.unwrap_err();
/// assert_eq!(error.to_string(), "deadline has elapsed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("deadline has elapsed")]
pub struct Elapsed(());

/// Runs `future` for at most `duration`; see [`Timeout`].
///
/// The deadline is [`now()`](crate::now) + `duration`, computed when `timeout` is called.
/// A zero duration fires at the future's first await that does not complete at once;
/// [`Duration::MAX`] never fires in practice (it is clamped to about 30 years).
///
/// Nested timeouts compose: the earliest deadline wins, and when an inner one and an
/// outer one have both passed, the outer one reports.
///
/// # Cancel safety
///
/// Dropping the `Timeout` drops the inner future; it is exactly as cancel safe as the
/// inner future.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// duet::run_with(duet::Config::new().virtual_clock(), async {
///     // Finishes in time: the output is returned.
///     let quick = duet::timeout(Duration::from_secs(1), async { 7 }).await;
///     assert_eq!(quick, Ok(7));
///
///     // Too slow: the inner future is dropped and the error returned.
///     let slow = duet::timeout(Duration::from_secs(1), duet::sleep(Duration::from_secs(5)));
///     assert!(slow.await.is_err());
///
///     // Nested: the outer 0.5 s timeout cuts the inner 10 s one.
///     let start = duet::now();
///     let outer = duet::timeout(Duration::from_millis(500), async {
///         duet::timeout(Duration::from_secs(10), duet::sleep(Duration::from_secs(10))).await
///     });
///     assert!(outer.await.is_err());
///     assert_eq!(duet::now() - start, Duration::from_millis(500));
/// });
/// ```
pub fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    Timeout::new(sleep(duration), future.into_future())
}

/// Runs `future` until the current clock reaches `deadline`; see [`timeout`].
///
/// # Cancel safety
///
/// Dropping the `Timeout` drops the inner future; it is exactly as cancel safe as the
/// inner future.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// duet::run_with(duet::Config::new().virtual_clock(), async {
///     let at = duet::now() + Duration::from_secs(2);
///     let r = duet::deadline(at, futures::future::pending::<()>()).await;
///     assert!(r.is_err());
///     assert_eq!(duet::now(), at);
/// });
/// ```
pub fn deadline<F: IntoFuture>(deadline: Instant, future: F) -> Timeout<F::IntoFuture> {
    Timeout::new(sleep_until(deadline), future.into_future())
}

pin_project! {
    /// The future returned by [`timeout`] and [`deadline`]: the inner future's output, or
    /// [`Elapsed`] if the deadline passed first.
    ///
    /// When the deadline passes, the inner future is dropped (its destructors run) before
    /// the error is returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// struct Guard;
    /// impl Drop for Guard {
    ///     fn drop(&mut self) { println!("cleaned up at the deadline") }
    /// }
    ///
    /// let r = duet::run(duet::timeout(Duration::from_millis(5), async {
    ///     let _guard = Guard;
    ///     futures::future::pending::<()>().await
    /// }));
    /// assert!(r.is_err());
    /// ```
    #[must_use = "futures do nothing unless awaited"]
    pub struct Timeout<F> {
        #[pin]
        future: Option<F>,
        sleep: Sleep,
    }
}

impl<F> Timeout<F> {
    fn new(sleep: Sleep, future: F) -> Self {
        Timeout {
            future: Some(future),
            sleep,
        }
    }

    /// The instant at which the timeout fires.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// duet::run_with(duet::Config::new().virtual_clock(), async {
    ///     let t = duet::timeout(Duration::from_secs(3), async {});
    ///     assert_eq!(t.deadline() - duet::now(), Duration::from_secs(3));
    /// });
    /// ```
    pub fn deadline(&self) -> Instant {
        self.sleep.deadline()
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    /// # Returns
    ///
    /// - `Poll::Ready(Ok(output))` when the inner future completes (checked first, so
    ///   work that completes in the poll where the deadline passes is kept);
    /// - `Poll::Ready(Err(Elapsed))` when the deadline has passed, after dropping the
    ///   inner future (if the inner future is suspended inside a [`shield`](crate::shield),
    ///   only once the shield has ended);
    /// - `Poll::Pending` otherwise, with both the inner future and the timer registered
    ///   to wake `cx`.
    ///
    /// # Panics
    ///
    /// When polled again after returning `Ready`, and when polled outside the virtual
    /// clock its deadline was computed on.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let deadline = this.sleep.deadline();
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            panic!("duet: a Timeout was polled again after it completed");
        };
        let entered = EnteredDeadline::new(deadline);
        let (poll, shielded) = observe_shield(|| future.poll(cx));
        drop(entered);
        if let Poll::Ready(output) = poll {
            this.future.set(None);
            return Poll::Ready(Ok(output));
        }
        if Pin::new(&mut *this.sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        if shielded {
            // The inner future is suspended inside a shield: like a scope, the timeout
            // waits for the shield to end before dropping it (the shield's future wakes
            // the task when it makes progress).
            return Poll::Pending;
        }
        if yields_to_enclosing(deadline) {
            // An enclosing deadline, no later than this one, has passed as well: its
            // holder acts on it when this poll returns to it (see `deadline`, invariant 2).
            return Poll::Pending;
        }
        this.future.set(None);
        Poll::Ready(Err(Elapsed(())))
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("deadline", &self.sleep.deadline())
            .field("completed", &self.future.is_none())
            .finish()
    }
}
