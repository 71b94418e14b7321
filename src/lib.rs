//! Structured concurrency for Rust: nurseries, cancellation and a re-entrant loop.
//!
//! `duet` runs async code on the current thread. [`run`] blocks the thread and drives a
//! future; [`scope`] opens a *nursery* in which tasks are spawned. A scope owns its tasks:
//! it waits for all of them, cancels the rest when one fails, and reports every error.
//! Work that completes on other threads wakes the loop through ordinary wakers, and the
//! loop fires its own timers.
//!
//! # Run
//!
//! ```
//! assert_eq!(duet::run(async { 40 + 2 }), 42);
//! ```
//!
//! `run` is re-entrant: a task may call a synchronous function that itself calls `run`.
//! The nested call is a new root with its own cancellation tree.
//!
//! ```
//! fn sync_helper() -> u32 {
//!     duet::run(async { 1 })
//! }
//! assert_eq!(duet::run(async { sync_helper() + 1 }), 2);
//! ```
//!
//! # Scopes and tasks
//!
//! Tasks may borrow what outlives the scope and need not be `Send`:
//!
//! ```
//! let names = vec!["ada", "grace"];
//! let total = duet::run_scope(async |s| {
//!     let lens: Vec<_> = names.iter().map(|n| s.spawn(async move { Ok(n.len()) })).collect();
//!     let mut total = 0;
//!     for len in lens {
//!         total += len.await.unwrap();
//!     }
//!     Ok::<_, std::convert::Infallible>(total)
//! });
//! assert_eq!(total.unwrap(), 8);
//! ```
//!
//! # Errors and cancellation
//!
//! The first error cancels every other task of the scope (each is dropped at its current
//! await point) and the scope returns it; [`ScopeError`] tells failures and cancellations
//! apart.
//!
//! ```
//! let r = duet::run_scope(async |s| {
//!     s.spawn(futures::future::pending::<Result<(), &str>>()); // cancelled by the failure
//!     s.spawn(async { Err::<(), _>("no route to host") });
//!     Ok(())
//! });
//! assert_eq!(r.unwrap_err().into_errors(), ["no route to host"]);
//! ```
//!
//! # Time
//!
//! [`sleep`], [`timeout`] and [`deadline`] work in any task; [`timeout_scope`] cancels a
//! whole scope when its time is up and reports it as [`ScopeError::is_timeout`], distinct
//! from a failure or an explicit cancel. Nested deadlines compose: the earliest wins. The
//! loop fires timers itself, parking the thread until the next deadline. Tests run on a
//! virtual clock ([`Config::virtual_clock`]) that jumps to the next deadline whenever every
//! task is waiting, so they are instant and their timings exact:
//!
//! ```
//! use std::time::Duration;
//!
//! duet::run_with(duet::Config::new().virtual_clock(), async {
//!     let start = duet::now();
//!     let slow = duet::timeout(Duration::from_millis(500), duet::sleep(Duration::from_secs(10)));
//!     assert!(slow.await.is_err());
//!
//!     let r = duet::timeout_scope(Duration::from_secs(1), async |s| {
//!         s.spawn(duet::sleep(Duration::from_secs(60))); // dropped at the deadline
//!         Ok::<_, std::convert::Infallible>(())
//!     })
//!     .await;
//!     assert!(r.unwrap_err().is_timeout());
//!     assert_eq!(duet::now() - start, Duration::from_millis(1500));
//! });
//! ```

//!
//! # Task-local context
//!
//! A [`ContextVar`] is inherited by tasks at spawn time, like Python's `contextvars`:
//!
//! ```
//! static USER: duet::ContextVar<&str> = duet::ContextVar::new("user");
//!
//! duet::run_scope(async |s| {
//!     USER.set("ada");
//!     let task = s.spawn(async { Ok(USER.get()) });
//!     USER.set("grace"); // too late for the task spawned above
//!     assert_eq!(task.await.unwrap(), Some("ada"));
//!     Ok::<_, std::convert::Infallible>(())
//! })
//! .unwrap();
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(rust_2018_idioms, unreachable_pub, missing_debug_implementations)]

mod cancel;
mod context;
mod error;
mod runtime;
mod scope;
mod time;
mod yield_now;

pub use cancel::{CancelHandle, CancelReason};
pub use context::ContextVar;
pub use error::{JoinError, ScopeError};
pub use runtime::{Config, run, run_scope, run_with};
pub use scope::{
    BodyOutput, ErrorPolicy, JoinHandle, Scope, ScopeOptions, TaskOutput, scope, scope_with,
};
pub use time::{
    Elapsed, Sleep, Timeout, deadline, deadline_scope, now, sleep, sleep_until, timeout,
    timeout_scope,
};
pub use yield_now::{YieldNow, yield_now};

/// The README's examples, compiled and run as doctests so that they cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
