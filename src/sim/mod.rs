//! Deterministic simulation: run a test under many schedules, and replay the one that
//! failed.
//!
//! A duet program runs on one thread, so the only things that vary from one run to the
//! next are the choices the loop makes: which ready task runs next, which of two timers
//! with the same deadline fires first, where a scope's poll budget ends, when work
//! offloaded to another thread comes back, when buffered futures are flushed. Under
//! simulation a *seed* makes every one of those choices, on a virtual clock. The same seed
//! and the same program give the same schedule, poll for poll, every time; different seeds
//! give different schedules, among all those duet's semantics allow.
//!
//! - [`check`] (or an [`Explorer`], to choose how many runs and how) runs a test body
//!   under many seeds and panics at the first failure with the seed, the step, and the
//!   task tree: set `DUET_SEED` to that seed and the same call replays exactly that run.
//! - [`Config::simulated`](crate::Config::simulated) runs one loop under one seed, and
//!   [`run`] does so and also returns the schedule it followed ([`Simulated::trace`]).
//!
//! # What is simulated
//!
//! Everything duet schedules: task order within and across scopes (any order the
//! semantics allow, not only first-in first-out; a task woken may wait some rounds while
//! others run), ties between equal deadlines, poll budgets, flush points, and work sent to
//! [`unblock`](crate::unblock), [`ThreadPool`](crate::ThreadPool) jobs (`submit`, `unblock`,
//! `execute`) and hence a [`Batcher`](crate::Batcher) that sends through the pool: such a
//! job runs on the loop's thread at a seeded point instead of on a pool thread, so its
//! completion lands before or after any given step. Time is virtual
//! ([`Config::virtual_clock`](crate::Config::virtual_clock)).
//!
//! What is not: threads the program starts itself (`std::thread::spawn`), other runtimes
//! (tokio, smol), real I/O and the real clock. Wake-ups from them arrive when they arrive;
//! a test that depends on them is not replayable. An offloaded job that blocks waiting
//! for the loop itself (a channel a task must fill) never returns under simulation, since
//! it runs on the loop's thread.
//!
//! # Examples
//!
//! A test of a small pipeline, run under 64 schedules:
//!
//! ```
//! use std::cell::RefCell;
//!
//! duet::sim::Explorer::new().runs(64).check(|| async {
//!     let log = RefCell::new(Vec::new());
//!     duet::scope(duet::infallible(async |s| {
//!         for i in 0..3 {
//!             let log = &log;
//!             s.spawn(async move {
//!                 duet::yield_now().await;
//!                 log.borrow_mut().push(i);
//!             });
//!         }
//!     }))
//!     .await
//!     .unwrap();
//!     let mut seen = log.into_inner();
//!     seen.sort(); // the order varies from schedule to schedule; the set never does
//!     assert_eq!(seen, [0, 1, 2]);
//! });
//! ```

mod explore;
mod rng;
mod state;

use std::fmt;
use std::future::IntoFuture;
use std::rc::Rc;

pub use explore::{DEFAULT_RUNS, Exploration, Explorer, Failure, Verdict, check};
pub(crate) use rng::Rng;
pub(crate) use state::{Settings, Simulation};

/// How the explorer chooses among the schedules a program allows.
///
/// # Examples
///
/// ```
/// use duet::sim::{Explorer, Strategy};
///
/// Explorer::new()
///     .strategy(Strategy::Pct { depth: 3 })
///     .runs(32)
///     .check(|| async { duet::yield_now().await });
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
/// are the same in every run of the same seed, unlike the process-wide numbers in a dump.
///
/// # Examples
///
/// ```
/// let run = duet::sim::run(7, duet::scope(duet::infallible(async |s| {
///     s.spawn(async {});
/// })));
/// let first = run.trace()[0];
/// assert_eq!((first.scope(), first.task()), (0, None)); // the root future
/// assert!(run.trace().iter().any(|p| p.scope() == 1 && p.task() == Some(0)));
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
            (scope, crate::scope::BODY) => write!(f, "the body of scope {scope}"),
            (scope, task) => write!(f, "task #{task} of scope {scope}"),
        }
    }
}

/// What [`run`] returns: the output, and the schedule that produced it.
///
/// # Examples
///
/// ```
/// let a = duet::sim::run(42, async { duet::yield_now().await; 1 });
/// let b = duet::sim::run(42, async { duet::yield_now().await; 1 });
/// assert_eq!(a.trace(), b.trace());
/// assert_eq!(*a.output(), 1);
/// ```
#[derive(Debug)]
pub struct Simulated<T> {
    output: T,
    seed: u64,
    steps: u64,
    fingerprint: u64,
    trace: Vec<TaskPoll>,
}

impl<T> Simulated<T> {
    /// The root future's output.
    pub fn output(&self) -> &T {
        &self.output
    }

    /// The root future's output, by value.
    pub fn into_output(self) -> T {
        self.output
    }

    /// The seed the run was made with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How many steps (task polls, offloaded jobs) the run took.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Every step of the run, in order.
    pub fn trace(&self) -> &[TaskPoll] {
        &self.trace
    }

    /// A 64-bit fingerprint of the schedule: equal for equal traces, and almost surely
    /// different for different ones. [`Exploration::schedules`] counts distinct ones.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
}

/// Runs `future` on a simulated loop under `seed`, recording the schedule.
///
/// As [`run_with`](crate::run_with)`(Config::new().simulated(seed), future)`, and returns
/// the steps it took with the output. To explore many seeds, use [`check`] or an
/// [`Explorer`].
///
/// # Panics
///
/// As [`run`](crate::run).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let run = duet::sim::run(1, async {
///     duet::sleep(Duration::from_secs(60)).await; // virtual: returns at once
///     duet::unblock(|| 6 * 7).await // run on this thread, at a seeded step
/// });
/// assert_eq!(*run.output(), 42);
/// assert!(run.steps() >= 2);
/// ```
pub fn run<F: IntoFuture>(seed: u64, future: F) -> Simulated<F::Output> {
    run_with_strategy(seed, Strategy::Random, future)
}

pub(crate) fn run_with_strategy<F: IntoFuture>(
    seed: u64,
    strategy: Strategy,
    future: F,
) -> Simulated<F::Output> {
    let settings = Settings { seed, strategy };
    let simulation = Rc::new(Simulation::new(settings, true));
    let output = crate::runtime::run_simulated(simulation.clone(), future);
    Simulated {
        output,
        seed,
        steps: simulation.steps(),
        fingerprint: simulation.fingerprint(),
        trace: simulation.take_trace(),
    }
}

/// Hands `job` to the simulation of the loop running on this thread, if it is simulated;
/// gives it back otherwise (it then goes to a real thread).
pub(crate) fn try_offload<J: FnOnce() + Send + 'static>(job: J) -> Option<J> {
    match crate::runtime::current_simulation() {
        Some(simulation) => {
            simulation.offload(Box::new(job));
            None
        }
        None => Some(job),
    }
}
