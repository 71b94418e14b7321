//! The explorer: a test body run under many seeds, stopping at the first failure with
//! what it takes to replay it.

use std::collections::HashSet;
use std::fmt;
use std::future::IntoFuture;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use super::Strategy;
use crate::schedule::{Settings, Simulation, mix, payload_text};

/// How many runs an [`Explorer`] makes unless told otherwise (or by `DUET_SIM_RUNS`).
pub const DEFAULT_RUNS: u32 = 256;

/// Runs `test` under [`DEFAULT_RUNS`] seeds (or `DUET_SIM_RUNS`), panicking at the first
/// failure with its seed, step and task tree; with `DUET_SEED` set, runs that seed only.
///
/// Shorthand for [`Explorer::new().check(test)`](Explorer::check); see [`Explorer`].
///
/// # Panics
///
/// At the first run that fails: the body panicked (an assertion), returned an `Err`, or
/// deadlocked. The message says how to replay it.
///
/// # Examples
///
/// ```
/// duet::sim::check(|| async {
///     let (a, b) = futures::join!(async { 1 }, duet::unblock(|| 2));
///     assert_eq!(a + b, 3);
/// });
/// ```
#[track_caller]
pub fn check<T, F>(test: T)
where
    T: FnMut() -> F,
    F: IntoFuture,
    F::Output: Verdict,
{
    Explorer::new().check(test);
}

/// Runs a test body under many seeded schedules ([`sim`](crate::sim)), and replays one.
///
/// Each run calls the closure for a fresh future and runs it on a new simulated loop:
/// seed `i` of an exploration is a fixed function of `i`, so a test explores the same
/// schedules on every machine and in every CI run. The first failing run stops the
/// exploration.
///
/// Two environment variables steer it without a code change:
///
/// - `DUET_SEED=<seed>` (decimal, or hex with `0x`) runs only that seed: the replay of a
///   reported failure, bit for bit, as long as the test code is the same.
/// - `DUET_SIM_RUNS=<n>` makes `n` runs instead of the number set with
///   [`runs`](Explorer::runs) (a long run in CI, or a quick one while debugging).
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
///
/// // A counter read and written across an await point: a lost update in some schedules.
/// let failure = duet::sim::Explorer::new().runs(200).explore(|| async {
///     let count = Cell::new(0);
///     duet::scope(duet::infallible(async |s| {
///         for _ in 0..2 {
///             s.spawn(async {
///                 let read = count.get();
///                 duet::yield_now().await;
///                 count.set(read + 1);
///             });
///         }
///     }))
///     .await
///     .unwrap();
///     assert_eq!(count.get(), 2, "an increment was lost");
/// });
/// let failure = failure.expect_err("some schedule interleaves the two increments");
/// assert!(failure.message().contains("an increment was lost"));
///
/// // The seed replays exactly that schedule: it fails again.
/// let replay = duet::sim::Explorer::new().replay(failure.seed()).explore(|| async {
///     let count = Cell::new(0);
///     duet::scope(duet::infallible(async |s| {
///         for _ in 0..2 {
///             s.spawn(async {
///                 let read = count.get();
///                 duet::yield_now().await;
///                 count.set(read + 1);
///             });
///         }
///     }))
///     .await
///     .unwrap();
///     assert_eq!(count.get(), 2, "an increment was lost");
/// });
/// assert_eq!(replay.unwrap_err().step(), failure.step());
/// ```
#[derive(Debug, Clone)]
#[must_use = "an Explorer does nothing until `check` or `explore` runs it"]
pub struct Explorer {
    runs: u32,
    strategy: Strategy,
    first: u64,
    replay: Option<u64>,
}

impl Default for Explorer {
    fn default() -> Self {
        Explorer::new()
    }
}

impl Explorer {
    /// [`DEFAULT_RUNS`] random schedules, or what `DUET_SIM_RUNS` and `DUET_SEED` say.
    ///
    /// # Panics
    ///
    /// If `DUET_SEED` or `DUET_SIM_RUNS` is set to something that is not a number.
    ///
    /// # Examples
    ///
    /// ```
    /// duet::sim::Explorer::new().check(|| async {});
    /// ```
    pub fn new() -> Self {
        Explorer {
            runs: DEFAULT_RUNS,
            strategy: Strategy::Random,
            first: 0,
            replay: env_number("DUET_SEED"),
        }
    }

    /// Makes `runs` runs (unless `DUET_SIM_RUNS` says otherwise, or a seed is replayed).
    ///
    /// # Panics
    ///
    /// If `runs` is 0: an exploration of no schedules would pass without testing
    /// anything.
    ///
    /// # Examples
    ///
    /// ```
    /// duet::sim::Explorer::new().runs(10).check(|| async {});
    /// ```
    pub fn runs(mut self, runs: u32) -> Self {
        assert!(
            runs > 0,
            "duet::sim::Explorer::runs(0): an exploration needs at least one run"
        );
        self.runs = runs;
        self
    }

    /// Chooses schedules with `strategy` (default: [`Strategy::Random`]).
    ///
    /// # Panics
    ///
    /// If a [`Strategy::Pct`] has depth 0 (the depth counts the ordering constraints a
    /// bug needs; 1 means "no preemption", the lowest that makes sense).
    ///
    /// # Examples
    ///
    /// ```
    /// use duet::sim::{Explorer, Strategy};
    /// Explorer::new().strategy(Strategy::Pct { depth: 2 }).runs(8).check(|| async {});
    /// ```
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        if let Strategy::Pct { depth: 0 } = strategy {
            panic!("duet::sim::Strategy::Pct {{ depth: 0 }}: the depth must be at least 1");
        }
        self.strategy = strategy;
        self
    }

    /// Starts from another family of seeds: run `i` uses the seed derived from
    /// `first + i`. Two explorations with different `first`s cover different schedules.
    ///
    /// # Examples
    ///
    /// ```
    /// duet::sim::Explorer::new().first_run(1_000).runs(8).check(|| async {});
    /// ```
    pub fn first_run(mut self, first: u64) -> Self {
        self.first = first;
        self
    }

    /// Runs only `seed`: the replay of a failure an exploration reported. `DUET_SEED` does
    /// the same without a code change. Under [`Strategy::Pct`] a replay first runs the
    /// exploration's run 0 once more (its length places PCT's change points), then the
    /// seed.
    ///
    /// Under [`Strategy::Pct`] the replay first runs the exploration's run 0 once more
    /// (unless that is the seed replayed), without judging it: PCT's schedules depend on
    /// the length of that run, which the exploration measured.
    ///
    /// # Examples
    ///
    /// ```
    /// let report = duet::sim::Explorer::new().replay(0x2a).explore(|| async {}).unwrap();
    /// assert_eq!(report.runs(), 1);
    /// ```
    pub fn replay(mut self, seed: u64) -> Self {
        self.replay = Some(seed);
        self
    }

    /// Explores, and panics at the first failure with a report that says how to replay
    /// it (see [`Failure`]'s `Display`).
    ///
    /// # Panics
    ///
    /// At the first failing run.
    ///
    /// # Examples
    ///
    /// ```should_panic
    /// duet::sim::Explorer::new().runs(4).check(|| async {
    ///     assert_eq!(1 + 1, 3, "arithmetic is broken");
    /// });
    /// ```
    #[track_caller]
    pub fn check<T, F>(self, test: T)
    where
        T: FnMut() -> F,
        F: IntoFuture,
        F::Output: Verdict,
    {
        if let Err(failure) = self.explore(test) {
            panic!("{failure}");
        }
    }

    /// Explores, and returns what it covered, or the first failure.
    ///
    /// # Examples
    ///
    /// ```
    /// let report = duet::sim::Explorer::new().runs(16).explore(|| async {
    ///     futures::join!(duet::yield_now(), duet::yield_now());
    /// });
    /// let report = report.unwrap();
    /// assert_eq!(report.runs(), 16);
    /// assert!(report.schedules() >= 1);
    /// ```
    pub fn explore<T, F>(self, mut test: T) -> Result<Exploration, Failure>
    where
        T: FnMut() -> F,
        F: IntoFuture,
        F::Output: Verdict,
    {
        let runs = match self.replay {
            Some(_) => 1,
            None => env_number("DUET_SIM_RUNS")
                .map(|n| u32::try_from(n.max(1)).unwrap_or(u32::MAX))
                .unwrap_or(self.runs),
        };
        let mut schedules = HashSet::new();
        let mut steps = 0;
        for run in 0..runs {
            let seed = self
                .replay
                .unwrap_or_else(|| mix(self.first.wrapping_add(u64::from(run))));
            let settings = Settings {
                seed,
                strategy: self.strategy,
            };
            let simulation = Rc::new(Simulation::new(settings, false));
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                crate::runtime::run_simulated(simulation.clone(), test()).verdict()
            }));
            steps += simulation.steps();
            schedules.insert(simulation.fingerprint());
            let cause = match outcome {
                Ok(Ok(())) => continue,
                Ok(Err(message)) => Cause::Returned(message),
                Err(payload) => Cause::Panicked(payload),
            };
            let snapshot = match &cause {
                Cause::Panicked(payload) => simulation.failure_for(payload_text(&**payload)),
                Cause::Returned(_) => None,
            };
            return Err(Failure {
                seed,
                run,
                runs,
                strategy: self.strategy,
                step: snapshot.as_ref().map_or(simulation.steps(), |s| s.step),
                task: snapshot.as_ref().and_then(|s| s.task.clone()),
                dump: snapshot.map(|s| s.dump),
                cause,
            });
        }
        Ok(Exploration {
            runs,
            schedules: schedules.len(),
            steps,
        })
    }
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim();
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    match parsed {
        Ok(n) => Some(n),
        Err(_) => panic!(
            "duet::sim: {name}={text:?} is not a number; give it in decimal or as hex with 0x \
             (the form a failure report prints), or unset it"
        ),
    }
}

/// What a test body's output says about the run: `()` passes; `Ok` passes and `Err`
/// fails with the error's `Debug`.
///
/// # Examples
///
/// ```
/// use duet::sim::Verdict;
///
/// assert!(().verdict().is_ok());
/// assert!(Ok::<u8, &str>(1).verdict().is_ok());
/// assert_eq!(Err::<u8, &str>("boom").verdict().unwrap_err(), "returned Err(\"boom\")");
/// ```
pub trait Verdict {
    /// `Ok` if the run passed, or why it failed.
    fn verdict(self) -> Result<(), String>;
}

impl Verdict for () {
    fn verdict(self) -> Result<(), String> {
        Ok(())
    }
}

impl<T, E: fmt::Debug> Verdict for Result<T, E> {
    fn verdict(self) -> Result<(), String> {
        self.map(drop).map_err(|e| format!("returned Err({e:?})"))
    }
}

/// What an exploration covered.
///
/// # Examples
///
/// ```
/// let report = duet::sim::Explorer::new().runs(4).explore(|| async {}).unwrap();
/// assert_eq!((report.runs(), report.schedules()), (4, 1)); // nothing to reorder
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exploration {
    runs: u32,
    schedules: usize,
    steps: u64,
}

impl Exploration {
    /// How many runs passed.
    pub fn runs(&self) -> u32 {
        self.runs
    }

    /// How many distinct schedules (by [fingerprint](super::Simulated::fingerprint)) the
    /// runs followed.
    pub fn schedules(&self) -> usize {
        self.schedules
    }

    /// Steps taken in all runs together.
    pub fn steps(&self) -> u64 {
        self.steps
    }
}

enum Cause {
    Panicked(Box<dyn std::any::Any + Send + 'static>),
    Returned(String),
}

/// The first failing run of an exploration: its seed, where it failed, and why.
///
/// Its `Display` is the report [`Explorer::check`] panics with:
///
/// ```text
/// duet::sim: run 37 of 256 failed (seed 0x5b1c9c2e0d4f6a71, strategy: random) at step 412:
///     an increment was lost
/// Replay exactly this run: DUET_SEED=0x5b1c9c2e0d4f6a71 cargo test <this test>
/// The task tree when it failed: ...
/// ```
///
/// # Examples
///
/// ```
/// let failure = duet::sim::Explorer::new()
///     .explore(|| async { Err::<(), _>("no") })
///     .unwrap_err();
/// assert_eq!(failure.run(), 0);
/// assert_eq!(failure.message(), "returned Err(\"no\")");
/// assert!(failure.to_string().contains(&format!("DUET_SEED={:#x}", failure.seed())));
/// ```
pub struct Failure {
    seed: u64,
    run: u32,
    runs: u32,
    strategy: Strategy,
    step: u64,
    task: Option<String>,
    dump: Option<String>,
    cause: Cause,
}

impl Failure {
    /// The seed of the failing run: [`Explorer::replay`] it, or set `DUET_SEED`.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Which run failed (0 is the first).
    pub fn run(&self) -> u32 {
        self.run
    }

    /// The step at which it failed: the first task panic's, or the end of the run (a
    /// panic of the root future, a deadlock, an `Err` returned).
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The panic message, or the `Err` the body returned.
    pub fn message(&self) -> &str {
        match &self.cause {
            Cause::Returned(message) => message,
            Cause::Panicked(payload) => {
                payload_text(&**payload).unwrap_or("a panic with a payload that is not a string")
            }
        }
    }

    /// The task that panicked, if one did, as a [`TaskRef`](crate::TaskRef) shows it:
    /// "task #1 \`name\` spawned at src/lib.rs:12:15".
    ///
    /// # Examples
    ///
    /// ```
    /// let failure = duet::sim::Explorer::new()
    ///     .explore(|| duet::scope(duet::infallible(async |s| {
    ///         s.spawn_named("checker", async { panic!("wrong") });
    ///     })))
    ///     .unwrap_err();
    /// assert!(failure.task().unwrap().starts_with("task #0 `checker` spawned at"));
    /// ```
    pub fn task(&self) -> Option<&str> {
        self.task.as_deref()
    }

    /// The task tree when a task first panicked, if one did.
    pub fn dump(&self) -> Option<&str> {
        self.dump.as_deref()
    }

    /// The panic's payload, to re-raise it with [`std::panic::resume_unwind`]; `None` if
    /// the body returned an `Err`.
    pub fn into_panic(self) -> Option<Box<dyn std::any::Any + Send + 'static>> {
        match self.cause {
            Cause::Panicked(payload) => Some(payload),
            Cause::Returned(_) => None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "duet::sim: run {} of {} failed (seed {:#x}, strategy: {}) at step {}:",
            self.run, self.runs, self.seed, self.strategy, self.step
        )?;
        for line in self.message().lines() {
            writeln!(f, "    {line}")?;
        }
        write!(
            f,
            "Replay exactly this run: DUET_SEED={:#x} cargo test <this test> \
             (or Explorer::replay({:#x}))",
            self.seed, self.seed
        )?;
        if let Some(task) = &self.task {
            write!(f, "\nThe task that panicked: {task}")?;
        }
        if let Some(dump) = &self.dump {
            write!(f, "\nThe task tree when it failed:\n{dump}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failure")
            .field("seed", &format_args!("{:#x}", self.seed))
            .field("run", &self.run)
            .field("step", &self.step)
            .field("message", &self.message())
            .finish_non_exhaustive()
    }
}

impl std::error::Error for Failure {}
