//! Futures from other threads: completable futures, blocking offload, buffered futures.
//!
//! duet runs every task on one thread; parallelism comes from work that completes
//! elsewhere. This module is how that work reports back:
//!
//! | file | owns |
//! |---|---|
//! | `awaitable.rs` | [`AwaitableFuture`]: the handle (complete, cancel, await, callbacks) |
//! | `cell.rs` | the state all handles share: outcome, wakers, callbacks, handle counts |
//! | `cancelled.rs` | [`Cancelled`]: a producer waiting to learn that nobody waits any more |
//! | `error.rs` | [`AwaitError`] |
//! | `buffered.rs` | flush actions and the per-loop queue flushed when the loop is idle |
//! | `pool.rs` | [`ThreadPool`], [`unblock`], [`Unblock`]: blocking work on other threads |
//! | `token.rs` | [`CancelToken`]: what a pool job polls to learn it was cancelled |
//! | `batcher.rs` | [`Batcher`], [`Batch`]: one batch of requests per idle point |
//!
//! # Invariants
//!
//! 1. A wake-up is never lost: the outcome, the wakers and the status byte of a future
//!    change together under its lock, and every waker registered while it was pending is
//!    woken after it completes.
//! 2. An awaiter never hangs on a future nobody can complete: when only awaiting handles
//!    are left (and no flush action), the future completes as abandoned.
//! 3. Dropping the last awaiter of a pending future (the awaiting task was cancelled)
//!    cancels it, so the producer can stop; a job cancelled before it starts never runs.
//! 4. No user code (callback, flush action, job, waker) runs under a future's lock.

mod awaitable;
mod batcher;
mod buffered;
mod cancelled;
mod cell;
mod error;
mod pool;
mod token;

pub use awaitable::{AwaitableFuture, completed_future, failed_future};
pub use batcher::{Batch, Batcher};
pub(crate) use buffered::{EnterFlushQueue, FlushQueue};
pub use cancelled::Cancelled;
pub use error::AwaitError;
pub use pool::{ThreadPool, Unblock, unblock, unblock_cancellable};
pub use token::CancelToken;
