//! Time: sleeps, timeouts, deadline scopes, and the clocks and timer queues behind them.
//!
//! - `clock`: real and virtual clocks, and deadline arithmetic that saturates.
//! - `heap`: the deadline heap (a slab of wakers plus a binary heap with lazy deletion).
//! - `queue`: a heap behind a mutex, shared by timers and whoever fires them.
//! - `loop_timers`: one loop's clock and queue, and the loop's idle step (fire due timers,
//!   jump a virtual clock, choose how long to park).
//! - `fallback`: the timer thread serving timers polled outside any loop.
//! - `tokio_timer`: with the `tokio` feature, tokio's timer serving timers polled outside
//!   any loop but inside a tokio runtime.
//! - `source`: which clock and queue a timer polled right now uses, and the thread's
//!   cursor to the current loop's timers.
//! - `deadline`: how nested deadlines compose (the earliest wins).
//! - `sleep`, `timeout`: the public futures and functions. (The deadline scopes,
//!   `timeout_scope` and `deadline_scope`, are scope openers: `scope::timed`.)
//!
//! `design/time.md` explains the whole.
//!
//! # Invariants
//!
//! 1. A timer never completes before the clock it is polled under reaches its deadline.
//! 2. A pending timer's waker is held by exactly one queue, the one of the loop that
//!    polled it last (or the fallback thread's, or a tokio runtime's timer), so a sleeping
//!    task is never taken for a deadlock, and is woken when its deadline comes without anything busy-waiting.
//! 3. Each `run` has its own queue and its own enclosing deadline; a nested run shares
//!    only its parent's clock.
//! 4. No time computation panics or overflows: deadlines saturate at about 30 years ahead.

mod clock;
mod deadline;
mod fallback;
mod gate;
mod heap;
mod hold;
mod loop_timers;
mod queue;
mod sleep;
mod source;
mod timeout;
mod tokio_timer;

use std::time::{Duration, Instant};

pub(crate) use clock::DEFAULT_SLACK;
pub(crate) use deadline::{EnteredDeadline, yields_to_enclosing};
pub(crate) use gate::ClockGate;
pub use hold::{Advance, ClockHold, advance, hold_clock};
pub(crate) use hold::{WorkHold, current_gate, hold_for_work};
pub(crate) use loop_timers::{Idle, LoopTimers};
pub use sleep::{Sleep, sleep, sleep_until};
pub(crate) use source::{EnterTimers, with_loop_timers};
pub use timeout::{Elapsed, Timeout, deadline, timeout};

/// The current time of the innermost [`run`](crate::run) on this thread: the real clock,
/// or that loop's virtual clock (see [`Config::virtual_clock`](crate::Config::virtual_clock)).
/// Outside any loop, [`Instant::now()`]; with the `tokio` feature, tokio's clock
/// (`tokio::time::Instant::now()`), which differs from the real clock only where a tokio
/// runtime paused it (`tokio::time::pause`).
///
/// Deadlines of [`sleep`](sleep()), [`timeout`](timeout()) and deadline scopes are computed from this clock,
/// so tests on a virtual clock can assert exact elapsed times with it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// duet::run_with(duet::Config::new().virtual_clock(), async {
///     let start = duet::now();
///     duet::sleep(Duration::from_millis(1500)).await;
///     assert_eq!(duet::now() - start, Duration::from_millis(1500));
/// });
/// ```
pub fn now() -> Instant {
    source::with_source(|source| source.now())
}

/// The instant `duration` after [`now`], saturating far in the future instead of
/// overflowing.
pub(crate) fn deadline_after_now(duration: Duration) -> Instant {
    clock::deadline_after(now(), duration)
}
