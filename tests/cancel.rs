//! Cancellation: who can cancel, what gets dropped, and in which order.

mod common;

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::rc::Rc;
use std::thread;
use std::time::Duration;

use common::{DropFlag, Probe};
use duet::{CancelReason, JoinError, ScopeError};
use futures::future::pending;

fn cancelled_explicitly<E: std::fmt::Debug>(r: Result<(), ScopeError<E>>) -> bool {
    matches!(
        r,
        Err(ScopeError::Cancelled {
            reason: CancelReason::Explicit,
            ..
        })
    )
}

#[test]
fn cancel_from_the_body_drops_every_child_at_its_await_point() {
    let probe = Probe::new();
    let flags: Vec<_> = (0..10).map(|_| Rc::new(Cell::new(false))).collect();
    let r = duet::run_scope(async |s| {
        for flag in &flags {
            let guard = DropFlag(flag.clone());
            s.spawn(probe.track(async move {
                let _guard = guard;
                pending::<()>().await;
            }));
        }
        duet::yield_now().await;
        s.cancel();
        Ok(())
    });
    assert!(cancelled_explicitly::<Infallible>(r));
    assert!(
        flags.iter().all(|f| f.get()),
        "every child's destructors ran"
    );
    assert_eq!(
        (probe.polls(), probe.dropped(), probe.completed()),
        (10, 10, 0)
    );
}

#[test]
fn the_body_keeps_running_until_its_next_await_after_cancel() {
    let reached = RefCell::new(Vec::new());
    let r = duet::run_scope(async |s| {
        s.cancel();
        reached.borrow_mut().push("after cancel");
        duet::yield_now().await;
        reached.borrow_mut().push("after await");
        Ok(())
    });
    assert!(cancelled_explicitly::<Infallible>(r));
    assert_eq!(*reached.borrow(), ["after cancel"]);
}

#[test]
fn a_body_value_returned_after_cancel_is_discarded() {
    let r = duet::run_scope(async |s| {
        s.cancel();
        Ok::<_, Infallible>(5)
    });
    assert_eq!(
        r,
        Err(ScopeError::Cancelled {
            reason: CancelReason::Explicit,
            errors: vec![]
        })
    );
}

#[test]
fn cancel_from_a_sibling_task() {
    let probe = Probe::new();
    let r = duet::run_scope(async |s| {
        s.spawn(probe.track(pending::<()>()));
        let canceller = s.clone();
        s.spawn(async move {
            duet::yield_now().await;
            canceller.cancel();
        });
        pending::<()>().await;
        Ok(())
    });
    assert!(cancelled_explicitly::<Infallible>(r));
    assert_eq!(probe.dropped(), 1);
}

#[test]
fn cancel_from_a_task_outside_the_scope() {
    let slot: RefCell<Option<duet::Scope<'_, Infallible>>> = RefCell::new(None);
    let observed = duet::run_scope(async |outer| {
        let slot = &slot;
        let inner = outer.spawn(async move {
            Ok(duet::scope(async |s| {
                *slot.borrow_mut() = Some(s.clone());
                pending::<()>().await;
                Ok(())
            })
            .await)
        });
        outer.spawn(async move {
            while slot.borrow().is_none() {
                duet::yield_now().await;
            }
            slot.borrow_mut().take().unwrap().cancel();
        });
        Ok::<_, Infallible>(inner.await.unwrap())
    });
    assert!(cancelled_explicitly(observed.unwrap()));
}

#[test]
fn cancel_from_another_thread() {
    let probe = Probe::new();
    let r = duet::run_scope(async |s| {
        s.spawn(probe.track(pending::<()>()));
        let handle = s.cancel_handle();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            handle.cancel();
        });
        pending::<()>().await;
        Ok(())
    });
    assert!(cancelled_explicitly::<Infallible>(r));
    assert_eq!(probe.dropped(), 1);
}

#[test]
fn no_task_of_a_cancelled_scope_is_polled_again() {
    let probe = Probe::new();
    let r = duet::run_scope(async |s| {
        for _ in 0..5 {
            s.spawn(probe.track(async {
                loop {
                    duet::yield_now().await;
                }
            }));
        }
        let canceller = s.clone();
        s.spawn(async move {
            duet::yield_now().await;
            canceller.cancel();
            // Keep running until the next await: the others must not be polled after this.
        });
        Ok(())
    });
    assert!(cancelled_explicitly::<Infallible>(r));
    // Round 1 polls the five loopers once; round 2 polls them once more and then the
    // canceller, which cancels. Nothing is polled after that.
    assert_eq!(probe.polls(), 10);
    assert_eq!(probe.dropped(), 5);
}

#[test]
fn nested_scopes_in_a_cancelled_child_are_torn_down_descendants_first() {
    let order = Rc::new(RefCell::new(Vec::new()));
    struct Record(&'static str, Rc<RefCell<Vec<&'static str>>>);
    impl Drop for Record {
        fn drop(&mut self) {
            self.1.borrow_mut().push(self.0);
        }
    }
    let r = duet::run_scope(async |s| {
        let order = order.clone();
        s.spawn(async move {
            let _child = Record("child", order.clone());
            duet::scope(async |inner| {
                let grandchild = Record("grandchild", order.clone());
                inner.spawn(async move {
                    let _g = grandchild;
                    pending::<()>().await;
                });
                let _inner_body = Record("inner body", order.clone());
                pending::<()>().await;
            })
            .await
            .unwrap();
        });
        duet::yield_now().await;
        duet::yield_now().await;
        s.cancel();
        Ok(())
    });
    assert!(cancelled_explicitly::<Infallible>(r));
    assert_eq!(*order.borrow(), ["grandchild", "inner body", "child"]);
}

#[test]
fn dropping_a_scope_future_cancels_its_tasks_with_reason_dropped() {
    let probe = Probe::new();
    let escaped = RefCell::new(None);
    duet::run(async {
        let scope = duet::scope(async |s| {
            *escaped.borrow_mut() = Some(s.spawn(probe.track(pending::<()>())));
            pending::<()>().await;
            Ok::<_, Infallible>(())
        });
        // Poll the scope a few times, then drop it.
        let _ = futures::future::select(
            Box::pin(scope),
            Box::pin(async {
                for _ in 0..3 {
                    duet::yield_now().await;
                }
            }),
        )
        .await;
    });
    assert_eq!((probe.polls(), probe.dropped()), (1, 1));
    let handle = escaped.borrow_mut().take().unwrap();
    assert_eq!(
        duet::run(handle),
        Err(JoinError::Cancelled(CancelReason::Dropped)),
        "dropped by a select, not by a duet scope"
    );
}

#[test]
fn cancelling_twice_or_after_finishing_is_harmless() {
    let kept = RefCell::new(None);
    let r = duet::run_scope(async |s| {
        *kept.borrow_mut() = Some(s.cancel_handle());
        s.cancel();
        s.cancel();
        Ok::<_, Infallible>(())
    });
    assert!(r.unwrap_err().is_cancelled());
    let handle = kept.borrow_mut().take().unwrap();
    handle.cancel();
    assert!(handle.is_cancelled());
}

#[test]
fn join_handles_of_dropped_siblings_report_why() {
    let escaped = RefCell::new(Vec::new());
    let r = duet::run_scope(async |s| {
        escaped
            .borrow_mut()
            .push(s.spawn(pending::<Result<(), &str>>()));
        s.spawn_named("boomer", async {
            duet::yield_now().await;
            Err::<(), _>("boom")
        });
        Ok(())
    });
    assert!(r.unwrap_err().is_failed());
    let victim = escaped.borrow_mut().pop().unwrap();
    match duet::run(victim) {
        Err(JoinError::Cancelled(CancelReason::SiblingFailed(culprit))) => {
            assert_eq!(culprit.name(), Some("boomer"));
            assert_eq!(culprit.index(), Some(1));
            assert_eq!(culprit.location().file(), file!());
        }
        other => panic!("unexpected {other:?}"),
    }

    let r = duet::run_scope(async |s| {
        escaped
            .borrow_mut()
            .push(s.spawn(pending::<Result<(), &str>>()));
        duet::yield_now().await;
        s.cancel();
        Ok(())
    });
    assert!(r.unwrap_err().is_cancelled());
    let victim = escaped.borrow_mut().pop().unwrap();
    assert_eq!(
        duet::run(victim),
        Err(JoinError::Cancelled(CancelReason::Explicit))
    );
}

#[test]
fn every_child_is_dropped_exactly_once_on_success_failure_cancel_and_panic() {
    // success
    let probe = Probe::new();
    duet::run_scope(async |s| {
        for _ in 0..20 {
            s.spawn(probe.track(duet::yield_now()));
        }
    })
    .unwrap();
    assert_eq!((probe.created(), probe.dropped()), (20, 20));

    // failure
    let probe = Probe::new();
    let r = duet::run_scope(async |s| {
        for i in 0..20 {
            s.spawn(probe.track(async move {
                duet::yield_now().await;
                if i == 7 {
                    Err::<(), _>("seven")
                } else {
                    pending().await
                }
            }));
        }
        Ok(())
    });
    assert!(r.unwrap_err().is_failed());
    assert_eq!((probe.created(), probe.dropped()), (20, 20));

    // cancel
    let probe = Probe::new();
    let r = duet::run_scope(async |s| {
        for _ in 0..20 {
            s.spawn(probe.track(pending::<()>()));
        }
        duet::yield_now().await;
        s.cancel();
        Ok::<_, Infallible>(())
    });
    assert!(r.unwrap_err().is_cancelled());
    assert_eq!((probe.created(), probe.dropped()), (20, 20));

    // panic
    let probe = Probe::new();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        duet::run_scope(async |s| {
            for i in 0..20 {
                s.spawn(probe.track(async move {
                    duet::yield_now().await;
                    if i == 3 {
                        panic!("three");
                    }
                    pending::<()>().await;
                }));
            }
        })
    }));
    assert!(caught.is_err());
    assert_eq!((probe.created(), probe.dropped()), (20, 20));
}

#[test]
fn every_clone_of_a_cancel_handle_cancels_the_same_scope_from_any_thread() {
    let probe = Probe::new();
    let (seen_tx, seen) = std::sync::mpsc::channel();
    let r = duet::run_scope(async |s| {
        s.spawn(probe.track(pending::<()>()));
        let original = s.cancel_handle();
        let canceller = original.clone();
        let observer = canceller.clone();
        drop(original); // the clones do not depend on it
        assert!(!observer.is_cancelled());
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(10));
            canceller.cancel();
        });
        thread::spawn(move || {
            while !observer.is_cancelled() {
                thread::yield_now();
            }
            seen_tx.send(format!("{observer:?}")).unwrap();
        });
        pending::<()>().await;
        Ok(())
    });
    assert!(cancelled_explicitly::<Infallible>(r));
    assert_eq!(probe.dropped(), 1);
    assert_eq!(
        seen.recv_timeout(Duration::from_secs(10)).unwrap(),
        "CancelHandle { cancelled: true }"
    );
}
