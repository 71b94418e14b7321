//! [`TaskSet`]: tasks of a scope, taken in the order they finish.
//!
//! Each task spawned through a set is an ordinary task of the set's scope, wrapped so
//! that its end (success, failure, panic or cancellation) pushes its slot number onto the
//! set's *finished* queue and wakes the consumer. The consumer takes slots from the front
//! of that queue and polls only their join handles, so taking one result costs the same
//! whatever the number of tasks still running (a `FuturesUnordered` of join handles
//! would do that too, but it polls them with its own waker, which hides the wait from
//! the deadlock analysis and the dump; and dropping it would detach the tasks instead of
//! cancelling them).
//!
//! # Invariants
//!
//! 1. Every member's slot is pushed onto the finished queue exactly once, when its
//!    wrapped future completes or is dropped, before the consumer can run again.
//! 2. A slot is freed only after its join handle returned its outcome, which is after
//!    its one push was taken from the queue: the queue never names a freed slot.
//! 3. While the consumer waits, the set holds exactly one clone of its waker, and only
//!    a member's end fires it: for the deadlock analysis, an internal wait.

use super::kind::Shared;
use super::kind::{RefCell, Spawnable};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::future::poll_fn;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures::Stream;

use super::core::Phase;
use super::handle::spawn_on_finished_scope;
use super::output::TaskOutput;
use super::{JoinHandle, Scope};
use crate::JoinError;
use crate::current::waits::{self, SetWatch, Wait};

/// What a set shares with the wrappers of its tasks, and what the deadlock analysis and
/// the dump read of a waiting set.
pub(crate) struct SetShared {
    finished: RefCell<VecDeque<u32>>,
    consumer: RefCell<Option<Waker>>,
    /// Members spawned and not yet taken, and the consumer's waker's identity, for the
    /// dump and the deadlock analysis (a waiting consumer reports a weak reference).
    watch: Arc<SetWatch>,
}

/// Pushes its member's slot onto the finished queue when the member's future completes
/// or is dropped.
struct OnEnd {
    shared: Shared<SetShared>,
    index: u32,
}

impl Drop for OnEnd {
    fn drop(&mut self) {
        self.shared.finished.borrow_mut().push_back(self.index);
        let consumer = self.shared.consumer.borrow_mut().take();
        self.shared.watch.set_registered(None);
        if let Some(consumer) = consumer {
            consumer.wake();
        }
    }
}

/// Tasks of a scope whose results are taken in the order they finish, like tokio's
/// `JoinSet`, without giving up structure: the tasks still belong to the scope (its
/// error policy, cancellation, deadlock detection and dump apply to them), and dropping
/// the set cancels the tasks whose results were not taken.
///
/// [`spawn`](TaskSet::spawn) spawns a task into the set's scope;
/// [`join_next`](TaskSet::join_next) (or the [`Stream`] impl) yields each task's outcome,
/// as its [`JoinHandle`] would, in the order they finish, and `None` once every task
/// spawned so far was taken. A failed task yields [`JoinError::Failed`] (its error goes to
/// the scope, which under the default fail-fast policy cancels the rest, the consumer
/// included); to see errors as values, have the task return `Ok(result)`.
///
/// Dropping the set cancels every member still running, through its join handle: each
/// is dropped at its await point before its scope polls anything else (after its shield,
/// if it is inside one), and the scope waits for that teardown before it returns.
///
/// # Examples
///
/// Handle responses as they arrive, stop after the first two:
///
/// ```
/// use std::time::Duration;
///
/// let (first_two, now) = duet::run_with(duet::Config::new().virtual_clock(), async {
///     let start = duet::now();
///     let first_two = duet::scope(duet::infallible(async |s| {
///         let mut set = duet::TaskSet::new(&s);
///         for ms in [300u64, 100, 400, 200] {
///             set.spawn(async move {
///                 duet::sleep(Duration::from_millis(ms)).await;
///                 Ok(ms)
///             });
///         }
///         let mut first_two = Vec::new();
///         while let Some(done) = set.join_next().await {
///             first_two.push(done.expect("nothing cancels these tasks"));
///             if first_two.len() == 2 {
///                 break; // dropping the set cancels the 300 ms and 400 ms tasks
///             }
///         }
///         first_two
///     }))
///     .await;
///     (first_two.unwrap(), duet::now() - start)
/// });
/// assert_eq!(first_two, [100, 200]);
/// assert_eq!(now, Duration::from_millis(200)); // the others did not run to the end
/// ```
pub struct TaskSet<'env, T, E = Infallible> {
    scope: Scope<'env, E>,
    shared: Shared<SetShared>,
    members: Vec<Option<JoinHandle<T>>>,
    free: Vec<u32>,
}

impl<'env, T, E: 'env> TaskSet<'env, T, E> {
    /// An empty set whose tasks will belong to `scope`.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = duet::run_scope(duet::infallible(async |s| {
    ///     let mut set = duet::TaskSet::new(&s);
    ///     set.spawn(async { Ok(1) });
    ///     set.join_next().await
    /// }));
    /// assert_eq!(r.unwrap(), Some(Ok(1)));
    /// ```
    pub fn new(scope: &Scope<'env, E>) -> Self {
        TaskSet {
            scope: scope.clone(),
            shared: Shared::new(SetShared {
                finished: RefCell::new(VecDeque::new()),
                consumer: RefCell::new(None),
                watch: Arc::new(SetWatch::new(scope.inner.core.id())),
            }),
            members: Vec::new(),
            free: Vec::new(),
        }
    }

    /// Spawns `future` as a task of the set's scope (see [`Scope::spawn`]); its outcome
    /// comes out of [`join_next`](Self::join_next).
    ///
    /// # Panics
    ///
    /// As [`Scope::spawn`]: if the scope has already finished.
    ///
    /// # Examples
    ///
    /// ```
    /// let total = duet::run_scope(duet::infallible(async |s| {
    ///     let mut set = duet::TaskSet::new(&s);
    ///     for n in 1..=3 {
    ///         set.spawn(async move { Ok(n * 10) });
    ///     }
    ///     let mut total = 0;
    ///     while let Some(n) = set.join_next().await {
    ///         total += n.expect("not cancelled");
    ///     }
    ///     total
    /// }));
    /// assert_eq!(total.unwrap(), 60);
    /// ```
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F)
    where
        F: Future + Spawnable + 'env,
        F::Output: TaskOutput<E, Ok = T>,
        T: Spawnable,
    {
        // Refused before a slot is taken: the set stays as it was.
        if self.scope.inner.core.phase.get() == Phase::Finished {
            spawn_on_finished_scope();
        }
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.members.push(None);
                u32::try_from(self.members.len() - 1).expect("fewer than 2^32 tasks in a set")
            }
        };
        let on_end = OnEnd {
            shared: self.shared.clone(),
            index,
        };
        let member = async move {
            let _on_end = on_end;
            future.await
        };
        // A Send set may be on another thread than its scope's driver, so the scope can
        // finish after the check above: then the slot is given back before the panic.
        let handle = match self.scope.try_spawn_at(Location::caller(), None, member) {
            Ok(handle) => handle,
            Err(refused) => {
                drop(refused); // its `OnEnd` queues the slot as finished: take it back
                self.shared.finished.borrow_mut().retain(|&i| i != index);
                self.free.push(index);
                spawn_on_finished_scope();
            }
        };
        self.members[index as usize] = Some(handle);
        self.shared
            .watch
            .set_pending(self.shared.watch.pending() + 1);
    }

    /// Waits for the next task of the set to finish and returns its outcome, as its
    /// [`JoinHandle`] would; `None` if every task spawned so far was taken.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future before it completes takes nothing from the set;
    /// the outcome is returned by the next call.
    ///
    /// # Examples
    ///
    /// See [`TaskSet`].
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// Polls for the next task to finish.
    ///
    /// `Poll::Ready(Some(outcome))`: a task finished (or was cancelled), and this is its
    /// outcome. `Poll::Ready(None)`: no task of the set is left (the set may still
    /// [`spawn`](Self::spawn) more). `Poll::Pending`: tasks are running; the waker is
    /// woken when one ends.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = duet::run_scope(duet::infallible(async |s| {
    ///     let mut set = duet::TaskSet::<(), _>::new(&s);
    ///     let empty = std::future::poll_fn(|cx| set.poll_join_next(cx)).await;
    ///     empty.is_none()
    /// }));
    /// assert!(r.unwrap());
    /// ```
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        let index = loop {
            let next = self.shared.finished.borrow_mut().pop_front();
            if let Some(index) = next {
                break index;
            }
            if self.shared.watch.pending() == 0 {
                return Poll::Ready(None);
            }
            // Waiting here from a nested run would block the loop that runs the members.
            self.scope
                .inner
                .core
                .assert_reachable_from_here("a TaskSet whose tasks belong to", "the set");
            let mut consumer = self.shared.consumer.borrow_mut();
            if !consumer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *consumer = Some(cx.waker().clone());
                self.shared.watch.set_registered(consumer.as_ref());
            }
            drop(consumer);
            // Registered first, then looked again: a member of a Send set ending on
            // another thread after the look above, and before the registration, found no
            // consumer to wake (its push comes before its take of the consumer).
            if self.shared.finished.borrow().is_empty() {
                waits::report(cx.waker(), Wait::Set(Arc::downgrade(&self.shared.watch)));
                return Poll::Pending;
            }
        };
        let handle = self.members[index as usize]
            .as_mut()
            .expect("a finished member's slot is freed only once its outcome was taken");
        match Pin::new(handle).poll(cx) {
            Poll::Ready(outcome) => {
                self.members[index as usize] = None;
                self.free.push(index);
                self.shared
                    .watch
                    .set_pending(self.shared.watch.pending() - 1);
                Poll::Ready(Some(outcome))
            }
            Poll::Pending => {
                // Ended but not settled yet (its drop is still under way): its handle
                // now holds our waker, and the slot stays first in line.
                self.shared.finished.borrow_mut().push_front(index);
                Poll::Pending
            }
        }
    }

    /// The number of tasks spawned into the set whose outcome was not taken yet.
    ///
    /// # Examples
    ///
    /// ```
    /// duet::run_scope(async |s| {
    ///     let mut set = duet::TaskSet::new(&s);
    ///     set.spawn(async {});
    ///     assert_eq!(set.len(), 1);
    ///     set.join_next().await;
    ///     assert!(set.is_empty());
    /// })
    /// .unwrap();
    /// ```
    pub fn len(&self) -> usize {
        self.shared.watch.pending()
    }

    /// True if every task spawned into the set was taken.
    ///
    /// # Examples
    ///
    /// See [`len`](Self::len).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cancels every task of the set still running, through its join handle; their
    /// outcomes ([`JoinError::Cancelled`] with
    /// [`CancelReason::JoinHandle`](crate::CancelReason::JoinHandle)) still come out of
    /// [`join_next`](Self::join_next), in the order they are dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// duet::run_scope(async |s| {
    ///     let mut set = duet::TaskSet::new(&s);
    ///     set.spawn(futures::future::pending::<()>());
    ///     set.cancel_all();
    ///     assert!(set.join_next().await.unwrap().unwrap_err().is_cancelled());
    /// })
    /// .unwrap();
    /// ```
    pub fn cancel_all(&self) {
        for handle in self.members.iter().flatten() {
            handle.cancel();
        }
    }
}

impl<'env, T, E: 'env> Stream for TaskSet<'env, T, E> {
    type Item = Result<T, JoinError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_join_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // More may be spawned between polls.
        (self.len(), None)
    }
}

impl<T, E> Drop for TaskSet<'_, T, E> {
    fn drop(&mut self) {
        for handle in self.members.iter().flatten() {
            handle.cancel();
        }
    }
}

impl<T, E> fmt::Debug for TaskSet<'_, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskSet")
            .field("pending", &self.shared.watch.pending())
            .field("finished", &self.shared.finished.borrow().len())
            .finish()
    }
}
