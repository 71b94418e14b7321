//! Model-based property test: random programs of nested scopes, checked against a model
//! of what duet promises.
//!
//! A program is a tree of scopes; each task runs a sequence of operations: yield, sleep
//! (on the virtual clock), spawn a sibling, spawn one and cancel it through its handle,
//! open a nested scope (optionally a timeout scope), call a nested `run`, await a value
//! another thread produces (through a channel, or an `AwaitableFuture` the thread sets,
//! abandons or cancels), await an `AwaitableFuture` a sibling task sets, run a stretch
//! of operations under `duet::timeout`, run a stretch holding a `Limiter` slot, fail,
//! panic, cancel its scope. Each program runs in two ways, by two tests:
//!
//! - `scope_trees_keep_duets_promises`: on a virtual clock
//!   (`run_with(Config::new().virtual_clock(), ..)`), the other threads real ones;
//! - `scope_trees_keep_duets_promises_under_every_schedule`: under `MODEL_SEEDS` (4)
//!   seeded schedules each (`duet::sim::run`): rounds in any order and of any length,
//!   short budgets, ties of equal deadlines in any order; "another thread" is then a job
//!   of duet's pool, which the simulation runs on the loop's thread at a seeded step. The
//!   first seed runs twice and must give the same schedule.
//!
//! Nothing the model expects depends on the order of a round or of equal deadlines:
//! the checks below hold in every schedule duet may choose. Running it records a trace: which operations executed, how each scope reported, which
//! futures were created and dropped, what the clock read. The model then checks:
//!
//! 1. every future the program created (tasks, nested scopes, sleeps, timeouts, limiter
//!    acquisitions, awaited `AwaitableFuture`s) was dropped exactly once;
//! 2. no operation ran (or resumed from an await) after its scope reported;
//! 3. no task outlived its scope (none alive when the scope reported);
//! 4. a scope's result matches what ran in it: `Ok` only if no failure or cancel ran and
//!    each of its tasks completed or was cancelled through its handle; `Failed` carries
//!    exactly the failures that ran (none lost, none invented); `Cancelled` with reason
//!    `Explicit` only if a cancel ran in it, with `TimedOut` only if it is a timeout scope
//!    and its deadline has passed, never with another reason;
//! 5. a panic anywhere surfaces from `run` with the payload of a panic that ran, and
//!    nothing surfaces as a panic otherwise (a false deadlock report fails the case);
//! 6. time: a sleep never ends before its deadline; a `timeout` reports `Elapsed` only
//!    once its deadline has passed; a timeout scope reports `is_timeout()` only once its
//!    deadline has passed. Without nested runs (which move the shared clock while the
//!    outer loop is blocked) these are exact: a sleep ends exactly at its deadline, a
//!    timeout fires exactly at its deadline, and work that finished under a time limit
//!    finished no later than its deadline;
//! 7. awaited `AwaitableFuture`s give what their producer did: the value, `Abandoned` or
//!    `Cancelled`;
//! 8. limiters: never more holders inside a limited stretch than the capacity, and at the
//!    end of every run each limiter is fully available again (no slot leaked, nobody
//!    left queued);
//! 9. a program without fail, panic or cancel operations, without time limits that may
//!    fire (a generous one may, if a real thread is involved: the virtual clock jumps
//!    while the loop waits on another thread) completes: every scope reports `Ok` and
//!    every operation of every task runs; and when it has no nested run, no real
//!    thread and no limiter, it ends at the exact virtual time a reference interpreter
//!    of the program's timing computes (under simulation, other-thread operations take
//!    no virtual time: the pool job holds the clock until it has run);
//! 10. no program hangs: each runs under a watchdog, and a hang fails the case;
//! 11. shields: every shielded sleep that started finishes, whatever cancels its task;
//! 12. a failure under fail-fast, or a panic, cancels its siblings before any of them is
//!     polled again: no operation of that scope, or of a scope nested in it, runs or
//!     resumes after it (in programs without shields, which run on to their next await).
//!
//! Each test runs `PROPTEST_CASES` cases (by default 1,000 on the virtual clock, and
//! 1,000 under 4 seeds each). For a long run, see `design/reliability.md`:
//! `PROPTEST_CASES=175000 MODEL_SEEDS=8 cargo test --release --test model under_every`.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use duet::{AwaitError, AwaitableFuture, CancelReason, Limiter, Scope, ScopeError, ScopeOptions};
use futures::FutureExt;
use proptest::prelude::*;

/// A time limit that never fires in a program without other threads: more than every
/// sleep of any program added up.
const GENEROUS_MS: u64 = 1_000_000;

/// Limiters per run: one per nesting level of `Limited` (stretches nest at most 5 deep).
const LEVELS: usize = 8;

#[derive(Debug, Clone)]
enum Op {
    Yield,
    /// Sleep this many virtual milliseconds.
    Sleep(u64),
    /// Sleep this many virtual milliseconds inside `duet::shield`: no cancellation may cut
    /// it, whatever cancels the task (its handle, its scope, a failure, a timeout).
    Shielded(u64),
    /// Spawn a sibling task into the current scope.
    Spawn(Task),
    /// Spawn a sibling and cancel it through its handle at once (it never runs).
    SpawnAndCancel(Task),
    /// Spawn a sibling, yield, then cancel it through its handle (if still running).
    SpawnYieldCancel(Task),
    /// Open a nested scope and await it (its result is recorded, not propagated).
    Nested(ScopeProgram),
    /// Run a scope in a nested `duet::run`.
    NestedRun(ScopeProgram),
    /// Await a value produced by another thread, through a oneshot channel.
    CrossThread,
    /// Await an `AwaitableFuture` that another thread sets, abandons or cancels.
    AwaitThread(ThreadEnd),
    /// Await an `AwaitableFuture` that a sibling task sets after some yields and a sleep.
    AwaitTask {
        yields: u8,
        sleep_ms: u64,
    },
    /// Run these operations (in this task) under `duet::timeout(ms)`.
    Timeout {
        ms: u64,
        body: Task,
    },
    /// Run these operations (in this task) holding a slot of this run's limiter for the
    /// current nesting level.
    Limited(Task),
    Fail,
    Panic,
    Cancel,
}

/// What the other thread does with an `AwaitableFuture` it was handed.
#[derive(Debug, Clone, Copy)]
enum ThreadEnd {
    Set,
    Abandon,
    Cancel,
}

#[derive(Debug, Clone)]
struct Task {
    ops: Vec<Op>,
}

#[derive(Debug, Clone)]
struct ScopeProgram {
    collect_all: bool,
    /// A timeout scope (`ScopeOptions::timeout`), in virtual milliseconds.
    timeout_ms: Option<u64>,
    body: Task,
}

/// A program, the capacities of its limiters (one per nesting level), and where its
/// simulated schedules' seeds start (`first_seed`, `first_seed + 1`, ...).
#[derive(Debug, Clone)]
struct Case {
    program: ScopeProgram,
    capacities: Vec<usize>,
    first_seed: u64,
}

fn sleep_ms() -> impl Strategy<Value = u64> + Clone {
    prop_oneof![Just(0), Just(1), Just(3), Just(10), Just(30)]
}

fn timeout_ms() -> impl Strategy<Value = u64> + Clone {
    prop_oneof![
        1 => Just(0),
        2 => Just(2),
        2 => Just(5),
        2 => Just(20),
        4 => Just(GENEROUS_MS),
    ]
}

fn scope_timeout() -> impl Strategy<Value = Option<u64>> + Clone {
    prop_oneof![4 => Just(None), 1 => timeout_ms().prop_map(Some)]
}

/// Programs; `calm` ones have no fail, panic or cancel operations, so that they
/// usually run to the end and grow large (up to a couple of hundred tasks).
fn program(calm: bool) -> impl Strategy<Value = ScopeProgram> {
    let mut leaves: Vec<(u32, BoxedStrategy<Op>)> = vec![
        (6, Just(Op::Yield).boxed()),
        (3, sleep_ms().prop_map(Op::Sleep).boxed()),
        (1, sleep_ms().prop_map(Op::Shielded).boxed()),
        (1, Just(Op::CrossThread).boxed()),
        (
            1,
            prop_oneof![
                3 => Just(ThreadEnd::Set),
                1 => Just(ThreadEnd::Abandon),
                1 => Just(ThreadEnd::Cancel),
            ]
            .prop_map(Op::AwaitThread)
            .boxed(),
        ),
        (
            2,
            (0..3u8, sleep_ms())
                .prop_map(|(yields, sleep_ms)| Op::AwaitTask { yields, sleep_ms })
                .boxed(),
        ),
    ];
    if !calm {
        leaves.push((1, Just(Op::Fail).boxed()));
        leaves.push((1, Just(Op::Panic).boxed()));
        leaves.push((1, Just(Op::Cancel).boxed()));
    }
    let leaf = prop::strategy::Union::new_weighted(leaves);
    let op = leaf.prop_recursive(5, 1000, 8, |inner| {
        let task = prop::collection::vec(inner, 0..10).prop_map(|ops| Task { ops });
        let scope = (any::<bool>(), scope_timeout(), task.clone()).prop_map(
            |(collect_all, timeout_ms, body)| ScopeProgram {
                collect_all,
                timeout_ms,
                body,
            },
        );
        prop_oneof![
            4 => task.clone().prop_map(Op::Spawn),
            1 => task.clone().prop_map(Op::SpawnAndCancel),
            1 => task.clone().prop_map(Op::SpawnYieldCancel),
            2 => scope.clone().prop_map(Op::Nested),
            1 => scope.prop_map(Op::NestedRun),
            2 => (timeout_ms(), task.clone()).prop_map(|(ms, body)| Op::Timeout { ms, body }),
            2 => task.prop_map(Op::Limited),
        ]
    });
    (
        any::<bool>(),
        scope_timeout(),
        prop::collection::vec(op, 0..10),
    )
        .prop_map(|(collect_all, timeout_ms, ops)| ScopeProgram {
            collect_all,
            timeout_ms,
            body: Task { ops },
        })
}

fn case() -> impl Strategy<Value = Case> {
    let program = prop_oneof![program(false), program(true)];
    (
        program,
        prop::collection::vec(1..=3usize, LEVELS),
        any::<u64>(),
    )
        .prop_map(|(program, capacities, first_seed)| Case {
            program,
            capacities,
            first_seed,
        })
}

/// What a program contains, anywhere in it.
#[derive(Debug, Default, Clone, Copy)]
struct Features {
    nested_run: bool,
    other_thread: bool,
    limiter: bool,
    shield: bool,
    /// Not a feature of the program: it runs under simulation, where "another thread" is
    /// a pool job that holds the virtual clock until it has run, on the loop's thread.
    simulated: bool,
}

impl Features {
    /// The virtual clock may jump while the loop waits for another thread: real threads
    /// are involved (under simulation, the job holds the clock until it has run).
    fn real_threads(self) -> bool {
        self.other_thread && !self.simulated
    }

    /// Time limits fire exactly at their deadlines: no nested run moves the shared clock
    /// while the outer loop is blocked, and no shield makes a limit wait for it.
    fn exact_limits(self) -> bool {
        !self.nested_run && !self.shield
    }
}

fn features(task: &Task, f: &mut Features) {
    for op in &task.ops {
        match op {
            Op::NestedRun(s) => {
                f.nested_run = true;
                features(&s.body, f);
            }
            Op::CrossThread | Op::AwaitThread(_) => f.other_thread = true,
            Op::Limited(t) => {
                f.limiter = true;
                features(t, f);
            }
            Op::Spawn(t) | Op::SpawnAndCancel(t) | Op::SpawnYieldCancel(t) => features(t, f),
            Op::Timeout { body, .. } => features(body, f),
            Op::Nested(s) => features(&s.body, f),
            Op::Shielded(_) => f.shield = true,
            Op::Yield | Op::Sleep(_) | Op::AwaitTask { .. } | Op::Fail | Op::Panic | Op::Cancel => {
            }
        }
    }
}

fn program_features(program: &ScopeProgram) -> Features {
    let mut f = Features::default();
    features(&program.body, &mut f);
    f
}

/// A time limit that may fire: any but a generous one, and a generous one too when a
/// real thread is involved (the virtual clock jumps while the loop waits for it).
fn may_fire(ms: u64, f: Features) -> bool {
    ms != GENEROUS_MS || f.real_threads()
}

/// True if some operation may cut the program short: a failure, a panic, a cancel, or a
/// time limit that may fire.
fn has_terminal_ops(task: &Task, f: Features) -> bool {
    task.ops.iter().any(|op| match op {
        Op::Fail | Op::Panic | Op::Cancel => true,
        Op::Spawn(t) | Op::Limited(t) => has_terminal_ops(t, f),
        // May cut its task short (it is only predictable that it never runs at all).
        Op::SpawnYieldCancel(_) => true,
        // Never runs: cancelled before its first poll.
        Op::SpawnAndCancel(_) => false,
        Op::Nested(s) | Op::NestedRun(s) => scope_is_terminal(s, f),
        Op::Timeout { ms, body } => may_fire(*ms, f) || has_terminal_ops(body, f),
        Op::Yield
        | Op::Sleep(_)
        | Op::Shielded(_)
        | Op::CrossThread
        | Op::AwaitThread(_)
        | Op::AwaitTask { .. } => false,
    })
}

fn scope_is_terminal(s: &ScopeProgram, f: Features) -> bool {
    s.timeout_ms.is_some_and(|ms| may_fire(ms, f)) || has_terminal_ops(&s.body, f)
}

/// The reference interpreter of a program's timing, for programs that `has_terminal_ops`
/// says run to the end and that have no nested run, no real thread and no limiter:
/// the virtual milliseconds the scope takes. Operations of a task run one after another;
/// a spawned task starts when it is spawned; a scope ends when its body and every task
/// spawned into it have ended; yields take no time, and neither does a value from
/// "another thread" under simulation (a pool job that holds the clock until it ran).
fn scope_duration(program: &ScopeProgram) -> u64 {
    let mut ends = Vec::new();
    let body_end = task_end(&program.body, 0, &mut ends);
    ends.into_iter().fold(body_end, u64::max)
}

/// When a task starting at `start` ends; the ends of tasks it spawns into its scope go
/// to `ends`.
fn task_end(task: &Task, start: u64, ends: &mut Vec<u64>) -> u64 {
    let mut now = start;
    for op in &task.ops {
        match op {
            Op::Sleep(ms) | Op::Shielded(ms) => now += ms,
            Op::Spawn(child) => {
                let end = task_end(child, now, ends);
                ends.push(end);
            }
            Op::Nested(s) => now += scope_duration(s),
            Op::AwaitTask { sleep_ms, .. } => {
                // The producer is a sibling that ends when it sets the value.
                now += sleep_ms;
                ends.push(now);
            }
            Op::Timeout { body, .. } => now = task_end(body, now, ends),
            Op::Yield | Op::SpawnAndCancel(_) | Op::CrossThread | Op::AwaitThread(_) => {}
            Op::SpawnYieldCancel(_)
            | Op::NestedRun(_)
            | Op::Limited(_)
            | Op::Fail
            | Op::Panic
            | Op::Cancel => unreachable!("not in a program with predicted timing"),
        }
    }
    now
}

/// How a scope reported.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Ok,
    Failed(Vec<u32>),
    Cancelled(CancelReason, Vec<u32>),
}

#[derive(Default)]
struct Trace {
    features: Features,
    next_id: Cell<u32>,
    /// Failures that ran, by scope.
    failures: RefCell<BTreeMap<u32, Vec<u32>>>,
    cancels: RefCell<BTreeSet<u32>>,
    /// Scopes in which a failure ran under fail-fast, or a panic ran (invariant 12).
    torn_down: RefCell<BTreeSet<u32>>,
    panics: RefCell<Vec<u32>>,
    outcomes: RefCell<BTreeMap<u32, Outcome>>,
    /// Tasks spawned into a scope that have not been dropped yet.
    alive: RefCell<BTreeMap<u32, usize>>,
    spawned: RefCell<BTreeMap<u32, usize>>,
    completed: RefCell<BTreeMap<u32, usize>>,
    /// Tasks cancelled through their handles before they finished.
    handle_cancelled: RefCell<BTreeMap<u32, usize>>,
    /// Handles cancelled while their task ran, by scope: a task inside a shield finishes
    /// its shield first and may then complete, so whether it counts as cancelled is read
    /// from the handle once its scope has reported.
    cancelled_while_running: RefCell<Vec<(u32, duet::JoinHandle<()>)>>,
    /// Futures created and dropped (tasks, scopes, sleeps, timeouts, acquisitions, ...).
    created: Cell<usize>,
    dropped: Cell<usize>,
    ops_run: Cell<usize>,
    /// Virtual time when the root scope started and when it reported.
    root_times: Cell<Option<(Instant, Instant)>>,
    /// Time limits that fired (for `MODEL_STATS`).
    fired: Cell<usize>,
    /// Shielded sleeps started, and finished.
    shields_started: Cell<usize>,
    shields_done: Cell<usize>,
    violations: RefCell<Vec<String>>,
}

impl Trace {
    /// How many tasks of `scope` cancelled through their handle while running did end
    /// cancelled (the scope has reported, so each handle resolves at once).
    fn ended_cancelled(&self, scope: u32) -> usize {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut handles = self.cancelled_while_running.borrow_mut();
        let mut cancelled = 0;
        for (_, handle) in handles.iter_mut().filter(|(s, _)| *s == scope) {
            let outcome = Pin::new(handle).poll(&mut cx);
            cancelled += usize::from(matches!(
                outcome,
                Poll::Ready(Err(duet::JoinError::Cancelled(_)))
            ));
        }
        cancelled
    }

    /// Runs `job` on another thread: a thread of its own, or under simulation a pool job
    /// (on the loop's thread, at a seeded step).
    fn other_thread(&self, job: impl FnOnce() + Send + 'static) {
        // Under simulation a pool job runs on the loop's thread at a seeded step, so that
        // the whole run is one seeded schedule.
        if self.features.simulated {
            duet::ThreadPool::global().execute(job);
        } else {
            std::thread::spawn(job);
        }
    }

    fn fresh_id(&self) -> u32 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    fn violation(&self, what: String) {
        self.violations.borrow_mut().push(what);
    }

    /// Invariant 12: no operation runs, or resumes from an await, in a scope (or a
    /// scope nested in it) after a failure ran in it under fail-fast or a panic ran in
    /// it: the failing task's siblings are cancelled before any of them is polled again.
    /// Not checked in programs with shields (a shielded task runs on to its next await).
    fn check_not_torn_down(&self, env: &Env<'_>, op: &Op) {
        if self.features.shield {
            return;
        }
        let torn_down = self.torn_down.borrow();
        if let Some(scope) = env.path.iter().find(|s| torn_down.contains(s)) {
            let op = format!("{op:?}");
            let op = op
                .split(['(', ' ', '{'])
                .next()
                .unwrap_or_default()
                .to_owned();
            drop(torn_down);
            self.violation(format!(
                "operation {op} of scope {} ran after scope {scope} failed or panicked",
                env.scope_id
            ));
        }
    }

    fn check_not_reported(&self, scope: u32) {
        if self.outcomes.borrow().contains_key(&scope) {
            self.violation(format!(
                "an operation of scope {scope} ran after it reported"
            ));
        }
    }

    fn count(map: &RefCell<BTreeMap<u32, usize>>, scope: u32) {
        *map.borrow_mut().entry(scope).or_default() += 1;
    }

    /// Wraps a future so that its creation and drop are counted.
    fn track<F: Future>(&self, future: F) -> Counted<'_, F> {
        self.created.set(self.created.get() + 1);
        Counted {
            future: Box::pin(future),
            trace: self,
        }
    }

    /// Checks a time limit that ended: `fired` if it reported its deadline.
    fn check_limit(&self, what: &str, deadline: Instant, fired: bool) {
        let now = duet::now();
        self.fired.set(self.fired.get() + usize::from(fired));
        if fired && now < deadline {
            self.violation(format!(
                "{what} fired {:?} before its deadline",
                deadline - now
            ));
        }
        if self.features.exact_limits() {
            if fired && now != deadline {
                self.violation(format!(
                    "{what} fired {:?} after its deadline",
                    now - deadline
                ));
            }
            if !fired && now > deadline {
                self.violation(format!(
                    "{what} let work finish {:?} after its deadline",
                    now - deadline
                ));
            }
        }
    }
}

/// A future whose creation and drop the trace counts.
struct Counted<'t, F> {
    future: Pin<Box<F>>,
    trace: &'t Trace,
}

impl<F: Future> Future for Counted<'_, F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.future.as_mut().poll(cx)
    }
}

impl<F> Drop for Counted<'_, F> {
    fn drop(&mut self) {
        self.trace.dropped.set(self.trace.dropped.get() + 1);
    }
}

/// Counts a task's life in its scope: alive from spawn until dropped.
struct Life<'t> {
    trace: &'t Trace,
    scope: u32,
}

impl Drop for Life<'_> {
    fn drop(&mut self) {
        *self.trace.alive.borrow_mut().get_mut(&self.scope).unwrap() -= 1;
    }
}

/// The limiters of one `run` (a nested run gets its own: the outer loop is blocked while
/// it runs, so sharing would deadlock by design).
struct RunLimits {
    limiters: Vec<Limiter>,
    inside: Vec<Cell<usize>>,
}

impl RunLimits {
    fn new(capacities: &[usize]) -> Rc<Self> {
        Rc::new(RunLimits {
            limiters: capacities.iter().map(|&c| Limiter::new(c)).collect(),
            inside: capacities.iter().map(|_| Cell::new(0)).collect(),
        })
    }

    /// Invariant 8 at the end of a run: every slot back, nobody queued.
    fn check_balanced(&self, trace: &Trace) {
        for (level, limiter) in self.limiters.iter().enumerate() {
            if limiter.held() != 0 || limiter.waiting() != 0 || !limiter.is_available() {
                trace.violation(format!(
                    "limiter {level} not balanced at the end of its run: {} held, {} waiting",
                    limiter.held(),
                    limiter.waiting()
                ));
            }
        }
    }
}

/// Leaves a limited stretch (also when the stretch is dropped).
struct Inside<'a>(&'a Cell<usize>);

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// Where a task runs: its scope, the limiters of its run, and its limiter level.
#[derive(Clone)]
struct Env<'t> {
    scope: Scope<'t, u32>,
    scope_id: u32,
    collect_all: bool,
    /// The scopes this task is in: its own and every enclosing one, nested runs' callers
    /// included (for invariant 12).
    path: Rc<Vec<u32>>,
    limits: Rc<RunLimits>,
    level: usize,
    capacities: &'t [usize],
}

type OpsFuture<'t> = Pin<Box<dyn Future<Output = Result<(), u32>> + 't>>;

/// Spawns `future` as a task of the scope, counting its life.
fn spawn_tracked<'t>(
    env: &Env<'t>,
    trace: &'t Trace,
    future: impl Future<Output = Result<(), u32>> + 't,
) -> duet::JoinHandle<()> {
    let scope_id = env.scope_id;
    *trace.alive.borrow_mut().entry(scope_id).or_default() += 1;
    Trace::count(&trace.spawned, scope_id);
    let life = Life {
        trace,
        scope: scope_id,
    };
    let task = trace.track(async move {
        let _life = life;
        let result = future.await;
        if result.is_ok() {
            Trace::count(&trace.completed, scope_id);
        }
        result
    });
    env.scope.spawn(task)
}

fn spawn_child<'t>(child: &'t Task, env: &Env<'t>, trace: &'t Trace) -> duet::JoinHandle<()> {
    spawn_tracked(env, trace, run_ops(child, env.clone(), trace))
}

fn run_ops<'t>(task: &'t Task, env: Env<'t>, trace: &'t Trace) -> OpsFuture<'t> {
    Box::pin(async move {
        let scope_id = env.scope_id;
        for op in &task.ops {
            trace.check_not_reported(scope_id);
            trace.check_not_torn_down(&env, op);
            trace.ops_run.set(trace.ops_run.get() + 1);
            run_op(op, &env, trace).await?;
            trace.check_not_reported(scope_id);
            trace.check_not_torn_down(&env, op);
        }
        Ok(())
    })
}

async fn run_op<'t>(op: &'t Op, env: &Env<'t>, trace: &'t Trace) -> Result<(), u32> {
    let scope_id = env.scope_id;
    match op {
        Op::Yield => duet::yield_now().await,
        Op::Sleep(ms) => {
            let sleep = duet::sleep(Duration::from_millis(*ms));
            let deadline = sleep.deadline();
            trace.track(sleep).await;
            let now = duet::now();
            if now < deadline || (!trace.features.nested_run && now != deadline) {
                trace.violation(format!(
                    "a sleep of {ms} ms ended at {now:?}, its deadline was {deadline:?}"
                ));
            }
        }
        Op::Shielded(ms) => {
            trace.shields_started.set(trace.shields_started.get() + 1);
            duet::shield(async {
                trace.track(duet::sleep(Duration::from_millis(*ms))).await;
                // Counted inside the shield: the task may be dropped right after it.
                trace.shields_done.set(trace.shields_done.get() + 1);
            })
            .await;
        }
        Op::Spawn(child) => drop(spawn_child(child, env, trace)),
        Op::SpawnAndCancel(child) => {
            spawn_child(child, env, trace).cancel();
            Trace::count(&trace.handle_cancelled, scope_id);
        }
        Op::SpawnYieldCancel(child) => {
            let handle = spawn_child(child, env, trace);
            duet::yield_now().await;
            if !handle.is_finished() {
                handle.cancel();
                trace
                    .cancelled_while_running
                    .borrow_mut()
                    .push((scope_id, handle));
            }
        }
        Op::Nested(program) => {
            let run = run_scope_program(
                program,
                env.limits.clone(),
                env.level,
                env.capacities,
                env.path.clone(),
                trace,
            );
            trace.track(run).await;
        }
        Op::NestedRun(program) => {
            let limits = RunLimits::new(env.capacities);
            // Checked also when the nested run unwinds: its tasks are dropped by then.
            struct Balanced<'a>(Rc<RunLimits>, &'a Trace);
            impl Drop for Balanced<'_> {
                fn drop(&mut self) {
                    self.0.check_balanced(self.1);
                }
            }
            let _balanced = Balanced(limits.clone(), trace);
            let run =
                run_scope_program(program, limits, 0, env.capacities, env.path.clone(), trace);
            duet::run(trace.track(run));
        }
        Op::CrossThread => {
            let (tx, rx) = futures::channel::oneshot::channel();
            trace.other_thread(move || {
                let _ = tx.send(7u8);
            });
            let got = trace.track(rx).await;
            if got != Ok(7) {
                trace.violation(format!("the other thread's value arrived as {got:?}"));
            }
        }
        Op::AwaitThread(end) => {
            let future = AwaitableFuture::new();
            let producer = future.clone();
            let end = *end;
            trace.other_thread(move || match end {
                ThreadEnd::Set => producer.set_result(11u32),
                ThreadEnd::Abandon => drop(producer),
                ThreadEnd::Cancel => drop(producer.cancel()),
            });
            let got = trace.track(future).await;
            let expected = matches!(
                (end, &got),
                (ThreadEnd::Set, Ok(11))
                    | (ThreadEnd::Abandon, Err(AwaitError::Abandoned))
                    | (ThreadEnd::Cancel, Err(AwaitError::Cancelled))
            );
            if !expected {
                trace.violation(format!("a thread that did {end:?} gave {got:?}"));
            }
        }
        Op::AwaitTask { yields, sleep_ms } => {
            let future = AwaitableFuture::new();
            let producer = future.clone();
            let (yields, sleep_ms) = (*yields, *sleep_ms);
            drop(spawn_tracked(env, trace, async move {
                for _ in 0..yields {
                    duet::yield_now().await;
                }
                trace
                    .track(duet::sleep(Duration::from_millis(sleep_ms)))
                    .await;
                // The awaiter may be gone (cut by a timeout): then this is dropped.
                producer.set_result(13u32);
                Ok(())
            }));
            let got = trace.track(future).await;
            // After a shield, a task of a cancelled scope runs on to its next await; a
            // sibling spawned then is cancelled on arrival and abandons the future.
            let abandoned_in_teardown =
                matches!(got, Err(AwaitError::Abandoned)) && duet::is_cancelled();
            if !matches!(got, Ok(13)) && !abandoned_in_teardown {
                trace.violation(format!("a sibling's AwaitableFuture gave {got:?}"));
            }
        }
        Op::Timeout { ms, body } => {
            let timeout = duet::timeout(
                Duration::from_millis(*ms),
                run_ops(body, env.clone(), trace),
            );
            let deadline = timeout.deadline();
            let result = trace.track(timeout).await;
            trace.check_limit("a timeout", deadline, result.is_err());
            if let Ok(inner) = result {
                inner?;
            }
        }
        Op::Limited(body) => {
            let level = env.level;
            let limiter = &env.limits.limiters[level];
            let slot = trace.track(limiter.acquire()).await;
            let inside = &env.limits.inside[level];
            inside.set(inside.get() + 1);
            let _inside = Inside(inside);
            if inside.get() > env.capacities[level] {
                trace.violation(format!(
                    "{} holders inside a limiter of capacity {}",
                    inside.get(),
                    env.capacities[level]
                ));
            }
            let inner = Env {
                level: level + 1,
                ..env.clone()
            };
            run_ops(body, inner, trace).await?;
            drop(slot);
        }
        Op::Fail => {
            if !env.collect_all {
                trace.torn_down.borrow_mut().insert(scope_id);
            }
            let id = trace.fresh_id();
            trace
                .failures
                .borrow_mut()
                .entry(scope_id)
                .or_default()
                .push(id);
            return Err(id);
        }
        Op::Panic => {
            // Re-raised by every enclosing scope, and out of every nested run.
            trace
                .torn_down
                .borrow_mut()
                .extend(env.path.iter().copied());
            let id = trace.fresh_id();
            trace.panics.borrow_mut().push(id);
            panic::panic_any(id);
        }
        Op::Cancel => {
            trace.cancels.borrow_mut().insert(scope_id);
            env.scope.cancel();
        }
    }
    Ok(())
}

/// Runs a scope program (in the run whose limiters are `limits`, at limiter nesting
/// `level`, inside the scopes `enclosing`) and records how it reported.
fn run_scope_program<'t>(
    program: &'t ScopeProgram,
    limits: Rc<RunLimits>,
    level: usize,
    capacities: &'t [usize],
    enclosing: Rc<Vec<u32>>,
    trace: &'t Trace,
) -> Pin<Box<dyn Future<Output = ()> + 't>> {
    Box::pin(async move {
        let scope_id = trace.fresh_id();
        let mut path = (*enclosing).clone();
        path.push(scope_id);
        let path = Rc::new(path);
        trace.alive.borrow_mut().insert(scope_id, 0);
        let mut options = if program.collect_all {
            ScopeOptions::new().collect_all()
        } else {
            ScopeOptions::new()
        };
        // The scope's deadline counts from its first poll, which is this one.
        let deadline = program.timeout_ms.map(|ms| {
            options = options.clone().timeout(Duration::from_millis(ms));
            duet::now() + Duration::from_millis(ms)
        });
        let result = duet::scope_with(options, async |s: Scope<'t, u32>| {
            let env = Env {
                scope: s.clone(),
                scope_id,
                collect_all: program.collect_all,
                path,
                limits,
                level,
                capacities,
            };
            run_ops(&program.body, env, trace).await
        })
        .await;
        let alive = trace.alive.borrow()[&scope_id];
        if alive != 0 {
            trace.violation(format!(
                "scope {scope_id} reported with {alive} task(s) alive"
            ));
        }
        let outcome = match result {
            Ok(()) => Outcome::Ok,
            Err(ScopeError::Failed { error, mut others }) => {
                others.insert(0, error);
                Outcome::Failed(others)
            }
            Err(ScopeError::Cancelled { reason, errors }) => Outcome::Cancelled(reason, errors),
            Err(other) => panic!("unexpected scope error {other:?}"),
        };
        if let Some(deadline) = deadline {
            let timed_out = matches!(outcome, Outcome::Cancelled(CancelReason::TimedOut, _));
            // A failure or a cancel may end the scope before its deadline; only Ok and
            // a timeout say something about the time.
            if timed_out || outcome == Outcome::Ok {
                trace.check_limit(&format!("timeout scope {scope_id}"), deadline, timed_out);
            }
        } else if matches!(outcome, Outcome::Cancelled(CancelReason::TimedOut, _)) {
            trace.violation(format!(
                "scope {scope_id} without a time limit reported a timeout"
            ));
        }
        trace.outcomes.borrow_mut().insert(scope_id, outcome);
    })
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v
}

/// How a case runs: on a virtual clock with real threads for the cross-thread
/// operations, or under simulation with a seed (`duet::sim`).
#[derive(Debug, Clone, Copy)]
enum Mode {
    VirtualClock,
    Simulated(u64),
}

/// Runs a case and checks its trace against the model (invariants 1 to 9). Under
/// simulation, returns the schedule's fingerprint.
fn check(case: &Case, mode: Mode) -> Result<Option<u64>, TestCaseError> {
    let program = &case.program;
    let features = Features {
        simulated: matches!(mode, Mode::Simulated(_)),
        ..program_features(program)
    };
    let trace = Trace {
        features,
        ..Trace::default()
    };
    let limits = RunLimits::new(&case.capacities);
    let root = async {
        let start = duet::now();
        let root = run_scope_program(
            program,
            limits.clone(),
            0,
            &case.capacities,
            Rc::default(),
            &trace,
        );
        trace.track(root).await;
        trace.root_times.set(Some((start, duet::now())));
    };
    let mut fingerprint = None;
    let result = panic::catch_unwind(AssertUnwindSafe(|| match mode {
        Mode::VirtualClock => duet::run_with(duet::Config::new().virtual_clock(), root),
        Mode::Simulated(seed) => {
            // The panic is caught as it leaves the root future, where `run` would
            // propagate it, so that the schedule's fingerprint comes back with it; a
            // panic of duet's own loop still leaves `run`.
            let run = duet::sim::run(seed, AssertUnwindSafe(root).catch_unwind());
            fingerprint = Some(run.fingerprint());
            if let Err(payload) = run.into_output() {
                panic::resume_unwind(payload);
            }
        }
    }));
    limits.check_balanced(&trace);

    prop_assert_eq!(
        trace.created.get(),
        trace.dropped.get(),
        "every future is dropped exactly once"
    );
    prop_assert_eq!(
        trace.shields_started.get(),
        trace.shields_done.get(),
        "every shielded sleep that started finished, whatever cancelled its task"
    );
    prop_assert!(
        trace.violations.borrow().is_empty(),
        "{:?}",
        trace.violations.borrow()
    );

    let panics = trace.panics.borrow();
    match &result {
        Ok(()) => prop_assert!(panics.is_empty(), "panics {panics:?} ran but none surfaced"),
        Err(payload) => {
            let Some(id) = payload.downcast_ref::<u32>() else {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()));
                return Err(TestCaseError::fail(format!(
                    "duet panicked on its own: {message:?}"
                )));
            };
            prop_assert!(panics.contains(id), "panic {id} surfaced but never ran");
        }
    }

    let failures = trace.failures.borrow();
    let cancels = trace.cancels.borrow();
    for (scope, outcome) in trace.outcomes.borrow().iter() {
        let ran = sorted(failures.get(scope).cloned().unwrap_or_default());
        let count = |map: &RefCell<BTreeMap<u32, usize>>| map.borrow().get(scope).copied();
        match outcome {
            Outcome::Ok => {
                prop_assert!(
                    ran.is_empty(),
                    "scope {scope} is Ok but failures {ran:?} ran"
                );
                prop_assert!(
                    !cancels.contains(scope),
                    "scope {scope} is Ok but was cancelled"
                );
                let spawned = count(&trace.spawned).unwrap_or(0);
                let completed = count(&trace.completed).unwrap_or(0);
                let cancelled =
                    count(&trace.handle_cancelled).unwrap_or(0) + trace.ended_cancelled(*scope);
                prop_assert_eq!(
                    spawned,
                    completed + cancelled,
                    "scope {} is Ok but a task neither completed nor was cancelled",
                    scope
                );
            }
            Outcome::Failed(errors) => {
                prop_assert_eq!(
                    &sorted(errors.clone()),
                    &ran,
                    "scope {} lost or invented errors",
                    scope
                );
            }
            Outcome::Cancelled(reason, errors) => {
                match reason {
                    CancelReason::Explicit => prop_assert!(
                        cancels.contains(scope),
                        "scope {scope} cancelled without a cancel"
                    ),
                    // Checked against the clock where the scope reported.
                    CancelReason::TimedOut => {}
                    other => prop_assert!(false, "scope {scope} reported {other:?}"),
                }
                prop_assert_eq!(
                    &sorted(errors.clone()),
                    &ran,
                    "scope {} lost or invented errors",
                    scope
                );
            }
        }
    }

    let runs_to_the_end = !has_terminal_ops(&program.body, features)
        && !program.timeout_ms.is_some_and(|ms| may_fire(ms, features));
    let timed =
        runs_to_the_end && !(features.nested_run || features.real_threads() || features.limiter);
    if std::env::var_os("MODEL_STATS").is_some() {
        let outcomes = trace.outcomes.borrow();
        let kind = |o: &Outcome| match o {
            Outcome::Ok => "ok",
            Outcome::Failed(_) => "failed",
            Outcome::Cancelled(CancelReason::TimedOut, _) => "timeout",
            Outcome::Cancelled(..) => "cancelled",
        };
        let mut kinds = BTreeMap::new();
        for o in outcomes.values() {
            *kinds.entry(kind(o)).or_insert(0) += 1;
        }
        eprintln!(
            "STATS ops={} tasks={} scopes={} to_end={runs_to_the_end} timed={timed} \
             fired={} panicked={} {features:?} {kinds:?}",
            trace.ops_run.get(),
            trace.spawned.borrow().values().sum::<usize>(),
            outcomes.len(),
            trace.fired.get(),
            result.is_err(),
        );
    }
    if runs_to_the_end {
        prop_assert!(result.is_ok());
        prop_assert!(
            trace.outcomes.borrow().values().all(|o| *o == Outcome::Ok),
            "a program without failures reported {:?}",
            trace.outcomes.borrow()
        );
        prop_assert_eq!(
            trace.ops_run.get(),
            count_ops(&program.body),
            "every operation runs"
        );
        if timed {
            let (start, end) = trace.root_times.get().expect("the root reported");
            prop_assert_eq!(
                end - start,
                Duration::from_millis(scope_duration(program)),
                "the program took the time the reference interpreter computes"
            );
        }
    }
    Ok(fingerprint)
}

/// Operations a program that runs to the end runs: all of them, nested ones included.
fn count_ops(task: &Task) -> usize {
    task.ops
        .iter()
        .map(|op| {
            1 + match op {
                Op::Spawn(t) | Op::SpawnYieldCancel(t) | Op::Limited(t) => count_ops(t),
                Op::Timeout { body, .. } => count_ops(body),
                Op::Nested(s) | Op::NestedRun(s) => count_ops(&s.body),
                _ => 0,
            }
        })
        .sum()
}

/// Runs [`check`] on its own thread so that a hang (a lost wake-up, a task never polled)
/// fails the case instead of hanging the test. A hung thread is left behind.
fn check_with_watchdog(case: Case, mode: Mode) -> Result<Option<u64>, TestCaseError> {
    const PATIENCE: Duration = Duration::from_secs(10);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(check(&case, mode));
    });
    match rx.recv_timeout(PATIENCE) {
        Ok(result) => result,
        Err(_) => Err(TestCaseError::fail(format!(
            "the program hung for 10 s ({mode:?}): a lost wake-up, or a task that is never \
             polled"
        ))),
    }
}

fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<u32>().is_none() {
                default(info);
            }
        }));
    });
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|n| n.parse().ok())
}

/// Runs `test` on `PROPTEST_CASES` cases (`default_cases` unless set), with proptest's
/// shrinking and its regression file, and panics with the shrunk case on a failure.
fn run_cases(default_cases: u64, test: impl Fn(Case) -> Result<(), TestCaseError>) {
    quiet_panics();
    let cases = env_number("PROPTEST_CASES").unwrap_or(default_cases);
    let config = ProptestConfig {
        cases: u32::try_from(cases).unwrap_or(u32::MAX),
        source_file: Some(file!()),
        // tests/model.proptest-regressions (the default looks for a lib.rs above tests/,
        // says so on stderr, and falls back to this).
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    if let Err(e) = runner.run(&case(), test) {
        panic!("{e}\n{runner}");
    }
}

/// Every program on a virtual clock, its cross-thread operations on real threads (which
/// the simulation does not cover: their wake-ups arrive when they arrive).
#[test]
fn scope_trees_keep_duets_promises() {
    run_cases(1_000, |case| {
        check_with_watchdog(case, Mode::VirtualClock).map(drop)
    });
}

/// How many seeded schedules each program of
/// [`scope_trees_keep_duets_promises_under_every_schedule`] runs under (`MODEL_SEEDS`).
const SEEDS_PER_CASE: u64 = 4;

/// Every program under `MODEL_SEEDS` seeded schedules (`duet::sim`), each checked against
/// the model; the first seed is run twice, and must give the same schedule. Prints how
/// many runs it made and how many distinct (program, schedule) pairs they covered.
#[test]
fn scope_trees_keep_duets_promises_under_every_schedule() {
    use std::collections::HashSet;
    use std::hash::{DefaultHasher, Hash, Hasher};

    let seeds = env_number("MODEL_SEEDS").unwrap_or(SEEDS_PER_CASE).max(1);
    let runs = Cell::new(0u64);
    let schedules = RefCell::new(HashSet::new());
    let started = Instant::now();
    run_cases(1_000, |case| {
        // The program, without its seeds: equal programs are counted once.
        let mut hasher = DefaultHasher::new();
        format!("{:?} {:?}", case.program, case.capacities).hash(&mut hasher);
        let program = hasher.finish();
        for i in 0..seeds {
            let seed = case.first_seed.wrapping_add(i);
            let run = |case: Case| {
                check_with_watchdog(case, Mode::Simulated(seed)).map_err(|e| match e {
                    TestCaseError::Fail(why) => {
                        TestCaseError::fail(format!("under simulation seed {seed:#x}: {why}"))
                    }
                    reject => reject,
                })
            };
            let fingerprint = run(case.clone())?.expect("a simulated run has a fingerprint");
            if i == 0 {
                let replay = run(case.clone())?;
                prop_assert_eq!(
                    replay,
                    Some(fingerprint),
                    "seed {:#x} gave two different schedules",
                    seed
                );
            }
            runs.set(runs.get() + 1);
            schedules.borrow_mut().insert((program, fingerprint));
        }
        Ok(())
    });
    eprintln!(
        "model under simulation: {} runs ({seeds} seeds per case), {} distinct (program, \
         schedule) pairs, {:.1} s",
        runs.get(),
        schedules.borrow().len(),
        started.elapsed().as_secs_f64()
    );
}

// Shrunk failing cases, kept as named regression tests.

fn task(ops: Vec<Op>) -> Task {
    Task { ops }
}

fn scope(collect_all: bool, ops: Vec<Op>) -> ScopeProgram {
    ScopeProgram {
        collect_all,
        timeout_ms: None,
        body: task(ops),
    }
}

/// Runs a program on the virtual clock, then under 64 seeded schedules.
fn regression(program: ScopeProgram) {
    quiet_panics();
    let case = Case {
        program,
        capacities: vec![1; LEVELS],
        first_seed: 0,
    };
    let modes = std::iter::once(Mode::VirtualClock).chain((0..64).map(Mode::Simulated));
    let mut schedules = std::collections::HashSet::new();
    for mode in modes {
        match check_with_watchdog(case.clone(), mode) {
            Ok(fingerprint) => schedules.extend(fingerprint),
            Err(e) => panic!("{mode:?}: {e}"),
        }
    }
    eprintln!(
        "model regression: 64 runs under simulation, {} distinct schedules",
        schedules.len()
    );
}

/// The shrunk cases the first version of this test found
/// (`model.proptest-regressions`), as programs: they keep protecting the same paths now
/// that the generator has changed.
#[test]
fn a_cancel_and_a_failure_deep_in_a_collect_all_tree_lose_nothing() {
    use Op::*;
    regression(scope(
        true,
        vec![Spawn(task(vec![Spawn(task(vec![
            Spawn(task(vec![Cancel])),
            Fail,
        ]))]))],
    ));
}

#[test]
fn a_cancel_from_a_grandchild_tears_down_every_sibling() {
    use Op::*;
    regression(scope(
        false,
        vec![
            Spawn(task(vec![
                Spawn(task(vec![Yield])),
                Spawn(task(vec![Cancel, Yield])),
            ])),
            Spawn(task(vec![Yield])),
        ],
    ));
}

#[test]
fn a_task_cancelled_by_its_handle_before_its_first_poll_in_a_nested_run() {
    use Op::*;
    regression(scope(
        false,
        vec![NestedRun(scope(false, vec![SpawnAndCancel(task(vec![]))]))],
    ));
}

#[test]
fn a_cancelled_slot_reused_by_a_later_spawn_in_a_nested_run() {
    use Op::*;
    regression(scope(
        false,
        vec![NestedRun(scope(
            true,
            vec![SpawnAndCancel(task(vec![])), Yield, Spawn(task(vec![]))],
        ))],
    ));
}

/// Under simulation a value from "another thread" (a pool job) takes no virtual time, so
/// the reference interpreter checks the program's exact duration (`timed` in `check`).
#[test]
fn values_from_other_threads_take_no_virtual_time_under_simulation() {
    use Op::*;
    regression(scope(
        false,
        vec![
            Spawn(task(vec![AwaitThread(ThreadEnd::Set), Sleep(1)])),
            CrossThread,
            Sleep(3),
            AwaitThread(ThreadEnd::Cancel),
            Timeout {
                ms: GENEROUS_MS,
                body: task(vec![CrossThread, Sleep(1)]),
            },
        ],
    ));
}
