//! Which scope and task are running on this thread right now.
//!
//! The scope driver makes its scope current for the whole of its poll and names the task
//! it polls; a shield marks the code it runs as shielded; `run` starts a new root. New
//! scopes read this to link to their parent (the cancellation tree), and
//! `duet::is_cancelled` / `duet::cancelled` read it to find the scope to observe.
//!
//! # Invariants
//!
//! 1. Every change is undone when the code that made it returns or unwinds.
//! 2. Inside a shield, the current scope's cancellation (and its ancestors') is not
//!    observable, and scopes opened there link to their parent as shielded.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use super::signal::{Observer, ParentLink, Signal};
use crate::CancelReason;
use crate::current::ScopeCell;

thread_local! {
    /// Why tasks are being dropped right now, if a scope is dropping them: a scope future
    /// dropped with its task reports it (as `CancelReason::Parent`).
    static DROPPING: Cell<Option<CancelReason>> = const { Cell::new(None) };
    /// The current scope's node in the cancellation tree (thread-safe: see `signal`).
    static SCOPE: RefCell<Option<Arc<Signal>>> = const { RefCell::new(None) };
    static IN_SHIELD: Cell<bool> = const { Cell::new(false) };
    /// `DROPPING` is `CancelReason::TasksCancelled`: kept apart so that a completer's
    /// drop, on every cancelled task, reads a flag rather than moves the reason out and
    /// back (45 instructions per task in the cancel benchmark).
    static DROPPING_FOR_CANCEL_TASKS: Cell<bool> = const { Cell::new(false) };
}

/// Restores the previous position when dropped.
pub(crate) struct Restore<'a, C: ScopeCell<Option<Arc<Signal>>> = Cell<Option<Arc<Signal>>>> {
    scope: Option<Arc<Signal>>,
    /// Where the entered scope's signal goes back to (see `enter_scope`).
    give_back: Option<&'a C>,
    in_shield: bool,
    dropping: Option<CancelReason>,
    dropping_for_cancel_tasks: bool,
}

impl<C: ScopeCell<Option<Arc<Signal>>>> Drop for Restore<'_, C> {
    fn drop(&mut self) {
        let entered = SCOPE.with(|s| s.replace(self.scope.take()));
        if let Some(cursor) = self.give_back.take() {
            cursor.replace(entered);
        }
        IN_SHIELD.with(|s| s.set(self.in_shield));
        if self.dropping.is_some() {
            DROPPING.with(|d| d.set(self.dropping.take()));
            DROPPING_FOR_CANCEL_TASKS.with(|d| d.set(self.dropping_for_cancel_tasks));
        }
    }
}

/// Makes `scope` current, outside any shield and any drop: code polled by a scope (or
/// by a new root) observes that scope's cancellation, even when the poll happens inside
/// the destructor of a task being dropped.
fn replace<'a, C: ScopeCell<Option<Arc<Signal>>>>(
    scope: Option<Arc<Signal>>,
    give_back: Option<&'a C>,
) -> Restore<'a, C> {
    Restore {
        scope: SCOPE.with(|s| s.replace(scope)),
        give_back,
        in_shield: IN_SHIELD.with(|s| s.replace(false)),
        dropping: DROPPING.with(Cell::take),
        dropping_for_cancel_tasks: DROPPING_FOR_CANCEL_TASKS.with(|d| d.replace(false)),
    }
}

/// Makes the scope whose signal is in `cursor` (`ScopeCore::cursor`) current until the
/// guard drops, moving the signal into the thread-local and back out: the scope keeps a
/// spare reference there, so entering costs no reference-count traffic (an atomic
/// increment and decrement per scope poll otherwise). `cursor` holds the signal again
/// once the guard drops, also on unwind. (Which of its tasks runs is in the poll frame,
/// set by the driver for each poll: see `current::frame`.)
pub(crate) fn enter_scope<C: ScopeCell<Option<Arc<Signal>>>>(cursor: &C) -> Restore<'_, C> {
    let signal = cursor.replace(None);
    debug_assert!(
        signal.is_some(),
        "a scope's cursor is entered once at a time"
    );
    replace(signal, Some(cursor))
}

/// Starts a new root (a `run` loop): no current scope until the guard drops.
pub(crate) fn enter_root() -> Restore<'static> {
    replace(None, None)
}

/// Runs `f` shielded from the current scope's cancellation.
pub(crate) fn shielded<R>(f: impl FnOnce() -> R) -> R {
    struct Unshield(bool);
    impl Drop for Unshield {
        fn drop(&mut self) {
            IN_SHIELD.with(|s| s.set(self.0));
        }
    }
    let _restore = Unshield(IN_SHIELD.with(|s| s.replace(true)));
    f()
}

/// The link a scope opened here gets to its parent.
pub(crate) fn parent_link() -> Option<ParentLink> {
    let signal = SCOPE.with(|s| s.borrow().clone())?;
    Some(ParentLink {
        signal,
        task: crate::current::current_index(),
        shielded: IN_SHIELD.with(Cell::get),
    })
}

/// The scope the code running now belongs to, unless it runs inside a shield.
fn observed_scope() -> Option<Arc<Signal>> {
    if IN_SHIELD.with(Cell::get) {
        return None;
    }
    SCOPE.with(|s| s.borrow().clone())
}

/// Why the code running now is being cancelled: its scope's reason, or
/// [`CancelReason::Parent`] with the reason of the nearest cancelled ancestor (the walk
/// stops at a shield).
pub(crate) fn observed_reason() -> Option<CancelReason> {
    if IN_SHIELD.with(Cell::get) {
        return None;
    }
    // A destructor of a task being cancelled (or of a future a cancelled task owned)
    // observes its own task's cancellation, whatever scope is polling right now.
    if let Some(reason) = dropping_reason() {
        return Some(reason);
    }
    // By reference down the chain of parent links (each signal owns its parent's): no
    // reference-count traffic, whatever the depth.
    SCOPE.with(|s| {
        let current = s.borrow();
        let mut scope: &Signal = current.as_deref()?;
        let mut own = true;
        loop {
            if let Some(reason) = scope.observed_reason() {
                return Some(if own { reason } else { reason.as_parent() });
            }
            let link = scope.parent()?;
            if link.shielded {
                return None;
            }
            scope = &link.signal;
            own = false;
        }
    })
}

/// Registers `observer` with every scope whose cancellation the running code can observe.
pub(crate) fn observe(observer: &Arc<Observer>) {
    let Some(mut scope) = observed_scope() else {
        return;
    };
    loop {
        scope.add_observer(observer);
        let next = match scope.parent() {
            Some(link) if !link.shielded => link.signal.clone(),
            _ => return,
        };
        scope = next;
    }
}

/// Runs `drop` (dropping a task's future) with `reason` as the reason tasks are dropped.
pub(crate) fn while_dropping<R>(reason: CancelReason, drop: impl FnOnce() -> R) -> R {
    struct Restore(Option<CancelReason>, bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            DROPPING.with(|d| d.set(self.0.take()));
            DROPPING_FOR_CANCEL_TASKS.with(|d| d.set(self.1));
        }
    }
    let for_cancel_tasks = reason == CancelReason::TasksCancelled;
    let _restore = Restore(
        DROPPING.with(|d| d.replace(Some(reason))),
        DROPPING_FOR_CANCEL_TASKS.with(|d| d.replace(for_cancel_tasks)),
    );
    drop()
}

/// True if the task being dropped now is dropped by `Scope::cancel_tasks`.
#[inline]
pub(crate) fn is_dropping_for_cancel_tasks() -> bool {
    DROPPING_FOR_CANCEL_TASKS.with(Cell::get)
}

/// The reason the enclosing scope is dropping the task being dropped now, if any.
pub(crate) fn dropping_reason() -> Option<CancelReason> {
    DROPPING.with(|d| {
        let reason = d.take();
        d.set(reason.clone());
        reason
    })
}
