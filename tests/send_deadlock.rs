//! Send scopes under `duet::run`: `duet::dump()` shows them, and the deadlock analysis
//! reads them, with every handle that may be on another thread (a join handle, a task
//! set, a clone of the `Scope`, the body's own) counted as a possible waker. The "not
//! flagged" tests hand such a handle to a real thread that uses it well after the loop's
//! deadlock check (50 ms of idleness); the "detected" ones would hang without the
//! analysis, so each runs under a watchdog.

mod common;

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::pending;
use std::thread;
use std::time::Duration;

use common::{panic_message, watchdog};
use duet::{Config, send};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn normalize(dump: &str) -> String {
    common::normalize_dump(dump, file!())
}

const LEVEL_2: &str = "duet::run: deadlock: every task is waiting";

// ---- dumps --------------------------------------------------------------------------

#[test]
fn dump_shows_send_scopes_in_the_tree_of_the_loop() {
    let captured = RefCell::new(String::new());
    let captured = &captured;
    let r = duet::run_with(
        Config::new().virtual_clock(),
        duet::scope(async |s| {
            s.spawn_named("local", async move {
                send::scope(async |inner| {
                    inner.spawn_named("sleeper", duet::sleep(ms(1_000)));
                    inner.spawn(duet::shield(duet::sleep(ms(3_000))));
                    duet::sleep(ms(2_000)).await;
                    Ok::<_, Infallible>(())
                })
                .await
                .unwrap();
            });
            duet::sleep(ms(10)).await;
            *captured.borrow_mut() = duet::dump();
            s.cancel();
            Ok::<_, Infallible>(())
        }),
    );
    assert!(r.unwrap_err().is_cancelled());
    assert_eq!(
        normalize(&captured.borrow()),
        "scope #1 opened at <here>: running\n\
         ├── body: running now\n\
         └── task #0 `local` spawned at <here>: waiting on scope #2 [shielded]\n    \
             └── scope #2 opened at <here>: running\n        \
                 ├── body: waiting on a sleep (due in 1.990s)\n        \
                 ├── task #0 `sleeper` spawned at <here>: waiting on a sleep (due in 0.990s)\n        \
                 └── task #1 spawned at <here>: waiting on a sleep (due in 2.990s) [shielded]\n"
    );
}

#[test]
fn dump_shows_a_send_scope_at_the_root_and_one_nested_in_its_task() {
    let captured = std::sync::Mutex::new(String::new());
    let captured = &captured;
    duet::run(send::scope(async |s| {
        s.spawn_named("outer", async move {
            let _ = send::scope(async |inner| {
                inner.spawn_named("inner", pending::<()>());
                duet::yield_now().await;
                *captured.lock().unwrap() = duet::dump();
                inner.cancel();
                Ok::<_, Infallible>(())
            })
            .await;
        });
        Ok::<_, Infallible>(())
    }))
    .unwrap();
    assert_eq!(
        normalize(&captured.lock().unwrap()),
        "scope #1 opened at <here>: running\n\
         └── task #0 `outer` spawned at <here>: running now\n    \
             └── scope #2 opened at <here>: running\n        \
                 ├── body: running now\n        \
                 └── task #0 `inner` spawned at <here>: waiting (on something duet cannot see)\n"
    );
}

// ---- detected -----------------------------------------------------------------------

#[test]
fn a_send_scope_whose_body_returned_and_whose_task_nothing_can_wake_is_a_deadlock() {
    // Level 2: a Send scope counts no stuck hold (`kind::COUNTS_STUCK_HOLDS`: it may be
    // moved to another thread within its poller's poll), so level 1 leaves it to level 2.
    let _watchdog = watchdog(
        "the level-2 deadlock of a Send scope",
        Duration::from_secs(30),
    );
    let msg = panic_message(|| {
        let _ = duet::run(send::scope(async |s| {
            s.spawn_named("stuck", pending::<()>());
            Ok::<_, Infallible>(())
        }));
    });
    assert!(msg.starts_with(LEVEL_2), "{msg}");
    assert!(msg.contains("task #0 `stuck` spawned at"), "{msg}");
}

#[test]
fn clones_and_join_handles_dropped_again_leave_the_scope_detectable() {
    // The body clones its handle and keeps join handles for a while: each counts as a
    // possible waker while it lives, and none is left counted once they are gone.
    let _watchdog = watchdog("balanced remote-handle counts", Duration::from_secs(30));
    let msg = panic_message(|| {
        let _ = duet::run(send::scope(async |s| {
            let spawner = s.clone();
            let handles: Vec<_> = (0..3).map(|_| spawner.spawn(pending::<()>())).collect();
            duet::yield_now().await;
            drop(handles);
            drop(spawner);
            let set = send::TaskSet::<(), Infallible>::new(&s);
            drop(set);
            Ok::<_, Infallible>(())
        }));
    });
    assert!(msg.starts_with(LEVEL_2), "{msg}");
}

#[test]
fn a_local_task_joining_a_task_stuck_in_a_send_scope_is_a_deadlock() {
    // Level 2: `waiter` waits on the join handle of `opener`, which waits on a Send scope
    // whose one task can never be woken. Before Send scopes were in the registry, the
    // wait on that scope counted as a possible waker and the run hung.
    let _watchdog = watchdog(
        "the level-2 deadlock through a Send scope",
        Duration::from_secs(30),
    );
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            let opener = s.spawn_named("opener", async {
                send::scope(async |inner| {
                    inner.spawn_named("stuck", pending::<()>());
                    Ok::<_, Infallible>(())
                })
                .await
                .unwrap();
            });
            s.spawn_named("waiter", async move {
                let _ = opener.await;
            });
            Ok::<_, Infallible>(())
        });
    });
    assert!(msg.starts_with(LEVEL_2), "{msg}");
    assert!(msg.contains("`stuck`"), "{msg}");
}

#[test]
fn the_last_remote_handle_dropped_on_another_thread_lets_the_deadlock_be_seen() {
    // A clone of the handle sits on a thread past the loop's first deadlock check, and is
    // dropped there unused: from then on nothing can wake the scope, and the drop wakes
    // the loop so that it can tell (instead of parking for ever).
    let _watchdog = watchdog(
        "a deadlock after the last remote handle",
        Duration::from_secs(30),
    );
    let msg = panic_message(|| {
        let _ = duet::run(send::scope(async |s: send::Scope<'static, Infallible>| {
            let held = s.clone();
            thread::spawn(move || {
                thread::sleep(ms(200));
                drop(held);
            });
            s.spawn(pending::<()>());
            Ok(())
        }));
    });
    // Level 2: a Send scope counts no stuck hold, so level 1 never reports it.
    assert!(msg.starts_with(LEVEL_2), "{msg}");
}

// ---- not flagged ----------------------------------------------------------------------

#[test]
fn a_body_handing_its_own_handle_to_a_thread_is_not_a_deadlock() {
    // The body's own `Scope` (not a clone) may leave it: a watchdog thread cancels the
    // scope while the body waits on something nothing else will complete.
    let r = duet::run(send::scope(async |s: send::Scope<'static, Infallible>| {
        let body_waits = s.spawn(pending::<()>());
        thread::spawn(move || {
            thread::sleep(ms(200));
            s.cancel();
        });
        let _ = body_waits.await;
        Ok(())
    }));
    assert!(r.unwrap_err().is_cancelled());
}

#[test]
fn a_clone_on_another_thread_that_spawns_later_is_not_a_deadlock() {
    let r = duet::run(send::scope(async |s: send::Scope<'static, Infallible>| {
        let spawner = s.clone();
        let worker = thread::spawn(move || {
            thread::sleep(ms(200));
            let (tx, rx) = std::sync::mpsc::channel();
            spawner.spawn(async move { tx.send("ran").unwrap() });
            let ran = rx.recv().unwrap();
            spawner.cancel_tasks(); // the pending task below
            ran
        });
        s.spawn(pending::<()>());
        Ok(worker)
    }));
    assert_eq!(r.unwrap().join().unwrap(), "ran");
}

#[test]
fn a_join_handle_on_another_thread_that_cancels_its_task_later_is_not_a_deadlock() {
    let r = duet::run(send::scope(async |s| {
        let stuck = s.spawn(pending::<()>());
        thread::spawn(move || {
            thread::sleep(ms(200));
            stuck.cancel();
        });
        Ok::<_, Infallible>(())
    }));
    assert!(r.is_ok());
}

#[test]
fn a_task_set_on_another_thread_is_not_a_deadlock() {
    let r = duet::run(send::scope(async |s: send::Scope<'static, Infallible>| {
        let mut set = send::TaskSet::new(&s);
        set.spawn(pending::<()>());
        thread::spawn(move || {
            thread::sleep(ms(200));
            set.cancel_all();
        });
        Ok(())
    }));
    assert!(r.is_ok());
}

#[test]
fn a_level_2_wait_through_a_send_scope_with_a_handle_elsewhere_is_not_a_deadlock() {
    let r = duet::run_scope(async |s| {
        let opener = s.spawn(async {
            send::scope(async |inner| {
                let stuck = inner.spawn(pending::<()>());
                thread::spawn(move || {
                    thread::sleep(ms(200));
                    stuck.cancel();
                });
                Ok::<_, Infallible>(())
            })
            .await
            .unwrap();
        });
        s.spawn(async move {
            let _ = opener.await;
        });
        Ok::<_, Infallible>(())
    });
    assert!(r.is_ok());
}
