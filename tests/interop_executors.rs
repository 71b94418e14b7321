//! A duet scope is an ordinary future: other executors can run it. The same workload
//! (spawn, join, cancel one task, cancel a nested scope from another thread, a failure
//! cancelling its siblings, timers and a deadline scope) runs under
//! `futures::executor::block_on`, tokio's current-thread runtime and smol's
//! `LocalExecutor`, and under `duet::run` for reference. Outside `duet::run`, duet's timers
//! are served by its fallback timer thread, on the real clock.

mod common;

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{DropFlag, Probe, watchdog};
use futures::future::pending;

/// Far longer than any step takes, even on a loaded machine; only used as upper bounds.
const GENEROUS: Duration = Duration::from_secs(10);

/// What the workload observed, in order.
type Log = Vec<&'static str>;

/// Spawns, joins, cancels and sleeps; the tasks hold `Rc`s, so nothing here is `Send`.
async fn workload() -> Log {
    let log = RefCell::new(Log::new());
    let probe = Probe::new();
    let cancelled_one = Rc::new(Cell::new(false));
    let result = duet::scope(async |s| {
        let log = &log;

        // Spawn and join; a timer ends the first task.
        let quick = s.spawn(async {
            duet::sleep(Duration::from_millis(10)).await;
            Ok(7)
        });
        let flag = DropFlag(cancelled_one.clone());
        let slow = s.spawn(probe.track(async move {
            let _flag = flag;
            duet::sleep(Duration::from_secs(3600)).await;
        }));
        assert_eq!(quick.await, Ok(7));
        log.borrow_mut().push("joined a task woken by a timer");

        // Cancel one task through its handle: dropped at its await point.
        slow.cancel();
        assert!(slow.await.unwrap_err().is_cancelled());
        log.borrow_mut().push("cancelled one task");

        // A deadline scope cut by its timer.
        let started = Instant::now();
        let timed = duet::timeout_scope(Duration::from_millis(20), async |s| {
            s.spawn(probe.track(duet::sleep(Duration::from_secs(3600))));
            Ok::<_, Infallible>(())
        })
        .await;
        assert!(timed.unwrap_err().is_timeout());
        assert!(started.elapsed() >= Duration::from_millis(20));
        log.borrow_mut().push("timeout scope timed out");

        // A nested scope cancelled from another thread.
        let remote = duet::scope(async |s| {
            s.spawn(probe.track(pending::<()>()));
            let handle = s.cancel_handle();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                handle.cancel();
            });
            Ok::<_, Infallible>(())
        })
        .await;
        assert!(remote.unwrap_err().is_cancelled());
        log.borrow_mut()
            .push("nested scope cancelled from another thread");

        // A failure cancels its siblings and is reported.
        let failed = duet::scope(async |s| {
            s.spawn(probe.track(pending::<Result<(), &str>>()));
            s.spawn(async {
                duet::sleep(Duration::from_millis(5)).await;
                Err::<(), _>("broken")
            });
            Ok(())
        })
        .await;
        assert_eq!(failed.unwrap_err().into_errors(), ["broken"]);
        log.borrow_mut().push("failure cancelled its sibling");
        Ok::<_, Infallible>(())
    })
    .await;
    assert_eq!(result, Ok(()));
    assert!(cancelled_one.get(), "the cancelled task was dropped");
    assert_eq!(probe.created(), 4);
    assert_eq!(probe.cancelled(), 4, "every cancelled task was dropped");
    log.into_inner()
}

const EXPECTED: [&str; 5] = [
    "joined a task woken by a timer",
    "cancelled one task",
    "timeout scope timed out",
    "nested scope cancelled from another thread",
    "failure cancelled its sibling",
];

fn timed(run: impl FnOnce() -> Log) {
    let _watchdog = watchdog("the interop workload", Duration::from_secs(120));
    let started = Instant::now();
    assert_eq!(run(), EXPECTED);
    assert!(started.elapsed() < GENEROUS, "took {:?}", started.elapsed());
}

#[test]
fn a_scope_runs_under_duet_run() {
    timed(|| duet::run(workload()));
}

#[test]
fn a_scope_runs_under_futures_block_on() {
    timed(|| futures::executor::block_on(workload()));
}

#[test]
fn a_scope_runs_under_a_tokio_current_thread_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    timed(|| rt.block_on(workload()));
}

#[test]
fn a_scope_runs_as_a_task_of_a_tokio_local_set() {
    // `!Send` futures on tokio: a LocalSet's `spawn_local`. Timers enabled: with the
    // `tokio` feature, tokio's timer serves duet's timers here.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    timed(|| {
        local.block_on(&rt, async {
            tokio::task::spawn_local(workload()).await.unwrap()
        })
    });
}

#[test]
fn a_scope_runs_as_a_task_of_a_smol_local_executor() {
    let executor = smol::LocalExecutor::new();
    timed(|| smol::block_on(executor.run(executor.spawn(workload()))));
}

#[test]
fn many_scopes_run_side_by_side_on_one_smol_local_executor() {
    let executor = smol::LocalExecutor::new();
    let tasks: Vec<_> = (0..8).map(|_| executor.spawn(workload())).collect();
    timed(|| {
        smol::block_on(executor.run(async {
            let mut logs = Vec::new();
            for task in tasks {
                logs.push(task.await);
            }
            assert!(logs.iter().all(|log| log[..] == EXPECTED));
            logs.swap_remove(0)
        }))
    });
}

#[test]
fn tokio_timers_work_inside_a_duet_scope_under_tokio() {
    // The scope's tasks use tokio's own timer, driven by the runtime running the scope.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let order = RefCell::new(Vec::new());
    rt.block_on(duet::scope(async |s| {
        for ms in [80u64, 10, 40] {
            let order = &order;
            s.spawn(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                order.borrow_mut().push(ms);
            });
        }
    }))
    .unwrap();
    assert_eq!(*order.borrow(), [10, 40, 80]);
}
