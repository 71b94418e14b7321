//! Deadlock analysis: can anything still wake any task of a loop's tree?
//!
//! The loop runs this when it is about to park with nothing pending that it knows will
//! wake it (no timer). A task (or the root) *can be woken* if it is queued, or if some
//! clone of its waker is held by something that is not one of duet's *internal waits*:
//!
//! - a join handle of a task of a scope this loop drives (it fires only when that task
//!   ends);
//! - a scope opened in the task and driven by this loop (it fires only when one of its
//!   own tasks is woken, or a cancel handle is used, which the analysis checks);
//! - a [`TaskSet`](crate::TaskSet) whose scope this loop drives (it fires only when one
//!   of its tasks ends);
//! - a timer, while the loop's virtual clock is held by a [`ClockHold`](crate::ClockHold)
//!   and no `advance` reaches the next deadline (the hold is `!Send`: only a task of the
//!   loop can release it); counted from the loop's timer queue.
//!
//! Each internal wait a task reported at its last poll (see `current::waits`; the scopes
//! it names by id are looked up among snapshots of the loop's live scopes, `view`) that still holds the
//! task's very waker (checked: the join's registered waiter, the scope's registered parent
//! waker) holds exactly one clone of it, so the clones beyond them are *external*: another
//! thread, a timer, a channel, a completable future, an I/O driver. If no task of the tree, and
//! not the root, has an external clone or is queued, then nothing outside the tree can
//! wake it and nothing inside can run: the tree is deadlocked.
//!
//! No false positives: every clone that is not accounted for by an internal wait counts
//! as a possible waker, even one that will never fire. That is why a limiter wait is
//! never internal: a [`Slot`](crate::Slot) is `Send`, and a slot that looks held by a
//! stuck task may be on another thread, about to be released. Nor is a join handle or
//! scope of another loop (a scope future continued by a later `run`): this loop's
//! analysis cannot see that scope's tasks. And a scope with a handle that may be on
//! another thread (a [`CancelHandle`](crate::CancelHandle); for a
//! [`send`](crate::send) scope, also any join handle, task set or clone of its `Scope`,
//! the body's own included) is never stuck: that handle may spawn or cancel from there.
//! Send scopes therefore take part once their body has returned and nothing else holds a
//! handle to them; a join-handle cycle between tasks of a Send scope is not detected.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::status::Phase;
use super::view::ScopeSnapshot;
use crate::current::HeldBy;
use crate::current::waits::Wait;

/// The loop's root task, as the analysis needs it.
pub(crate) struct RootView<'a> {
    pub(crate) held: HeldBy,
    pub(crate) waits: &'a [Wait],
}

/// What the analysis knows about the loop it runs for.
pub(crate) struct LoopView {
    pub(crate) id: u64,
    /// When the loop's virtual clock cannot reach its next deadline before a task runs
    /// (`LoopTimers::frozen_timers`): how many of its timers each waker is registered in.
    pub(crate) frozen_timers: Option<HashMap<usize, usize>>,
}

/// True if no task of the loop (whose live scopes are `scopes`) and not its root can be
/// woken any more.
pub(crate) fn is_deadlocked(
    this_loop: &LoopView,
    root: RootView<'_>,
    scopes: &[ScopeSnapshot],
) -> bool {
    let ids: Ids<'_> = scopes.iter().map(|s| (s.id, s)).collect();
    if can_be_woken(this_loop, &ids, root.held, root.waits) {
        return false;
    }
    for scope in scopes {
        if scope.phase == Phase::Finished {
            continue;
        }
        if scope.remote_handles {
            return false; // another thread may cancel it, or spawn into it
        }
        if let Some(body) = &scope.body {
            match body.held {
                None => return false, // being polled: it is running
                Some(held) if can_be_woken(this_loop, &ids, held, &body.waits) => return false,
                Some(_) => {}
            }
        }
        for view in &scope.tasks {
            match view.held_externally {
                None => return false,
                Some(held) if can_be_woken(this_loop, &ids, held, &view.waits) => return false,
                Some(_) => {}
            }
        }
    }
    true
}

/// The loop's live scopes by id, to resolve the ids waits name.
type Ids<'a> = HashMap<u64, &'a ScopeSnapshot>;

fn can_be_woken(this_loop: &LoopView, ids: &Ids<'_>, held: HeldBy, waits: &[Wait]) -> bool {
    held.queued || held.clones > internal_holds(this_loop, ids, held.waker, waits)
}

/// How many clones of a task's waker (`waker`, its data pointer) are held by internal
/// waits. A report is only a hint: the future that made it may have been dropped or
/// handed to another task since (a join handle peeked at and passed on, a sleep that lost
/// a `select`), so each one counts only if the thing it names still holds this very
/// waker, and once per thing. Timers are counted from the timer queue itself.
fn internal_holds(this_loop: &LoopView, ids: &Ids<'_>, waker: usize, waits: &[Wait]) -> usize {
    #[derive(PartialEq, Eq, Hash)]
    enum Identity {
        Join(u64, u32),
        Scope(u64),
        Set(*const ()),
    }
    // A scope this loop drives is in its registry while it lives (it registers when it
    // opens in the loop or moves to it): the scopes not found are not driven here.
    let driven_here = |scope: &ScopeSnapshot| scope.loop_id == this_loop.id;
    let scope = |id: &u64| ids.get(id).copied();
    let mut seen = HashSet::new();
    let from_waits = waits
        .iter()
        .filter(|wait| match wait {
            Wait::Join { scope: id, index } => scope(id).is_some_and(|core| {
                driven_here(core)
                    && !core.join_records_stale
                    && core.join_waiter(*index) == waker
                    && seen.insert(Identity::Join(*id, *index))
            }),
            Wait::Scope(id) => scope(id).is_some_and(|core| {
                driven_here(core) && core.registered == waker && seen.insert(Identity::Scope(*id))
            }),
            // A set fires only when one of its tasks ends; they are tasks of its scope.
            Wait::Set(set) => set.upgrade().is_some_and(|set| {
                scope(&set.scope_id()).is_some_and(driven_here)
                    && set.registered() == waker
                    && seen.insert(Identity::Set(Arc::as_ptr(&set).cast::<()>()))
            }),
            Wait::Sleep(_) | Wait::Limiter { .. } | Wait::External(_) => false,
        })
        .count();
    let from_timers = this_loop
        .frozen_timers
        .as_ref()
        .and_then(|timers| timers.get(&waker).copied())
        .unwrap_or(0);
    from_waits + from_timers
}
