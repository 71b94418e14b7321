//! The synchronization primitives of the cross-thread paths: std's, or loom's when the
//! crate's unit tests are built with `RUSTFLAGS="--cfg loom"` (the model in
//! `loom_model.rs`; see `design/reliability.md`).
//!
//! Only the state that other threads touch goes through here: an `AwaitableFuture`'s
//! cell, the loop's notifier and its park/unpark, a scope's ready queue and its task
//! wakers. `Arc` stays std's everywhere (wakers are built from `std::sync::Arc` through
//! `std::task::Wake`).

#[cfg(not(all(loom, test)))]
pub(crate) use std::sync::{Mutex, MutexGuard};

#[cfg(all(loom, test))]
pub(crate) use loom::sync::{Mutex, MutexGuard};

pub(crate) mod atomic {
    #[cfg(not(all(loom, test)))]
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering, fence};

    #[cfg(all(loom, test))]
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering, fence};
}

pub(crate) mod thread {
    #[cfg(not(all(loom, test)))]
    pub(crate) use std::thread::{Thread, current, park, park_timeout};

    #[cfg(all(loom, test))]
    pub(crate) use loom::thread::{Thread, current, park};

    /// loom has no timed park; a timed park may return early anyway, so a yield is a
    /// faithful stand-in (the caller re-checks its flag and its deadline).
    #[cfg(all(loom, test))]
    pub(crate) fn park_timeout(_timeout: std::time::Duration) {
        loom::thread::yield_now();
    }
}
