//! The loop context: one `run`'s state, gathered from the layers that own its parts.
//!
//! Each call to [`run`](crate::run) creates one [`LoopContext`] and enters it for the
//! duration of the call ([`Enter`]); a nested `run` enters its own and restores the
//! caller's when it returns or unwinds. Each part is current behind its own layer's
//! cursor, so that the layers below `runtime` never name a loop context:
//!
//! - the loop's id, its outer loops and its root task: `current::loops`;
//! - its clock and timers: `time::source`;
//! - its buffered futures waiting for the idle flush: `interop::buffered`;
//! - its registry of scopes, and the root scopes Ctrl-C cancels: `scope::registry`;
//! - its simulation: `schedule`;
//! - its Ctrl-C registration (`interrupt`): here.
//!
//! # Invariants
//!
//! 1. While a context is entered, every cursor names its part, and they all belong to the
//!    innermost active `run` on this thread; leaving restores every cursor to the
//!    caller's, on return or unwind.
//! 2. A context is created before it is entered, so that a nested loop reads what it
//!    inherits (clock, Ctrl-C setting, simulation) from the loop it is nested in.
//! 3. `buffered` holds only futures that a task of this loop polled; the loop flushes it
//!    at its idle step, before it considers parking, and when it is dropped.

use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;

use super::park::LoopWaker;
use super::{Config, interrupt};
use crate::current::loops;
use crate::interop::{EnterFlushQueue, FlushQueue};
use crate::schedule::{EnterSimulation, Simulation, current_simulation};
use crate::scope::registry::{self, EnterRegistry, Registry, RootScopes};
use crate::time::{EnterTimers, LoopTimers, with_loop_timers};

/// State of one `run` loop.
pub(crate) struct LoopContext {
    id: u64,
    /// The data pointer of the loop's own waker: the identity of the root task.
    root_task: *const (),
    /// True if the loop runs inside another one on its thread.
    nested: bool,
    /// The loop's clock and timer queue (see `time`).
    timers: Rc<LoopTimers>,
    /// Unregisters the loop's Ctrl-C target when the loop ends. (Fields drop in order:
    /// the timers go, then the target, then the flush queue flushes, as before the
    /// split.)
    _interrupt: interrupt::Registration,
    /// Buffered futures awaited in this loop whose flush waits for its next idle point.
    pub(crate) buffered: Rc<FlushQueue>,
    /// Every scope opened under this loop: the task tree, for dumps and the deadlock
    /// analysis.
    registry: Rc<Registry>,
    /// The loop's root scopes, when Ctrl-C may interrupt it (see `interrupt`).
    roots: Option<Arc<RootScopes>>,
    /// The seeded choices of a simulated loop (see `schedule`).
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
    ) -> Self {
        let nested = loops::current_loop() != 0;
        // A loop that starts a simulation gets a virtual clock of its own; one that
        // inherits it shares its outer loop's clock (virtual, since that loop is
        // simulated), as any nested run does.
        let starts_simulation = simulation.is_some();
        // The current simulation: the outer loop's, or, outside every loop, the one whose
        // offloaded job runs this loop.
        let simulation = simulation.or_else(current_simulation);
        // A loop run by an offloaded job (no outer loop) is simulated with a clock of
        // its own: virtual too.
        let starts_simulation = starts_simulation || (!nested && simulation.is_some());
        let timers = with_loop_timers(|outer| {
            LoopTimers::new(
                config.uses_virtual_clock() || starts_simulation,
                config.slack(),
                outer,
                simulation.as_ref().map(|s| s.derive_seed()),
            )
        });
        let interruptible = config.cancels_on_ctrl_c() || registry::is_interruptible();
        let roots = interruptible.then(|| Arc::new(RootScopes::default()));
        let interrupt = roots
            .as_ref()
            .map(|roots| interrupt::Target::enter(notifier.clone(), roots.clone()));
        let id = loops::new_loop_id();
        LoopContext {
            id,
            root_task: root_task.data(),
            nested,
            timers: Rc::new(timers),
            buffered: Rc::new(FlushQueue::new(id)),
            registry: Rc::new(Registry::new(roots.clone())),
            roots,
            _interrupt: interrupt::Registration(interrupt),
            simulation,
        }
    }

    /// Snapshots of the scopes of this loop that are still alive, oldest first.
    pub(crate) fn scope_snapshots(&self) -> Vec<crate::scope::view::ScopeSnapshot> {
        self.registry.snapshots()
    }

    /// True if Ctrl-C may cancel this loop (an outside event that can end any wait).
    pub(crate) fn is_interruptible(&self) -> bool {
        self.roots.is_some()
    }

    /// True once Ctrl-C interrupted this loop and no root scope could take the
    /// cancellation.
    pub(crate) fn interrupted_without_scope(&self) -> bool {
        self.roots
            .as_ref()
            .is_some_and(|r| r.interrupted_without_scope())
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// True while this loop runs inside another one on its thread.
    pub(crate) fn is_nested(&self) -> bool {
        self.nested
    }

    pub(crate) fn timers(&self) -> &LoopTimers {
        &self.timers
    }
}

/// Runs an offloaded job of `simulation` on this thread as a pool thread would run it:
/// outside every loop (no current loop, scope or context values: `duet::now`, `dump`,
/// `sleep` and context variables behave as on a pool thread), and with
/// `futures::executor` marked as entered, as the pool's threads are. What the job
/// offloads, and the loops it runs, stay `simulation`'s.
pub(crate) fn run_as_pool_job(simulation: &Rc<Simulation>, job: impl FnOnce()) {
    // The job runs outside every loop; what it offloads, and the loops it runs, are still
    // the simulation's (see `schedule`, invariant 1).
    let _outside = (
        loops::Outside::new(),
        EnterTimers::new(None),
        EnterFlushQueue::new(None),
        EnterRegistry::new(None),
        EnterSimulation::new(Some(simulation.clone())),
    );
    let _no_scope = crate::scope::current::enter_root();
    // Already entered if this loop runs inside a futures executor: nothing to mark.
    let _executor = futures::executor::enter().ok();
    crate::context::Values::default().enter(job);
}

/// Makes a context current until dropped: every layer's cursor names its part of the
/// loop. Then restores the previous ones.
pub(crate) struct Enter {
    _loop: loops::Enter,
    _timers: EnterTimers,
    _buffered: EnterFlushQueue,
    _registry: EnterRegistry,
    _simulation: EnterSimulation,
}

impl Enter {
    pub(crate) fn new(context: &LoopContext) -> Self {
        Enter {
            _loop: loops::Enter::new(context.id, context.root_task),
            _timers: EnterTimers::new(Some(context.timers.clone())),
            _buffered: EnterFlushQueue::new(Some(context.buffered.clone())),
            _registry: EnterRegistry::new(Some(context.registry.clone())),
            _simulation: EnterSimulation::new(context.simulation.clone()),
        }
    }
}
