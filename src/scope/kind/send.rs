//! The cells of a Send scope (`duet::send::scope`): `Arc`, and mutex-backed cells with
//! the methods of `Cell` and `RefCell`, so that the same scope code compiles to a scope
//! whose handle, join handles and future are `Send` (see `kind/mod.rs`). The mutexes are
//! `crate::sync`'s, so the loom model explores a Send scope's cross-thread paths.
//!
//! # Invariants
//!
//! 1. No guard of a [`RefCell`] here is held while user code runs, nor while a waker is
//!    woken: the scope code's rule for `RefCell` borrows (`design/scopes.md`, Rounds).
//!    Breaking it would deadlock here where a `RefCell` panics, so the scope code takes
//!    these guards only in statements that call duet's own code.
//! 2. A poisoned mutex is used as is ([`PoisonError::into_inner`]): a panic that unwound
//!    through a guard is reported by the scope like any task panic, and the state it
//!    guards is kept consistent by the same code that keeps a `RefCell`'s consistent.

use std::sync::{Arc, PoisonError, TryLockError};

use crate::sync::{Mutex, MutexGuard};

pub(crate) use std::sync::Arc as Shared;

use super::signal::Signal;
use crate::current::ScopeCell;

/// A `Cell` that may be shared between threads: a mutex held only inside each call.
#[derive(Debug, Default)]
pub(crate) struct Cell<T>(Mutex<T>);

impl<T> Cell<T> {
    pub(crate) fn new(value: T) -> Self {
        Cell(Mutex::new(value))
    }

    fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set(&self, value: T) {
        drop(self.replace(value));
    }

    pub(crate) fn replace(&self, value: T) -> T {
        std::mem::replace(&mut *self.lock(), value)
    }

    pub(crate) fn get(&self) -> T
    where
        T: Copy,
    {
        *self.lock()
    }
}

impl<T> ScopeCell<T> for Cell<T> {
    fn replace(&self, value: T) -> T {
        Cell::replace(self, value)
    }

    fn get(&self) -> T
    where
        T: Copy,
    {
        Cell::get(self)
    }
}

/// A `RefCell` that may be shared between threads: `borrow` and `borrow_mut` both lock
/// its mutex (no two borrows may overlap, shared or not; see invariant 1).
#[derive(Debug, Default)]
pub(crate) struct RefCell<T>(Mutex<T>);

pub(crate) type RefMut<'a, T> = MutexGuard<'a, T>;

impl<T> RefCell<T> {
    pub(crate) fn new(value: T) -> Self {
        RefCell(Mutex::new(value))
    }

    pub(crate) fn borrow(&self) -> RefMut<'_, T> {
        self.borrow_mut()
    }

    pub(crate) fn borrow_mut(&self) -> RefMut<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The guard if no other borrow is alive (`Err(())` if one is).
    pub(crate) fn try_borrow(&self) -> Result<RefMut<'_, T>, ()> {
        match self.0.try_lock() {
            Ok(guard) => Ok(guard),
            Err(TryLockError::Poisoned(poisoned)) => Ok(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => Err(()),
        }
    }
}

/// What a task, its value and the scope's error type must also be to belong to a Send
/// scope: `Send`, since the scope (and with it every task) may move to another thread
/// between two polls.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent between threads safely, and a Send scope's tasks, their values and its error type must be `Send`",
    label = "not `Send`",
    note = "a `duet::send` scope may move between threads with everything in it; for `!Send` work use `duet::scope` (a local scope), which is itself `!Send`"
)]
pub trait Spawnable: Send {}

impl<T: ?Sized + Send> Spawnable for T {}

/// Send scopes' handles are `Send` and `Sync` when their type parameters are.
pub(crate) type ThreadBound = std::marker::PhantomData<()>;

pub(crate) const THREAD_BOUND: ThreadBound = std::marker::PhantomData;

/// Registers a Send scope in the current loop's registry, if it opens (or moves) under
/// `duet::run`: dumps show it, and the deadlock analysis reads it, with its remote
/// handles counted as possible wakers (see [`RemoteMark`]).
pub(crate) fn register(core: &Shared<super::core::ScopeCore>, moved: super::registry::Moved) {
    super::registry::register_send_scope(core, moved);
}

/// The registry a Send detached root keeps of its tree (see `registry`), which moves
/// between threads with it.
pub(crate) type DetachedTree = Shared<super::registry::SendTree>;

pub(crate) type EnteredTree = super::registry::EnterSendTree;

pub(crate) fn new_detached_tree(root: &Shared<super::core::ScopeCore>) -> DetachedTree {
    let tree = Shared::new(super::registry::SendTree::default());
    tree.register_root(root);
    tree
}

pub(crate) fn enter_detached_tree(tree: &DetachedTree) -> EnteredTree {
    super::registry::EnterSendTree::new(tree.clone())
}

/// A Send scope never counts a stuck hold on its poller's waker: it may move to another
/// thread (or be dropped there) within the very poll of the task that counted the hold,
/// and `current::retract_stuck_hold` runs on that thread, where the counting frame is
/// not found, so the hold would stay counted for a clone the scope no longer keeps and
/// the task (or the root) would look unreachable while a thread still holds its waker
/// (`tests/review_send_deadlock.rs`). Stuck Send scopes are found by level 2 of the
/// analysis, which reads the registry's snapshots as they are.
pub(crate) const COUNTS_STUCK_HOLDS: bool = false;

/// Marks a handle of a Send scope that may be on another thread: a join handle, or a
/// `Scope` other than the driver's own (the body's included: a body may hand its own
/// handle to a thread). Each counts in `Signal::remote_handles` while it lives, as a
/// `CancelHandle` does, because any of them can spawn into the scope or cancel a task
/// from wherever it is, and nothing records where a value moved: a scope with one is
/// never reported stuck (no false deadlock), whatever its tasks wait on.
///
/// The mark gives its count back in its own `Drop` (it keeps the signal for that), so
/// that the handles themselves have no `Drop` impl: one on `JoinHandle<T>` or `Scope`
/// would make the drop checker require `T` and `'env` to outlive every handle, which
/// rejects code that compiles with a local scope's handles (a join handle of a value
/// borrowing data declared after the handle).
pub(crate) struct RemoteMark(Option<Arc<Signal>>);

impl RemoteMark {
    pub(crate) fn counted(signal: &Arc<Signal>) -> Self {
        signal.add_remote_handle();
        RemoteMark(Some(signal.clone()))
    }

    pub(crate) fn uncounted() -> Self {
        RemoteMark(None)
    }
}

impl Drop for RemoteMark {
    fn drop(&mut self) {
        if let Some(signal) = &self.0 {
            signal.remove_remote_handle();
        }
    }
}
