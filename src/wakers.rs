//! Waking several wakers when any of them may panic.
//!
//! A waker is user code (a foreign executor's, a test's), and it may panic. Whoever wakes
//! several waiters at once (a completed `AwaitableFuture`, a limiter handing out slots,
//! fired timers, a scope's cancellation observers) wakes them all through [`wake_all`]: a
//! panic in one wake must not strand the waiters after it, so every waker is woken and
//! the first panic is re-raised afterwards.
//!
//! # Invariants
//!
//! 1. Every waker passed in is woken (or, if it panics while waking, consumed) before
//!    any panic leaves [`wake_all`].
//! 2. Only the first panic is re-raised, and none while the thread is already unwinding
//!    (a second panic would abort the process).

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::task::Waker;

/// Wakes every waker, then re-raises the first panic a wake raised.
pub(crate) fn wake_all(wakers: impl IntoIterator<Item = Waker>) {
    if let Some(payload) = wake_all_catching(wakers) {
        reraise(payload);
    }
}

/// Wakes every waker and returns the first panic a wake raised, for callers that have
/// more to do before re-raising it.
pub(crate) fn wake_all_catching(
    wakers: impl IntoIterator<Item = Waker>,
) -> Option<Box<dyn Any + Send>> {
    let mut first = None;
    for waker in wakers {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| waker.wake())) {
            first.get_or_insert(payload);
        }
    }
    first
}

/// Re-raises a caught panic, unless the thread is already unwinding.
pub(crate) fn reraise(payload: Box<dyn Any + Send>) {
    if !std::thread::panicking() {
        panic::resume_unwind(payload);
    }
}
