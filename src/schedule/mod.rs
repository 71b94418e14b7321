//! The seeded scheduler of simulation: the choices a simulated loop and its scopes make,
//! and the thread's current simulation.
//!
//! - `rng`: the generator (SplitMix64) every choice is drawn from;
//! - `state`: one simulated run's [`Simulation`] (its choices, steps, trace, offloaded
//!   jobs and the task panics it saw) and its [`Settings`];
//! - here: [`Strategy`] and [`TaskPoll`] (public, re-exported by `sim`), the pool
//!   identity a job is offloaded with ([`Lane`]), the thread's cursor to the current
//!   simulation ([`EnterSimulation`], [`current_simulation`]) and [`try_offload`].
//!
//! Every layer above consults it (timers break ties by its seed, the pool offloads to it,
//! scopes plan their rounds with it, the loop runs offloaded jobs); it names none of
//! them. The public test API built on it (`sim::run`, `check`, `Explorer`) drives roots,
//! and lives in `sim`, above `runtime`.
//!
//! # Invariants
//!
//! 1. The current simulation is the innermost active `run`'s, if that loop is simulated;
//!    outside every loop, the simulation whose offloaded job runs on this thread, if one
//!    does; otherwise none. Every change is undone by a guard, on return or unwind.
//! 2. Choices are drawn on the loop's thread only, in program order (see `state`).

mod rng;
mod state;

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

pub(crate) use rng::{Rng, mix};
pub(crate) use state::{Job, Settings, Simulation, payload_text};

use crate::current::frame::BODY;
use crate::current::loops::current_loop;

thread_local! {
    /// The simulation of the innermost loop on this thread, or of the offloaded job that
    /// runs on it outside every loop (see invariant 1).
    static CURRENT: RefCell<Option<Rc<Simulation>>> = const { RefCell::new(None) };
}

/// The simulation of the innermost loop on this thread, if it is simulated; outside
/// every loop, the simulation whose offloaded job is running, if one is.
pub(crate) fn current_simulation() -> Option<Rc<Simulation>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// True if the innermost loop on this thread is simulated (false outside every loop).
pub(crate) fn loop_is_simulated() -> bool {
    current_loop() != 0 && CURRENT.with(|c| c.borrow().is_some())
}

/// Makes `simulation` the current one until dropped, then restores the previous one.
pub(crate) struct EnterSimulation {
    previous: Option<Rc<Simulation>>,
}

impl EnterSimulation {
    pub(crate) fn new(simulation: Option<Rc<Simulation>>) -> Self {
        EnterSimulation {
            previous: CURRENT.with(|c| c.replace(simulation)),
        }
    }
}

impl Drop for EnterSimulation {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// A pool as the simulation sees it: its jobs start in submission order, at most
/// `threads` at a time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lane {
    /// Which pool (process-wide: compared only with other pools' numbers, never used to
    /// choose).
    pub(crate) pool: u64,
    pub(crate) threads: usize,
}

/// How the explorer chooses among the schedules a program allows.
///
/// [`Random`](Strategy::Random), the default, suits most tests. Try
/// [`Pct`](Strategy::Pct) when a bug needs one task to run far ahead of the others (many
/// polls in a row) before a second one runs: random rounds rarely keep a task back that
/// long.
///
/// # Examples
///
/// ```
/// use duet::sim::{Explorer, Strategy};
///
/// Explorer::new()
///     .strategy(Strategy::Pct { depth: 3 })
///     .runs(32)
///     .check(|| async { duet::yield_now().await }); // the test body, as for `check`
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Strategy {
    /// Every choice drawn at random: each round of a scope polls its queued tasks in a
    /// random order and may leave some of them for a later round, budgets end early now
    /// and then, offloaded work comes back at random points. Good at bugs that need many
    /// small reorderings.
    #[default]
    Random,
    /// Probabilistic concurrency testing (Burckhardt et al., 2010), adapted to rounds:
    /// every task gets a random priority and each round polls only the highest-priority
    /// queued task of its scope; at `depth - 1` random steps the task being polled drops
    /// below all others. A bug that needs `depth` ordering constraints is found with a
    /// probability that does not shrink with the number of tasks, only with the number of
    /// steps. Every eighth round on average runs whole, so a task spinning on
    /// [`yield_now`](crate::yield_now()) cannot starve the one it waits for.
    Pct {
        /// The number of ordering constraints the bug needs (2 or 3 find most).
        depth: u32,
    },
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::Random => f.write_str("random"),
            Strategy::Pct { depth } => write!(f, "PCT of depth {depth}"),
        }
    }
}

/// One step of a simulated schedule: a poll of one task.
///
/// Scopes are numbered in the order the run first polls them, from 1 (scope 0 is the
/// loop itself: its root future, and offloaded jobs); a task is named by its number in
/// its scope, the one [`TaskRef`](crate::TaskRef) and [`dump`](crate::dump) show. Both
/// numbers are the same in every run of the same seed (the scope numbers in a dump are
/// process-wide, and are not).
///
/// # Examples
///
/// ```
/// let run = duet::sim::run(7, duet::scope(async |s| {
///     s.spawn(async {});
/// }));
/// let first = run.trace()[0];
/// assert_eq!((first.scope(), first.task()), (0, None)); // the root future
/// assert!(run.trace().iter().any(|p| p.scope() == 1 && p.task() == Some(0)));
///
/// // Printed, a trace reads as the schedule it was:
/// let steps: Vec<String> = run.trace().iter().map(|p| p.to_string()).collect();
/// assert_eq!(steps[0], "the root future");
/// assert!(steps.iter().any(|s| s == "the body of scope 1"));
/// assert!(steps.iter().any(|s| s == "task #0 of scope 1"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskPoll {
    scope: u32,
    task: u32,
}

impl TaskPoll {
    pub(crate) fn new(scope: u32, task: u32) -> Self {
        TaskPoll { scope, task }
    }

    /// The scope's number in this run (0: the loop itself).
    pub fn scope(&self) -> u32 {
        self.scope
    }

    /// The task's number in its scope; `None` for a scope's body, the root future, or an
    /// offloaded job (scope 0).
    pub fn task(&self) -> Option<u32> {
        (self.task < state::OFFLOAD_STEP).then_some(self.task)
    }
}

impl fmt::Display for TaskPoll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.scope, self.task) {
            (0, state::OFFLOAD_STEP) => f.write_str("an offloaded job"),
            (0, _) => f.write_str("the root future"),
            (scope, BODY) => write!(f, "the body of scope {scope}"),
            (scope, task) => write!(f, "task #{task} of scope {scope}"),
        }
    }
}

/// Hands `job` to the simulation of the loop running on this thread, if it is simulated;
/// gives it back otherwise (it then goes to a real thread).
pub(crate) fn try_offload<J: FnOnce() + Send + 'static>(lane: Lane, job: J) -> Option<J> {
    match current_simulation() {
        Some(simulation) => {
            simulation.offload(lane, Box::new(job));
            None
        }
        None => Some(job),
    }
}
