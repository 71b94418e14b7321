//! [`LimitedScope`] for one kind of scope: compiled with local scopes
//! (`limited_scope/local.rs`, the crate root's `duet::LimitedScope`) and with Send scopes
//! (`limited_scope/send.rs`, `duet::send::LimitedScope`). Its pmap methods bound the
//! per-item function differently for each kind, so they are in those two files.

use std::fmt;

use super::{JoinHandle, Scope, Spawnable};
use crate::{Limiter, TaskOutput};

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
/// There is one for each kind of scope: `duet::LimitedScope` over a local scope, whose
/// pmap methods take async closures, and `duet::send::LimitedScope` over a Send scope,
/// whose pmap methods take an `Fn` returning a `Send` future (as
/// [`duet::send::pmap_async`](crate::send::pmap_async)) and whose futures and streams are
/// `Send`. The example is a local one; `duet::send`'s methods have Send ones.
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
    pub(super) scope: Scope<'env, E>,
    pub(super) limiter: Limiter,
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
        F: Future + Spawnable + 'env,
        F::Output: TaskOutput<E>,
        <F::Output as TaskOutput<E>>::Ok: Spawnable,
    {
        let limiter = self.limiter.clone();
        self.scope.spawn(async move {
            let _slot = limiter.acquire().await;
            future.await
        })
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
