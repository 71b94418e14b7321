//! [`LimitedScope`]: a scope plus a limiter; all the work started through it shares the
//! limiter's slots.
//!
//! Built only on [`Scope::spawn`], [`Limiter`] and the pmap engine. A task spawned
//! through it waits (FIFO) for a slot before it runs and holds the slot until it ends; a
//! pmap started through it takes a slot before it pulls each item, so its input is
//! throttled by the limiter, and every call holds its slot until it has its result.

use std::fmt;

use futures::{StreamExt, TryStreamExt};

use crate::pmap::local::{limited_stream, try_limited_stream};
use crate::{AnyIterable, JoinHandle, Limiter, PmapStream, Scope, TaskOutput, TryPmapStream};

/// A scope plus a [`Limiter`]: tasks and pmaps started through it share the limiter's
/// slots.
///
/// - [`spawn`](LimitedScope::spawn) spawns a task into the scope that first waits for a
///   slot (FIFO among all the limiter's waiters) and holds it until the task ends.
/// - [`pmap_async`](LimitedScope::pmap_async) and [`pmap_stream`](LimitedScope::pmap_stream)
///   throttle their input through the limiter: each item is pulled only after a slot for
///   its call was acquired, and the call holds the slot until it has its result. Their
///   reorder window is the default for a limit of the limiter's capacity when the pmap
///   starts ([`PmapLimit::DEFAULT_WINDOW_FACTOR`](crate::PmapLimit::DEFAULT_WINDOW_FACTOR)
///   times it; unbounded for an unlimited limiter). Because the slot comes first, a pmap
///   whose input stream is slow to produce its next item holds one slot while it waits
///   for it.
///
/// The limiter may be shared with other scopes, other `LimitedScope`s and other threads;
/// its capacity may be changed while the work runs. Do not acquire the same limiter again
/// inside work started through a `LimitedScope`: that work already holds a slot, and with
/// every slot held the inner acquire waits forever.
///
/// This differs from duet-py, whose `LimitedScope` only throttles input and leaves taking
/// slots to the called functions.
///
/// Cloning is cheap (two reference counts); clones share the scope and the limiter.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
///
/// let (running, most) = (Cell::new(0), Cell::new(0));
/// let work = async |word: &'static str| {
///     running.set(running.get() + 1);
///     most.set(most.get().max(running.get()));
///     for _ in 0..3 {
///         duet::yield_now().await;
///     }
///     running.set(running.get() - 1);
///     word.len()
/// };
/// let lengths = duet::run_scope(duet::infallible(async |s| {
///     let limited = duet::LimitedScope::new(&s, duet::Limiter::new(2));
///     let work = &work;
///     let background = limited.spawn(async move { Ok(work("spawned").await) });
///     let lengths = limited.pmap_async(["a", "bb", "ccc"], work).await;
///     assert_eq!(background.await.unwrap(), 7);
///     lengths
/// }));
/// assert_eq!(lengths.unwrap(), [1, 2, 3]);
/// assert_eq!(most.get(), 2);
/// ```
pub struct LimitedScope<'env, E = std::convert::Infallible> {
    scope: Scope<'env, E>,
    limiter: Limiter,
}

impl<'env, E: 'env> LimitedScope<'env, E> {
    /// Combines a scope (a clone of its handle is kept) with a limiter (shared, not
    /// copied: clones of `limiter` see the same slots).
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = duet::Limiter::new(4);
    /// duet::run_scope(async |s| {
    ///     let limited = duet::LimitedScope::new(&s, limiter.clone());
    ///     assert_eq!(limited.limiter().capacity(), Some(4));
    /// })
    /// .unwrap();
    /// ```
    pub fn new(scope: &Scope<'env, E>, limiter: Limiter) -> Self {
        LimitedScope {
            scope: scope.clone(),
            limiter,
        }
    }

    /// The scope the work runs in.
    ///
    /// # Examples
    ///
    /// ```
    /// duet::run_scope(async |s| {
    ///     let limited = duet::LimitedScope::new(&s, duet::Limiter::new(1));
    ///     limited.scope().spawn(async {}); // not limited
    /// })
    /// .unwrap();
    /// ```
    pub fn scope(&self) -> &Scope<'env, E> {
        &self.scope
    }

    /// The limiter whose slots the work shares.
    ///
    /// # Examples
    ///
    /// ```
    /// duet::run_scope(async |s| {
    ///     let limited = duet::LimitedScope::new(&s, duet::Limiter::new(1));
    ///     limited.limiter().set_capacity(Some(4)); // affects work already queued too
    ///     assert_eq!(limited.limiter().capacity(), Some(4));
    /// })
    /// .unwrap();
    /// ```
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// Spawns a task into the scope that waits for a slot, then runs `future` holding it.
    ///
    /// As [`Scope::spawn`]; the slot is released when the task ends (or is cancelled).
    /// A task cancelled while it waits leaves the queue, and one cancelled after a slot was
    /// handed to it passes the slot on.
    ///
    /// # Panics
    ///
    /// As [`Scope::spawn`]: if the scope has already finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    ///
    /// let order = RefCell::new(Vec::new());
    /// duet::run_scope(async |s| {
    ///     let limited = duet::LimitedScope::new(&s, duet::Limiter::new(1));
    ///     for i in 0..3 {
    ///         let order = &order;
    ///         limited.spawn(async move {
    ///             order.borrow_mut().push(format!("start {i}"));
    ///             duet::yield_now().await;
    ///             order.borrow_mut().push(format!("end {i}"));
    ///         });
    ///     }
    /// })
    /// .unwrap();
    /// assert_eq!(
    ///     *order.borrow(),
    ///     ["start 0", "end 0", "start 1", "end 1", "start 2", "end 2"]
    /// );
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<<F::Output as TaskOutput<E>>::Ok>
    where
        F: Future + 'env,
        F::Output: TaskOutput<E>,
    {
        let limiter = self.limiter.clone();
        self.scope.spawn(async move {
            let _slot = limiter.acquire().await;
            future.await
        })
    }

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

impl<E> Clone for LimitedScope<'_, E> {
    fn clone(&self) -> Self {
        LimitedScope {
            scope: self.scope.clone(),
            limiter: self.limiter.clone(),
        }
    }
}

impl<E> fmt::Debug for LimitedScope<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitedScope")
            .field("scope", &self.scope)
            .field("limiter", &self.limiter)
            .finish()
    }
}
