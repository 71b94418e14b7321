//! Deadlock analysis: can anything still wake any task of a loop's tree?
//!
//! The loop runs this when it is about to park with nothing pending that it knows will
//! wake it (no timer). A task (or the root) *can be woken* if it is queued, or if some
//! clone of its waker is held by something that is not one of duet's *internal waits*:
//!
//! - a join handle of a task of the same loop (it fires only when that task ends);
//! - a scope opened in the task (it fires only when one of its own tasks is woken);
//! - a limiter slot, if every held slot of that limiter belongs to a task of this loop
//!   (it fires only when one of those tasks releases its slot).
//!
//! Each internal wait a task reported at its last poll (see `waits`) holds exactly one
//! clone of the task's waker, so the clones beyond them are *external*: another thread,
//! a timer, a channel, a completable future, an I/O driver. If no task of the tree, and
//! not the root, has an external clone or is queued, then nothing outside the tree can
//! wake it and nothing inside can run: the tree is deadlocked.
//!
//! No false positives by construction, with one documented exception: every clone that
//! is not accounted for by an internal wait counts as a possible waker, even one that will
//! never fire. The exception is a limiter whose capacity some other thread would raise to
//! release a task: duet assumes nobody does that to resolve a deadlock.

use std::collections::HashSet;
use std::rc::Rc;
use std::sync::Arc;

use super::core::{Phase, ScopeCore};
use super::table::HeldBy;
use super::waits::Wait;

/// The loop's root task, as the analysis needs it.
pub(crate) struct RootView<'a> {
    pub(crate) held: HeldBy,
    pub(crate) waits: &'a [Wait],
}

/// True if no task of the loop `loop_id` (whose live scopes are `scopes`) and not its
/// root can be woken any more.
pub(crate) fn is_deadlocked(loop_id: u64, root: RootView<'_>, scopes: &[Rc<ScopeCore>]) -> bool {
    if can_be_woken(loop_id, root.held, root.waits) {
        return false;
    }
    for scope in scopes {
        if scope.phase.get() == Phase::Finished {
            continue;
        }
        if scope.signal.has_remote_handles() {
            return false; // another thread may cancel it
        }
        let body = scope.body.borrow();
        if !body.done {
            match scope.body_held_by() {
                None => return false, // being polled: it is running
                Some(held) if can_be_woken(loop_id, held, &body.waits) => return false,
                Some(_) => {}
            }
        }
        drop(body);
        for view in scope.tasks.borrow().views(scope.id()) {
            match view.held_externally {
                None => return false,
                Some(held) if can_be_woken(loop_id, held, &view.waits) => return false,
                Some(_) => {}
            }
        }
    }
    true
}

fn can_be_woken(loop_id: u64, held: HeldBy, waits: &[Wait]) -> bool {
    held.queued || held.clones > internal_waits(loop_id, waits)
}

/// How many clones of a task's waker its internal waits hold. A wait reported twice in
/// one poll (the same future polled twice) holds one clone, so waits are counted once
/// per identity.
fn internal_waits(loop_id: u64, waits: &[Wait]) -> usize {
    #[derive(PartialEq, Eq, Hash)]
    enum Identity {
        Join(*const ScopeCore, u32),
        Scope(*const ScopeCore),
        Limiter(*const (), u32),
    }
    let mut seen = HashSet::new();
    waits
        .iter()
        .filter(|wait| match wait {
            Wait::Join { scope, index } => {
                scope.strong_count() > 0 && seen.insert(Identity::Join(scope.as_ptr(), *index))
            }
            Wait::Scope(scope) => {
                scope.strong_count() > 0 && seen.insert(Identity::Scope(scope.as_ptr()))
            }
            Wait::Limiter { limiter, key, .. } => {
                let id = Arc::as_ptr(limiter) as *const ();
                limiter.blocks_only(loop_id) && seen.insert(Identity::Limiter(id, *key))
            }
            Wait::Sleep(_) | Wait::External(_) => false,
        })
        .count()
}
