//! Holding a virtual clock still: by duet for work in flight ([`WorkHold`]), and by
//! tests by hand ([`hold_clock`], [`advance`]). See `gate` for what a hold means to the
//! loop.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::clock::deadline_after;
use super::gate::ClockGate;
use super::sleep::{Sleep, sleep_until};
use super::source::{with_loop_timers, with_source};

/// The gate of the current loop's virtual clock, if it has one.
pub(crate) fn current_gate() -> Option<Arc<ClockGate>> {
    with_loop_timers(|timers| timers.and_then(|t| t.gate().cloned()))
}

/// Holds the current virtual clock while work that duet started runs elsewhere (a pool
/// job, a batch being sent); `None` under the real clock. Released when dropped, on any
/// thread.
pub(crate) fn hold_for_work() -> Option<WorkHold> {
    current_gate().map(|gate| {
        gate.hold_work();
        WorkHold(gate)
    })
}

/// A hold on a virtual clock by work in flight (see [`hold_for_work`]).
pub(crate) struct WorkHold(Arc<ClockGate>);

impl Drop for WorkHold {
    fn drop(&mut self) {
        self.0.release_work();
    }
}

impl fmt::Debug for WorkHold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WorkHold")
    }
}

/// Holds the current virtual clock still until the returned guard is dropped.
///
/// On a virtual clock ([`Config::virtual_clock`](crate::Config::virtual_clock)), time
/// jumps to the next deadline whenever nothing is ready. A test that wants to look at a
/// state *before* the timers fire (say, a retry loop waiting out its backoff) holds the
/// clock: while the guard lives the clock moves only through [`advance`], which steps it
/// forward by hand, firing timers in deadline order. Timers that are already due still
/// fire. If every task waits on a timer while the clock is held and nothing is
/// advancing it, nothing can ever happen: `run` reports it as a deadlock instead of
/// hanging.
///
/// duet holds the clock by itself while work it started runs on other threads
/// ([`unblock`](crate::unblock), [`ThreadPool`](crate::ThreadPool) jobs, batches of a
/// [`Batcher`](crate::Batcher) being sent), so those need no hold.
///
/// # Panics
///
/// Outside a virtual-clock [`run`](crate::run_with): the real clock cannot be held.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::time::Duration;
///
/// let fired = Cell::new(false);
/// duet::run_with(duet::Config::new().virtual_clock(), duet::scope(async |s| {
///     let hold = duet::hold_clock();
///     let start = duet::now();
///     let fired = &fired;
///     s.spawn(async move {
///         duet::sleep(Duration::from_secs(10)).await;
///         fired.set(true);
///     });
///     duet::advance(Duration::from_secs(9)).await;
///     assert!(!fired.get()); // 9 s in: not yet
///     duet::advance(Duration::from_secs(1)).await;
///     duet::yield_now().await; // let the woken task run
///     assert!(fired.get());
///     assert_eq!(duet::now() - start, Duration::from_secs(10));
///     drop(hold);
/// }))
/// .unwrap();
/// ```
#[track_caller]
pub fn hold_clock() -> ClockHold {
    let Some(gate) = current_gate() else {
        panic!(
            "duet::hold_clock: the clock here is the real clock (or there is no duet::run), \
             which cannot be held. Hold a virtual clock: call hold_clock inside \
             duet::run_with(duet::Config::new().virtual_clock(), ..)."
        );
    };
    gate.hold_user();
    ClockHold {
        gate,
        _not_send: PhantomData,
    }
}

/// A hold on a virtual clock, from [`hold_clock`]; the clock is released when it is
/// dropped.
///
/// It stays on the loop's thread (it is `!Send`): only the loop's own tasks can release
/// it, which is what lets `run` tell a held clock that nothing will ever advance from
/// one that is merely waiting.
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// duet::run_with(duet::Config::new().virtual_clock(), async { assert_send(duet::hold_clock()) });
/// ```
///
/// # Examples
///
/// See [`hold_clock`].
#[must_use = "the clock is released as soon as the hold is dropped"]
pub struct ClockHold {
    gate: Arc<ClockGate>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for ClockHold {
    fn drop(&mut self) {
        self.gate.release_user();
    }
}

impl fmt::Debug for ClockHold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClockHold").finish_non_exhaustive()
    }
}

/// Moves the current virtual clock forward by `duration`, firing the timers due on the
/// way in deadline order, even while the clock is held ([`hold_clock`]).
///
/// The clock steps from deadline to deadline as it would on its own: at each step the
/// tasks woken run before the clock moves on, so a task that sleeps 1 s twice during an
/// `advance` of 5 s wakes at 1 s and 2 s. The future completes when the clock reads
/// [`now()`](crate::now) + `duration` (computed when `advance` is called). The clock may
/// move up to that target from the advance's first poll until it completes or is
/// dropped (an advance polled once by a `select` and kept lets it move too). Without a
/// hold it is the same as [`sleep`](crate::sleep).
///
/// # Cancel safety
///
/// Cancel safe: dropping it stops the advance where the clock stands.
///
/// # Panics
///
/// Outside a virtual-clock [`run`](crate::run_with).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// duet::run_with(duet::Config::new().virtual_clock(), async {
///     let _hold = duet::hold_clock();
///     let start = duet::now();
///     duet::advance(Duration::from_millis(250)).await;
///     assert_eq!(duet::now() - start, Duration::from_millis(250));
/// });
/// ```
#[track_caller]
pub fn advance(duration: Duration) -> Advance {
    let Some(gate) = current_gate() else {
        panic!(
            "duet::advance: the clock here is the real clock (or there is no duet::run), \
             which cannot be moved by hand. Use it inside \
             duet::run_with(duet::Config::new().virtual_clock(), ..), or sleep instead."
        );
    };
    let target = deadline_after(with_source(|source| source.now()), duration);
    Advance {
        gate,
        target,
        sleep: sleep_until(target),
        stage: Stage::Created,
    }
}

/// The future returned by [`advance`].
///
/// # Examples
///
/// See [`advance`].
#[must_use = "the clock only moves once the advance is awaited"]
pub struct Advance {
    gate: Arc<ClockGate>,
    target: Instant,
    sleep: Sleep,
    stage: Stage,
}

/// The gate lets the clock move up to the target from the first poll to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Created,
    Advancing,
    Done,
}

impl Advance {
    fn finish(&mut self) {
        if self.stage == Stage::Advancing {
            self.gate.end_advance(self.target);
        }
        self.stage = Stage::Done;
    }
}

impl Future for Advance {
    type Output = ();

    /// # Returns
    ///
    /// `Poll::Ready(())` once the clock has reached the target; `Poll::Pending` while it
    /// steps there (the task is woken at the target).
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.stage == Stage::Created {
            this.gate.start_advance(this.target);
            this.stage = Stage::Advancing;
        }
        let poll = Pin::new(&mut this.sleep).poll(cx);
        if poll.is_ready() {
            this.finish();
        }
        poll
    }
}

impl Drop for Advance {
    fn drop(&mut self) {
        self.finish();
    }
}

impl fmt::Debug for Advance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Advance")
            .field("target", &self.target)
            .field("stage", &self.stage)
            .finish()
    }
}
