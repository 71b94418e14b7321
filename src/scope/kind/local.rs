//! The cells of a local scope (`duet::scope`): `Rc`, `Cell`, `RefCell`, and tasks that
//! need not be `Send`. The scope code compiled with these is the single-thread code duet
//! always had: not one atomic operation more (see `kind/mod.rs`).

pub(crate) use std::cell::{Cell, RefCell, RefMut};
pub(crate) use std::rc::Rc as Shared;

/// What a task, its value and the scope's error type must also be to belong to a local
/// scope: nothing.
pub trait Spawnable {}

impl<T: ?Sized> Spawnable for T {}

/// Keeps a local scope's handle, join handles and task sets `!Send` and `!Sync`,
/// whatever their type parameters: their cells are not thread-safe.
pub(crate) type ThreadBound = std::marker::PhantomData<*const ()>;

pub(crate) const THREAD_BOUND: ThreadBound = std::marker::PhantomData;

/// Local scopes register in the loop's registry: dumps show them and the deadlock
/// analysis reads them.
pub(crate) const REGISTERED: bool = true;

pub(crate) fn register(core: &Shared<super::core::ScopeCore>) {
    super::registry::register_scope(core);
}
