//! Scopes: spawning, borrowing, joining, and which tasks a wake-up polls.

mod common;

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::rc::Rc;

use common::{Probe, spin};
use futures::channel::oneshot;

#[test]
fn hundred_children_all_complete() {
    let probe = Probe::new();
    let finished = Cell::new(0);
    let result = duet::run_scope(async |s| {
        for i in 0..100 {
            let finished = &finished;
            s.spawn(probe.track(async move {
                for _ in 0..i % 3 {
                    duet::yield_now().await;
                }
                finished.set(finished.get() + 1);
            }));
        }
    });
    assert!(result.is_ok());
    assert_eq!(finished.get(), 100);
    assert_eq!((probe.completed(), probe.dropped()), (100, 100));
}

#[test]
fn spawn_does_not_run_the_child_until_the_body_awaits() {
    let log = RefCell::new(Vec::new());
    duet::run_scope(async |s| {
        let log = &log;
        s.spawn(async move { log.borrow_mut().push("child") });
        log.borrow_mut().push("body after spawn");
        duet::yield_now().await;
        log.borrow_mut().push("body after await");
    })
    .unwrap();
    assert_eq!(
        *log.borrow(),
        ["body after spawn", "child", "body after await"]
    );
}

#[test]
fn scope_waits_for_children_after_the_body_returns() {
    let finished = Cell::new(false);
    let value = duet::run_scope(async |s| {
        let finished = &finished;
        s.spawn(async move {
            for _ in 0..10 {
                duet::yield_now().await;
            }
            finished.set(true);
        });
        Ok::<_, Infallible>("body value")
    });
    assert_eq!(value.unwrap(), "body value");
    assert!(
        finished.get(),
        "the scope returned before its child finished"
    );
}

#[test]
fn children_borrow_outer_data_and_need_not_be_send() {
    let words = ["a".to_string(), "bb".to_string()];
    let shared = Rc::new(RefCell::new(Vec::new())); // Rc: the tasks are !Send
    let result = duet::run_scope(async |s| {
        let handles: Vec<_> = words
            .iter()
            .map(|w| {
                let shared = shared.clone();
                s.spawn(async move {
                    shared.borrow_mut().push(w.as_str());
                    Ok(w.len())
                })
            })
            .collect();
        let mut total = 0;
        for h in handles {
            total += h.await.unwrap();
        }
        Ok::<_, Infallible>(total)
    });
    assert_eq!(result.unwrap(), 3);
    assert_eq!(shared.borrow().len(), 2);
}

#[test]
fn children_spawn_siblings_into_the_same_scope() {
    let count = Cell::new(0);
    duet::run_scope(async |s| {
        let count = &count;
        let spawner = s.clone();
        s.spawn(async move {
            count.set(count.get() + 1);
            let again = spawner.clone();
            spawner.spawn(async move {
                count.set(count.get() + 1);
                again.spawn(async move { count.set(count.get() + 1) });
            });
        });
    })
    .unwrap();
    assert_eq!(count.get(), 3);
}

#[test]
fn join_handle_gives_the_child_output() {
    let out = duet::run_scope(async |s| {
        let a = s.spawn(async { Ok(String::from("a")) });
        let b = s.spawn(async {
            duet::yield_now().await;
            Ok(String::from("b"))
        });
        Ok::<_, Infallible>(b.await.unwrap() + &a.await.unwrap())
    });
    assert_eq!(out.unwrap(), "ba");
}

#[test]
fn join_handle_cancel_drops_only_that_child() {
    let probe = Probe::new();
    let sibling_done = Cell::new(false);
    let out = duet::run_scope(async |s| {
        let victim = s.spawn(probe.track(futures::future::pending::<()>()));
        let sibling_done = &sibling_done;
        let sibling = s.spawn(async move {
            duet::yield_now().await;
            sibling_done.set(true);
        });
        duet::yield_now().await; // let the victim start
        assert!(!victim.is_finished());
        victim.cancel();
        let err = victim.await.unwrap_err();
        sibling.await.unwrap();
        Ok::<_, Infallible>(err)
    });
    assert_eq!(
        out.unwrap(),
        duet::JoinError::Cancelled(duet::CancelReason::JoinHandle)
    );
    assert!(sibling_done.get());
    assert_eq!((probe.polls(), probe.dropped()), (1, 1));
}

#[test]
fn cancelling_a_child_before_its_first_poll_never_polls_it() {
    let probe = Probe::new();
    duet::run_scope(async |s| {
        let h = s.spawn(probe.track(async {}));
        h.cancel();
        assert!(h.await.unwrap_err().is_cancelled());
    })
    .unwrap();
    assert_eq!((probe.polls(), probe.dropped()), (0, 1));
}

/// Regression: a task cancelled while still queued leaves a queue entry behind; the next
/// task that reuses its slot (and waker) must still be polled.
#[test]
fn a_slot_freed_while_its_task_was_queued_serves_the_next_task() {
    let virtual_clock = duet::Config::new().virtual_clock();
    let out = duet::run_with(
        virtual_clock,
        duet::scope(async |s| {
            let first = s.spawn(async {});
            first.cancel(); // removed before its first poll; its queue entry stays behind
            duet::yield_now().await;
            let second = s.spawn(async { Ok(2) });
            match duet::timeout(std::time::Duration::from_secs(5), second).await {
                Ok(value) => Ok::<_, Infallible>(value.unwrap()),
                Err(_) => {
                    s.cancel(); // the second task never ran: end the scope instead of hanging
                    Ok(0)
                }
            }
        }),
    );
    assert_eq!(out, Ok(2), "the task reusing the slot was never polled");
}

#[test]
fn dropping_a_join_handle_does_not_cancel_the_child() {
    let probe = Probe::new();
    let done = Cell::new(false);
    duet::run_scope(async |s| {
        let done = &done;
        drop(s.spawn(probe.track(async move {
            duet::yield_now().await;
            done.set(true);
        })));
    })
    .unwrap();
    assert!(done.get());
    assert_eq!((probe.completed(), probe.dropped()), (1, 1));
}

#[test]
fn join_handle_awaited_after_its_scope_ended_resolves_with_the_outcome() {
    let (ok, cancelled) = duet::run(async {
        let (ok, cancelled) = duet::scope(async |s| {
            let ok = s.spawn(async { Ok(5) });
            let cancelled = s.spawn(futures::future::pending::<()>());
            cancelled.cancel();
            Ok::<_, Infallible>((ok, cancelled))
        })
        .await
        .unwrap();
        (ok.await, cancelled.await)
    });
    assert_eq!(ok, Ok(5));
    assert_eq!(
        cancelled,
        Err(duet::JoinError::Cancelled(duet::CancelReason::JoinHandle))
    );
}

/// Point 7 of the core issue: a wake polls the woken task and its ancestors only.
#[test]
fn waking_one_of_ten_thousand_children_polls_only_that_child() {
    const N: usize = 10_000;
    let probe = Probe::new();
    let polls_after_wake = Cell::new(0);
    duet::run_scope(async |s| {
        let mut senders = Vec::with_capacity(N);
        let mut handles = Vec::with_capacity(N);
        for _ in 0..N {
            let (tx, rx) = oneshot::channel::<()>();
            senders.push(tx);
            handles.push(s.spawn(probe.track(async move {
                let _ = rx.await;
            })));
        }
        duet::yield_now().await; // every child is polled once and parks
        assert_eq!(probe.polls(), N);
        senders.swap_remove(N / 2).send(()).unwrap();
        handles.swap_remove(N / 2).await.unwrap();
        polls_after_wake.set(probe.polls());
        drop(senders); // let the others finish
    })
    .unwrap();
    assert_eq!(
        polls_after_wake.get(),
        N + 1,
        "a wake polled more than the woken child"
    );
    assert_eq!(probe.polls(), 2 * N);
}

#[test]
fn waking_a_grandchild_polls_only_its_branch() {
    const BRANCHES: usize = 100;
    const LEAVES: usize = 100;
    let branches = Probe::new();
    let leaves = Probe::new();
    let senders = RefCell::new(Vec::new());
    let after_wake = Cell::new((0, 0));
    duet::run_scope(async |s| {
        let (branch_ready_tx, branch_ready_rx) = futures::channel::mpsc::unbounded::<()>();
        let mut gates = Vec::new();
        for _ in 0..BRANCHES {
            let mut rxs = Vec::new();
            for _ in 0..LEAVES {
                let (tx, rx) = oneshot::channel::<()>();
                senders.borrow_mut().push(tx);
                rxs.push(rx);
            }
            let (gate_tx, gate_rx) = oneshot::channel::<()>();
            gates.push(gate_tx);
            let leaves = &leaves;
            let ready = branch_ready_tx.clone();
            s.spawn(branches.track(async move {
                duet::scope(async |inner| {
                    for rx in rxs {
                        inner.spawn(leaves.track(async move {
                            let _ = rx.await;
                        }));
                    }
                    ready.unbounded_send(()).unwrap();
                    let _ = gate_rx.await;
                })
                .await
                .unwrap();
            }));
        }
        drop(branch_ready_tx);
        use futures::StreamExt;
        assert_eq!(branch_ready_rx.take(BRANCHES).count().await, BRANCHES);
        for _ in 0..3 {
            duet::yield_now().await;
        }
        let (b0, l0) = (branches.polls(), leaves.polls());
        assert_eq!(l0, BRANCHES * LEAVES);
        // Wake one leaf of one branch.
        senders.borrow_mut().swap_remove(0).send(()).unwrap();
        for _ in 0..3 {
            duet::yield_now().await;
        }
        after_wake.set((branches.polls() - b0, leaves.polls() - l0));
        senders.borrow_mut().clear();
        for gate in gates {
            gate.send(()).unwrap();
        }
    })
    .unwrap();
    assert_eq!(
        after_wake.get(),
        (1, 1),
        "(branch polls, leaf polls) caused by one leaf wake"
    );
}

#[test]
fn a_child_that_keeps_waking_itself_does_not_starve_its_siblings() {
    let sibling_rounds = Cell::new(0);
    let result = duet::run_scope(async |s| {
        s.spawn(async {
            loop {
                duet::yield_now().await;
            }
        });
        let stopper = s.clone();
        let sibling_rounds = &sibling_rounds;
        s.spawn(async move {
            for _ in 0..100 {
                sibling_rounds.set(sibling_rounds.get() + 1);
                duet::yield_now().await;
            }
            stopper.cancel();
        });
    });
    assert!(result.unwrap_err().is_cancelled());
    assert_eq!(sibling_rounds.get(), 100);
}

#[test]
fn a_busy_nested_scope_yields_to_the_rest_of_the_tree() {
    let other_branch_ran = Cell::new(0);
    let result = duet::run_scope(async |s| {
        s.spawn(async {
            duet::scope(async |inner| {
                inner.spawn(spin(usize::MAX));
                inner.spawn(spin(usize::MAX));
            })
            .await
            .unwrap();
        });
        let stopper = s.clone();
        let other_branch_ran = &other_branch_ran;
        s.spawn(async move {
            for _ in 0..50 {
                other_branch_ran.set(other_branch_ran.get() + 1);
                duet::yield_now().await;
            }
            stopper.cancel();
        });
    });
    assert!(result.unwrap_err().is_cancelled());
    assert_eq!(other_branch_ran.get(), 50);
}

#[test]
fn a_woken_scope_wakes_its_parent_exactly_once() {
    let (tx, rx) = oneshot::channel::<()>();
    let mut task = tokio_test::task::spawn(duet::scope(async |s| {
        s.spawn(async move {
            let _ = rx.await;
        });
    }));
    // One poll runs the body and, in a second round, the child it spawned.
    tokio_test::assert_pending!(task.poll());
    assert!(
        !task.is_woken(),
        "a scope whose tasks all wait must not wake itself"
    );
    assert_eq!(
        task.waker_ref_count(),
        2,
        "the scope keeps exactly one clone of its parent's waker"
    );
    tx.send(()).unwrap();
    assert!(task.is_woken());
    tokio_test::assert_ready_ok!(task.poll());
}

#[test]
fn scope_runs_under_another_executor() {
    let out = futures::executor::block_on(duet::scope(async |s| {
        let (tx, rx) = oneshot::channel();
        std::thread::spawn(move || tx.send(3).unwrap());
        let h = s.spawn(async move { Ok(rx.await.unwrap() * 2) });
        let never = s.spawn(futures::future::pending::<()>());
        never.cancel();
        Ok::<_, Infallible>(h.await.unwrap())
    }));
    assert_eq!(out.unwrap(), 6);
}
