//! `duet::send::LimitedScope`: `per_kind.rs` over Send scopes, and its pmap methods, whose
//! calls are `Fn`s returning `Send` futures (as for `duet::send::pmap_async`).

use std::future::Future;

use futures::{StreamExt, TryStreamExt};

pub(crate) use crate::scope::send::{JoinHandle, Scope, Spawnable};

use crate::AnyIterable;
use crate::pmap::send::{PmapStream, TryPmapStream, limited_stream, try_limited_stream};

#[path = "per_kind.rs"]
mod per_kind;

pub use per_kind::LimitedScope;

impl<'env, E: Spawnable + 'env> LimitedScope<'env, E> {
    /// [`send::pmap_stream`](crate::send::pmap_stream) on this scope, with the calls
    /// limited by the shared limiter instead of a limit of their own.
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
    /// # let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    /// # runtime.block_on(async {
    /// use futures::StreamExt;
    ///
    /// let handler = tokio::spawn(duet::send::scope(duet::send::infallible(async |s| {
    ///     let limited = duet::send::LimitedScope::new(&s, duet::Limiter::new(3));
    ///     let results = limited.pmap_stream(0.., |x| async move { x * x });
    ///     results.take(4).collect::<Vec<_>>().await
    /// })));
    /// assert_eq!(handler.await.unwrap().unwrap(), [0, 1, 4, 9]); // the rest was cancelled
    /// # });
    /// ```
    #[track_caller]
    pub fn pmap_stream<'s, I, M, F, Fut, U>(&'s self, items: I, f: F) -> PmapStream<'s, U>
    where
        I: AnyIterable<M>,
        I::Stream: Spawnable + 'env,
        I::Item: Spawnable + 'env,
        F: Fn(I::Item) -> Fut + Send + Sync + 'env,
        Fut: Future<Output = U> + Spawnable,
        U: Spawnable + 'env,
    {
        limited_stream(&self.scope, &self.limiter, items, f)
    }

    /// [`send::try_pmap_stream`](crate::send::try_pmap_stream) on this scope, limited by
    /// the shared limiter.
    ///
    /// # Cancel safety
    ///
    /// As [`pmap_stream`](LimitedScope::pmap_stream).
    ///
    /// # Panics
    ///
    /// If the scope has already finished.
    ///
    /// # Examples
    ///
    /// ```
    /// # let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    /// # runtime.block_on(async {
    /// use futures::TryStreamExt;
    ///
    /// let handler = tokio::spawn(duet::send::scope(async |s| {
    ///     let limited = duet::send::LimitedScope::new(&s, duet::Limiter::new(2));
    ///     let parsed: Vec<u8> = limited
    ///         .try_pmap_stream(["7", "8"], |s| async move { s.parse::<u8>() })
    ///         .try_collect()
    ///         .await?;
    ///     Ok::<_, std::num::ParseIntError>(parsed)
    /// }));
    /// assert_eq!(handler.await.unwrap().unwrap(), [7, 8]);
    /// # });
    /// ```
    #[track_caller]
    pub fn try_pmap_stream<'s, I, M, F, Fut, U, E2>(
        &'s self,
        items: I,
        f: F,
    ) -> TryPmapStream<'s, U, E2>
    where
        I: AnyIterable<M>,
        I::Stream: Spawnable + 'env,
        I::Item: Spawnable + 'env,
        F: Fn(I::Item) -> Fut + Send + Sync + 'env,
        Fut: Future<Output = Result<U, E2>> + Spawnable,
        U: Spawnable + 'env,
        E2: Spawnable + 'env,
    {
        try_limited_stream(&self.scope, &self.limiter, items, f)
    }

    /// [`send::pmap_async`](crate::send::pmap_async) with the calls spawned into this
    /// scope and limited by the shared limiter: returns the results in input order. The
    /// returned future is `Send`.
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
    /// # let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    /// # runtime.block_on(async {
    /// let handler = tokio::spawn(duet::send::scope(duet::send::infallible(async |s| {
    ///     let limited = duet::send::LimitedScope::new(&s, duet::Limiter::new(2));
    ///     limited.pmap_async(vec![1, 2, 3], |x| async move { x * 2 }).await
    /// })));
    /// assert_eq!(handler.await.unwrap().unwrap(), [2, 4, 6]);
    /// # });
    /// ```
    pub async fn pmap_async<I, M, F, Fut, U>(&self, items: I, f: F) -> Vec<U>
    where
        I: AnyIterable<M> + Spawnable,
        I::Stream: Spawnable + 'env,
        I::Item: Spawnable + 'env,
        F: Fn(I::Item) -> Fut + Send + Sync + 'env,
        Fut: Future<Output = U> + Spawnable,
        U: Spawnable + 'env,
    {
        self.pmap_stream(items, f).collect().await
    }

    /// [`send::try_pmap_async`](crate::send::try_pmap_async) with the calls spawned into
    /// this scope and limited by the shared limiter: the results in input order, or the
    /// first error. The returned future is `Send`.
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
    /// # let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    /// # runtime.block_on(async {
    /// let handler = tokio::spawn(duet::send::scope(duet::send::infallible(async |s| {
    ///     let limited = duet::send::LimitedScope::new(&s, duet::Limiter::new(2));
    ///     limited.try_pmap_async(["1", "x"], |s| async move { s.parse::<u8>() }).await.is_err()
    /// })));
    /// assert!(handler.await.unwrap().unwrap());
    /// # });
    /// ```
    pub async fn try_pmap_async<I, M, F, Fut, U, E2>(&self, items: I, f: F) -> Result<Vec<U>, E2>
    where
        I: AnyIterable<M> + Spawnable,
        I::Stream: Spawnable + 'env,
        I::Item: Spawnable + 'env,
        F: Fn(I::Item) -> Fut + Send + Sync + 'env,
        Fut: Future<Output = Result<U, E2>> + Spawnable,
        U: Spawnable + 'env,
        E2: Spawnable + 'env,
    {
        self.try_pmap_stream(items, f).try_collect().await
    }
}
