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
//!
//! # Futures from other threads
//!
//! Parallelism comes from work done elsewhere. An [`AwaitableFuture`] is completed by
//! hand, from any thread, and awaited by a task; [`unblock`] and [`ThreadPool`] run
//! blocking code on other threads and hand back its result. If the awaiting task is
//! cancelled, the producer sees [`AwaitableFuture::is_cancelled`] and can stop.
//!
//! ```
//! let f = duet::AwaitableFuture::new();
//! let producer = f.clone();
//! std::thread::spawn(move || producer.set_result("computed elsewhere"));
//!
//! let (a, b) = duet::run(async {
//!     let b = duet::unblock(|| std::fs::read_to_string("Cargo.toml").map(|t| t.len()));
//!     futures::join!(f, b)
//! });
//! assert_eq!(a.unwrap(), "computed elsewhere");
//! assert!(b.unwrap() > 0);
//! ```
//!
//! A [`Batcher`] collects the requests that many tasks make and sends them as one batch
//! when the loop has nothing else to do (built on
//! [buffered futures](AwaitableFuture::buffered)):
//!
//! ```
//! let calls = std::sync::atomic::AtomicUsize::new(0);
//! let calls = std::sync::Arc::new(calls);
//! let counter = calls.clone();
//! let squares = duet::Batcher::new(move |batch: duet::Batch<u32, u32>| {
//!     counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
//!     let values: Vec<u32> = batch.keys().map(|k| k * k).collect();
//!     batch.complete(values); // or complete it later, from another thread
//! });
//! let total = duet::run_scope(async |s| {
//!     let handles: Vec<_> = (1..=10).map(|k| s.spawn(squares.get(k))).collect();
//!     let mut total = 0;
//!     for h in handles {
//!         total += h.await.unwrap();
//!     }
//!     Ok::<_, duet::AwaitError>(total)
//! });
//! assert_eq!(total.unwrap(), 385);
//! assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1); // one batch
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
