//! The state of one simulated run: the seeded choices the loop and its scopes make, the
//! steps counted so far, the work offloaded to "other threads", and what the run looked
//! like when it failed.
//!
//! One [`Simulation`] serves a `run` started with [`Config::simulated`] and every `run`
//! nested in it (a nested run inherits it, as it inherits the virtual clock), so that the
//! whole thread draws its choices from one generator, in the order the program makes
//! them.
//!
//! # Invariants
//!
//! 1. Every choice is drawn from `rng`, on the loop's thread, in an order fixed by the
//!    program and the earlier choices; nothing here reads the real clock, a thread id,
//!    an address or a process-wide counter. So a seed and a program name one schedule.
//! 2. Scopes and tasks are named by the order in which the run first polls them (scope
//!    numbers) and their slot in their scope, never by process-wide ids, which other
//!    threads' runs also draw from.
//! 3. A round plan keeps every task queued at its start: the ones it does not poll stay
//!    queued (their wake-up is not lost, only delayed), and a task is deferred at most
//!    as long as the strategy's fairness allows (see `plan_round`).
//!
//! [`Config::simulated`]: crate::Config::simulated

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use super::rng::Rng;
use super::{Lane, Strategy, TaskPoll};
use crate::current::frame::ROUND_BUDGET;

/// Work handed to another thread, which the simulation runs on the loop's thread instead,
/// at a seeded point.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// What the run looked like when a task panicked: the step, the task tree, and the
/// panic's message (which tells the panic that failed the run from one the test caught).
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) step: u64,
    pub(crate) dump: String,
    /// The task that panicked, where the driver knows it (not for a destructor's panic).
    pub(crate) task: Option<String>,
    message: Option<String>,
}

/// The task panics a run remembers (the first of each message): a test that catches
/// panics on purpose makes a few, not thousands.
const SNAPSHOTS: usize = 16;

/// The text of a panic's payload, if it is a string.
pub(crate) fn payload_text(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
}

/// What a simulated run is made with: all of it is in a failure report, so that a replay
/// makes the same choices.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) seed: u64,
    pub(crate) strategy: Strategy,
}

/// How many task polls a PCT schedule lets pass on average before it runs a round whole,
/// so that a task spinning on `yield_now` at the highest priority cannot starve the one
/// it waits for.
const PCT_FAIRNESS: usize = 8;

pub(crate) struct Simulation {
    settings: Settings,
    rng: RefCell<Rng>,
    steps: Cell<u64>,
    /// A fingerprint of the schedule so far: every poll, in order (FNV-1a over the task
    /// names).
    fingerprint: Cell<u64>,
    trace: RefCell<Option<Vec<TaskPoll>>>,
    /// Process-wide scope id → this run's scope number (1, 2, ... in order of first poll;
    /// 0 is the root future).
    scopes: RefCell<HashMap<u64, u32>>,
    /// Jobs waiting, in submission order, with the pool each was sent to.
    offloaded: RefCell<VecDeque<(Lane, Job)>>,
    pct: RefCell<Pct>,
    failures: RefCell<Vec<Snapshot>>,
}

/// PCT's state: a priority per task (drawn when the task is first seen), and the steps at
/// which the task being polled drops below every other.
#[derive(Default)]
struct Pct {
    priorities: HashMap<(u32, u32), u64>,
    /// Steps at which a priority change happens, latest first (popped from the end).
    change_points: Vec<u64>,
    /// The next priority handed out at a change point: below every drawn priority (those
    /// are at least `u32::MAX`), each one below the last.
    next_low: u64,
}

impl Simulation {
    pub(crate) fn new(settings: Settings, record_trace: bool) -> Self {
        let mut rng = Rng::new(settings.seed);
        let mut pct = Pct {
            next_low: u64::from(u32::MAX) - 1,
            ..Pct::default()
        };
        if let Strategy::Pct { depth } = settings.strategy {
            // Change points spread over a horizon drawn from the seed, log-uniform from 16
            // to 65,536 steps: runs of every length get some, and the seed alone (no
            // measured run length) decides them, so a replay gets the same ones.
            let horizon = 1u64 << (4 + rng.below(13));
            // A run uses at most one change point per step: more than `horizon` of them
            // would only cost memory (8 bytes each, for any depth a caller passes).
            let points = u64::from(depth.saturating_sub(1)).min(horizon);
            pct.change_points = (0..points).map(|_| 1 + rng.next_u64() % horizon).collect();
            pct.change_points.sort_unstable_by(|a, b| b.cmp(a));
        }
        Simulation {
            settings,
            rng: RefCell::new(rng),
            steps: Cell::new(0),
            fingerprint: Cell::new(0xCBF2_9CE4_8422_2325),
            trace: RefCell::new(record_trace.then(Vec::new)),
            scopes: RefCell::new(HashMap::new()),
            offloaded: RefCell::new(VecDeque::new()),
            pct: RefCell::new(pct),
            failures: RefCell::new(Vec::new()),
        }
    }

    /// Task polls made so far (the root future's included).
    pub(crate) fn steps(&self) -> u64 {
        self.steps.get()
    }

    pub(crate) fn fingerprint(&self) -> u64 {
        self.fingerprint.get()
    }

    pub(crate) fn take_trace(&self) -> Vec<TaskPoll> {
        self.trace.borrow_mut().take().unwrap_or_default()
    }

    /// The snapshot of the first task panic with this message: the one that failed a run
    /// which ended in a panic with it (a panic re-raised by each scope it passes keeps its
    /// payload). `None` if no task panicked with it (the root future's own panic, or one
    /// made anew from a panic the test caught).
    pub(crate) fn failure_for(&self, message: Option<&str>) -> Option<Snapshot> {
        let failures = self.failures.borrow();
        failures
            .iter()
            .find(|s| s.message.as_deref() == message)
            .cloned()
    }

    /// A fresh seed for something that keeps its own generator (a loop's timer heap).
    pub(crate) fn derive_seed(&self) -> u64 {
        self.rng.borrow_mut().next_u64()
    }

    /// This run's number for the scope with process-wide id `scope`.
    fn scope_number(&self, scope: u64) -> u32 {
        let mut scopes = self.scopes.borrow_mut();
        let next = u32::try_from(scopes.len() + 1).unwrap_or(u32::MAX);
        *scopes.entry(scope).or_insert(next)
    }

    /// Orders the round a scope is about to run (`batch`: the tasks queued at its start)
    /// and returns how many of them to poll now; the rest stay queued for a later round.
    pub(crate) fn plan_round(&self, scope: u64, batch: &mut [u32]) -> usize {
        let mut rng = self.rng.borrow_mut();
        match self.settings.strategy {
            Strategy::Random => {
                rng.shuffle(batch);
                if batch.len() > 1 && rng.one_in(2) {
                    1 + rng.below(batch.len())
                } else {
                    batch.len()
                }
            }
            Strategy::Pct { .. } => {
                let scope = self.scope_number(scope);
                let mut pct = self.pct.borrow_mut();
                // Ties (never in practice: 64-bit draws) keep the queue order.
                batch.sort_by_cached_key(|&task| {
                    std::cmp::Reverse(
                        *pct.priorities
                            .entry((scope, task))
                            .or_insert_with(|| rng.next_u64() | u64::from(u32::MAX)),
                    )
                });
                if rng.one_in(PCT_FAIRNESS) {
                    batch.len()
                } else {
                    1
                }
            }
        }
    }

    /// How many task polls the scope may make in this poll before it yields to its parent.
    pub(crate) fn round_budget(&self) -> u32 {
        let mut rng = self.rng.borrow_mut();
        if rng.one_in(4) {
            1 + rng.below(8) as u32
        } else {
            ROUND_BUDGET
        }
    }

    /// Counts a poll of task `task` of scope `scope` (`None`: the root future).
    pub(crate) fn record_poll(&self, scope: Option<u64>, task: u32) {
        let scope = scope.map_or(0, |id| self.scope_number(id));
        let step = self.steps.get() + 1;
        self.steps.set(step);
        let poll = TaskPoll::new(scope, task);
        let mut hash = self.fingerprint.get();
        for byte in scope.to_le_bytes().into_iter().chain(task.to_le_bytes()) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3);
        }
        self.fingerprint.set(hash);
        if let Some(trace) = self.trace.borrow_mut().as_mut() {
            trace.push(poll);
        }
        if matches!(self.settings.strategy, Strategy::Pct { .. }) {
            let mut pct = self.pct.borrow_mut();
            if pct.change_points.last().is_some_and(|&at| at <= step) {
                pct.change_points.pop();
                let low = pct.next_low;
                pct.next_low = low.saturating_sub(1);
                pct.priorities.insert((scope, task), low);
            }
        }
    }

    /// True if the loop should flush buffered futures at this busy tick (asked once 16
    /// busy ticks have passed in a row, when the normal loop flushes; any later tick is
    /// as valid a point).
    pub(crate) fn flush_now(&self) -> bool {
        self.rng.borrow_mut().one_in(4)
    }

    /// Takes over a job that would run on another thread.
    pub(crate) fn offload(&self, lane: Lane, job: Job) {
        self.offloaded.borrow_mut().push_back((lane, job));
    }

    /// Runs one offloaded job, chosen by the seed, if any is waiting and `now` says so
    /// (`always`, at an idle point; by chance at a busy one), with `run_job` (which runs
    /// it as a pool thread would: outside every loop, `runtime::run_as_pool_job`). True if
    /// one ran.
    pub(crate) fn run_offloaded(
        self: &Rc<Self>,
        always: bool,
        run_job: impl FnOnce(&Rc<Self>, Job),
    ) -> bool {
        let job = {
            let mut offloaded = self.offloaded.borrow_mut();
            if offloaded.is_empty() {
                return false;
            }
            let mut rng = self.rng.borrow_mut();
            if !always && !rng.one_in(4) {
                return false;
            }
            // A pool starts its jobs in submission order, `threads` at a time: the next to
            // finish is one of the first `threads` waiting of its pool.
            let mut ahead: Vec<(u64, usize)> = Vec::new();
            let runnable: Vec<usize> = (0..offloaded.len())
                .filter(|&at| {
                    let lane = offloaded[at].0;
                    let count = match ahead.iter_mut().find(|(pool, _)| *pool == lane.pool) {
                        Some((_, count)) => count,
                        None => {
                            ahead.push((lane.pool, 0));
                            &mut ahead.last_mut().expect("just pushed").1
                        }
                    };
                    *count += 1;
                    *count <= lane.threads
                })
                .collect();
            let at = runnable[rng.below(runnable.len())];
            offloaded.remove(at).map(|(_, job)| job)
        };
        // Outside every borrow: a job may offload more work, or run a loop of its own.
        if let Some(job) = job {
            self.record_poll(None, OFFLOAD_STEP);
            // As on the pool thread it stands for: outside the loop.
            run_job(self, job);
        }
        true
    }

    /// Runs every job still waiting: the loop has ended, and a future that outlives it
    /// must still get its value.
    pub(crate) fn run_all_offloaded(self: &Rc<Self>, run_job: impl Fn(&Rc<Self>, Job)) {
        while self.run_offloaded(true, &run_job) {}
    }

    /// Remembers a task panic: the step, and the task tree as it is now (`dump` renders
    /// it; the caller calls this while the task is still in it), unless a panic with the
    /// same message was noted already (the same panic, re-raised by an enclosing scope:
    /// then `dump` is not called).
    pub(crate) fn note_panic(
        &self,
        payload: &(dyn std::any::Any + Send),
        task: Option<&crate::TaskRef>,
        dump: impl FnOnce() -> String,
    ) {
        let message = payload_text(payload);
        {
            let failures = self.failures.borrow();
            if failures.len() >= SNAPSHOTS
                || failures.iter().any(|s| s.message.as_deref() == message)
            {
                return;
            }
        }
        let snapshot = Snapshot {
            step: self.steps.get(),
            dump: dump(),
            task: task.map(ToString::to_string),
            message: message.map(str::to_string),
        };
        self.failures.borrow_mut().push(snapshot);
    }
}

/// The task number an offloaded job's run is recorded under (in scope 0, the root's).
pub(crate) const OFFLOAD_STEP: u32 = u32::MAX - 1;

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("seed", &self.settings.seed)
            .field("strategy", &self.settings.strategy)
            .field("steps", &self.steps.get())
            .finish_non_exhaustive()
    }
}
