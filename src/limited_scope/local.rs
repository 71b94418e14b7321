//! The crate root's [`LimitedScope`]: `per_kind.rs` over local scopes, and its pmap
//! methods, whose calls are `AsyncFn`s.

use futures::{StreamExt, TryStreamExt};

pub(crate) use crate::scope::LocalSpawnable as Spawnable;
pub(crate) use crate::{JoinHandle, Scope};

use crate::pmap::local::{limited_stream, try_limited_stream};
use crate::{AnyIterable, PmapStream, TryPmapStream};

#[path = "per_kind.rs"]
mod per_kind;

pub use per_kind::LimitedScope;

impl<'env, E: 'env> LimitedScope<'env, E> {
    /// [`pmap_stream`](crate::pmap_stream) on this scope, with the calls limited by the
    /// shared limiter instead of a limit of their own.
    ///
    /// # Cancel safety
    ///
    /// Awaiting the stream's `next()` is cancel safe: results stay in the stream until they
    /// are taken, so dropping a pending `next()` (in a `select`, say) loses nothing.
    /// Dropping the stream itself cancels the calls still running; their results are lost.
    ///
    /// # Panics
    ///
    /// If the scope has already finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    ///
    /// let firsts = duet::run_scope(duet::infallible(async |s| {
    ///     let limited = duet::LimitedScope::new(&s, duet::Limiter::new(3));
    ///     let results = limited.pmap_stream(0.., async |x| x * x);
    ///     results.take(4).collect::<Vec<_>>().await
    /// }));
    /// assert_eq!(firsts.unwrap(), [0, 1, 4, 9]); // dropping the stream cancelled the rest
    /// ```
    #[track_caller]
    pub fn pmap_stream<'s, I, M, F, U>(&'s self, items: I, f: F) -> PmapStream<'s, U>
    where
        I: AnyIterable<M>,
        I::Stream: 'env,
        I::Item: 'env,
        F: AsyncFn(I::Item) -> U + 'env,
        U: 'env,
    {
        limited_stream(&self.scope, &self.limiter, items, f)
    }

    /// [`try_pmap_stream`](crate::try_pmap_stream) on this scope, limited by the shared
    /// limiter.
    ///
    /// # Cancel safety
    ///
    /// Awaiting the stream's `next()` is cancel safe: results stay in the stream until they
    /// are taken, so dropping a pending `next()` (in a `select`, say) loses nothing.
    /// Dropping the stream itself cancels the calls still running; their results are lost.
    ///
    /// # Panics
    ///
    /// If the scope has already finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::TryStreamExt;
    ///
    /// let r = duet::run_scope(async |s| {
    ///     let limited = duet::LimitedScope::new(&s, duet::Limiter::new(2));
    ///     let parsed: Vec<u8> = limited
    ///         .try_pmap_stream(["7", "8"], async |s| s.parse::<u8>())
    ///         .try_collect()
    ///         .await?;
    ///     Ok::<_, std::num::ParseIntError>(parsed)
    /// });
    /// assert_eq!(r.unwrap(), [7, 8]);
    /// ```
    #[track_caller]
    pub fn try_pmap_stream<'s, I, M, F, U, E2>(&'s self, items: I, f: F) -> TryPmapStream<'s, U, E2>
    where
        I: AnyIterable<M>,
        I::Stream: 'env,
        I::Item: 'env,
        F: AsyncFn(I::Item) -> Result<U, E2> + 'env,
        U: 'env,
        E2: 'env,
    {
        try_limited_stream(&self.scope, &self.limiter, items, f)
    }

    /// [`pmap_async`](crate::pmap_async) with the calls spawned into this scope and
    /// limited by the shared limiter: returns the results in input order.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the calls still running.
    ///
    /// # Panics
    ///
    /// If the scope has already finished.
    ///
    /// # Examples
    ///
    /// ```
    /// let doubled = duet::run_scope(duet::infallible(async |s| {
    ///     let limited = duet::LimitedScope::new(&s, duet::Limiter::new(2));
    ///     let doubled = limited.pmap_async(vec![1, 2, 3], async |x| x * 2).await;
    ///     doubled
    /// }));
    /// assert_eq!(doubled.unwrap(), [2, 4, 6]);
    /// ```
    pub async fn pmap_async<I, M, F, U>(&self, items: I, f: F) -> Vec<U>
    where
        I: AnyIterable<M>,
        I::Stream: 'env,
        I::Item: 'env,
        F: AsyncFn(I::Item) -> U + 'env,
        U: 'env,
    {
        self.pmap_stream(items, f).collect().await
    }

    /// [`try_pmap_async`](crate::try_pmap_async) with the calls spawned into this scope and
    /// limited by the shared limiter: the results in input order, or the first error.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the calls still running.
    ///
    /// # Panics
    ///
    /// If the scope has already finished.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = duet::run_scope(duet::infallible(async |s| {
    ///     let limited = duet::LimitedScope::new(&s, duet::Limiter::new(2));
    ///     let parsed = limited.try_pmap_async(["1", "x"], async |s| s.parse::<u8>()).await;
    ///     parsed.is_err()
    /// }));
    /// assert!(r.unwrap());
    /// ```
    pub async fn try_pmap_async<I, M, F, U, E2>(&self, items: I, f: F) -> Result<Vec<U>, E2>
    where
        I: AnyIterable<M>,
        I::Stream: 'env,
        I::Item: 'env,
        F: AsyncFn(I::Item) -> Result<U, E2> + 'env,
        U: 'env,
        E2: 'env,
    {
        self.try_pmap_stream(items, f).try_collect().await
    }
}
