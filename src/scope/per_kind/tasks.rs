//! Spawned tasks with their output type erased, and the `'env` table that holds them.
//!
//! A spawned task is one allocation: the user future, the completer that reports its
//! outcome to its join handle, and its task-local context. The scope keeps it as a
//! `dyn Task<E>` in [`TaskFutures`], indexed by the same slot numbers as the lifetime-free
//! `TaskTable` (see `table`).

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::join::{Completer, JoinState};
use super::kind::Spawnable;
use super::output::TaskOutput;
use crate::context::Values;

pub(crate) type PanicPayload = Box<dyn Any + Send + 'static>;

/// How a task ended, as far as its scope is concerned.
pub(crate) enum Exit<E> {
    Done,
    Failed(E),
    Panicked(PanicPayload),
}

/// A spawned task with its output type erased.
pub(crate) trait Task<E>: Spawnable {
    /// Polls the task, catching a panic as [`Exit::Panicked`].
    fn poll_task(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Exit<E>>;

    /// The task's context (task-local values), to drop the task in: a destructor of a
    /// cancelled task reads its own task's context variables, as its polls do, not those
    /// of whatever cancelled it.
    fn context(&self) -> Values;
}

/// Drops a task inside its own context, returning the panic a destructor raised, if any.
pub(crate) fn drop_task<E>(task: BoxedTask<'_, E>) -> Option<PanicPayload> {
    let mut context = task.context();
    context.enter(|| panic::catch_unwind(AssertUnwindSafe(move || drop(task))).err())
}

pub(crate) type BoxedTask<'env, E> = Pin<Box<dyn Task<E> + 'env>>;

pin_project! {
    /// A user future, the completer that reports its outcome to its join handle, and the
    /// task-local context it runs in.
    pub(crate) struct SpawnedTask<F, T> {
        #[pin]
        future: F,
        completer: Completer<T>,
        context: Values,
    }
}

impl<F, T> SpawnedTask<F, T> {
    /// A task starting with a snapshot of the spawner's context.
    pub(crate) fn new(future: F, completer: Completer<T>) -> Self {
        SpawnedTask {
            future,
            completer,
            context: Values::snapshot(),
        }
    }
}

impl<F, T, E> Task<E> for SpawnedTask<F, T>
where
    SpawnedTask<F, T>: Spawnable,
    F: Future,
    F::Output: TaskOutput<E, Ok = T>,
{
    fn poll_task(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Exit<E>> {
        let this = self.project();
        let future = this.future;
        let poll = this
            .context
            .enter_unwind_free(|| panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))));
        match poll {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(match output.into_result() {
                Ok(value) => {
                    this.completer.finish(JoinState::Done(value));
                    Exit::Done
                }
                Err(error) => {
                    this.completer.finish(JoinState::Failed);
                    Exit::Failed(error)
                }
            }),
            Err(payload) => {
                this.completer.finish(JoinState::Panicked);
                Poll::Ready(Exit::Panicked(payload))
            }
        }
    }

    fn context(&self) -> Values {
        self.context.clone()
    }
}

/// The `'env` half of a scope's task set: the task futures, by slot (see `table` for
/// the other half).
pub(crate) struct TaskFutures<'env, E> {
    slots: Vec<Option<BoxedTask<'env, E>>>,
}

impl<'env, E> TaskFutures<'env, E> {
    pub(crate) fn new() -> Self {
        TaskFutures { slots: Vec::new() }
    }

    pub(crate) fn put(&mut self, index: u32, task: BoxedTask<'env, E>) {
        let index = index as usize;
        if index == self.slots.len() {
            if self.slots.capacity() == 0 {
                self.slots.reserve_exact(super::table::FIRST_CAPACITY);
            }
            self.slots.push(Some(task));
            return;
        }
        if index > self.slots.len() {
            self.slots.resize_with(index + 1, || None);
        }
        debug_assert!(self.slots[index].is_none());
        self.slots[index] = Some(task);
    }

    pub(crate) fn take(&mut self, index: u32) -> Option<BoxedTask<'env, E>> {
        self.slots.get_mut(index as usize)?.take()
    }

    /// Removes every task, for the end of a scope; the caller drops them outside any
    /// borrow.
    pub(crate) fn drain(&mut self) -> Vec<BoxedTask<'env, E>> {
        let tasks = self.slots.drain(..).flatten().collect();
        self.slots = Vec::new();
        tasks
    }
}
