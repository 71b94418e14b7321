//! The lifetime-free half of a scope's task set: each task's identity, waker and flags.
//!
//! The task futures themselves borrow `'env` data, so they live apart, in
//! `ScopeInner<'env, E>` (see `tasks`); everything else about a task lives here, in the
//! scope's `ScopeCore`, where lifetime-free code (join handles, the task-tree dump, the
//! deadlock analysis) can read it.
//!
//! # Invariants
//!
//! 1. A slot is `live` from insert until the task is released (ready, removed through its
//!    handle, or dropped at teardown); its future is in the futures table exactly while
//!    it is live and not being polled. A slot is freed only once its future is out of
//!    the futures table, or in the same borrow of this table that takes it out, or while
//!    the scope tears down (when no spawn is inserted): a Send scope's `spawn` on another
//!    thread takes the first free slot under a borrow of this table.
//! 2. `generation` changes every time a slot is released, so a stale [`TaskKey`] never
//!    addresses a later task.
//! 3. `held_count` (`shielded_count`) is the number of live tasks whose `held`
//!    (`shielded`) flag is set. A task is held from insert until its first poll, then
//!    whenever its waker was held after its last poll (see [`WakerSlot::is_held`]); it
//!    is shielded when its last poll left it suspended inside a shield. A task cancelled
//!    by its join handle while shielded is `doomed`: the first poll that leaves it
//!    unshielded says so, and the driver drops it.
//! 4. A slot's waker is reused by the next task only if nobody else holds a clone of it.
//! 5. A newly inserted task is queued in `spawned` (local to the scope's thread, no lock)
//!    with its waker's `queued` flag set; the driver drains `spawned` with the shared
//!    ready queue. Consuming any queue entry clears the slot's `queued` flag.

use std::collections::HashMap;
use std::panic::Location;
use std::sync::Arc;

use super::signal::Signal;
use super::status::{TaskCancel, TaskKey};
use super::waker::WakerSlot;
use crate::TaskRef;
use crate::current::FrameReport;
use crate::current::HeldBy;
use crate::current::waits::{Wait, Waits};

/// How many tasks a scope's tables hold before they first grow.
pub(crate) const FIRST_CAPACITY: usize = 16;

struct TaskMeta {
    /// Taken out for the duration of a poll.
    waker: Option<WakerSlot>,
    generation: u32,
    live: bool,
    held: bool,
    shielded: bool,
    /// Its join handle (or `Scope::cancel_tasks`) cancelled it while it was suspended
    /// inside a shield: it is dropped as soon as a poll leaves it suspended outside.
    doomed: Option<TaskCancel>,
    location: &'static Location<'static>,
    /// What the task waits on, if its last poll reported anything (see `waits`). Kept in
    /// the slot, not in a map: every sleeping or queued task reports, and a map's hashing
    /// and cache misses were a third of the cost of a queued limiter acquire.
    waits: Waits,
}

// One cache line per task, and within glibc's small-allocation cache when the table grows.
const _: () = assert!(std::mem::size_of::<TaskMeta>() <= 64);

pub(crate) struct TaskTable {
    slots: Vec<TaskMeta>,
    free: Vec<u32>,
    spawned: Vec<u32>,
    live: usize,
    held_count: usize,
    shielded_count: usize,
    /// Names of the tasks spawned with a name (most are not).
    names: HashMap<u32, Arc<str>>,
}

/// A snapshot of one task, for the task-tree dump and the deadlock analysis.
pub(crate) struct TaskView {
    pub(crate) index: u32,
    pub(crate) task: TaskRef,
    /// `None` while the task is being polled.
    pub(crate) held_externally: Option<HeldBy>,
    pub(crate) shielded: bool,
    pub(crate) waits: Vec<Wait>,
    /// The waker (data pointer) its join handle would wake (0: none known).
    pub(crate) join_waiter: usize,
}

/// What [`TaskTable::cancel`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cancel {
    /// Released: drop its future now.
    Released,
    /// Suspended inside a shield: it is dropped when a poll leaves it outside.
    Deferred,
    /// Already finished (or a stale key).
    Gone,
}

impl TaskTable {
    pub(crate) fn new() -> Self {
        TaskTable {
            slots: Vec::new(),
            free: Vec::new(),
            spawned: Vec::new(),
            live: 0,
            held_count: 0,
            shielded_count: 0,
            names: HashMap::new(),
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

    /// Registers a task under [`next_key`](Self::next_key) and queues it for its first
    /// poll.
    pub(crate) fn insert(
        &mut self,
        signal: &Arc<Signal>,
        location: &'static Location<'static>,
        name: Option<Arc<str>>,
    ) -> TaskKey {
        let key = self.next_key();
        if self.free.pop().is_some() {
            let slot = &mut self.slots[key.index as usize];
            match &slot.waker {
                Some(waker) if waker.is_unshared() => waker.clear_join_waiter(),
                _ => slot.waker = Some(WakerSlot::new(signal.clone(), key.index)),
            }
            slot.live = true;
            slot.held = true;
            slot.shielded = false;
            slot.doomed = None;
            slot.location = location;
        } else {
            if self.slots.capacity() == 0 {
                self.reserve_first();
            }
            self.slots.push(TaskMeta {
                waker: Some(WakerSlot::new(signal.clone(), key.index)),
                generation: 0,
                live: true,
                held: true,
                shielded: false,
                doomed: None,
                location,
                waits: Waits::default(),
            });
        }
        if let Some(name) = name {
            self.names.insert(key.index, name);
        }
        let waker = self.slots[key.index as usize].waker.as_ref();
        if waker.is_some_and(WakerSlot::mark_queued) {
            self.spawned.push(key.index);
        }
        self.live += 1;
        self.held_count += 1;
        key
    }

    /// Sizes the tables for a first few tasks at once: growing a `Vec` from 4 to 8 to 16
    /// costs a reallocation and a copy each time, which was a sixth of the instructions
    /// of a tree of small scopes (`benches/compare`, nested).
    #[cold]
    fn reserve_first(&mut self) {
        self.slots.reserve_exact(FIRST_CAPACITY);
        self.free.reserve_exact(FIRST_CAPACITY);
        self.spawned.reserve_exact(FIRST_CAPACITY);
    }

    /// Appends the tasks spawned since the last call to `batch`.
    pub(crate) fn take_spawned(&mut self, batch: &mut Vec<u32>) {
        batch.append(&mut self.spawned);
    }

    pub(crate) fn has_spawned(&self) -> bool {
        !self.spawned.is_empty()
    }

    /// Starts a poll of a queued task: takes its waker out. `None` when the queue entry
    /// is stale (the task ended, or was already polled since it was queued).
    pub(crate) fn start_poll(&mut self, index: u32) -> Option<WakerSlot> {
        let slot = self.slots.get_mut(index as usize)?;
        if !slot.waker.as_ref()?.take_queued() || !slot.live {
            return None;
        }
        if slot.held {
            slot.held = false;
            self.held_count -= 1;
        }
        slot.waker.take()
    }

    /// Ends the poll of a task that is still pending, keeping what it waits on. `Some`
    /// (who cancelled it) if the task must be dropped now: it was cancelled inside a
    /// shield and has left it.
    pub(crate) fn finish_pending(
        &mut self,
        index: u32,
        waker: WakerSlot,
        report: FrameReport,
        waits: Option<Waits>,
    ) -> Option<TaskCancel> {
        let slot = &mut self.slots[index as usize];
        match waits {
            Some(waits) => slot.waits = waits,
            None => slot.waits.clear(),
        }
        slot.held = waker.is_held(report.stuck_holds);
        self.held_count += usize::from(slot.held);
        if slot.shielded != report.shielded {
            slot.shielded = report.shielded;
            if report.shielded {
                self.shielded_count += 1;
            } else {
                self.shielded_count -= 1;
            }
        }
        slot.waker = Some(waker);
        slot.doomed.filter(|_| !slot.shielded)
    }

    /// Ends the poll of a task that is ready, and releases its slot.
    pub(crate) fn finish_ready(&mut self, index: u32, waker: WakerSlot) {
        self.slots[index as usize].waker = Some(waker);
        self.release(index);
    }

    /// A join handle's cancellation of the task under `key`: releases the task if it is
    /// live, suspended and not shielded (the caller then drops it). A shielded one, or one
    /// being polled (it cancelled itself through its own handle), is only marked, to be
    /// dropped once a poll leaves it suspended outside a shield.
    pub(crate) fn cancel(&mut self, key: TaskKey, by: TaskCancel) -> Cancel {
        match self.slots.get_mut(key.index as usize) {
            Some(slot) if slot.live && slot.generation == key.generation => {
                if slot.shielded || slot.waker.is_none() {
                    slot.doomed = Some(by);
                    Cancel::Deferred
                } else {
                    self.release(key.index);
                    Cancel::Released
                }
            }
            _ => Cancel::Gone,
        }
    }

    /// Releases a live task that is not being polled.
    pub(crate) fn release(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        debug_assert!(slot.live);
        slot.live = false;
        slot.generation = slot.generation.wrapping_add(1);
        if slot.held {
            slot.held = false;
            self.held_count -= 1;
        }
        if slot.shielded {
            slot.shielded = false;
            self.shielded_count -= 1;
        }
        slot.waits.clear();
        // Most tasks have no name: skip the hashing then.
        if !self.names.is_empty() {
            self.names.remove(&index);
        }
        self.free.push(index);
        self.live -= 1;
    }

    /// Records the waker the join handle of the task under `key` registered.
    /// (Kept in the task's waker, which has room for it: the slot stays one cache line.)
    /// False if it could not be recorded: the task is being polled (its handle is polled
    /// from inside its own poll), so its waker is out of the slot.
    pub(crate) fn note_join_waiter(&self, key: TaskKey, waker: &std::task::Waker) -> bool {
        match self.slots.get(key.index as usize) {
            Some(slot) if slot.live && slot.generation == key.generation => match &slot.waker {
                Some(own) => {
                    own.set_join_waiter(waker);
                    true
                }
                None => false,
            },
            _ => true,
        }
    }

    /// The keys of the live tasks.
    pub(crate) fn live_keys(&self) -> impl Iterator<Item = TaskKey> + '_ {
        (0..)
            .zip(&self.slots)
            .filter(|(_, slot)| slot.live)
            .map(|(index, slot)| TaskKey {
                index,
                generation: slot.generation,
            })
    }

    /// Indices of the live tasks, with whether each is shielded.
    pub(crate) fn live_tasks(&self) -> impl Iterator<Item = (u32, bool)> + '_ {
        (0..)
            .zip(&self.slots)
            .filter(|(_, slot)| slot.live)
            .map(|(index, slot)| (index, slot.shielded))
    }

    /// Forgets every task (the scope has finished); their futures were dropped.
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.free.clear();
        self.spawned.clear();
        self.names.clear();
        self.live = 0;
        self.held_count = 0;
        self.shielded_count = 0;
    }

    /// Identifies a live task (for messages and reasons).
    pub(crate) fn task_ref(&self, scope: u64, index: u32) -> TaskRef {
        let slot = &self.slots[index as usize];
        TaskRef::task(scope, index, slot.location, self.names.get(&index).cloned())
    }

    /// Snapshots of the live tasks.
    pub(crate) fn views(&self, scope: u64) -> Vec<TaskView> {
        self.live_tasks()
            .map(|(index, shielded)| {
                let slot = &self.slots[index as usize];
                TaskView {
                    index,
                    task: self.task_ref(scope, index),
                    held_externally: slot.waker.as_ref().map(|w| HeldBy {
                        queued: w.is_queued(),
                        clones: w.clones(),
                        waker: w.waker().data() as usize,
                    }),
                    shielded,
                    waits: slot.waits.to_vec(),
                    join_waiter: slot.waker.as_ref().map_or(0, WakerSlot::join_waiter),
                }
            })
            .collect()
    }

    pub(crate) fn live(&self) -> usize {
        self.live
    }

    pub(crate) fn held_count(&self) -> usize {
        self.held_count
    }

    pub(crate) fn shielded_count(&self) -> usize {
        self.shielded_count
    }
}
