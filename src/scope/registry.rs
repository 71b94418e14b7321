//! The registry of scopes: every scope a loop drives, for the task-tree dump and the
//! deadlock analysis.
//!
//! `run` makes one [`Registry`] per loop and enters it ([`EnterRegistry`]) for the length
//! of the call, as it enters the loop itself (`current::loops`); a nested `run` enters
//! its own. A scope registers in the current registry when it opens, and again when a
//! loop other than the last one polls it (`ScopeCore::follow_polling_loop`). Wait reports
//! name scopes by id (`current::waits`); the dump and the deadlock analysis resolve those
//! ids among [`Registry::live_scopes`].
//!
//! # Invariants
//!
//! 1. The current registry is the innermost active `run`'s, or none (outside every loop,
//!    and while a simulation runs an offloaded job); every change is undone by a guard,
//!    on return or unwind.
//! 2. Every live scope whose `loop_id` is a loop's id is in that loop's registry: it
//!    registered when it opened under the loop or moved to it. The registry holds weak
//!    references only, so it keeps no scope alive; dead ones are pruned as it grows.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use super::core::ScopeCore;

thread_local! {
    /// The registry of the innermost loop on this thread (none outside every loop).
    static CURRENT: RefCell<Option<Rc<Registry>>> = const { RefCell::new(None) };
}

/// Every scope opened under one loop, or moved to it.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    scopes: RefCell<Vec<Weak<ScopeCore>>>,
}

impl Registry {
    /// Records a scope driven by this registry's loop.
    pub(crate) fn register(&self, scope: &Rc<ScopeCore>) {
        let mut scopes = self.scopes.borrow_mut();
        if scopes.len() >= 32 && scopes.len().is_power_of_two() {
            scopes.retain(|s| s.strong_count() > 0);
        }
        scopes.push(Rc::downgrade(scope));
    }

    /// The scopes of this loop that are still alive, oldest first.
    pub(crate) fn live_scopes(&self) -> Vec<Rc<ScopeCore>> {
        let mut scopes = self.scopes.borrow_mut();
        scopes.retain(|s| s.strong_count() > 0);
        scopes.iter().filter_map(Weak::upgrade).collect()
    }
}

/// Records `scope` in the current loop's registry, if a loop runs on this thread.
pub(crate) fn register_scope(scope: &Rc<ScopeCore>) {
    CURRENT.with(|c| {
        if let Some(registry) = c.borrow().as_deref() {
            registry.register(scope);
        }
    });
}

/// The live scopes of the innermost loop on this thread; `None` outside every loop.
pub(crate) fn live_scopes() -> Option<Vec<Rc<ScopeCore>>> {
    CURRENT.with(|c| c.borrow().as_deref().map(Registry::live_scopes))
}

/// Makes `registry` (`None`: no loop's) the current one until dropped, then restores the
/// previous one.
pub(crate) struct EnterRegistry {
    previous: Option<Rc<Registry>>,
}

impl EnterRegistry {
    pub(crate) fn new(registry: Option<Rc<Registry>>) -> Self {
        EnterRegistry {
            previous: CURRENT.with(|c| c.replace(registry)),
        }
    }
}

impl Drop for EnterRegistry {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}
