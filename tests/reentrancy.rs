//! Re-entrant `run`: nested roots return to their caller and are isolated from the
//! outer tree.

mod common;

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::sync::mpsc;
use std::thread;

use common::panic_message;
use futures::channel::oneshot;

/// A synchronous API that uses duet internally (the refactoring use case).
fn legacy_lookup(key: &str) -> usize {
    duet::run(async {
        duet::yield_now().await;
        key.len()
    })
}

#[test]
fn nested_run_returns_its_value_and_the_outer_tree_continues() {
    let log = RefCell::new(Vec::new());
    let r = duet::run_scope(async |s| {
        let log = &log;
        let a = s.spawn(async move {
            log.borrow_mut().push("a start");
            let n = legacy_lookup("four");
            log.borrow_mut().push("a after nested run");
            duet::yield_now().await;
            Ok(n)
        });
        s.spawn(async move {
            log.borrow_mut().push("b start");
            duet::yield_now().await;
            log.borrow_mut().push("b end");
        });
        Ok::<_, Infallible>(a.await.unwrap())
    });
    assert_eq!(r.unwrap(), 4);
    let log = log.into_inner();
    assert!(log.contains(&"b end"));
    let pos = |x| log.iter().position(|e| *e == x).unwrap();
    // The nested run completes inside a's poll, before b gets a turn.
    assert!(pos("a after nested run") < pos("b start"));
}

#[test]
fn nested_runs_nest_deeply() {
    fn depth(n: u32) -> u32 {
        if n == 0 {
            0
        } else {
            duet::run(async move { depth(n - 1) + 1 })
        }
    }
    assert_eq!(depth(50), 50);
}

#[test]
fn nested_scopes_inside_nested_runs() {
    let r = duet::run_scope(async |s| {
        let h = s.spawn(async {
            let inner = duet::run_scope(async |s2| {
                let x = s2.spawn(async { Ok(20) });
                Ok::<_, Infallible>(x.await.unwrap() + 1)
            });
            Ok(inner.unwrap() * 2)
        });
        Ok::<_, Infallible>(h.await.unwrap())
    });
    assert_eq!(r.unwrap(), 42);
}

#[test]
fn outer_cancellation_does_not_reach_into_a_nested_run() {
    let nested_finished = Cell::new(false);
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let r = duet::run_scope(async |s| {
        let handle = s.cancel_handle();
        let nested_finished = &nested_finished;
        s.spawn(async move {
            // The outer scope is cancelled from another thread while the nested run is
            // waiting; the nested run still completes its own work.
            let (tx, rx) = oneshot::channel();
            thread::spawn(move || {
                handle.cancel();
                release_rx.recv().unwrap();
                tx.send(7).unwrap();
            });
            let value = duet::run(async {
                release_tx.send(()).unwrap();
                rx.await.unwrap()
            });
            nested_finished.set(value == 7);
            duet::yield_now().await; // the outer cancellation takes effect here
            unreachable!("the outer scope was cancelled");
        });
        futures::future::pending::<()>().await;
        Ok::<_, Infallible>(())
    });
    assert!(nested_finished.get());
    assert!(r.unwrap_err().is_cancelled());
}

#[test]
fn nested_run_failures_are_values_not_outer_cancellations() {
    let sibling_finished = Cell::new(false);
    let r = duet::run_scope(async |s| {
        let sibling_finished = &sibling_finished;
        s.spawn(async move {
            duet::yield_now().await;
            sibling_finished.set(true);
        });
        let h = s.spawn(async {
            let nested = duet::run_scope(async |inner| {
                inner.spawn(async { Err::<(), _>("inner failure") });
                Ok(())
            });
            Ok(nested.unwrap_err().into_errors())
        });
        Ok::<_, Infallible>(h.await.unwrap())
    });
    assert_eq!(r.unwrap(), vec!["inner failure"]);
    assert!(sibling_finished.get());
}

#[test]
fn cross_thread_wakes_reach_the_outer_loop_after_a_nested_run() {
    // A wake for the outer tree that arrives while a nested run is parked must not be
    // lost: the outer loop sees it after the nested run returns.
    let r = duet::run_scope(async |s| {
        let (outer_tx, outer_rx) = oneshot::channel::<u8>();
        let waiter = s.spawn(async move { Ok(outer_rx.await.unwrap()) });
        s.spawn(async move {
            duet::yield_now().await; // let the waiter register its waker
            let (inner_tx, inner_rx) = oneshot::channel::<u8>();
            thread::spawn(move || {
                outer_tx.send(1).unwrap(); // wakes the outer tree while the nested run parks
                thread::sleep(std::time::Duration::from_millis(20));
                inner_tx.send(2).unwrap();
            });
            assert_eq!(duet::run(inner_rx).unwrap(), 2);
        });
        Ok::<_, Infallible>(waiter.await.unwrap())
    });
    assert_eq!(r.unwrap(), 1);
}

#[test]
fn awaiting_an_outer_join_handle_inside_a_nested_run_panics_instead_of_deadlocking() {
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            let sibling = s.spawn(futures::future::pending::<()>());
            s.spawn(async move {
                duet::run(sibling).unwrap();
            });
        });
    });
    assert!(
        msg.contains("deadlock") && msg.contains("outer duet::run"),
        "{msg}"
    );
}
