//! The task set of one scope: a slab of type-erased tasks, each with its own waker.
//!
//! # Invariants
//!
//! 1. A slot holds a task from spawn until the task is ready or dropped; the driver takes
//!    the task out of its slot only for the duration of one poll.
//! 2. `generation` changes every time a slot is freed, so a stale [`TaskKey`] never
//!    addresses a later task.
//! 3. `held_count` is the number of live tasks whose `held` flag is set; a task is held
//!    from spawn until its first poll, then whenever its waker was held after its last
//!    poll (see [`WakerSlot::is_held`]).
//! 4. A slot's waker is reused by the next task only if nobody else holds a clone of it.
//! 5. A newly inserted task is queued in `spawned` (local to the scope's thread, no lock)
//!    with its waker's `queued` flag set; the driver drains `spawned` with the shared
//!    ready queue.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::core::TaskKey;
use super::join::{Completer, JoinState};
use super::output::TaskOutput;
use super::signal::Signal;
use super::waker::WakerSlot;
use crate::context::Values;

pub(crate) type PanicPayload = Box<dyn Any + Send + 'static>;

/// How a task ended, as far as its scope is concerned.
pub(crate) enum Exit<E> {
    Done,
    Failed(E),
    Panicked(PanicPayload),
}

/// A spawned task with its output type erased.
pub(crate) trait Task<E> {
    /// Polls the task, catching a panic as [`Exit::Panicked`].
    fn poll_task(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Exit<E>>;
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
}

struct Slot<'env, E> {
    task: Option<BoxedTask<'env, E>>,
    /// Taken out, with the task, for the duration of a poll.
    waker: Option<WakerSlot>,
    generation: u32,
    held: bool,
}

/// A task taken out of its slot for one poll.
pub(crate) struct Polling<'env, E> {
    pub(crate) index: u32,
    pub(crate) task: BoxedTask<'env, E>,
    pub(crate) waker: WakerSlot,
}

pub(crate) struct TaskSet<'env, E> {
    slots: Vec<Slot<'env, E>>,
    free: Vec<u32>,
    spawned: Vec<u32>,
    live: usize,
    held_count: usize,
}

impl<'env, E> TaskSet<'env, E> {
    pub(crate) fn new() -> Self {
        TaskSet {
            slots: Vec::new(),
            free: Vec::new(),
            spawned: Vec::new(),
            live: 0,
            held_count: 0,
        }
    }

    /// The key the next inserted task will get.
    pub(crate) fn next_key(&self) -> TaskKey {
        match self.free.last() {
            Some(&index) => TaskKey {
                index,
                generation: self.slots[index as usize].generation,
            },
            None => TaskKey {
                index: u32::try_from(self.slots.len())
                    .ok()
                    .filter(|&i| i < u32::MAX - 1)
                    .expect("duet: a scope cannot hold more than u32::MAX - 2 tasks"),
                generation: 0,
            },
        }
    }

    /// Stores a task under [`next_key`](Self::next_key) and queues it for its first poll.
    pub(crate) fn insert(&mut self, task: BoxedTask<'env, E>, signal: &Arc<Signal>) -> TaskKey {
        let key = self.next_key();
        if self.free.pop().is_some() {
            let slot = &mut self.slots[key.index as usize];
            let reusable = slot.waker.as_ref().is_some_and(WakerSlot::is_unshared);
            if !reusable {
                slot.waker = Some(WakerSlot::new(signal.clone(), key.index));
            }
            slot.task = Some(task);
            slot.held = true;
        } else {
            self.slots.push(Slot {
                task: Some(task),
                waker: Some(WakerSlot::new(signal.clone(), key.index)),
                generation: 0,
                held: true,
            });
        }
        let waker = self.slots[key.index as usize].waker.as_ref();
        if waker.is_some_and(WakerSlot::mark_queued) {
            self.spawned.push(key.index);
        }
        self.live += 1;
        self.held_count += 1;
        key
    }

    /// Appends the tasks spawned since the last call to `batch`.
    pub(crate) fn take_spawned(&mut self, batch: &mut Vec<u32>) {
        batch.append(&mut self.spawned);
    }

    pub(crate) fn has_spawned(&self) -> bool {
        !self.spawned.is_empty()
    }

    /// Takes a queued task out of its slot for polling. `None` when the queue entry is
    /// stale (the task ended or was already polled since it was queued).
    pub(crate) fn start_poll(&mut self, index: u32) -> Option<Polling<'env, E>> {
        let slot = self.slots.get_mut(index as usize)?;
        // Consuming an entry always clears the flag, even when the task it was for has
        // since been removed: a later task reusing this slot and waker must be able to
        // queue itself again.
        if !slot.waker.as_ref()?.take_queued() {
            return None;
        }
        let task = slot.task.take()?;
        let waker = slot.waker.take()?;
        if slot.held {
            slot.held = false;
            self.held_count -= 1;
        }
        Some(Polling { index, task, waker })
    }

    /// Puts a still-pending task back, recording whether its waker is held elsewhere.
    pub(crate) fn finish_pending(&mut self, polled: Polling<'env, E>, stuck_holds: usize) {
        let Polling { index, task, waker } = polled;
        let slot = &mut self.slots[index as usize];
        slot.held = waker.is_held(stuck_holds);
        if slot.held {
            self.held_count += 1;
        }
        slot.task = Some(task);
        slot.waker = Some(waker);
    }

    /// Frees the slot of a task that is ready (its box is returned to be dropped by the
    /// caller, outside any borrow of the set).
    pub(crate) fn finish_ready(&mut self, polled: Polling<'env, E>) -> BoxedTask<'env, E> {
        let Polling { index, task, waker } = polled;
        self.slots[index as usize].waker = Some(waker);
        self.release(index);
        task
    }

    /// Removes the task under `key`, if it is still live and not being polled.
    pub(crate) fn remove(&mut self, key: TaskKey) -> Option<BoxedTask<'env, E>> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        let task = slot.task.take()?;
        if slot.held {
            slot.held = false;
            self.held_count -= 1;
        }
        self.release(key.index);
        Some(task)
    }

    fn release(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(index);
        self.live -= 1;
    }

    /// Removes every task, for teardown; the caller drops them outside any borrow.
    pub(crate) fn drain(&mut self) -> Vec<BoxedTask<'env, E>> {
        let tasks = self
            .slots
            .iter_mut()
            .filter_map(|slot| slot.task.take())
            .collect();
        self.slots.clear();
        self.free.clear();
        self.spawned.clear();
        self.live = 0;
        self.held_count = 0;
        tasks
    }

    pub(crate) fn live(&self) -> usize {
        self.live
    }

    pub(crate) fn held_count(&self) -> usize {
        self.held_count
    }
}
