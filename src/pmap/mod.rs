//! The `pmap` family: apply an async function to every item, a bounded number at a time,
//! and get the results in input order.
//!
//! Built only on the public layers below it: [`scope()`], [`Scope::spawn`],
//! [`JoinHandle`](crate::JoinHandle) and [`Limiter`](crate::Limiter).
//!
//! # How a pmap runs
//!
//! Starting a pmap on a scope spawns one task into it, the *feeder*, which loops:
//!
//! 1. wait until the window has room (fewer than `window` items started and not yet
//!    delivered: running, or finished and waiting in the reorder buffer) and fewer than
//!    `limit` calls run;
//! 2. with a [`LimitedScope`](crate::LimitedScope), acquire a slot of its shared
//!    [`Limiter`](crate::Limiter) (FIFO with every other user of that limiter);
//! 3. only then pull the next item from the input, so the input is never pulled further
//!    than calls can start;
//! 4. spawn the call into the same scope, as a sibling of the feeder. The call stores
//!    its result in the reorder buffer and then releases its slot.
//!
//! The feeder and the calls are ordinary tasks of the scope the pmap was started on, so
//! the work proceeds while the consumer awaits something else, up to the window. The
//! consumer (the returned stream) only takes results from the front of the reorder
//! buffer, in input order; taking one, or a call finishing, wakes the feeder if it waits
//! for room. After starting 128 calls in a row the feeder yields once, so an unlimited
//! pmap over a long input does not hold the loop.
//!
//! The first call of a fallible pmap to return `Err` records the error and cancels the
//! feeder and every call still running, through their join handles: the scope drops them
//! at their await points before it polls any other task. The stream then yields the
//! results already complete in input order before the gap, then the error, then ends.
//! The error goes to the consumer, not to the scope (the calls' tasks return `()`).
//! Dropping the stream cancels the feeder and the running calls the same way. A panic in
//! a call is a panic of a task of the scope, which cancels the rest and re-raises it.
//!
//! [`pmap_async`] and [`try_pmap_async`] open a scope of their own and consume the
//! stream in its body; [`pmap`] and [`try_pmap`] run that on a new [`run`] loop.
//!
//! # Both kinds of scope
//!
//! The engine and the forms' bodies are one source, `per_kind/`, compiled for local scopes
//! (`local.rs`, behind the crate root's functions here, whose `f` is an `AsyncFn`) and for
//! Send scopes (`send.rs`, `duet::send`'s forms, whose `f` is an `Fn` returning a `Send`
//! future). Both call `f` through their kind's `PmapFn` trait. The blocking [`pmap`] and
//! [`try_pmap`] exist for local scopes only.
//!
//! # The window's default
//!
//! The window bounds the reorder buffer: with a window `w`, at most `w` results are held
//! (and at most `w` items pulled ahead of the consumer). It defaults to
//! [`PmapLimit::DEFAULT_WINDOW_FACTOR`] (24) times the limit `l`, for a `LimitedScope` its
//! limiter's capacity. Why a multiple: item `i` can start only once item `i - w` was
//! delivered. At full rate (`l` calls at once, mean latency `m`) the `w - 1` items after a
//! call start within about `(w / l) * m`; a call slower than that leaves the window full
//! and the pmap waits for it, which a fan-out that starts the next call whenever a slot
//! frees never does. A window of `k * l` therefore throttles only calls slower than about
//! `(k - 1) * m`: `k = 1` (the window `buffered(n)` has) throttles on ordinary variance,
//! 1.7x slower than the fan-out for latencies uniform in 0–50 ms; `k = 3` already matches
//! it there (the slowest call is twice the mean); `k = 24` keeps log-normal latencies
//! (p99 ten times the median) within 10 %. Tails heavier than that need a larger window
//! (or unordered results); the numbers are in `design/performance.md`.
//!
//! # Invariants
//!
//! 1. `results.len()` (items started and not yet delivered) never exceeds the window,
//!    and at most `limit` calls run.
//! 2. An item is pulled from the input only after its place in the window, its place
//!    under the limit and its slot (if any) were obtained.
//! 3. Results are delivered in input order: `results[i]` belongs to item `next + i`, and
//!    only the front is ever taken.
//! 4. The stream ends only when the input is exhausted and every started item was
//!    delivered, or after it yielded the first error.
//! 5. Every call the pmap started is either finished or has been asked to cancel once the
//!    stream has yielded an error or been dropped.

mod input;
// `per_kind/` is compiled twice on purpose, once per kind of scope.
#[allow(
    clippy::duplicate_mod,
    reason = "one copy per kind of scope: local.rs, send.rs"
)]
pub(crate) mod local;
#[allow(
    clippy::duplicate_mod,
    reason = "one copy per kind of scope: local.rs, send.rs"
)]
pub(crate) mod send;

use std::convert::Infallible;
use std::future::Future;

use crate::{Scope, run};
use input::default_window;
pub use input::{AnyIterable, PmapLimit, ViaIterator, ViaStream};
use local::Order;
pub use local::{PmapStream, TryPmapStream};

/// Runs `f` on every item, at most `limit` calls at once, on a new [`run`] loop, and
/// returns the results in input order.
///
/// The blocking form of [`pmap_async`]: `run(pmap_async(items, limit, f))`. Like `run`,
/// it may be called from inside a task (the nested loop is a new root).
///
/// # Panics
///
/// If the limit is `Some(0)`; if a call panics (after every other call was dropped).
///
/// # Examples
///
/// ```
/// async fn process(x: u64) -> u64 {
///     duet::yield_now().await; // stands for real async work
///     x * x
/// }
///
/// let items = vec![1, 2, 3, 4];
/// let results = duet::pmap(items, Some(16), async |x| process(x).await);
/// assert_eq!(results, [1, 4, 9, 16]);
/// ```
#[track_caller]
pub fn pmap<I, M, F, U>(items: I, limit: impl Into<PmapLimit>, f: F) -> Vec<U>
where
    I: AnyIterable<M>,
    F: AsyncFn(I::Item) -> U,
{
    run(pmap_async(items, limit.into().check("pmap"), f))
}

/// The blocking form of [`try_pmap_async`].
///
/// # Panics
///
/// If the limit is `Some(0)`; if a call panics.
///
/// # Examples
///
/// ```
/// let parsed = duet::try_pmap(["1", "2", "x"], Some(2), async |s| s.parse::<i32>());
/// assert!(parsed.is_err());
/// ```
#[track_caller]
pub fn try_pmap<I, M, F, U, E>(items: I, limit: impl Into<PmapLimit>, f: F) -> Result<Vec<U>, E>
where
    I: AnyIterable<M>,
    F: AsyncFn(I::Item) -> Result<U, E>,
{
    run(try_pmap_async(items, limit.into().check("try_pmap"), f))
}

/// Runs `f` on every item, at most `limit` calls at once, and returns the results in input
/// order.
///
/// Items may come from an iterator or a [`Stream`](futures::Stream) ([`AnyIterable`]),
/// and are pulled only when a call can start. The calls run in a scope of their own,
/// inside the returned future; they may borrow what outlives it and need not be `Send`.
/// See [`PmapLimit`] for the limit and the reorder window, and [`try_pmap_async`] to stop
/// at the first error.
///
/// # Cancel safety
///
/// Dropping the future cancels every call still running (each is dropped at its await
/// point). The results obtained so far are lost.
///
/// # Panics
///
/// If the limit is `Some(0)` (at the call, not when awaited). A panic in a call cancels
/// the other calls and is re-raised by the future.
///
/// # Examples
///
/// ```
/// async fn process(x: u32) -> String {
///     duet::yield_now().await;
///     format!("item {x}")
/// }
///
/// let results = duet::run(async {
///     duet::pmap_async(1..=3, Some(16), async |x| process(x).await).await
/// });
/// assert_eq!(results, ["item 1", "item 2", "item 3"]);
/// ```
#[track_caller]
pub fn pmap_async<I, M, F, U>(
    items: I,
    limit: impl Into<PmapLimit>,
    f: F,
) -> impl Future<Output = Vec<U>>
where
    I: AnyIterable<M>,
    F: AsyncFn(I::Item) -> U,
{
    local::collect("pmap_async", items, limit.into().check("pmap_async"), f)
}

/// Runs the fallible `f` on every item, at most `limit` calls at once, and returns the
/// results in input order, or the first error.
///
/// As [`pmap_async`], except that the first call to return `Err` cancels every call
/// still running (and pulls no more items), and that error is returned. "First" is in
/// time, not in input order.
///
/// # Cancel safety
///
/// Dropping the future cancels every call still running.
///
/// # Panics
///
/// If the limit is `Some(0)`; if a call panics.
///
/// # Examples
///
/// ```
/// #[derive(Debug, PartialEq)]
/// struct NotFound(u32);
///
/// async fn lookup(id: u32) -> Result<String, NotFound> {
///     if id < 100 { Ok(format!("user {id}")) } else { Err(NotFound(id)) }
/// }
///
/// let found = duet::run(duet::try_pmap_async([1, 2], Some(8), async |id| lookup(id).await));
/// assert_eq!(found.unwrap(), ["user 1", "user 2"]);
/// let missing = duet::run(duet::try_pmap_async([1, 404], Some(8), async |id| lookup(id).await));
/// assert_eq!(missing, Err(NotFound(404)));
/// ```
#[track_caller]
pub fn try_pmap_async<I, M, F, U, E>(
    items: I,
    limit: impl Into<PmapLimit>,
    f: F,
) -> impl Future<Output = Result<Vec<U>, E>>
where
    I: AnyIterable<M>,
    F: AsyncFn(I::Item) -> Result<U, E>,
{
    local::try_collect(
        "try_pmap_async",
        items,
        limit.into().check("try_pmap_async"),
        f,
    )
}

/// Starts `f` on every item in `scope` and returns the results as a stream, in input
/// order.
///
/// This is the async-iterator form. The calls are spawned into `scope` and run as part of
/// it, whether or not the stream is being polled: while the consumer awaits something
/// else, up to a window of calls proceed (see [`PmapLimit`]). Consume the stream inside
/// the scope, from its body or one of its tasks; the stream borrows the handle, so it
/// cannot be returned out of the body. Dropping the stream cancels the calls still
/// running.
///
/// # Cancel safety
///
/// Awaiting the stream's `next()` is cancel safe: results stay in the stream until they
/// are taken, so dropping a pending `next()` (in a `select`, say) loses nothing.
/// Dropping the stream itself cancels the calls still running; their results are lost.
///
/// # Panics
///
/// If the limit is `Some(0)`, or if the scope has already finished (as
/// [`Scope::spawn`]). Polling the stream after the scope cancelled its calls (possible
/// only if it is polled from outside the scope) panics rather than end early.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
///
/// let log = duet::run_scope(duet::infallible(async |s| {
///     let mut results = duet::pmap_stream(&s, 1..=3, Some(2), async |x| x * 10);
///     let mut log = Vec::new();
///     while let Some(r) = results.next().await {
///         log.push(r);
///     }
///     log
/// }));
/// assert_eq!(log.unwrap(), [10, 20, 30]);
/// ```
#[track_caller]
pub fn pmap_stream<'s, 'env, SE, I, M, F, U>(
    scope: &'s Scope<'env, SE>,
    items: I,
    limit: impl Into<PmapLimit>,
    f: F,
) -> PmapStream<'s, U>
where
    SE: 'env,
    I: AnyIterable<M>,
    I::Stream: 'env,
    I::Item: 'env,
    F: AsyncFn(I::Item) -> U + 'env,
    U: 'env,
{
    let limit = limit.into().check("pmap_stream");
    local::stream(scope, items, limit, Order::Input, f)
}

/// The fallible form of [`pmap_stream`]: yields `Ok` results in input order; the first
/// call to fail cancels the others, and the stream yields the results already complete
/// before the gap, then that `Err`, then ends.
///
/// The error goes to the stream's consumer, not to the scope: the scope fails only if
/// the consumer propagates it (for example with `?`).
///
/// # Cancel safety
///
/// Awaiting the stream's `next()` is cancel safe: results stay in the stream until they
/// are taken, so dropping a pending `next()` (in a `select`, say) loses nothing.
/// Dropping the stream itself cancels the calls still running; their results are lost.
///
/// # Panics
///
/// As [`pmap_stream`].
///
/// # Examples
///
/// ```
/// use futures::TryStreamExt;
///
/// let r = duet::run_scope(async |s| {
///     let mut parsed = duet::try_pmap_stream(&s, ["1", "2", "x"], None, async |s| s.parse::<u8>());
///     let mut sum = 0;
///     while let Some(n) = parsed.try_next().await? {
///         sum += n;
///     }
///     Ok::<_, std::num::ParseIntError>(sum)
/// });
/// assert!(r.unwrap_err().is_failed());
/// ```
#[track_caller]
pub fn try_pmap_stream<'s, 'env, SE, I, M, F, U, E>(
    scope: &'s Scope<'env, SE>,
    items: I,
    limit: impl Into<PmapLimit>,
    f: F,
) -> TryPmapStream<'s, U, E>
where
    SE: 'env,
    I: AnyIterable<M>,
    I::Stream: 'env,
    I::Item: 'env,
    F: AsyncFn(I::Item) -> Result<U, E> + 'env,
    U: 'env,
    E: 'env,
{
    let limit = limit.into().check("try_pmap_stream");
    local::try_stream(scope, items, limit, Order::Input, f)
}

/// Starts `f` on every item in `scope` and returns the results as a stream, in the order
/// the calls *finish*: [`pmap_stream`] without the reordering.
///
/// A result is delivered as soon as its call returns, so a slow call holds nothing back:
/// the window (see [`PmapLimit`]) bounds only the calls running plus the results
/// finished and not yet taken, which is the memory the stream holds. Everything else is
/// as for [`pmap_stream`]: the calls are tasks of `scope` and proceed while the consumer
/// awaits something else; dropping the stream cancels the calls still running, and the
/// scope awaits their teardown.
///
/// # Cancel safety
///
/// Awaiting the stream's `next()` is cancel safe: a finished result stays in the stream
/// until it is taken. Dropping the stream itself cancels the calls still running.
///
/// # Panics
///
/// As [`pmap_stream`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures::StreamExt;
///
/// let order = duet::run_with(duet::Config::new().virtual_clock(), duet::scope(duet::infallible(async |s| {
///     let delays = [30u64, 10, 20];
///     let finished = duet::pmap_stream_unordered(&s, delays, Some(3), async |ms| {
///         duet::sleep(Duration::from_millis(ms)).await;
///         ms
///     });
///     finished.collect::<Vec<_>>().await
/// })));
/// assert_eq!(order.unwrap(), [10, 20, 30]);
/// ```
#[track_caller]
pub fn pmap_stream_unordered<'s, 'env, SE, I, M, F, U>(
    scope: &'s Scope<'env, SE>,
    items: I,
    limit: impl Into<PmapLimit>,
    f: F,
) -> PmapStream<'s, U>
where
    SE: 'env,
    I: AnyIterable<M>,
    I::Stream: 'env,
    I::Item: 'env,
    F: AsyncFn(I::Item) -> U + 'env,
    U: 'env,
{
    let limit = limit.into().check("pmap_stream_unordered");
    local::stream(scope, items, limit, Order::Completion, f)
}

/// The fallible form of [`pmap_stream_unordered`]: results in the order the calls finish;
/// the first `Err` cancels the calls still running and is yielded after the results
/// finished before it, and then the stream ends.
///
/// # Cancel safety
///
/// As [`pmap_stream_unordered`].
///
/// # Panics
///
/// As [`pmap_stream`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures::StreamExt;
///
/// let seen = duet::run_with(duet::Config::new().virtual_clock(), duet::scope(duet::infallible(async |s| {
///     let mut results = duet::try_pmap_stream_unordered(&s, [30u64, 10, 20], None, async |ms| {
///         duet::sleep(Duration::from_millis(ms)).await;
///         if ms == 20 { Err(format!("{ms} failed")) } else { Ok(ms) }
///     });
///     let mut seen = Vec::new();
///     while let Some(r) = results.next().await {
///         seen.push(r);
///     }
///     seen
/// })));
/// // 30 was cancelled by the failure at 20 ms.
/// assert_eq!(seen.unwrap(), [Ok(10), Err("20 failed".to_string())]);
/// ```
#[track_caller]
pub fn try_pmap_stream_unordered<'s, 'env, SE, I, M, F, U, E>(
    scope: &'s Scope<'env, SE>,
    items: I,
    limit: impl Into<PmapLimit>,
    f: F,
) -> TryPmapStream<'s, U, E>
where
    SE: 'env,
    I: AnyIterable<M>,
    I::Stream: 'env,
    I::Item: 'env,
    F: AsyncFn(I::Item) -> Result<U, E> + 'env,
    U: 'env,
    E: 'env,
{
    let limit = limit.into().check("try_pmap_stream_unordered");
    local::try_stream(scope, items, limit, Order::Completion, f)
}

fn identity<T>(value: T) -> T {
    value
}

/// What a pmap does if its own scope reports an error. Nothing can make it: the calls are
/// infallible to that scope (their errors travel through the stream), its handle never
/// leaves the pmap, and Ctrl-C does not adopt it (`internal_scope`), so an interrupt
/// reaches whatever runs the pmap instead (a root that is not a scope panics saying so).
/// Should that ever change, the caller learns what happened rather than getting a wrong
/// result.
#[cold]
#[track_caller]
fn own_scope_ended(form: &str, error: crate::ScopeError<Infallible>) -> ! {
    panic!(
        "duet::{form}: the scope running its calls ended early ({error}), so there are no \
         results to return"
    )
}
