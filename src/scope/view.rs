//! What the task-tree dump and the deadlock analysis read of a live scope of either kind:
//! a [`ScopeSnapshot`], copied out of the scope's cells.
//!
//! A loop's registry holds scopes of both kinds (`duet::scope` and `duet::send`), which
//! are two types compiled from one source, as [`ScopeView`] trait objects. Both analyses
//! work on snapshots, so neither holds a borrow of a scope while it reads another cell of
//! it: a Send scope's cells are mutexes, where a nested borrow would deadlock instead of
//! succeeding, and another thread may be waiting for them.
//!
//! # Invariants
//!
//! 1. A snapshot is taken one cell at a time, so a scope another thread changes meanwhile
//!    may be seen as a mix of two moments. Only a Send scope can change on another thread
//!    than the one polling it, and only through a handle there (counted in
//!    `remote_handles`, which the analysis reads as "may be woken") or a task waker
//!    (counted in that task's `HeldBy`, as for a local scope). A snapshot is therefore
//!    only ever a reason to conclude "may still be woken", never a false "stuck".

use std::panic::Location;
use std::time::Instant;

use super::status::Phase;
use super::table::TaskView;
use crate::CancelReason;
use crate::current::HeldBy;
use crate::current::waits::Wait;

/// A scope as the registry sees it: something that can be snapshotted.
pub(crate) trait ScopeView {
    fn snapshot(&self) -> ScopeSnapshot;
}

/// One scope, as the dump and the deadlock analysis read it.
pub(crate) struct ScopeSnapshot {
    pub(crate) id: u64,
    pub(crate) location: &'static Location<'static>,
    /// The scope and task it was opened in: `(scope id, task index)`.
    pub(crate) parent: Option<(u64, u32)>,
    /// The `run` loop that polled it last (0: none).
    pub(crate) loop_id: u64,
    pub(crate) phase: Phase,
    pub(crate) cancel_reason: Option<CancelReason>,
    pub(crate) grace_until: Option<Instant>,
    pub(crate) deadline: Option<Instant>,
    /// A handle that may be on another thread is alive (a `CancelHandle`; for a Send
    /// scope also a join handle or a clone of its `Scope`): it may spawn or cancel.
    pub(crate) remote_handles: bool,
    /// The data pointer of the waker the scope wakes (whoever polled it last).
    pub(crate) registered: usize,
    /// The join records of its tasks may be stale (`ScopeCore::join_records_stale`).
    pub(crate) join_records_stale: bool,
    /// The body, unless it is done.
    pub(crate) body: Option<BodySnapshot>,
    /// Its live tasks, by index.
    pub(crate) tasks: Vec<TaskView>,
}

/// A scope's body, as the dump and the deadlock analysis read it.
pub(crate) struct BodySnapshot {
    /// Who holds its waker; `None` while it is being polled.
    pub(crate) held: Option<HeldBy>,
    pub(crate) shielded: bool,
    pub(crate) waits: Vec<Wait>,
}

impl ScopeSnapshot {
    /// The waker the join handle of task `index` would wake (0: none, or not a live task).
    pub(crate) fn join_waiter(&self, index: u32) -> usize {
        self.tasks
            .binary_search_by_key(&index, |task| task.index)
            .map_or(0, |found| self.tasks[found].join_waiter)
    }
}
