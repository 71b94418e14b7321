//! duet's timers inside a tokio runtime (feature `tokio`).
//!
//! A [`Sleep`](crate::Sleep) polled outside every duet loop, on a thread where a tokio
//! runtime is entered (a tokio task, `Runtime::block_on`, `spawn_blocking`, a thread that
//! called `Handle::enter`), is served by that runtime's timer instead of duet's fallback
//! thread: it holds a `tokio::time::Sleep` for its deadline and polls it. So it costs what
//! a tokio timer costs (no hop through another thread), and it follows tokio's clock:
//! under `tokio::time::pause()` (with tokio's `test-util` feature) its deadline comes by
//! `tokio::time::advance` or by the paused runtime's auto-advance, as tokio's own timers
//! do. [`now`] outside every loop reads that same clock, so deadlines are computed on it.
//!
//! Inside a duet loop nothing changes: the loop's clock and timers serve every duet
//! timer, whatever tokio context the loop runs in.
//!
//! Without the feature the types below are uninhabited and [`current_runtime`] is always
//! `None`, so the code that uses them compiles to nothing.
//!
//! # Invariants
//!
//! 1. A tokio-served timer is polled only while the runtime it was created in is the
//!    current one; polled under another runtime, the `Sleep` drops it and creates one
//!    there (a timer of a runtime that shut down would panic when polled).
//! 2. A tokio timer completes only when tokio's clock has reached its deadline (tokio
//!    rounds deadlines up to its millisecond tick), and [`now`] reads that clock: a
//!    tokio-served `Sleep` never completes early on the clock it is polled under.

#[cfg(feature = "tokio")]
pub(crate) use enabled::*;

#[cfg(not(feature = "tokio"))]
pub(crate) use disabled::*;

#[cfg(feature = "tokio")]
mod enabled {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Instant;

    /// Identifies a tokio runtime.
    pub(crate) type RuntimeId = tokio::runtime::Id;

    /// The current time outside every duet loop: tokio's clock, which is the real clock
    /// unless a runtime entered here paused it (`tokio::time::pause`).
    pub(crate) fn now() -> Instant {
        tokio::time::Instant::now().into_std()
    }

    /// The tokio runtime entered on this thread, if any.
    pub(crate) fn current_runtime() -> Option<RuntimeId> {
        tokio::runtime::Handle::try_current()
            .ok()
            .map(|handle| handle.id())
    }

    /// A duet timer served by a tokio runtime's timer.
    #[derive(Debug)]
    pub(crate) struct TokioTimer {
        runtime: RuntimeId,
        sleep: Pin<Box<tokio::time::Sleep>>,
    }

    impl TokioTimer {
        /// A timer of the current runtime, `runtime`, for `deadline`.
        pub(crate) fn new(runtime: RuntimeId, deadline: Instant) -> Self {
            TokioTimer {
                runtime,
                sleep: Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(
                    deadline,
                ))),
            }
        }

        pub(crate) fn runtime(&self) -> RuntimeId {
            self.runtime
        }

        /// Ready once tokio's clock has reached the deadline; otherwise registers `cx`'s
        /// waker with tokio's timer.
        pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
            self.sleep.as_mut().poll(cx)
        }
    }
}

#[cfg(not(feature = "tokio"))]
mod disabled {
    use std::task::{Context, Poll};
    use std::time::Instant;

    /// No tokio runtime can be current without the feature.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum RuntimeId {}

    pub(crate) fn now() -> Instant {
        Instant::now()
    }

    pub(crate) fn current_runtime() -> Option<RuntimeId> {
        None
    }

    /// Never constructed without the feature.
    #[derive(Debug)]
    pub(crate) enum TokioTimer {}

    impl TokioTimer {
        pub(crate) fn new(runtime: RuntimeId, _deadline: Instant) -> Self {
            match runtime {}
        }

        pub(crate) fn runtime(&self) -> RuntimeId {
            match *self {}
        }

        pub(crate) fn poll(&mut self, _cx: &mut Context<'_>) -> Poll<()> {
            match *self {}
        }
    }
}
