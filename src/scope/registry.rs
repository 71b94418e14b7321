//! The registry of scopes: every scope a loop drives, for the task-tree dump and the
//! deadlock analysis; and, in a loop that Ctrl-C may interrupt, its root scopes.
//!
//! `run` makes one [`Registry`] per loop and enters it ([`EnterRegistry`]) for the length
//! of the call, as it enters the loop itself (`current::loops`); a nested `run` enters
//! its own. A scope registers in the current registry when it opens, and again when a
//! loop other than the last one polls it (`ScopeCore::follow_polling_loop`). Wait reports
//! name scopes by id (`current::waits`); the dump and the deadlock analysis resolve those
//! ids among [`Registry::live_scopes`].
//!
//! A loop started with `Config::cancel_on_ctrl_c` (and every loop nested in one) has
//! [`RootScopes`]: the scopes its root task polls directly adopt it as they open
//! ([`adopt_if_root_scope`]), and the runtime's signal thread interrupts it
//! (`runtime::interrupt`), which cancels them with `CancelReason::Interrupted`.
//!
//! # Invariants
//!
//! 1. The current registry is the innermost active `run`'s, or none (outside every loop,
//!    and while a simulation runs an offloaded job); every change is undone by a guard,
//!    on return or unwind.
//! 2. Every live scope whose `loop_id` is a loop's id is in that loop's registry: it
//!    registered when it opened under the loop or moved to it. The registry holds weak
//!    references only, so it keeps no scope alive; dead ones are pruned as it grows.
//! 3. Root scopes are interrupted at most once; root scopes that adopt them afterwards
//!    are cancelled on arrival.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::core::ScopeCore;
use super::signal::Signal;
use crate::CancelReason;
use crate::cancel::request::Grace;
use crate::current::loops::polled_by_root;

thread_local! {
    /// The registry of the innermost loop on this thread (none outside every loop).
    static CURRENT: RefCell<Option<Rc<Registry>>> = const { RefCell::new(None) };
}

/// Every scope opened under one loop, or moved to it.
#[derive(Debug)]
pub(crate) struct Registry {
    scopes: RefCell<Vec<Weak<ScopeCore>>>,
    /// The loop's root scopes, if Ctrl-C may interrupt it.
    roots: Option<Arc<RootScopes>>,
}

impl Registry {
    /// The registry of a new loop; `roots` if Ctrl-C may interrupt it.
    pub(crate) fn new(roots: Option<Arc<RootScopes>>) -> Self {
        Registry {
            scopes: RefCell::new(Vec::new()),
            roots,
        }
    }

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

/// Called by every scope as it opens: a scope polled directly by an interruptible loop is
/// one of its root scopes, which Ctrl-C cancels.
pub(crate) fn adopt_if_root_scope(scope: &Arc<Signal>) {
    CURRENT.with(|c| {
        if let Some(roots) = c.borrow().as_ref().and_then(|r| r.roots.as_ref()) {
            if polled_by_root() {
                roots.adopt(scope);
            }
        }
    });
}

/// True if Ctrl-C may interrupt the innermost loop on this thread.
pub(crate) fn is_interruptible() -> bool {
    CURRENT.with(|c| c.borrow().as_ref().is_some_and(|r| r.roots.is_some()))
}

/// The root scopes of a loop that Ctrl-C may interrupt (shared with the signal thread).
#[derive(Debug, Default)]
pub(crate) struct RootScopes {
    interrupted: AtomicBool,
    state: Mutex<RootState>,
}

#[derive(Debug, Default)]
struct RootState {
    root_scopes: Vec<std::sync::Weak<Signal>>,
    /// True if the interrupt cancelled at least one live root scope.
    reached_a_scope: bool,
}

impl RootScopes {
    fn state(&self) -> MutexGuard<'_, RootState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the loop interrupted and cancels its live root scopes.
    #[cfg(feature = "ctrl-c")]
    pub(crate) fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        let mut state = self.state();
        for scope in state
            .root_scopes
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .collect::<Vec<_>>()
        {
            scope.cancel(CancelReason::Interrupted, Grace::Default);
            state.reached_a_scope = true;
        }
    }

    /// True once the loop was interrupted.
    #[cfg(feature = "ctrl-c")]
    pub(crate) fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// A scope polled directly by the loop: Ctrl-C cancels it (at once if the loop was
    /// interrupted already).
    pub(crate) fn adopt(&self, scope: &Arc<Signal>) {
        let mut state = self.state();
        state.root_scopes.retain(|s| s.strong_count() > 0);
        state.root_scopes.push(Arc::downgrade(scope));
        if self.interrupted.load(Ordering::SeqCst) {
            scope.cancel(CancelReason::Interrupted, Grace::Default);
            state.reached_a_scope = true;
        }
    }

    /// True once an interrupt arrived that no root scope could take: the loop must drop
    /// its root itself.
    pub(crate) fn interrupted_without_scope(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst) && !self.state().reached_a_scope
    }
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
