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
//!   under many seeds and panics at the first failure with the seed, the step, the task
//!   that panicked and the task tree: set `DUET_SEED` to that seed and the same call
//!   replays exactly that run. This is how code built on duet is tested: the crate's
//!   tutorial has a [step on it](crate#testing-with-simulation), and
//!   `examples/testing.rs` finds a bug that a plain run never shows.
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
//! (tokio, smol), real I/O and the real clock, and randomness of the program's own
//! (`futures::select!` picks among ready branches at random: use `select_biased!`).
//! Wake-ups from them arrive when they arrive; a test that depends on them is not
//! replayable.
//!
//! An offloaded job runs on the loop's thread, as if on a pool thread (outside the loop:
//! no current loop, scope or context values), one job at a time while the loop waits for
//! it. So a job that blocks until something else happens never returns under simulation,
//! and the run hangs: a job waiting for the loop itself (a channel a task must fill), for
//! its own [`CancelToken`](crate::CancelToken) to be cancelled (only the loop can cancel
//! it), or for another job (two jobs meeting through a channel).
//!
//! # Examples
//!
//! A test is a closure that returns a fresh future for each run: here, three tasks that
//! log their number. `check` runs it under 256 schedules; in a `#[test]` function that
//! is all it takes.
//!
//! ```
//! use std::cell::RefCell;
//!
//! duet::sim::check(|| async {
//!     let log = RefCell::new(Vec::new());
//!     duet::scope(async |s| {
//!         for i in 0..3 {
//!             let log = &log;
//!             s.spawn(async move {
//!                 duet::yield_now().await;
//!                 log.borrow_mut().push(i);
//!             });
//!         }
//!     })
//!     .await
//!     .unwrap();
//!     let mut seen = log.into_inner();
//!     seen.sort(); // the order varies from schedule to schedule; the set never does
//!     assert_eq!(seen, [0, 1, 2]);
//! });
//! ```

mod explore;

use std::future::IntoFuture;
use std::rc::Rc;

use crate::schedule::{Settings, Simulation};
pub use crate::schedule::{Strategy, TaskPoll};
pub use explore::{DEFAULT_RUNS, Exploration, Explorer, Failure, Verdict, check};

/// What [`run`] returns: the output, and the schedule that produced it.
///
/// # Examples
///
/// ```
/// let a = duet::sim::run(42, async { duet::yield_now().await; 1 });
/// let b = duet::sim::run(42, async { duet::yield_now().await; 1 });
/// assert_eq!(a.trace(), b.trace()); // one seed, one schedule
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
