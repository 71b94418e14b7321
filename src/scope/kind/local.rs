//! The cells of a local scope (`duet::scope`): `Rc`, `Cell`, `RefCell`, and tasks that
//! need not be `Send`. The scope code compiled with these is the single-thread code duet
//! always had: not one atomic operation more (see `kind/mod.rs`).

pub(crate) use std::cell::{Cell, RefCell, RefMut};
pub(crate) use std::rc::Rc as Shared;

use std::sync::Arc;

use super::signal::Signal;

/// What a task, its value and the scope's error type must also be to belong to a local
/// scope: nothing.
pub trait Spawnable {}

impl<T: ?Sized> Spawnable for T {}

/// Keeps a local scope's handle, join handles and task sets `!Send` and `!Sync`,
/// whatever their type parameters: their cells are not thread-safe.
pub(crate) type ThreadBound = std::marker::PhantomData<*const ()>;

pub(crate) const THREAD_BOUND: ThreadBound = std::marker::PhantomData;

/// Registers a local scope in the current loop's registry (dumps show it, the deadlock
/// analysis reads it).
pub(crate) fn register(core: &Shared<super::core::ScopeCore>, moved: super::registry::Moved) {
    super::registry::register_local_scope(core, moved);
}

/// The registry a local detached root keeps of its tree (see `registry`): a loop's kind
/// of registry, entered as a loop's is.
pub(crate) type DetachedTree = Shared<super::registry::Registry>;

pub(crate) type EnteredTree = super::registry::EnterRegistry;

pub(crate) fn new_detached_tree(root: &Shared<super::core::ScopeCore>) -> DetachedTree {
    let tree = Shared::new(super::registry::Registry::new(None));
    tree.register_root(root);
    tree
}

pub(crate) fn enter_detached_tree(tree: &DetachedTree) -> EnteredTree {
    super::registry::EnterRegistry::new(Some(tree.clone()))
}

/// A stuck local scope counts a stuck hold on its poller's waker (level 1 of the
/// deadlock detection): it is polled, moved and dropped on the loop's thread only, where
/// a hold it counted is taken back if it moves on within the same poll.
pub(crate) const COUNTS_STUCK_HOLDS: bool = true;

/// Marks a handle that may be used from another thread (see `kind/send.rs`). A local
/// scope's handles are `!Send`: none ever is, so the mark is empty, counts nothing and
/// has no `Drop` (nor do the handles that carry it: see `kind/send.rs`).
pub(crate) struct RemoteMark;

impl RemoteMark {
    #[inline]
    pub(crate) fn counted(_signal: &Arc<Signal>) -> Self {
        RemoteMark
    }

    #[inline]
    pub(crate) fn uncounted() -> Self {
        RemoteMark
    }
}
