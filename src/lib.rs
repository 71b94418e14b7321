//! Structured concurrency for Rust: nurseries, cancellation and a re-entrant loop.
//!
//! `duet` runs async code on the current thread. [`run`] blocks the thread and drives a
//! future; [`scope`] opens a *nursery* in which tasks are spawned. A scope owns its tasks:
//! it waits for all of them, cancels the rest when one fails, and reports every error.
//! Work that completes on other threads wakes the loop through ordinary wakers.
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

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(rust_2018_idioms, unreachable_pub, missing_debug_implementations)]

mod cancel;
mod error;
mod interop;
mod runtime;
mod scope;
mod yield_now;

pub use cancel::{CancelHandle, CancelReason};
pub use error::{JoinError, ScopeError};
pub use interop::{
    AwaitError, AwaitableFuture, Batch, Batcher, Cancelled, ThreadPool, Unblock, completed_future,
    failed_future, unblock,
};
pub use runtime::{run, run_scope};
pub use scope::{
    BodyOutput, ErrorPolicy, JoinHandle, Scope, ScopeOptions, TaskOutput, scope, scope_with,
};
pub use yield_now::{YieldNow, yield_now};

/// The README's examples, compiled and run as doctests so that they cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
