//! Panics: re-raised from scopes after every task is dropped; the thread stays usable.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use common::{DropFlag, Probe, panic_message};
use duet::{CancelReason, JoinError};
use futures::future::pending;

#[test]
fn panic_in_a_child_cancels_siblings_and_is_re_raised_by_the_scope() {
    let probe = Probe::new();
    let sibling_dropped = Rc::new(Cell::new(false));
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            let flag = DropFlag(sibling_dropped.clone());
            s.spawn(probe.track(async move {
                let _flag = flag;
                pending::<()>().await;
            }));
            s.spawn(async {
                duet::yield_now().await;
                panic!("child exploded");
            });
        });
    });
    assert_eq!(msg, "child exploded");
    assert!(sibling_dropped.get());
    assert_eq!(probe.dropped(), 1);
    assert_eq!(duet::run(async { 3 }), 3, "the thread can run again");
}

#[test]
fn panic_in_the_body_cancels_children() {
    let probe = Probe::new();
    let msg = panic_message(|| {
        // A body that never returns takes its error type from its tasks; `&Scope<'_>`
        // (default error type: Infallible) says there is none.
        let _ = duet::run_scope(async |s: &duet::Scope<'_>| {
            s.spawn(probe.track(pending::<()>()));
            duet::yield_now().await;
            panic!("body exploded");
        });
    });
    assert_eq!(msg, "body exploded");
    assert_eq!((probe.polls(), probe.dropped()), (1, 1));
}

#[test]
fn a_child_panic_passes_through_enclosing_scopes() {
    let outer_sibling = Probe::new();
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            s.spawn(outer_sibling.track(pending::<()>()));
            s.spawn(async {
                duet::scope(async |inner| {
                    inner.spawn(async { panic!("deep panic") });
                })
                .await
                .unwrap();
            });
        });
    });
    assert_eq!(msg, "deep panic");
    assert_eq!(outer_sibling.dropped(), 1);
}

#[test]
fn handle_of_a_sibling_dropped_by_a_panic_reports_it() {
    let escaped = RefCell::new(None);
    let _ = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            *escaped.borrow_mut() = Some(s.spawn(pending::<()>()));
            s.spawn(async { panic!("boom") });
        });
    });
    let handle = escaped.borrow_mut().take().unwrap();
    match duet::run(handle) {
        Err(JoinError::Cancelled(CancelReason::SiblingPanicked(culprit))) => {
            assert_eq!(culprit.index(), Some(1), "the second task spawned panicked");
            assert_eq!(culprit.location().file(), file!());
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn panic_in_a_nested_run_propagates_to_the_calling_task() {
    let caught = Cell::new(false);
    let r = duet::run_scope(async |s| {
        let caught = &caught;
        s.spawn(async move {
            let result = std::panic::catch_unwind(|| {
                duet::run(async {
                    duet::yield_now().await;
                    panic!("nested run exploded")
                })
            });
            caught.set(result.is_err());
            // The outer loop's state was restored: yielding and spawning still work.
            duet::yield_now().await;
        });
    });
    assert!(r.is_ok());
    assert!(caught.get());
}

#[test]
fn uncaught_panic_in_a_nested_run_fails_the_outer_scope_like_any_panic() {
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            s.spawn(async { duet::run(async { panic!("inner run panic") }) });
        });
    });
    assert_eq!(msg, "inner run panic");
    assert_eq!(duet::run(async { 1 }), 1);
}

#[test]
fn panic_in_a_destructor_during_cancellation_is_re_raised_after_all_drops() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("destructor exploded");
        }
    }
    let probe = Probe::new();
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            for i in 0..6 {
                s.spawn(probe.track(async move {
                    let _bomb = (i == 2).then_some(PanicOnDrop);
                    pending::<()>().await;
                }));
            }
            duet::yield_now().await;
            s.cancel();
            Ok::<_, std::convert::Infallible>(())
        });
    });
    assert_eq!(msg, "destructor exploded");
    assert_eq!(probe.dropped(), 6, "the other tasks were still dropped");
    assert_eq!(duet::run(async { 2 }), 2);
}

#[test]
fn panic_in_a_destructor_of_a_task_cancelled_by_its_handle_fails_the_scope() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("handle-cancel destructor exploded");
        }
    }
    let probe = Probe::new();
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            let h = s.spawn(async {
                let _bomb = PanicOnDrop;
                pending::<()>().await;
            });
            s.spawn(probe.track(pending::<()>()));
            duet::yield_now().await;
            h.cancel();
            pending::<()>().await;
        });
    });
    assert_eq!(msg, "handle-cancel destructor exploded");
    assert_eq!(probe.dropped(), 1);
}
