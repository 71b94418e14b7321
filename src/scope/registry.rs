//! The registry of scopes: every scope a loop drives, of either kind, for the task-tree
//! dump and the deadlock analysis; and, in a loop that Ctrl-C may interrupt, its root
//! scopes.
//!
//! `run` makes one [`Registry`] per loop and enters it ([`EnterRegistry`]) for the length
//! of the call, as it enters the loop itself (`current::loops`); a nested `run` enters
//! its own. A scope registers in the current registry when it opens, and again when a
//! loop other than the last one polls it (`ScopeCore::follow_polling_loop`). Local scopes
//! register as `Rc`s, Send scopes as `Arc`s, both seen through [`ScopeView`]. Wait
//! reports name scopes by id (`current::waits`); the dump and the deadlock analysis
//! resolve those ids among the [`Registry::snapshots`] of the live scopes.
//!
//! A *detached root* (a scope polled by a foreign executor, with no loop on the thread
//! and no enclosing scope: a tokio task, `block_on`) keeps a registry of its own tree and
//! enters it around each of its polls, so that `duet::dump()` called inside the tree
//! shows it: a local root an ordinary [`Registry`] (entered as a loop's is), a Send root
//! a [`SendTree`], which holds Send scopes only and moves between threads with the root.
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
//!    registered when it opened under the loop or moved to it, and is listed once (a
//!    scope moving back to a loop that listed it is not added again). The registry holds
//!    weak references only, so it keeps no scope alive; dead ones are pruned as it grows.
//! 3. Root scopes are interrupted at most once; root scopes that adopt them afterwards
//!    are cancelled on arrival.

use std::cell::RefCell;
use std::rc::{self, Rc};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{self as sync, Arc, Mutex, MutexGuard};

use super::signal::Signal;
use super::view::{ScopeSnapshot, ScopeView};
use crate::CancelReason;
use crate::cancel::request::Grace;
use crate::current::loops::polled_by_root;

thread_local! {
    /// The registry of the innermost loop on this thread (none outside every loop), or of
    /// the local detached root polled now.
    static CURRENT: RefCell<Option<Rc<Registry>>> = const { RefCell::new(None) };
    /// The registry of the Send detached root polled now, if no loop's is current.
    static SEND_TREE: RefCell<Option<Arc<SendTree>>> = const { RefCell::new(None) };
}

/// Every scope opened under one loop, or moved to it.
pub(crate) struct Registry {
    scopes: RefCell<Vec<Registered>>,
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
    fn register(&self, scope: Registered, moved: Moved) {
        let mut scopes = self.scopes.borrow_mut();
        if moved == Moved::Back && scopes.iter().any(|known| known.is(&scope)) {
            return;
        }
        if scopes.len() >= 32 && scopes.len().is_power_of_two() {
            scopes.retain(Registered::is_alive);
        }
        scopes.push(scope);
    }

    /// Records a local detached root in its own registry (it opened before the registry
    /// existed).
    pub(crate) fn register_root<S: ScopeView + 'static>(&self, root: &Rc<S>) {
        let weak: rc::Weak<dyn ScopeView> = Rc::<S>::downgrade(root);
        self.register(Registered::Local(weak), Moved::Opened);
    }

    /// Snapshots of the scopes of this loop that are still alive, oldest first.
    pub(crate) fn snapshots(&self) -> Vec<ScopeSnapshot> {
        // Upgraded under the borrow, snapshotted and released after it: another thread
        // may drop its reference to a Send scope meanwhile, leaving the last one here,
        // and a scope's drop runs task-local values' destructors, which may call `dump`.
        let live: Vec<Live> = {
            let mut scopes = self.scopes.borrow_mut();
            scopes.retain(Registered::is_alive);
            scopes.iter().filter_map(Registered::upgrade).collect()
        };
        live.iter().map(Live::snapshot).collect()
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("scopes", &self.scopes.borrow().len())
            .field("roots", &self.roots)
            .finish()
    }
}

/// A registered scope: weak, so the registry keeps no scope alive.
enum Registered {
    Local(rc::Weak<dyn ScopeView>),
    Send(sync::Weak<dyn ScopeView + Send + Sync>),
}

/// A registered scope that is still alive.
enum Live {
    Local(Rc<dyn ScopeView>),
    Send(Arc<dyn ScopeView + Send + Sync>),
}

/// Whether a scope registers as it opens, or as it moves to a loop it may have been
/// polled by before (a scope future continued by a nested `run`, then by the outer loop
/// again): only then is the registry searched for it, so that it is listed once.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Moved {
    Opened,
    Back,
}

impl Registered {
    /// The same scope (its address, not its vtable).
    fn is(&self, other: &Registered) -> bool {
        match (self, other) {
            (Registered::Local(a), Registered::Local(b)) => {
                rc::Weak::as_ptr(a).cast::<()>() == rc::Weak::as_ptr(b).cast::<()>()
            }
            (Registered::Send(a), Registered::Send(b)) => {
                sync::Weak::as_ptr(a).cast::<()>() == sync::Weak::as_ptr(b).cast::<()>()
            }
            _ => false,
        }
    }

    fn is_alive(&self) -> bool {
        match self {
            Registered::Local(scope) => scope.strong_count() > 0,
            Registered::Send(scope) => scope.strong_count() > 0,
        }
    }

    fn upgrade(&self) -> Option<Live> {
        match self {
            Registered::Local(scope) => scope.upgrade().map(Live::Local),
            Registered::Send(scope) => scope.upgrade().map(Live::Send),
        }
    }
}

impl Live {
    fn snapshot(&self) -> ScopeSnapshot {
        match self {
            Live::Local(scope) => scope.snapshot(),
            Live::Send(scope) => scope.snapshot(),
        }
    }
}

/// Records a local scope in the current loop's registry, if a loop runs on this thread.
pub(crate) fn register_local_scope<S: ScopeView + 'static>(scope: &Rc<S>, moved: Moved) {
    let weak: rc::Weak<dyn ScopeView> = Rc::<S>::downgrade(scope);
    // Outside every loop and local detached root, nothing keeps a tree: nothing to do.
    CURRENT.with(|c| {
        if let Some(registry) = c.borrow().as_deref() {
            registry.register(Registered::Local(weak), moved);
        }
    });
}

/// Records a Send scope in the current loop's registry, if a loop runs on this thread,
/// or else in the Send detached root's being polled.
pub(crate) fn register_send_scope<S: ScopeView + Send + Sync + 'static>(
    scope: &Arc<S>,
    moved: Moved,
) {
    let weak: sync::Weak<dyn ScopeView + Send + Sync> = Arc::<S>::downgrade(scope);
    let not_in_a_loop = CURRENT.with(|c| match c.borrow().as_deref() {
        Some(registry) => {
            registry.register(Registered::Send(weak), moved);
            None
        }
        None => Some(weak),
    });
    if let Some(weak) = not_in_a_loop {
        SEND_TREE.with(|t| {
            if let Some(tree) = t.borrow().as_deref() {
                tree.register(weak, moved);
            }
        });
    }
}

/// Snapshots of the live scopes of the innermost loop on this thread, or of the detached
/// root polled now; `None` outside both.
pub(crate) fn snapshots() -> Option<Vec<ScopeSnapshot>> {
    if let Some(registry) = CURRENT.with(|c| c.borrow().clone()) {
        return Some(registry.snapshots());
    }
    let tree = SEND_TREE.with(|t| t.borrow().clone())?;
    Some(tree.snapshots())
}

/// The registry of a Send detached root's tree: its Send scopes (a local scope cannot be
/// awaited in a Send tree), behind a mutex, as the root may be polled on any thread.
#[derive(Default)]
pub(crate) struct SendTree {
    scopes: Mutex<Vec<sync::Weak<dyn ScopeView + Send + Sync>>>,
}

impl SendTree {
    fn lock(&self) -> MutexGuard<'_, Vec<sync::Weak<dyn ScopeView + Send + Sync>>> {
        self.scopes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn register(&self, scope: sync::Weak<dyn ScopeView + Send + Sync>, moved: Moved) {
        let mut scopes = self.lock();
        if moved == Moved::Back && scopes.iter().any(|known| known.ptr_eq(&scope)) {
            return;
        }
        if scopes.len() >= 32 && scopes.len().is_power_of_two() {
            scopes.retain(|s| s.strong_count() > 0);
        }
        scopes.push(scope);
    }

    /// Records the root itself (it opened before its registry existed).
    pub(crate) fn register_root<S: ScopeView + Send + Sync + 'static>(&self, root: &Arc<S>) {
        let weak: sync::Weak<dyn ScopeView + Send + Sync> = Arc::<S>::downgrade(root);
        self.register(weak, Moved::Opened);
    }

    /// As [`Registry::snapshots`].
    fn snapshots(&self) -> Vec<ScopeSnapshot> {
        let live: Vec<Arc<dyn ScopeView + Send + Sync>> = {
            let mut scopes = self.lock();
            scopes.retain(|s| s.strong_count() > 0);
            scopes.iter().filter_map(sync::Weak::upgrade).collect()
        };
        live.iter().map(|scope| scope.snapshot()).collect()
    }
}

impl std::fmt::Debug for SendTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendTree")
            .field("scopes", &self.lock().len())
            .finish()
    }
}

/// Makes a Send detached root's `tree` the current one until dropped (a loop's registry,
/// if one is current, still comes first; see `register_send_scope`).
pub(crate) struct EnterSendTree {
    previous: Option<Arc<SendTree>>,
}

impl EnterSendTree {
    pub(crate) fn new(tree: Arc<SendTree>) -> Self {
        EnterSendTree {
            previous: SEND_TREE.with(|t| t.replace(Some(tree))),
        }
    }
}

impl Drop for EnterSendTree {
    fn drop(&mut self) {
        let previous = self.previous.take();
        SEND_TREE.with(|t| *t.borrow_mut() = previous);
    }
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
