//! `duet::dump()` inside scopes that a foreign executor polls (*detached roots*: a tokio
//! task, `futures::executor::block_on`): the root keeps a registry of its own tree and
//! enters it around each of its polls, so a dump from inside the tree shows the tree,
//! wherever the root is polled, and nothing leaks to what the executor polls next.

mod common;

use std::convert::Infallible;
use std::future::pending;

use common::tokio_threads::{hop, multi_thread};
use duet::send;

fn normalize(dump: &str) -> String {
    common::normalize_dump(dump, file!())
}

const OUTSIDE: &str = "duet::dump: not inside duet::run";

#[test]
fn a_dump_inside_a_send_scope_in_a_tokio_task_shows_its_tree() {
    let runtime = multi_thread();
    let (tx, rx) = std::sync::mpsc::channel();
    runtime.block_on(async move {
        tokio::spawn(async move {
            let _ = send::scope(async move |s| {
                s.spawn_named("idle", pending::<()>());
                s.spawn_named("nested", async {
                    let _ = send::scope(async |inner| {
                        inner.spawn_named("leaf", pending::<()>());
                        pending::<Result<(), Infallible>>().await
                    })
                    .await;
                });
                hop(10).await;
                tx.send(duet::dump()).unwrap();
                s.cancel();
                Ok::<_, Infallible>(())
            })
            .await;
        })
        .await
        .unwrap()
    });
    assert_eq!(
        normalize(&rx.recv().unwrap()),
        "scope #1 opened at <here>: running\n\
         ├── body: running now\n\
         ├── task #0 `idle` spawned at <here>: waiting (on something duet cannot see)\n\
         └── task #1 `nested` spawned at <here>: waiting on scope #2\n    \
             └── scope #2 opened at <here>: running\n        \
                 ├── body: waiting (on something duet cannot see)\n        \
                 └── task #0 `leaf` spawned at <here>: waiting (on something duet cannot see)\n"
    );
}

#[test]
fn the_tree_is_current_only_while_the_root_is_polled() {
    // Another tokio task, polled between two polls of the root (on whichever worker),
    // sees no tree; nor does the test thread after the root has finished.
    let runtime = multi_thread();
    let (outside, inside) = runtime.block_on(async {
        let root = tokio::spawn(send::scope(async |s| {
            s.spawn(async {
                for _ in 0..20 {
                    tokio::task::yield_now().await;
                }
            });
            hop(20).await;
            Ok::<_, Infallible>(duet::dump())
        }));
        let bystander = tokio::spawn(async {
            let mut outside = Vec::new();
            for _ in 0..20 {
                outside.push(duet::dump());
                tokio::task::yield_now().await;
            }
            outside
        });
        (bystander.await.unwrap(), root.await.unwrap().unwrap())
    });
    assert!(
        outside.iter().all(|text| text.starts_with(OUTSIDE)),
        "{outside:?}"
    );
    assert!(inside.starts_with("scope #"), "{inside}");
    assert!(duet::dump().starts_with(OUTSIDE));
}

#[test]
fn a_local_scope_under_block_on_dumps_its_tree_with_a_send_scope_inside() {
    let captured = std::cell::RefCell::new(String::new());
    let _ = futures::executor::block_on(duet::scope(async |s| {
        let captured = &captured;
        s.spawn_named("local task", async {
            let _ = send::scope(async |inner| {
                inner.spawn_named("send task", pending::<()>());
                pending::<Result<(), Infallible>>().await
            })
            .await;
        });
        duet::yield_now().await;
        *captured.borrow_mut() = duet::dump();
        s.cancel();
        Ok::<_, Infallible>(())
    }));
    assert_eq!(
        normalize(&captured.borrow()),
        "scope #1 opened at <here>: running\n\
         ├── body: running now\n\
         └── task #0 `local task` spawned at <here>: waiting on scope #2\n    \
             └── scope #2 opened at <here>: running\n        \
                 ├── body: waiting (on something duet cannot see)\n        \
                 └── task #0 `send task` spawned at <here>: waiting (on something duet cannot see)\n"
    );
    assert!(duet::dump().starts_with(OUTSIDE));
}

#[test]
fn a_nested_run_inside_a_detached_root_shows_its_own_tree_and_then_the_roots_again() {
    let (inner, after) = futures::executor::block_on(send::scope(async |s| {
        s.spawn_named("outer task", pending::<()>());
        let inner = duet::run(duet::scope(async |n| {
            n.spawn_named("inner task", pending::<()>());
            duet::yield_now().await;
            let text = duet::dump();
            n.cancel_tasks();
            Ok::<_, Infallible>(text)
        }))
        .unwrap();
        let after = duet::dump();
        s.cancel_tasks();
        Ok::<_, Infallible>((inner, after))
    }))
    .unwrap();
    assert!(
        inner.contains("`inner task`") && !inner.contains("`outer task`"),
        "{inner}"
    );
    assert!(
        after.contains("`outer task`") && !after.contains("`inner task`"),
        "{after}"
    );
}

#[test]
fn a_panic_inside_a_detached_root_leaves_no_tree_current() {
    for _ in 0..2 {
        let caught = std::panic::catch_unwind(|| {
            futures::executor::block_on(send::scope(async |s| {
                s.spawn(async { panic!("a task of the root panics") });
                pending::<Result<(), Infallible>>().await
            }))
        });
        assert!(caught.is_err());
        assert!(duet::dump().starts_with(OUTSIDE), "{}", duet::dump());
        let caught = std::panic::catch_unwind(|| {
            futures::executor::block_on(duet::scope(async |_| -> Result<(), Infallible> {
                panic!("the body of a local root panics")
            }))
        });
        assert!(caught.is_err());
        assert!(duet::dump().starts_with(OUTSIDE), "{}", duet::dump());
    }
}

#[test]
fn a_detached_root_dropped_after_a_poll_leaves_no_tree_current() {
    use futures::future::{Either, select};
    let outcome = futures::executor::block_on(async {
        let root = std::pin::pin!(send::scope(async |s| {
            s.spawn(pending::<()>());
            pending::<Result<(), Infallible>>().await
        }));
        let other = std::pin::pin!(async {
            duet::yield_now().await;
            duet::dump()
        });
        match select(root, other).await {
            Either::Left(_) => panic!("the root never ends"),
            Either::Right((text, _root)) => text,
        }
    });
    // Polled between two polls of the root, in the same task: no tree is current.
    assert!(outcome.starts_with(OUTSIDE), "{outcome}");
    assert!(duet::dump().starts_with(OUTSIDE));
}
