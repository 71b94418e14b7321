//! [`Scope`]: the handle a scope body receives, to spawn tasks and cancel the scope.

use super::kind::Shared;
use super::kind::{RefCell, Spawnable};
use std::fmt;

use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use super::Interruptible;
use super::core::{Phase, ScopeCore};
use super::current;
use super::join::{JoinHandle, join_pair};
use super::output::TaskOutput;
use super::tasks::{SpawnedTask, TaskFutures};
use crate::cancel::request::Grace;
use crate::{CancelHandle, CancelReason};

pub(crate) struct ScopeInner<'env, E> {
    pub(crate) core: Shared<ScopeCore>,
    /// The task futures; their identity and flags are in `core.tasks`.
    pub(crate) futures: RefCell<TaskFutures<'env, E>>,
}

/// A nursery: the handle through which a scope body spawns tasks and cancels the scope.
///
/// A scope is opened with [`scope`](crate::scope()) (or [`run_scope`](crate::run_scope)
/// at the root). Its body receives the handle by value (`async |s| ..`); every task
/// spawned into it is owned and
/// polled by the scope, which does not finish until all of them have finished or been
/// cancelled. `E` is the error type the tasks and the body may fail with.
///
/// # Lifetimes
///
/// `'env` is the lifetime of the data outside the scope: tasks may borrow anything that
/// outlives the scope, but not locals of the body (they may end before the tasks do):
///
/// ```compile_fail,E0373
/// duet::run_scope(async |s| {
///     let local = vec![1, 2, 3];
///     s.spawn(async { println!("{local:?}") }); // `local` dies when the body returns
/// });
/// ```
///
/// The body owns its handle, and `spawn` borrows it while the task is being moved in,
/// so the task cannot take the body's `s` itself:
///
/// ```compile_fail,E0505
/// duet::run_scope(async |s| {
///     s.spawn(async move {
///         s.spawn(async {}); // moves `s` while the outer `spawn` borrows it
///     });
/// });
/// ```
///
/// The compiler says `error[E0505]: cannot move out of `s` because it is borrowed` and
/// suggests `s.clone().spawn(..)`. A task that spawns siblings takes a clone of the
/// handle, which is cheap (one reference count) and is valid as long as the data the
/// scope borrows (`'env`):
///
/// ```
/// let n = std::cell::Cell::new(0);
/// duet::run_scope(async |s| {
///     let spawner = s.clone();
///     let n = &n;
///     s.spawn(async move {
///         n.set(n.get() + 1);
///         spawner.spawn(async move { n.set(n.get() + 1) });
///     });
/// })
/// .unwrap();
/// assert_eq!(n.get(), 2);
/// ```
///
/// A `Scope` stays on the thread that runs it (tasks may be `!Send`); use
/// [`cancel_handle`](Scope::cancel_handle) to cancel from another thread:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// duet::run_scope(async |s| assert_send(s.clone()));
/// ```
// The compiler's words when a task captures the body's `Scope`, so that searching the
// docs for them finds the Lifetimes section above.
#[doc(alias = "E0505")]
#[doc(alias = "cannot move out of `s` because it is borrowed")]
pub struct Scope<'env, E = std::convert::Infallible> {
    pub(crate) inner: Shared<ScopeInner<'env, E>>,
    /// Scopes hold `!Send` tasks; keep the handle `!Send` even if `E` is.
    _thread_bound: super::kind::ThreadBound,
    /// Counts the handle as one that may be on another thread (Send scopes: every handle
    /// but the driver's), until it is dropped.
    _remote: super::kind::RemoteMark,
}

impl<'env, E: 'env> Scope<'env, E> {
    /// A scope opened at `location`, linked to the scope and task running now.
    pub(crate) fn new(location: &'static Location<'static>, interruptible: Interruptible) -> Self {
        let core = Shared::new(ScopeCore::new(
            location,
            current::parent_link(),
            interruptible,
        ));
        super::kind::register(&core, super::registry::Moved::Opened);
        Scope {
            inner: Shared::new(ScopeInner {
                core,
                futures: RefCell::new(TaskFutures::new()),
            }),
            _thread_bound: super::kind::THREAD_BOUND,
            _remote: super::kind::RemoteMark::uncounted(),
        }
    }

    /// Spawns a task into the scope and returns a handle to it.
    ///
    /// The task does not start running now: the caller continues to its next await, and
    /// the scope polls the new task after that. The task may borrow data that outlives the
    /// scope and need not be `Send`. It returns `()` or `Result<T, E>`; an `Err` fails the
    /// scope according to its [`ScopeOptions`](crate::ScopeOptions) (by default: cancel
    /// everything else and report the error).
    ///
    /// A task spawned while the scope is tearing down (for example from a destructor of a
    /// task being cancelled) is dropped at once and its handle reports cancellation.
    ///
    /// # Panics
    ///
    /// If the scope has already finished: its result was produced, and nothing would ever
    /// run the task. Spawn into a scope only while its body or one of its tasks runs, or
    /// open a new scope.
    ///
    /// # Examples
    ///
    /// ```
    /// let words = ["a", "bb", "ccc"];
    /// let total = duet::run_scope(duet::infallible(async |s| {
    ///     let lens: Vec<_> = words.iter().map(|w| s.spawn(async move { Ok(w.len()) })).collect();
    ///     let mut total = 0;
    ///     for len in lens {
    ///         total += len.await.unwrap_or(0);
    ///     }
    ///     total
    /// }));
    /// assert_eq!(total.unwrap(), 6);
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<<F::Output as TaskOutput<E>>::Ok>
    where
        F: Future + Spawnable + 'env,
        F::Output: TaskOutput<E>,
        <F::Output as TaskOutput<E>>::Ok: Spawnable,
    {
        self.spawn_at(Location::caller(), None, future)
    }

    /// Like [`spawn`](Scope::spawn), with a name that appears in cancellation reasons,
    /// in [`TaskRef`](crate::TaskRef)s and in the task-tree [`dump`](crate::dump).
    ///
    /// # Panics
    ///
    /// As [`spawn`](Scope::spawn): if the scope has already finished.
    ///
    /// # Examples
    ///
    /// ```
    /// duet::run_scope(async |s| {
    ///     s.spawn_named("heartbeat", duet::sleep(std::time::Duration::from_secs(1)));
    ///     duet::yield_now().await; // let it start
    ///     assert!(duet::dump().contains("task #0 `heartbeat` spawned at"));
    ///     s.cancel();
    /// })
    /// .unwrap_err();
    /// ```
    #[track_caller]
    pub fn spawn_named<F>(
        &self,
        name: impl Into<Arc<str>>,
        future: F,
    ) -> JoinHandle<<F::Output as TaskOutput<E>>::Ok>
    where
        F: Future + Spawnable + 'env,
        F::Output: TaskOutput<E>,
        <F::Output as TaskOutput<E>>::Ok: Spawnable,
    {
        self.spawn_at(Location::caller(), Some(name.into()), future)
    }

    fn spawn_at<F>(
        &self,
        location: &'static Location<'static>,
        name: Option<Arc<str>>,
        future: F,
    ) -> JoinHandle<<F::Output as TaskOutput<E>>::Ok>
    where
        F: Future + Spawnable + 'env,
        F::Output: TaskOutput<E>,
        <F::Output as TaskOutput<E>>::Ok: Spawnable,
    {
        match self.try_spawn_at(location, name, future) {
            Ok(handle) => handle,
            Err(refused) => {
                drop(refused);
                spawn_on_finished_scope()
            }
        }
    }

    /// Spawns as [`spawn`](Scope::spawn) does, or gives the future back if the scope has
    /// finished (the caller then undoes what it prepared, and panics).
    pub(crate) fn try_spawn_at<F>(
        &self,
        location: &'static Location<'static>,
        name: Option<Arc<str>>,
        future: F,
    ) -> Result<JoinHandle<<F::Output as TaskOutput<E>>::Ok>, F>
    where
        F: Future + Spawnable + 'env,
        F::Output: TaskOutput<E>,
        <F::Output as TaskOutput<E>>::Ok: Spawnable,
    {
        let core = &self.inner.core;
        // The phase is read under the table's lock: see `ScopeCore::finish_unless_spawned`.
        let mut table = core.tasks.borrow_mut();
        let phase = core.phase.get();
        if phase == Phase::Finished {
            drop(table);
            return Err(future);
        }
        let key = table.next_key();
        let (completer, handle) = join_pair(core.clone(), key);
        if phase == Phase::TearingDown {
            drop(table);
            drop(future);
            drop(completer);
            return Ok(handle);
        }
        #[cfg(not(feature = "tracing"))]
        let task = Box::pin(SpawnedTask::new(future, completer));
        #[cfg(feature = "tracing")]
        let task = super::trace::traced(
            SpawnedTask::new(future, completer),
            core.span(),
            key.index,
            name.as_deref(),
            location,
        );
        // The future is in its slot before the table lists the task as spawned: a Send
        // scope's driver may take the spawned list on another thread as soon as the
        // table's lock is released.
        self.inner.futures.borrow_mut().put(key.index, task);
        table.insert(&core.signal, location, name);
        drop(table);
        core.notify_unless_polling();
        Ok(handle)
    }

    /// Cancels the scope and everything in it.
    ///
    /// The caller keeps running until its next await point (a task cannot be dropped
    /// while it runs); then every task of the scope, the body included, is dropped at its
    /// current await point, nested scopes first, and the scope returns
    /// [`ScopeError::Cancelled`](crate::ScopeError::Cancelled) with
    /// [`CancelReason::Explicit`]. The result is "cancelled" even if the body returns a
    /// value after calling `cancel`. Cancelling a scope that is already cancelled or
    /// finished does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let result = duet::run_scope(async |s| {
    ///     s.spawn(futures::future::pending::<()>()); // would never finish
    ///     s.cancel();
    /// });
    /// assert!(result.unwrap_err().is_cancelled());
    /// ```
    pub fn cancel(&self) {
        if self.inner.core.is_accepting() {
            self.inner
                .core
                .signal
                .cancel(CancelReason::Explicit, Grace::Default);
        }
    }

    /// Cancels the scope gracefully: first a *soft* phase, then the hard one.
    ///
    /// In the soft phase nothing is dropped: code that observes cancellation
    /// ([`is_cancelled`](crate::is_cancelled), [`cancelled`](crate::cancelled)) in the
    /// scope and its nested scopes sees it and wakes, and tasks may finish or clean up,
    /// for up to `grace`. Tasks still running when the grace period ends are dropped as by
    /// [`cancel`](Scope::cancel) (shielded ones once their shield ends). If everything
    /// finishes sooner, the scope ends then. Either way it reports
    /// [`ScopeError::Cancelled`](crate::ScopeError::Cancelled) with
    /// [`CancelReason::Explicit`], keeping errors tasks returned meanwhile. A later
    /// request with a shorter grace (or a plain `cancel`) shortens the soft phase.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::time::Duration;
    ///
    /// let flushed = Cell::new(false);
    /// let r = duet::run_with(duet::Config::new().virtual_clock(), duet::scope(async |s| {
    ///     let flushed = &flushed;
    ///     s.spawn(async move {
    ///         duet::cancelled().await; // woken by the soft phase
    ///         duet::sleep(Duration::from_millis(100)).await; // async cleanup
    ///         flushed.set(true);
    ///     });
    ///     s.cancel_with_grace(Duration::from_secs(1));
    /// }));
    /// assert!(r.unwrap_err().is_cancelled());
    /// assert!(flushed.get(), "the task cleaned up within the grace period");
    /// ```
    pub fn cancel_with_grace(&self, grace: Duration) {
        if self.inner.core.is_accepting() {
            self.inner
                .core
                .signal
                .cancel(CancelReason::Explicit, Grace::Given(grace));
        }
    }

    /// True once the scope was asked to cancel (by [`cancel`](Scope::cancel) or a
    /// [`CancelHandle`]) or began tearing down for another reason.
    ///
    /// # Examples
    ///
    /// ```
    /// duet::run_scope(async |s| {
    ///     assert!(!s.is_cancelled());
    ///     s.cancel();
    ///     assert!(s.is_cancelled());
    /// })
    /// .unwrap_err();
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.inner.core.is_cancel_requested()
    }

    /// Stops the scope's tasks and keeps its value: cancels every task spawned into the
    /// scope so far, but not the body, and not the scope itself.
    ///
    /// This is how a scope finishes early *with a value*: the body calls `cancel_tasks`
    /// once it has what it needs and returns `Ok(value)`, and the scope returns that value
    /// as soon as the cancelled tasks are torn down. [`cancel`](Self::cancel), by
    /// contrast, cancels the body too and turns the scope's result into
    /// [`ScopeError::Cancelled`](crate::ScopeError::Cancelled).
    ///
    /// Each task is cancelled as [`JoinHandle::cancel`] would: it is dropped at its
    /// current await point (after its shield, if it is inside one), its handle reports
    /// [`JoinError::Cancelled`](crate::JoinError::Cancelled) with
    /// [`CancelReason::TasksCancelled`], which is also what
    /// [`cancel_reason`](crate::cancel_reason) says in its destructors. Cancelled tasks are
    /// not failures: the scope's result is the body's. A task may call it (on a clone of
    /// the handle) and is cancelled with its siblings once its poll returns. Tasks spawned
    /// afterwards run as usual, and so do the tasks of a [`pmap_stream`](crate::pmap_stream)
    /// started afterwards (one started before is cancelled with the rest, and its stream
    /// panics when polled, as when its scope is cancelled). Does nothing once the scope is
    /// being cancelled.
    ///
    /// # Examples
    ///
    /// Ask four replicas, keep the first answer, stop the rest:
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures::StreamExt;
    ///
    /// let first = duet::run_with(duet::Config::new().virtual_clock(), duet::scope(duet::infallible(async |s| {
    ///     let (answers, mut first) = futures::channel::mpsc::unbounded();
    ///     for replica in 1..=4u64 {
    ///         let answers = answers.clone();
    ///         s.spawn(async move {
    ///             duet::sleep(Duration::from_secs(replica)).await; // replica 1 is fastest
    ///             let _ = answers.unbounded_send(replica);
    ///         });
    ///     }
    ///     let answer = first.next().await;
    ///     s.cancel_tasks(); // replicas 2 to 4 are dropped; the scope keeps `answer`
    ///     answer
    /// })));
    /// assert_eq!(first.unwrap(), Some(1));
    /// ```
    ///
    /// [`JoinHandle::cancel`]: crate::JoinHandle::cancel
    /// [`CancelReason::TasksCancelled`]: crate::CancelReason::TasksCancelled
    pub fn cancel_tasks(&self) {
        self.inner.core.request_cancel_tasks();
    }

    /// Returns a `Send + Sync` handle that cancels this scope from any thread.
    ///
    /// While a cancel handle exists, the scope is never considered deadlocked: the handle
    /// could still end the wait.
    ///
    /// # Examples
    ///
    /// ```
    /// let result = duet::run_scope(async |s| {
    ///     let handle = s.cancel_handle();
    ///     std::thread::spawn(move || handle.cancel()).join().unwrap();
    ///     futures::future::pending::<()>().await;
    /// });
    /// assert!(result.unwrap_err().is_cancelled());
    /// ```
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle::new(self.inner.core.signal.clone())
    }
}

/// The panic of a spawn on a scope that has finished.
#[cold]
#[track_caller]
pub(crate) fn spawn_on_finished_scope() -> ! {
    panic!(
        "duet: spawn on a scope that has already finished; a scope ends once its body \
         and tasks are done, so nothing would run this task. Spawn while the scope's \
         body or one of its tasks is still running, or open a new scope."
    )
}

impl<E> Clone for Scope<'_, E> {
    fn clone(&self) -> Self {
        Scope {
            inner: self.inner.clone(),
            _thread_bound: super::kind::THREAD_BOUND,
            _remote: super::kind::RemoteMark::counted(&self.inner.core.signal),
        }
    }
}

impl<E> fmt::Debug for Scope<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("phase", &self.inner.core.phase.get())
            .field(
                "tasks",
                &self.inner.core.tasks.try_borrow().map(|t| t.live()).ok(),
            )
            .finish()
    }
}
