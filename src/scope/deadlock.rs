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
//! - a timer, while the loop's virtual clock is frozen by a [`ClockHold`](crate::ClockHold)
//!   and nothing advances it (the hold is `!Send`: only a task of the loop can release it).
//!
//! Each internal wait a task reported at its last poll (see `waits`) holds exactly one
//! clone of the task's waker, so the clones beyond them are *external*: another thread,
//! a timer, a channel, a completable future, an I/O driver. If no task of the tree, and
//! not the root, has an external clone or is queued, then nothing outside the tree can
//! wake it and nothing inside can run: the tree is deadlocked.
//!
//! No false positives: every clone that is not accounted for by an internal wait counts
//! as a possible waker, even one that will never fire. That is why a limiter wait is
//! never internal: a [`Slot`](crate::Slot) is `Send`, and a slot that looks held by a
//! stuck task may be on another thread, about to be released. Nor is a join handle or
//! scope of another loop (a scope future continued by a later `run`): this loop's
//! analysis cannot see that scope's tasks.

use std::collections::HashSet;
use std::rc::{Rc, Weak};
use std::time::Instant;

use super::core::{Phase, ScopeCore};
use super::table::HeldBy;
use super::waits::Wait;

/// The loop's root task, as the analysis needs it.
pub(crate) struct RootView<'a> {
    pub(crate) held: HeldBy,
    pub(crate) waits: &'a [Wait],
}

/// What the analysis knows about the loop it runs for.
#[derive(Clone, Copy)]
pub(crate) struct LoopView {
    pub(crate) id: u64,
    /// The loop's virtual clock is frozen: its timers cannot fire.
    pub(crate) frozen: bool,
}

/// True if no task of the loop (whose live scopes are `scopes`) and not its root can be
/// woken any more.
pub(crate) fn is_deadlocked(
    this_loop: LoopView,
    root: RootView<'_>,
    scopes: &[Rc<ScopeCore>],
) -> bool {
    if can_be_woken(this_loop, root.held, root.waits) {
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
                Some(held) if can_be_woken(this_loop, held, &body.waits) => return false,
                Some(_) => {}
            }
        }
        drop(body);
        for view in scope.tasks.borrow().views(scope.id()) {
            match view.held_externally {
                None => return false,
                Some(held) if can_be_woken(this_loop, held, &view.waits) => return false,
                Some(_) => {}
            }
        }
    }
    true
}

fn can_be_woken(this_loop: LoopView, held: HeldBy, waits: &[Wait]) -> bool {
    held.queued || held.clones > internal_waits(this_loop, waits)
}

/// How many clones of a task's waker its internal waits hold. A wait reported twice in
/// one poll (the same future polled twice) holds one clone, so waits are counted once
/// per identity.
fn internal_waits(this_loop: LoopView, waits: &[Wait]) -> usize {
    #[derive(PartialEq, Eq, Hash)]
    enum Identity {
        Join(*const ScopeCore, u32),
        Scope(*const ScopeCore),
        Sleep(Instant),
    }
    let driven_here = |scope: &Weak<ScopeCore>| {
        scope
            .upgrade()
            .is_some_and(|scope| scope.loop_id() == this_loop.id)
    };
    let mut seen = HashSet::new();
    waits
        .iter()
        .filter(|wait| match wait {
            Wait::Join { scope, index } => {
                driven_here(scope) && seen.insert(Identity::Join(scope.as_ptr(), *index))
            }
            Wait::Scope(scope) => {
                driven_here(scope) && seen.insert(Identity::Scope(scope.as_ptr()))
            }
            // Two sleeps of one task with the same deadline count once: conservative.
            Wait::Sleep(at) => this_loop.frozen && seen.insert(Identity::Sleep(*at)),
            Wait::Limiter { .. } | Wait::External(_) => false,
        })
        .count()
}
