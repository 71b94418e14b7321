//! Where a timer polled right now gets its time and registers: the timers of the
//! innermost `run` loop on this thread, or, outside every loop, the real clock and the
//! fallback timer thread; with the `tokio` feature, outside every loop but inside a tokio
//! runtime, tokio's clock and timer (see `tokio_timer`).
//!
//! This module owns the thread's cursor to the current loop's [`LoopTimers`]: `run`
//! enters its loop's timers ([`EnterTimers`]) for the length of the call, next to the
//! loop itself (`current::loops`), and a nested `run` enters its own.
//!
//! # Invariants
//!
//! 1. The source is decided at each poll, not at creation: a timer moved from one loop to
//!    another (or out of every loop) follows whoever polls it.
//! 2. A deadline computed on a virtual clock is only ever compared with that clock;
//!    [`Source::check_clock`] panics otherwise, because the deadline would be meaningless
//!    (in practice: never reached, or reached at a random real time).
//! 3. The current timers are those of the innermost active `run` on this thread, or none
//!    (outside every loop, and while a simulation runs an offloaded job); every change
//!    is undone by a guard, on return or unwind.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use super::fallback;
use super::loop_timers::LoopTimers;
use super::queue::TimerQueue;
use super::tokio_timer::{self, RuntimeId};

thread_local! {
    /// The timers of the innermost loop on this thread (none outside every loop).
    static CURRENT: RefCell<Option<Rc<LoopTimers>>> = const { RefCell::new(None) };
    /// The enclosing deadline for polls made outside any loop (see `deadline`).
    static OUTSIDE_ENCLOSING: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The time source of the current poll.
pub(crate) enum Source<'a> {
    Loop(&'a LoopTimers),
    Outside,
}

/// Calls `f` with the current time source. `f` must not call `run` or user code.
pub(crate) fn with_source<R>(f: impl FnOnce(Source<'_>) -> R) -> R {
    with_loop_timers(|timers| match timers {
        Some(timers) => f(Source::Loop(timers)),
        None => f(Source::Outside),
    })
}

/// Calls `f` with the innermost loop's timers, or `None` outside every loop. `f` must
/// not call `run` (the cursor is borrowed while it runs).
pub(crate) fn with_loop_timers<R>(f: impl FnOnce(Option<&LoopTimers>) -> R) -> R {
    CURRENT.with(|c| f(c.borrow().as_deref()))
}

/// Makes `timers` (`None`: no loop's) the current ones until dropped, then restores the
/// previous ones.
pub(crate) struct EnterTimers {
    previous: Option<Rc<LoopTimers>>,
}

impl EnterTimers {
    pub(crate) fn new(timers: Option<Rc<LoopTimers>>) -> Self {
        EnterTimers {
            previous: CURRENT.with(|c| c.replace(timers)),
        }
    }
}

impl Drop for EnterTimers {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

impl Source<'_> {
    pub(crate) fn now(&self) -> Instant {
        match self {
            Source::Loop(timers) => timers.now(),
            Source::Outside => tokio_timer::now(),
        }
    }

    /// The tokio runtime whose timer serves timers polled here: the one entered on this
    /// thread, outside every loop (always `None` without the `tokio` feature).
    pub(crate) fn tokio_runtime(&self) -> Option<RuntimeId> {
        match self {
            Source::Loop(_) => None,
            Source::Outside => tokio_timer::current_runtime(),
        }
    }

    /// The id of the clock (0: real).
    pub(crate) fn clock_id(&self) -> u64 {
        match self {
            Source::Loop(timers) => timers.clock_id(),
            Source::Outside => 0,
        }
    }

    /// The queue timers polled here register in.
    pub(crate) fn queue(&self) -> &Arc<TimerQueue> {
        match self {
            Source::Loop(timers) => timers.queue(),
            Source::Outside => fallback::queue(),
        }
    }

    pub(crate) fn enclosing(&self) -> Option<Instant> {
        match self {
            Source::Loop(timers) => timers.enclosing().get(),
            Source::Outside => OUTSIDE_ENCLOSING.with(Cell::get),
        }
    }

    pub(crate) fn set_enclosing(&self, deadline: Option<Instant>) {
        match self {
            Source::Loop(timers) => timers.enclosing().set(deadline),
            Source::Outside => OUTSIDE_ENCLOSING.with(|c| c.set(deadline)),
        }
    }

    /// Panics if a deadline computed on clock `timer_clock` cannot be compared with this
    /// source's clock: it was computed on a virtual clock, and this is another clock.
    #[track_caller]
    pub(crate) fn check_clock(&self, timer_clock: u64) {
        if timer_clock == 0 || timer_clock == self.clock_id() {
            return;
        }
        let here = match self {
            Source::Outside => "outside any duet::run (where only the real clock exists)",
            Source::Loop(timers) if timers.is_virtual() => {
                "under another virtual clock (a nested run_with(Config::new().virtual_clock(), ..))"
            }
            Source::Loop(_) => "under a duet::run that uses the real clock",
        };
        panic!(
            "duet: a timer whose deadline was set on a virtual clock (duet::Config::virtual_clock) \
             was awaited {here}; virtual deadlines only mean something to the clock they were \
             set on. Create the timer (sleep, timeout, deadline or a deadline scope) inside the \
             virtual-clock run that awaits it."
        );
    }
}
