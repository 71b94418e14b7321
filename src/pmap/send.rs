//! `duet::send`'s `pmap` family: `per_kind/` over Send scopes, with per-item functions
//! that are `Fn`s returning `Send` futures (an `AsyncFn`'s future cannot be bounded
//! `Send` on stable Rust), so that a pmap's future and streams are `Send`.

use std::future::Future;

pub(crate) use crate::scope::send::kind::{RefCell, Shared as Ptr};
pub(crate) use crate::scope::send::{JoinHandle, Scope, Spawnable, internal_scope};

use super::{AnyIterable, PmapLimit, default_window, identity, own_scope_ended};

/// The per-item function of a Send pmap: an `Fn` shared by the calls (so `Send + Sync`)
/// whose futures are `Send`.
pub(crate) trait PmapFn<T, O>: Send + Sync {
    fn call(&self, item: T) -> impl Future<Output = O> + Send;
}

impl<F, Fut, T, O> PmapFn<T, O> for F
where
    F: Fn(T) -> Fut + Send + Sync,
    Fut: Future<Output = O> + Send,
{
    fn call(&self, item: T) -> impl Future<Output = O> + Send {
        self(item)
    }
}

#[path = "per_kind/engine.rs"]
mod engine;
#[path = "per_kind/forms.rs"]
mod forms;

use engine::Order;
pub use engine::{PmapStream, TryPmapStream};
use forms::{collect, stream, try_collect, try_stream};
pub(crate) use forms::{limited_stream, try_limited_stream};

/// [`pmap_async`](crate::pmap_async) over a Send scope: runs `f` on every item, at most
/// `limit` calls at once, and returns the results in input order; the returned future is
/// `Send`.
///
/// `f` is an `Fn` returning a `Send` future (write `|x| async move { .. }`): the future of
/// an async closure cannot be required to be `Send` on stable Rust. It is shared by the
/// calls, so it is `Send + Sync`; the items, the calls' futures and their results are
/// `Send`. The calls may borrow what outlives the returned future. Everything else is as
/// for the local form: the calls run in a scope of their own, inside the future, polled
/// wherever it is polled (a pmap is not a thread pool); see
/// [`PmapLimit`](crate::PmapLimit) for the limit and the reorder window.
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
/// # let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
/// # runtime.block_on(async {
/// let handler = tokio::spawn(async {
///     let prefix = String::from("item");
///     let prefix = &prefix; // the calls borrow the task's data
///     duet::send::pmap_async(1..=3, Some(8), |x| async move {
///         tokio::task::yield_now().await;
///         format!("{prefix} {x}")
///     })
///     .await
/// });
/// assert_eq!(handler.await.unwrap(), ["item 1", "item 2", "item 3"]);
/// # });
/// ```
#[track_caller]
pub fn pmap_async<I, M, F, Fut, U>(
    items: I,
    limit: impl Into<PmapLimit>,
    f: F,
) -> impl Future<Output = Vec<U>> + Send
where
    I: AnyIterable<M> + Spawnable,
    I::Stream: Spawnable,
    I::Item: Spawnable,
    F: Fn(I::Item) -> Fut + Send + Sync,
    Fut: Future<Output = U> + Spawnable,
    U: Spawnable,
{
    collect("pmap_async", items, limit.into().check("pmap_async"), f)
}

/// [`try_pmap_async`](crate::try_pmap_async) over a Send scope: the results in input
/// order, or the first error; the returned future is `Send`.
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
/// # let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
/// # runtime.block_on(async {
/// let handler = tokio::spawn(async {
///     duet::send::try_pmap_async(["1", "2", "x"], Some(2), |s| async move { s.parse::<u8>() })
///         .await
/// });
/// assert!(handler.await.unwrap().is_err());
/// # });
/// ```
#[track_caller]
pub fn try_pmap_async<I, M, F, Fut, U, E>(
    items: I,
    limit: impl Into<PmapLimit>,
    f: F,
) -> impl Future<Output = Result<Vec<U>, E>> + Send
where
    I: AnyIterable<M> + Spawnable,
    I::Stream: Spawnable,
    I::Item: Spawnable,
    F: Fn(I::Item) -> Fut + Send + Sync,
    Fut: Future<Output = Result<U, E>> + Spawnable,
    U: Spawnable,
    E: Spawnable,
{
    try_collect(
        "try_pmap_async",
        items,
        limit.into().check("try_pmap_async"),
        f,
    )
}

/// [`pmap_stream`](crate::pmap_stream) over a Send scope: starts `f` on every item in
/// `scope` and returns the results as a stream, in input order.
///
/// The calls are tasks of `scope` and proceed while the consumer awaits something else,
/// up to the window (see [`PmapLimit`](crate::PmapLimit)); consume the stream inside the
/// scope, from its body or one of its tasks. The stream is `Send` (its results are), so
/// the body or task consuming it stays `Send`. `f` is bounded as for [`pmap_async`].
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
/// # let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
/// # runtime.block_on(async {
/// use futures::StreamExt;
///
/// let handler = tokio::spawn(duet::send::scope(duet::send::infallible(async |s| {
///     let mut results = duet::send::pmap_stream(&s, 1..=3, Some(2), |x| async move { x * 10 });
///     let mut log = Vec::new();
///     while let Some(r) = results.next().await {
///         log.push(r);
///     }
///     log
/// })));
/// assert_eq!(handler.await.unwrap().unwrap(), [10, 20, 30]);
/// # });
/// ```
#[track_caller]
pub fn pmap_stream<'s, 'env, SE, I, M, F, Fut, U>(
    scope: &'s Scope<'env, SE>,
    items: I,
    limit: impl Into<PmapLimit>,
    f: F,
) -> PmapStream<'s, U>
where
    SE: Spawnable + 'env,
    I: AnyIterable<M>,
    I::Stream: Spawnable + 'env,
    I::Item: Spawnable + 'env,
    F: Fn(I::Item) -> Fut + Send + Sync + 'env,
    Fut: Future<Output = U> + Spawnable,
    U: Spawnable + 'env,
{
    let limit = limit.into().check("pmap_stream");
    stream(scope, items, limit, Order::Input, f)
}

/// [`try_pmap_stream`](crate::try_pmap_stream) over a Send scope: yields `Ok` results in
/// input order; the first call to fail cancels the others, and the stream yields the
/// results already complete before the gap, then that `Err`, then ends.
///
/// The error goes to the stream's consumer, not to the scope: the scope fails only if
/// the consumer propagates it (for example with `?`).
///
/// # Cancel safety
///
/// As [`pmap_stream`].
///
/// # Panics
///
/// As [`pmap_stream`].
///
/// # Examples
///
/// ```
/// # let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
/// # runtime.block_on(async {
/// use futures::TryStreamExt;
///
/// let handler = tokio::spawn(duet::send::scope(async |s| {
///     let mut parsed =
///         duet::send::try_pmap_stream(&s, ["1", "2", "x"], None, |s| async move { s.parse::<u8>() });
///     let mut sum = 0;
///     while let Some(n) = parsed.try_next().await? {
///         sum += n;
///     }
///     Ok::<_, std::num::ParseIntError>(sum)
/// }));
/// assert!(handler.await.unwrap().unwrap_err().is_failed());
/// # });
/// ```
#[track_caller]
pub fn try_pmap_stream<'s, 'env, SE, I, M, F, Fut, U, E>(
    scope: &'s Scope<'env, SE>,
    items: I,
    limit: impl Into<PmapLimit>,
    f: F,
) -> TryPmapStream<'s, U, E>
where
    SE: Spawnable + 'env,
    I: AnyIterable<M>,
    I::Stream: Spawnable + 'env,
    I::Item: Spawnable + 'env,
    F: Fn(I::Item) -> Fut + Send + Sync + 'env,
    Fut: Future<Output = Result<U, E>> + Spawnable,
    U: Spawnable + 'env,
    E: Spawnable + 'env,
{
    let limit = limit.into().check("try_pmap_stream");
    try_stream(scope, items, limit, Order::Input, f)
}

/// [`pmap_stream_unordered`](crate::pmap_stream_unordered) over a Send scope: the results
/// in the order the calls *finish*.
///
/// As [`pmap_stream`] without the reordering: the window bounds only the calls running
/// plus the results finished and not yet taken.
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
/// # let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
/// # runtime.block_on(async {
/// use std::time::Duration;
/// use futures::StreamExt;
///
/// let handler = tokio::spawn(duet::send::scope(duet::send::infallible(async |s| {
///     let finished = duet::send::pmap_stream_unordered(&s, [300u64, 10], Some(2), |ms| async move {
///         duet::sleep(Duration::from_millis(ms)).await;
///         ms
///     });
///     finished.collect::<Vec<_>>().await
/// })));
/// assert_eq!(handler.await.unwrap().unwrap(), [10, 300]);
/// # });
/// ```
#[track_caller]
pub fn pmap_stream_unordered<'s, 'env, SE, I, M, F, Fut, U>(
    scope: &'s Scope<'env, SE>,
    items: I,
    limit: impl Into<PmapLimit>,
    f: F,
) -> PmapStream<'s, U>
where
    SE: Spawnable + 'env,
    I: AnyIterable<M>,
    I::Stream: Spawnable + 'env,
    I::Item: Spawnable + 'env,
    F: Fn(I::Item) -> Fut + Send + Sync + 'env,
    Fut: Future<Output = U> + Spawnable,
    U: Spawnable + 'env,
{
    let limit = limit.into().check("pmap_stream_unordered");
    stream(scope, items, limit, Order::Completion, f)
}

/// [`try_pmap_stream_unordered`](crate::try_pmap_stream_unordered) over a Send scope:
/// results in the order the calls finish; the first `Err` cancels the calls still running
/// and is yielded after the results finished before it, and then the stream ends.
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
/// # let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
/// # runtime.block_on(async {
/// use std::time::Duration;
/// use futures::StreamExt;
///
/// let handler = tokio::spawn(duet::send::scope(duet::send::infallible(async |s| {
///     let results = duet::send::try_pmap_stream_unordered(&s, [600u64, 10, 100], None, |ms| async move {
///         duet::sleep(Duration::from_millis(ms)).await;
///         if ms == 100 { Err(format!("{ms} failed")) } else { Ok(ms) }
///     });
///     results.collect::<Vec<_>>().await
/// })));
/// // 600 was cancelled by the failure at 100 ms.
/// assert_eq!(handler.await.unwrap().unwrap(), [Ok(10), Err("100 failed".to_string())]);
/// # });
/// ```
#[track_caller]
pub fn try_pmap_stream_unordered<'s, 'env, SE, I, M, F, Fut, U, E>(
    scope: &'s Scope<'env, SE>,
    items: I,
    limit: impl Into<PmapLimit>,
    f: F,
) -> TryPmapStream<'s, U, E>
where
    SE: Spawnable + 'env,
    I: AnyIterable<M>,
    I::Stream: Spawnable + 'env,
    I::Item: Spawnable + 'env,
    F: Fn(I::Item) -> Fut + Send + Sync + 'env,
    Fut: Future<Output = Result<U, E>> + Spawnable,
    U: Spawnable + 'env,
    E: Spawnable + 'env,
{
    let limit = limit.into().check("try_pmap_stream_unordered");
    try_stream(scope, items, limit, Order::Completion, f)
}
