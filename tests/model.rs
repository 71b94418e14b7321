//! Model-based property test: random programs of nested scopes, checked against a model
//! of what duet promises.
//!
//! A program is a tree of scopes; each task runs a sequence of operations (yield, spawn a
//! sibling, spawn one and cancel it through its handle, open a nested scope, call a
//! nested `run`, await a value another thread produces, fail, panic, cancel its scope).
//! Running it records a trace: which operations executed, how each scope reported, which
//! task futures were created and dropped. The model then checks the trace:
//!
//! 1. every task future created was dropped exactly once;
//! 2. no operation ran after its scope reported;
//! 3. no task outlived its scope (none alive when the scope reported);
//! 4. a scope's result matches what ran in it: `Ok` only if no failure or cancel ran and
//!    each of its tasks completed or was cancelled through its handle; `Failed` carries
//!    exactly the failures that ran (none lost, none invented; one under fail-fast);
//!    `Cancelled` only if a cancel ran;
//! 5. a panic anywhere surfaces from `run` with the payload of a panic that ran, and
//!    nothing surfaces as a panic otherwise;
//! 6. a program without fail, panic or cancel operations (of scopes, or of tasks that may
//!    have started) completes: every scope reports `Ok` and every operation of every task
//!    runs (the exact outcome the model predicts);
//! 7. no program hangs: each runs under a watchdog, and a hang fails the case.
//!
//! Runs `PROPTEST_CASES` cases (default 2,000). For a long run:
//! `PROPTEST_CASES=100000 cargo test --release --test model`.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;

use duet::{Scope, ScopeError, ScopeOptions};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Yield,
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
    /// Await a value produced by another thread.
    CrossThread,
    Fail,
    Panic,
    Cancel,
}

#[derive(Debug, Clone)]
struct Task {
    ops: Vec<Op>,
}

#[derive(Debug, Clone)]
struct ScopeProgram {
    collect_all: bool,
    body: Task,
}

fn program() -> impl Strategy<Value = ScopeProgram> {
    let leaf = prop_oneof![
        6 => Just(Op::Yield),
        1 => Just(Op::CrossThread),
        1 => Just(Op::Fail),
        1 => Just(Op::Panic),
        1 => Just(Op::Cancel),
    ];
    let op = leaf.prop_recursive(5, 400, 8, |inner| {
        let task = prop::collection::vec(inner, 0..8).prop_map(|ops| Task { ops });
        let scope = (any::<bool>(), task.clone())
            .prop_map(|(collect_all, body)| ScopeProgram { collect_all, body });
        prop_oneof![
            4 => task.clone().prop_map(Op::Spawn),
            1 => task.clone().prop_map(Op::SpawnAndCancel),
            1 => task.clone().prop_map(Op::SpawnYieldCancel),
            2 => scope.clone().prop_map(Op::Nested),
            1 => scope.prop_map(Op::NestedRun),
        ]
    });
    (any::<bool>(), prop::collection::vec(op, 0..8)).prop_map(|(collect_all, ops)| ScopeProgram {
        collect_all,
        body: Task { ops },
    })
}

fn has_terminal_ops(task: &Task) -> bool {
    task.ops.iter().any(|op| match op {
        Op::Fail | Op::Panic | Op::Cancel => true,
        Op::Spawn(t) => has_terminal_ops(t),
        // May cut its task short (it is only predictable that it never runs at all).
        Op::SpawnYieldCancel(_) => true,
        // Never runs: cancelled before its first poll.
        Op::SpawnAndCancel(_) => false,
        Op::Nested(s) | Op::NestedRun(s) => has_terminal_ops(&s.body),
        Op::Yield | Op::CrossThread => false,
    })
}

/// How a scope reported.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Ok,
    Failed(Vec<u32>),
    Cancelled(Vec<u32>),
}

#[derive(Default)]
struct Trace {
    next_id: Cell<u32>,
    /// Failures that ran, by scope.
    failures: RefCell<BTreeMap<u32, Vec<u32>>>,
    cancels: RefCell<BTreeSet<u32>>,
    panics: RefCell<Vec<u32>>,
    outcomes: RefCell<BTreeMap<u32, Outcome>>,
    /// Tasks spawned into a scope that have not been dropped yet.
    alive: RefCell<BTreeMap<u32, usize>>,
    spawned: RefCell<BTreeMap<u32, usize>>,
    completed: RefCell<BTreeMap<u32, usize>>,
    /// Tasks cancelled through their handles before they finished.
    handle_cancelled: RefCell<BTreeMap<u32, usize>>,
    created: Cell<usize>,
    dropped: Cell<usize>,
    ops_run: Cell<usize>,
    violations: RefCell<Vec<String>>,
}

impl Trace {
    fn fresh_id(&self) -> u32 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    fn violation(&self, what: String) {
        self.violations.borrow_mut().push(what);
    }

    fn check_not_reported(&self, scope: u32) {
        if self.outcomes.borrow().contains_key(&scope) {
            self.violation(format!(
                "an operation of scope {scope} ran after it reported"
            ));
        }
    }
}

/// Counts a task future's life: alive from spawn until dropped.
struct Life<'t> {
    trace: &'t Trace,
    scope: u32,
}

impl Drop for Life<'_> {
    fn drop(&mut self) {
        self.trace.dropped.set(self.trace.dropped.get() + 1);
        *self.trace.alive.borrow_mut().get_mut(&self.scope).unwrap() -= 1;
    }
}

type TaskFuture<'t> = Pin<Box<dyn Future<Output = Result<(), u32>> + 't>>;

fn spawn_child<'t>(
    child: &'t Task,
    scope: &Scope<'t, u32>,
    scope_id: u32,
    trace: &'t Trace,
) -> duet::JoinHandle<()> {
    trace.created.set(trace.created.get() + 1);
    *trace.alive.borrow_mut().entry(scope_id).or_default() += 1;
    *trace.spawned.borrow_mut().entry(scope_id).or_default() += 1;
    let life = Life {
        trace,
        scope: scope_id,
    };
    let child_scope = scope.clone();
    scope.spawn(async move {
        let _life = life;
        let result = run_task(child, child_scope, scope_id, trace).await;
        if result.is_ok() {
            *trace.completed.borrow_mut().entry(scope_id).or_default() += 1;
        }
        result
    })
}

fn run_task<'t>(
    task: &'t Task,
    scope: Scope<'t, u32>,
    scope_id: u32,
    trace: &'t Trace,
) -> TaskFuture<'t> {
    Box::pin(async move {
        for op in &task.ops {
            trace.check_not_reported(scope_id);
            trace.ops_run.set(trace.ops_run.get() + 1);
            match op {
                Op::Yield => duet::yield_now().await,
                Op::Spawn(child) => {
                    drop(spawn_child(child, &scope, scope_id, trace));
                }
                Op::SpawnAndCancel(child) => {
                    spawn_child(child, &scope, scope_id, trace).cancel();
                    *trace
                        .handle_cancelled
                        .borrow_mut()
                        .entry(scope_id)
                        .or_default() += 1;
                }
                Op::SpawnYieldCancel(child) => {
                    let handle = spawn_child(child, &scope, scope_id, trace);
                    duet::yield_now().await;
                    if !handle.is_finished() {
                        handle.cancel();
                        *trace
                            .handle_cancelled
                            .borrow_mut()
                            .entry(scope_id)
                            .or_default() += 1;
                    }
                }
                Op::Nested(program) => {
                    run_scope_program(program, trace).await;
                }
                Op::NestedRun(program) => {
                    duet::run(run_scope_program(program, trace));
                }
                Op::CrossThread => {
                    let (tx, rx) = futures::channel::oneshot::channel();
                    std::thread::spawn(move || tx.send(7u8));
                    assert_eq!(rx.await, Ok(7));
                }
                Op::Fail => {
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
                    let id = trace.fresh_id();
                    trace.panics.borrow_mut().push(id);
                    panic::panic_any(id);
                }
                Op::Cancel => {
                    trace.cancels.borrow_mut().insert(scope_id);
                    scope.cancel();
                }
            }
        }
        Ok(())
    })
}

/// Runs a scope program and records how it reported.
fn run_scope_program<'t>(
    program: &'t ScopeProgram,
    trace: &'t Trace,
) -> Pin<Box<dyn Future<Output = ()> + 't>> {
    Box::pin(async move {
        let scope_id = trace.fresh_id();
        trace.alive.borrow_mut().insert(scope_id, 0);
        let options = if program.collect_all {
            ScopeOptions::new().collect_all()
        } else {
            ScopeOptions::new()
        };
        let result = duet::scope_with(options, async |s: &Scope<'t, u32>| {
            run_task(&program.body, s.clone(), scope_id, trace).await
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
            Err(ScopeError::Cancelled { errors, .. }) => Outcome::Cancelled(errors),
            Err(other) => panic!("unexpected scope error {other:?}"),
        };
        trace.outcomes.borrow_mut().insert(scope_id, outcome);
    })
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v
}

fn check(program: &ScopeProgram) -> Result<(), TestCaseError> {
    let trace = Trace::default();
    if std::env::var("MODEL_STATS").is_ok() {
        eprintln!(
            "STATS ops={} terminal={}",
            count_ops(&program.body),
            has_terminal_ops(&program.body)
        );
    }
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        duet::run(run_scope_program(program, &trace))
    }));

    prop_assert_eq!(
        trace.created.get(),
        trace.dropped.get(),
        "every task future is dropped exactly once"
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
            let id = *payload
                .downcast_ref::<u32>()
                .expect("only the program panics");
            prop_assert!(panics.contains(&id), "panic {id} surfaced but never ran");
        }
    }

    let failures = trace.failures.borrow();
    let cancels = trace.cancels.borrow();
    for (scope, outcome) in trace.outcomes.borrow().iter() {
        let ran = sorted(failures.get(scope).cloned().unwrap_or_default());
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
                let spawned = trace.spawned.borrow().get(scope).copied().unwrap_or(0);
                let completed = trace.completed.borrow().get(scope).copied().unwrap_or(0);
                let cancelled = trace
                    .handle_cancelled
                    .borrow()
                    .get(scope)
                    .copied()
                    .unwrap_or(0);
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
            Outcome::Cancelled(errors) => {
                prop_assert!(
                    cancels.contains(scope),
                    "scope {scope} cancelled without a cancel"
                );
                prop_assert_eq!(
                    &sorted(errors.clone()),
                    &ran,
                    "scope {} lost or invented errors",
                    scope
                );
            }
        }
    }

    if !has_terminal_ops(&program.body) {
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
    }
    Ok(())
}

/// Operations a failure-free program runs: all of them, nested ones included.
fn count_ops(task: &Task) -> usize {
    task.ops
        .iter()
        .map(|op| {
            1 + match op {
                Op::Spawn(t) | Op::SpawnYieldCancel(t) => count_ops(t),
                Op::Nested(s) | Op::NestedRun(s) => count_ops(&s.body),
                _ => 0,
            }
        })
        .sum()
}

/// Runs [`check`] on its own thread so that a hang (a lost wake-up, a task never polled)
/// fails the case instead of hanging the test. A hung thread is left behind.
fn check_with_watchdog(program: ScopeProgram) -> Result<(), TestCaseError> {
    const PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(check(&program));
    });
    match rx.recv_timeout(PATIENCE) {
        Ok(result) => result,
        Err(_) => Err(TestCaseError::fail(
            "the program hung for 10 s: a lost wake-up, or a task that is never polled",
        )),
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

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2_000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn scope_trees_keep_duets_promises(program in program()) {
        quiet_panics();
        check_with_watchdog(program)?;
    }
}
