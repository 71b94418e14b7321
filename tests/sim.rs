//! The simulation's contract (`duet::sim`, design/simulation.md): a seed names one
//! schedule, seeds differ in the orders the semantics leave open, a failure found by
//! exploration replays exactly, and no schedule loses a task or a wake-up.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use duet::sim::{Explorer, Strategy};

/// A program that exercises every choice the simulation makes: rounds of several tasks,
/// nested scopes, equal deadlines, a short timeout, offloaded jobs and a nested `run`.
/// Returns the order in which its tasks made progress.
async fn busy_program() -> Vec<u32> {
    let log = RefCell::new(Vec::new());
    let log = &log;
    duet::scope(duet::infallible(async |s| {
        for i in 0..4u32 {
            s.spawn(async move {
                duet::sleep(Duration::from_millis(10)).await; // the same deadline for all
                log.borrow_mut().push(i);
                let doubled = duet::unblock(move || i * 2).await;
                log.borrow_mut().push(100 + doubled);
            });
        }
        s.spawn(async move {
            duet::scope(duet::infallible(async |inner| {
                for j in 0..3u32 {
                    inner.spawn(async move {
                        duet::yield_now().await;
                        log.borrow_mut().push(200 + j);
                    });
                }
            }))
            .await
            .unwrap();
        });
        s.spawn(async move {
            let nested = duet::run(async { duet::unblock(|| 7).await });
            log.borrow_mut().push(300 + nested);
            let slow = duet::timeout(
                Duration::from_millis(5),
                duet::sleep(Duration::from_secs(1)),
            );
            assert!(slow.await.is_err());
            log.borrow_mut().push(400);
        });
    }))
    .await
    .unwrap();
    log.take()
}

#[test]
fn two_runs_of_one_seed_poll_the_same_tasks_in_the_same_order() {
    for seed in [0, 1, 0xdead_beef, u64::MAX] {
        let a = duet::sim::run(seed, busy_program());
        let b = duet::sim::run(seed, busy_program());
        assert!(a.steps() > 20, "the program takes steps: {}", a.steps());
        assert_eq!(a.trace(), b.trace(), "seed {seed:#x}");
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.output(), b.output());
    }
}

#[test]
fn a_seed_names_the_same_schedule_on_threads_running_at_once() {
    // Process-wide counters (scope and loop ids) advance differently on each thread; the
    // schedule must not depend on them.
    let reference = duet::sim::run(9, busy_program());
    let traces: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(|| duet::sim::run(9, busy_program()).trace().to_vec()))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    for trace in traces {
        assert_eq!(trace, reference.trace());
    }
}

#[test]
fn seeds_explore_different_orders_and_every_task_finishes_in_each() {
    let mut orders = HashSet::new();
    let mut schedules = HashSet::new();
    for seed in 0..64 {
        let run = duet::sim::run(seed, busy_program());
        let mut sorted = run.output().clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            [0, 1, 2, 3, 100, 102, 104, 106, 200, 201, 202, 307, 400],
            "seed {seed}: a task or its step was lost"
        );
        orders.insert(run.output().clone());
        schedules.insert(run.fingerprint());
    }
    assert!(
        orders.len() > 16,
        "only {} orders in 64 seeds",
        orders.len()
    );
    assert!(schedules.len() >= orders.len());
}

#[test]
fn timers_with_equal_deadlines_fire_in_a_seeded_order() {
    let first_to_fire = |seed| {
        let order = RefCell::new(Vec::new());
        duet::run_with(
            duet::Config::new().simulated(seed),
            duet::scope(duet::infallible(async |s| {
                for i in 0..3 {
                    let order = &order;
                    // Each timer in a scope of its own: the scope's round order cannot be
                    // what reorders them, only the order in which the timers fire.
                    s.spawn(async move {
                        duet::scope(duet::infallible(async |_| {
                            duet::sleep(Duration::from_secs(1)).await;
                            order.borrow_mut().push(i);
                        }))
                        .await
                        .unwrap();
                    });
                }
            })),
        )
        .unwrap();
        order.into_inner()
    };
    let orders: HashSet<_> = (0..32).map(first_to_fire).collect();
    assert!(orders.len() > 1, "{orders:?}");
    assert_eq!(first_to_fire(5), first_to_fire(5));
}

#[test]
fn offloaded_jobs_run_on_the_loops_thread_and_still_complete() {
    let loop_thread = std::thread::current().id();
    let pool = duet::ThreadPool::new(1);
    let run = duet::sim::run(3, async {
        let submitted = pool.submit(std::thread::current).await.unwrap().id();
        let unblocked = duet::unblock(|| std::thread::current().id()).await;
        let (tx, rx) = futures::channel::oneshot::channel();
        pool.execute(move || tx.send(std::thread::current().id()).unwrap());
        let executed = rx.await.unwrap();
        [submitted, unblocked, executed]
    });
    assert_eq!(*run.output(), [loop_thread; 3]);
    // Offloaded jobs are steps of the schedule.
    assert!(
        run.trace()
            .iter()
            .any(|p| p.to_string() == "an offloaded job")
    );
    // The same jobs on a normal loop run on pool threads.
    let real = duet::run(duet::unblock(|| std::thread::current().id()));
    assert_ne!(real, loop_thread);
}

#[test]
fn a_job_still_queued_when_the_root_returns_is_run_and_its_future_completes() {
    let run = duet::sim::run(1, std::future::ready(duet::unblock(|| 5)));
    // The root returned the future unawaited; the loop's end ran the job.
    assert_eq!(duet::run(run.into_output()), 5);
}

#[test]
fn a_round_that_defers_tasks_loses_none_of_them() {
    // Many tasks woken together, with short budgets and partial rounds: every one must
    // still run to the end, and the scope must finish without a deadlock report.
    Explorer::new().runs(200).check(|| async {
        let done = Cell::new(0);
        duet::scope(duet::infallible(async |s| {
            for _ in 0..20 {
                s.spawn(async {
                    for _ in 0..3 {
                        duet::yield_now().await;
                    }
                    done.set(done.get() + 1);
                });
            }
        }))
        .await
        .unwrap();
        assert_eq!(done.get(), 20);
    });
}

#[test]
fn deferred_tasks_are_dropped_exactly_once_when_their_scope_is_cancelled() {
    struct Counted(Rc<Cell<u32>>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    Explorer::new().runs(200).check(|| async {
        let drops = Rc::new(Cell::new(0));
        let r = duet::scope(async |s| {
            for _ in 0..10 {
                let guard = Counted(drops.clone());
                s.spawn(async move {
                    let _guard = guard;
                    loop {
                        duet::yield_now().await;
                    }
                });
            }
            duet::yield_now().await;
            s.cancel();
            Ok::<_, std::convert::Infallible>(())
        })
        .await;
        assert!(r.unwrap_err().is_cancelled());
        assert_eq!(drops.get(), 10);
    });
}

#[test]
fn exploration_finds_a_lost_update_and_the_seed_replays_it_step_for_step() {
    async fn test() {
        {
            let count = Cell::new(0);
            duet::scope(duet::infallible(async |s| {
                for _ in 0..3 {
                    s.spawn(async {
                        let read = count.get();
                        duet::yield_now().await;
                        count.set(read + 1);
                    });
                }
            }))
            .await
            .unwrap();
            assert_eq!(count.get(), 3, "an increment was lost");
        }
    }
    for strategy in [Strategy::Random, Strategy::Pct { depth: 2 }] {
        let failure = Explorer::new()
            .strategy(strategy)
            .runs(300)
            .explore(test)
            .expect_err("a schedule loses an increment");
        assert!(failure.message().contains("an increment was lost"));
        assert!(
            failure
                .to_string()
                .contains(&format!("DUET_SEED={:#x}", failure.seed()))
        );
        let replay = Explorer::new()
            .strategy(strategy)
            .replay(failure.seed())
            .explore(test)
            .expect_err("the replay fails again");
        assert_eq!(
            (replay.seed(), replay.step(), replay.message()),
            (failure.seed(), failure.step(), failure.message())
        );
    }
}

#[test]
fn a_failing_task_panic_is_reported_with_its_step_and_the_task_tree() {
    let failure = Explorer::new()
        .runs(1)
        .explore(|| async {
            duet::scope(duet::infallible(async |s| {
                s.spawn_named("doomed", async {
                    duet::yield_now().await;
                    panic!("the doomed task fails");
                });
                s.spawn_named("bystander", futures::future::pending::<()>());
            }))
            .await
            .unwrap();
        })
        .unwrap_err();
    assert_eq!(failure.message(), "the doomed task fails");
    let dump = failure
        .dump()
        .expect("a task panicked: the tree was dumped");
    assert!(dump.contains("`bystander`"), "{dump}");
    assert!(failure.step() >= 3, "step {}", failure.step());
    assert!(failure.to_string().contains("The task tree when it failed"));
}

#[test]
fn a_deadlock_under_simulation_is_a_failure_not_a_hang() {
    let failure = Explorer::new()
        .runs(3)
        .explore(|| async {
            duet::scope(duet::infallible(async |s| {
                // Waits on a future that keeps no waker: nothing can ever wake it.
                s.spawn(futures::future::pending::<()>());
            }))
            .await
            .unwrap();
        })
        .unwrap_err();
    assert!(
        failure.message().contains("deadlock"),
        "{}",
        failure.message()
    );
}

#[test]
fn an_err_returned_by_the_test_fails_the_run() {
    let failure = Explorer::new()
        .runs(5)
        .explore(|| async { Err::<(), _>("the invariant broke") })
        .unwrap_err();
    assert_eq!(failure.run(), 0);
    assert_eq!(failure.message(), "returned Err(\"the invariant broke\")");
    assert!(failure.into_panic().is_none());
}

#[test]
#[should_panic(expected = "an exploration needs at least one run")]
fn zero_runs_is_refused() {
    let _ = Explorer::new().runs(0);
}

#[test]
#[should_panic(expected = "the depth must be at least 1")]
fn pct_of_depth_zero_is_refused() {
    let _ = Explorer::new().strategy(Strategy::Pct { depth: 0 });
}

#[test]
fn a_normal_run_after_a_simulated_one_on_the_same_thread_is_not_simulated() {
    let _ = duet::sim::run(1, busy_program());
    let thread = std::thread::current().id();
    assert_ne!(
        duet::run(duet::unblock(move || std::thread::current().id())),
        thread
    );
}
