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
//! # Limit
//!
//! A [`Limiter`] lets at most N holders in at once and serves waiters in FIFO order; its
//! capacity can change while slots are held. [`acquire`](Limiter::acquire) returns a
//! [`Slot`] that is released when dropped. A [`LimitedScope`] puts everything spawned
//! through it under one limiter.
//!
//! ```
//! use std::cell::Cell;
//!
//! let limiter = duet::Limiter::new(2);
//! let (inside, most) = (Cell::new(0), Cell::new(0));
//! duet::run_scope(async |s| {
//!     for _ in 0..6 {
//!         let (limiter, inside, most) = (&limiter, &inside, &most);
//!         s.spawn(async move {
//!             let _slot = limiter.acquire().await; // released at the end of the task
//!             inside.set(inside.get() + 1);
//!             most.set(most.get().max(inside.get()));
//!             duet::yield_now().await;
//!             inside.set(inside.get() - 1);
//!         });
//!     }
//! })
//! .unwrap();
//! assert_eq!(most.get(), 2);
//! ```
//!
//! # Parallel map
//!
//! [`pmap()`] (blocking), [`pmap_async`] and [`pmap_stream`] run an async function on
//! every item, at most `limit` calls at once, and give the results in input order even
//! when later calls finish first. The items (an iterator or a stream) are pulled only as
//! calls can start, and at most a window of finished results waits for a slow earlier
//! one ([`PmapLimit`]). The `try_` forms stop at the first error and cancel the calls
//! still running.
//!
//! ```
//! async fn process(x: u64) -> u64 {
//!     duet::yield_now().await; // stands for real async work
//!     x * x
//! }
//!
//! let items = vec![3, 1, 2];
//! let results = duet::pmap(items.clone(), Some(16), async |x| process(x).await);
//! assert_eq!(results, [9, 1, 4]);
//!
//! let results = duet::run(async {
//!     duet::pmap_async(items, Some(16), async |x| process(x).await).await
//! });
//! assert_eq!(results, [9, 1, 4]);
//!
//! let found = duet::try_pmap(["1", "2", "three"], Some(2), async |s| s.parse::<u64>());
//! assert!(found.is_err());
//! ```
//!
//! [`AsyncCollector`] feeds values from producers to a consumer that reads them as a
//! stream. For duet-py's `aiter`, `aenumerate` and `azip`, use `futures::StreamExt`
//! (see [`AnyIterable`] for the table).
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
mod collector;
mod context;
mod error;
mod interop;
mod limited_scope;
mod limiter;
#[cfg(all(loom, test))]
mod loom_model;
mod pmap;
mod runtime;
mod scope;
mod sync;
mod time;
mod yield_now;

pub use cancel::{CancelHandle, CancelReason};
pub use collector::{AsyncCollector, CollectorClosed, CollectorError, CollectorStream};
pub use context::ContextVar;
pub use error::{JoinError, ScopeError};
pub use interop::{
    AwaitError, AwaitableFuture, Batch, Batcher, Cancelled, ThreadPool, Unblock, completed_future,
    failed_future, unblock,
};
pub use limited_scope::LimitedScope;
pub use limiter::{Acquire, Available, Limiter, Slot, Throttle};
pub use pmap::{
    AnyIterable, PmapLimit, PmapStream, TryPmapStream, ViaIterator, ViaStream, pmap, pmap_async,
    pmap_stream, try_pmap, try_pmap_async, try_pmap_stream,
};
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
