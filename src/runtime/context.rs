//! The loop context: per-`run` state that tasks reach through a thread-local.
//!
//! Each call to [`run`](crate::run) creates one [`LoopContext`] and makes it current for
//! the duration of the call; a nested `run` makes its own current and restores the
//! caller's when it returns or unwinds. Facilities that belong to one loop (timers, the
//! idle flush of buffered futures, Ctrl-C interruption) hang their state here, so a
//! nested run is isolated from the outer one by construction.
//!
//! # Invariants
//!
//! 1. The current context is the innermost active `run` on this thread, or none.
//! 2. Loop ids are unique per process and never 0 (0 means "outside any loop").
//! 3. `buffered` holds only futures that a task of this loop polled; the loop flushes it
//!    at its idle step, before it considers parking.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Waker;

use super::park::LoopWaker;
use super::{Config, interrupt};
use crate::current::frame::current_task;
use crate::scope::{ScopeCore, Signal};
use crate::sim::Simulation;
use crate::time::LoopTimers;

use crate::interop::FlushQueue;

/// Loop ids start at 1 so that 0 can mean "not inside `run`".
static NEXT_LOOP_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static CURRENT: RefCell<Option<Rc<LoopContext>>> = const { RefCell::new(None) };
    /// `CURRENT`'s id (0: none), for the checks made at every poll of a scope.
    static CURRENT_ID: Cell<u64> = const { Cell::new(0) };
    /// While a simulation runs an offloaded job on its loop's thread (see `sim`): that
    /// simulation. The job runs outside every loop, as it would on a pool thread, but the
    /// work it offloads and the loops it runs are still the simulation's.
    static OFFLOADING: RefCell<Option<Rc<Simulation>>> = const { RefCell::new(None) };
}

/// State of one `run` loop.
#[derive(Debug)]
pub(crate) struct LoopContext {
    id: u64,
    /// The loop's clock and timer queue (see `time`).
    timers: LoopTimers,
    /// The data pointer of the loop's own waker: the identity of the root task.
    root_task: *const (),
    /// Set when Ctrl-C may interrupt this loop (see `interrupt`).
    interrupt: interrupt::Registration,
    /// Buffered futures awaited in this loop whose flush waits for its next idle point.
    pub(crate) buffered: FlushQueue,
    /// Every scope opened under this loop (dead ones are pruned as it grows): the task
    /// tree, for dumps and the deadlock analysis.
    scopes: RefCell<Vec<Weak<ScopeCore>>>,
    /// The loop this one is nested in, while this one runs (set and cleared by `Enter`).
    outer: RefCell<Option<Rc<LoopContext>>>,
    /// The seeded choices of a simulated loop (see `sim`), shared with the loops nested
    /// in it.
    pub(crate) simulation: Option<Rc<Simulation>>,
}

impl LoopContext {
    /// A context for a new loop woken by `notifier`; a nested loop inherits its clock, its
    /// Ctrl-C setting and its simulation from the current one. A `simulation` given here
    /// makes the loop simulated (on a virtual clock).
    pub(crate) fn new(
        config: &Config,
        simulation: Option<Rc<Simulation>>,
        notifier: &Arc<LoopWaker>,
        root_task: &Waker,
    ) -> Rc<Self> {
        let (timers, interruptible, simulation) = with_current(|outer| {
            // A loop that starts a simulation gets a virtual clock of its own; one that
            // inherits it shares its outer loop's clock (virtual, since that loop is
            // simulated), as any nested run does.
            let starts_simulation = simulation.is_some();
            let simulation = simulation.or_else(|| match outer {
                Some(outer) => outer.simulation.clone(),
                None => OFFLOADING.with(|o| o.borrow().clone()),
            });
            // A loop run by an offloaded job (no outer loop) is simulated with a clock of
            // its own: virtual too.
            let starts_simulation = starts_simulation || (outer.is_none() && simulation.is_some());
            let timers = LoopTimers::new(
                config.uses_virtual_clock() || starts_simulation,
                config.slack(),
                outer.map(|o| &o.timers),
                simulation.as_ref().map(|s| s.derive_seed()),
            );
            let interruptible =
                config.cancels_on_ctrl_c() || outer.is_some_and(|o| o.interrupt.0.is_some());
            (timers, interruptible, simulation)
        });
        Rc::new(LoopContext {
            id: NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed),
            timers,
            root_task: root_task.data(),
            interrupt: interrupt::Registration(
                interruptible.then(|| interrupt::Target::enter(notifier.clone())),
            ),
            scopes: RefCell::new(Vec::new()),
            buffered: FlushQueue::default(),
            outer: RefCell::new(None),
            simulation,
        })
    }

    /// Records a scope opened under this loop.
    pub(crate) fn register_scope(&self, scope: &Rc<ScopeCore>) {
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

    /// True if Ctrl-C may cancel this loop (an outside event that can end any wait).
    pub(crate) fn is_interruptible(&self) -> bool {
        self.interrupt.0.is_some()
    }

    /// True once Ctrl-C interrupted this loop and no root scope could take the
    /// cancellation.
    pub(crate) fn interrupted_without_scope(&self) -> bool {
        self.interrupt
            .0
            .as_ref()
            .is_some_and(|t| t.interrupted_without_scope())
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// True while this loop runs inside another one on its thread.
    pub(crate) fn is_nested(&self) -> bool {
        self.outer.borrow().is_some()
    }

    pub(crate) fn timers(&self) -> &LoopTimers {
        &self.timers
    }
}

/// Calls `f` with the innermost loop on this thread, or `None` outside any loop. `f` must
/// not call `run` (the current context is borrowed while it runs).
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&LoopContext>) -> R) -> R {
    CURRENT.with(|c| f(c.borrow().as_deref()))
}

/// Called by every scope as it opens: a scope polled directly by an interruptible loop is
/// one of its root scopes, which Ctrl-C cancels.
pub(crate) fn adopt_if_root_scope(scope: &Arc<Signal>) {
    with_current(|current| {
        if let Some(context) = current {
            if let Some(target) = &context.interrupt.0 {
                if current_task() == context.root_task {
                    target.adopt(scope);
                }
            }
        }
    });
}

/// The id of the innermost loop on this thread, or 0 outside any loop.
#[inline]
pub(crate) fn current_loop() -> u64 {
    CURRENT_ID.with(Cell::get)
}

/// The simulation of the innermost loop on this thread, if it is simulated; outside
/// every loop, the simulation whose offloaded job is running, if one is.
pub(crate) fn current_simulation() -> Option<Rc<Simulation>> {
    CURRENT.with(|c| match c.borrow().as_ref() {
        Some(c) => c.simulation.clone(),
        None => OFFLOADING.with(|o| o.borrow().clone()),
    })
}

/// Runs an offloaded job of `simulation` on this thread as a pool thread would run it:
/// outside every loop (no current loop, scope or context values: `duet::now`, `dump`,
/// `sleep` and context variables behave as on a pool thread), and with
/// `futures::executor` marked as entered, as the pool's threads are. What the job
/// offloads, and the loops it runs, stay `simulation`'s.
pub(crate) fn run_as_pool_job(simulation: &Rc<Simulation>, job: impl FnOnce()) {
    struct Restore {
        current: Option<Rc<LoopContext>>,
        id: u64,
        offloading: Option<Rc<Simulation>>,
    }
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| *c.borrow_mut() = self.current.take());
            CURRENT_ID.with(|id| id.set(self.id));
            OFFLOADING.with(|o| *o.borrow_mut() = self.offloading.take());
        }
    }
    let _restore = Restore {
        current: CURRENT.with(|c| c.borrow_mut().take()),
        id: CURRENT_ID.with(|id| id.replace(0)),
        offloading: OFFLOADING.with(|o| o.borrow_mut().replace(simulation.clone())),
    };
    let _no_scope = crate::scope::current::enter_root();
    // Already entered if this loop runs inside a futures executor: nothing to mark.
    let _executor = futures::executor::enter().ok();
    crate::context::Values::default().enter(job);
}

/// The innermost loop's context on this thread, if any.
pub(crate) fn current() -> Option<Rc<LoopContext>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// True if the loop `id` is running on this thread and is not the innermost one: an
/// outer loop, blocked until the nested call that runs now returns.
pub(crate) fn is_blocked_outer_loop(id: u64) -> bool {
    CURRENT.with(|c| {
        let mut context = c.borrow().clone();
        let mut innermost = true;
        while let Some(loop_context) = context {
            if loop_context.id == id {
                return !innermost;
            }
            innermost = false;
            context = loop_context.outer.borrow().clone();
        }
        false
    })
}

/// Makes a context current until dropped, then restores the previous one.
pub(crate) struct Enter {
    context: Rc<LoopContext>,
}

impl Enter {
    pub(crate) fn new(context: Rc<LoopContext>) -> Self {
        CURRENT_ID.with(|id| id.set(context.id));
        let previous = CURRENT.with(|c| c.replace(Some(context.clone())));
        *context.outer.borrow_mut() = previous;
        Enter { context }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let previous = self.context.outer.borrow_mut().take();
        CURRENT_ID.with(|id| id.set(previous.as_ref().map_or(0, |p| p.id)));
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}
