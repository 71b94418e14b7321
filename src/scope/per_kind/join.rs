//! [`JoinHandle`]: the handle a spawn returns, and the cell it shares with its task.
//!
//! The task side owns a [`Completer`]; when the task finishes it stores the outcome and
//! wakes the awaiting task. If the task is dropped before finishing (cancellation), the
//! completer's `Drop` records "cancelled" instead, so a handle can never wait forever.
//!
//! # Invariants
//!
//! 1. The state leaves `Running` exactly once, by `finish` or by the completer's drop.
//! 2. Whoever moves the state out of `Running` wakes the registered waiter.

use super::kind::Shared;
use super::kind::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::core::{ScopeCore, TaskCancel, TaskKey};
use super::current;
use crate::current::waits::{self, Wait};
use crate::{CancelReason, JoinError};

pub(crate) enum JoinState<T> {
    Running,
    Done(T),
    Failed,
    Panicked,
    Cancelled,
    /// The outcome was handed to the handle's awaiter.
    Taken,
}

pub(crate) struct JoinCell<T> {
    /// The state and the waiter under one borrow: in a Send scope the handle may be
    /// polled (or asked `is_finished`) on another thread than the one finishing the task,
    /// so reading the state, registering the waiter and settling must each be one step
    /// (two cells, each locked only inside each call, lost values and wake-ups).
    inner: RefCell<JoinInner<T>>,
    cancel_requested: Cell<bool>,
    /// Dropped by `Scope::cancel_tasks` (its handle did not ask).
    tasks_cancelled: Cell<bool>,
}

struct JoinInner<T> {
    state: JoinState<T>,
    waiter: Option<Waker>,
}

impl<T> JoinCell<T> {
    fn is_running(&self) -> bool {
        matches!(self.inner.borrow().state, JoinState::Running)
    }

    /// Moves the state out of `Running` unless it has left it already (invariant 1);
    /// `before` runs first, inside the same step. Wakes the waiter, outside the borrow.
    fn settle_if_running(&self, state: JoinState<T>, before: impl FnOnce()) {
        let waiter = {
            let mut inner = self.inner.borrow_mut();
            if !matches!(inner.state, JoinState::Running) {
                return;
            }
            before();
            inner.state = state;
            inner.waiter.take()
        };
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }
}

/// The task's end of the cell.
pub(crate) struct Completer<T> {
    cell: Shared<JoinCell<T>>,
}

impl<T> Completer<T> {
    pub(crate) fn finish(&self, state: JoinState<T>) {
        self.cell.settle_if_running(state, || {});
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        let cell = &self.cell;
        cell.settle_if_running(JoinState::Cancelled, || {
            if current::is_dropping_for_cancel_tasks() {
                cell.tasks_cancelled.set(true);
            }
        });
    }
}

/// Creates the two ends for a task identified by `key` in the scope `core`.
pub(crate) fn join_pair<T>(core: Shared<ScopeCore>, key: TaskKey) -> (Completer<T>, JoinHandle<T>) {
    let cell = Shared::new(JoinCell {
        inner: RefCell::new(JoinInner {
            state: JoinState::Running,
            waiter: None,
        }),
        cancel_requested: Cell::new(false),
        tasks_cancelled: Cell::new(false),
    });
    let remote = super::kind::RemoteMark::counted(&core.signal);
    (
        Completer { cell: cell.clone() },
        JoinHandle {
            cell,
            core,
            key,
            _remote: remote,
        },
    )
}

/// An owned handle to a task spawned with [`Scope::spawn`](crate::Scope::spawn).
///
/// Awaiting it yields the task's value, or a [`JoinError`] saying that the task was
/// cancelled, failed (its error went to the scope) or panicked (the scope re-raises the
/// panic).
///
/// # Dropping the handle
///
/// Dropping a `JoinHandle` does not cancel or detach its task: the scope still owns the
/// task, keeps running it, and waits for it before it returns. The task's value is then
/// discarded. Use [`cancel`](JoinHandle::cancel) to stop the task.
///
/// # After the scope ended
///
/// A scope only ends once all its tasks have ended, so a handle awaited after its scope
/// ended resolves at once with the task's final outcome.
///
/// # Cancel safety
///
/// Awaiting a handle is cancel safe: if the awaiting future is dropped, the task keeps
/// running and the handle can be awaited again later (until it has returned `Ready`).
///
/// # Examples
///
/// ```
/// let out = duet::run_scope(async |s| {
///     let slow = s.spawn(futures::future::pending::<()>());
///     let quick = s.spawn(async { Ok(1) });
///     slow.cancel();
///     assert!(slow.await.unwrap_err().is_cancelled());
///     quick.await.map_err(|_| "quick was cancelled")
/// });
/// assert_eq!(out.unwrap(), 1);
/// ```
pub struct JoinHandle<T> {
    cell: Shared<JoinCell<T>>,
    core: Shared<ScopeCore>,
    key: TaskKey,
    /// Counts the handle as one that may be on another thread (Send scopes), until it
    /// is dropped.
    _remote: super::kind::RemoteMark,
}

impl<T> JoinHandle<T> {
    /// Cancels this task alone: it is dropped at its current await point (before the
    /// scope polls any other task again) and its handle reports
    /// [`JoinError::Cancelled`] with [`CancelReason::JoinHandle`]. The rest of the scope
    /// carries on. Does nothing if the task has already finished.
    ///
    /// A task suspended inside a [`shield`](crate::shield) is dropped once its shield has
    /// ended, at its next await point, as when its scope is cancelled; if it finishes
    /// before reaching one, its handle reports how it finished.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = duet::run_scope(duet::infallible(async |s| {
    ///     let stuck = s.spawn(futures::future::pending::<()>());
    ///     stuck.cancel();
    ///     assert!(stuck.await.unwrap_err().is_cancelled());
    ///     "the scope carried on"
    /// }));
    /// assert_eq!(r.unwrap(), "the scope carried on");
    /// ```
    pub fn cancel(&self) {
        if self.cell.is_running() && !self.cell.cancel_requested.replace(true) {
            self.core.request_task_cancel(self.key, TaskCancel::Handle);
        }
    }

    /// True once the task has finished, failed, panicked or been cancelled; awaiting the
    /// handle then resolves without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// duet::run_scope(async |s| {
    ///     let h = s.spawn(async {});
    ///     assert!(!h.is_finished()); // spawning does not run the task
    ///     duet::yield_now().await;
    ///     assert!(h.is_finished());
    /// })
    /// .unwrap();
    /// ```
    pub fn is_finished(&self) -> bool {
        !self.cell.is_running()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    /// # Returns
    ///
    /// - `Poll::Pending` while the task runs; the current task is woken when it ends.
    /// - `Poll::Ready(Ok(value))` when the task returned `Ok(value)` (or `()`).
    /// - `Poll::Ready(Err(error))` when it failed, panicked or was cancelled.
    ///
    /// # Panics
    ///
    /// When polled again after returning `Ready`, and when polled from a nested
    /// [`run`](crate::run) (or another blocking executor) while the task belongs to an
    /// outer loop that cannot make progress until that call returns.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let state = {
            let mut inner = this.cell.inner.borrow_mut();
            let state = std::mem::replace(&mut inner.state, JoinState::Taken);
            if let JoinState::Running = state {
                inner.state = JoinState::Running;
                // Registered in the same step as the check: a task finishing on another
                // thread settles either before it (seen here) or after (and wakes it).
                let stale = match &inner.waiter {
                    Some(w) if w.will_wake(cx.waker()) => None,
                    _ => inner.waiter.replace(cx.waker().clone()),
                };
                drop(inner);
                drop(stale); // outside the borrow: a waker's drop is foreign code
            }
            state
        };
        let outcome = match state {
            JoinState::Running => {
                this.core
                    .assert_reachable_from_here("a JoinHandle whose task belongs to", "the handle");
                let noted = this
                    .core
                    .tasks
                    .try_borrow()
                    .is_ok_and(|tasks| tasks.note_join_waiter(this.key, cx.waker()));
                if !noted {
                    // The record of who waits on this task may now be stale: the
                    // deadlock analysis stops trusting this scope's join records.
                    this.core.join_records_stale.set(true);
                }
                waits::report(
                    cx.waker(),
                    Wait::Join {
                        scope: this.core.id(),
                        index: this.key.index,
                    },
                );
                return Poll::Pending;
            }
            JoinState::Done(value) => Ok(value),
            JoinState::Failed => Err(JoinError::Failed),
            JoinState::Panicked => Err(JoinError::Panicked),
            JoinState::Cancelled => {
                Err(JoinError::Cancelled(if this.cell.cancel_requested.get() {
                    CancelReason::JoinHandle
                } else if this.cell.tasks_cancelled.get() {
                    CancelReason::TasksCancelled
                } else {
                    this.core.cancel_reason().unwrap_or(CancelReason::Dropped)
                }))
            }
            JoinState::Taken => {
                panic!("duet: JoinHandle polled again after it returned its outcome")
            }
        };
        Poll::Ready(outcome)
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
