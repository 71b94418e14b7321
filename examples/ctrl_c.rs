//! Ctrl-C as structured cancellation: the first Ctrl-C cancels the run, every task
//! unwinds and its destructors run; `run` returns a "cancelled: interrupted" error.
//!
//! Run it with `cargo run --features ctrl-c --example ctrl_c` and press Ctrl-C.
//! `--slow-cleanup` makes the cleanup take a few seconds: a second Ctrl-C meanwhile
//! kills the process as usual. `--plain-root` runs a root future that is not a scope
//! (Ctrl-C drops it and `run_with` panics), and `--option-off` runs without
//! `cancel_on_ctrl_c` (Ctrl-C kills the process, as if duet were not there).
//! `--nested-run` waits inside a nested `run` (a synchronous helper): Ctrl-C cancels the
//! nested run, which returns its error to the task, and then the outer run. `--pmap` runs
//! a `pmap_async` at the root: it cannot return the interruption, so `run_with` panics;
//! `--sync-pmap` runs the synchronous `pmap` inside a task, which panics likewise.

use std::convert::Infallible;
use std::thread;
use std::time::Duration;

use duet::{CancelReason, Config, ScopeError};

/// Prints when dropped: shows that cancellation runs destructors.
struct Cleanup {
    task: u32,
    slow: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if self.slow {
            println!("task {}: cleaning up slowly", self.task);
            thread::sleep(Duration::from_secs(5));
        }
        println!("task {}: cleaned up", self.task);
    }
}

/// A synchronous function that runs a loop of its own, as a library might.
fn legacy_wait_for_an_hour() -> Result<(), ScopeError<Infallible>> {
    duet::run_scope(async |s| {
        s.spawn(async {
            let _cleanup = Cleanup {
                task: 9,
                slow: false,
            };
            duet::sleep(Duration::from_secs(3600)).await;
        });
        duet::yield_now().await; // the task has started
        println!("ready: press Ctrl-C to cancel");
        Ok(())
    })
}

fn main() {
    let flag = |name: &str| std::env::args().any(|arg| arg == name);
    let slow = flag("--slow-cleanup");
    if flag("--option-off") {
        duet::run(async {
            println!("ready: press Ctrl-C to cancel");
            duet::sleep(Duration::from_secs(3600)).await;
        });
        return;
    }
    let config = Config::new().cancel_on_ctrl_c();
    if flag("--pmap") {
        duet::run_with(
            config,
            duet::pmap_async(0..4, Some(2), async |task: u32| {
                let _cleanup = Cleanup { task, slow };
                println!("ready: press Ctrl-C to cancel");
                duet::sleep(Duration::from_secs(3600)).await;
            }),
        );
        return;
    }
    if flag("--sync-pmap") {
        let _ = duet::run_with(
            config,
            duet::scope(async |s| {
                s.spawn(async move {
                    duet::pmap(0..2, Some(2), async |task: u32| {
                        let _cleanup = Cleanup { task, slow };
                        println!("ready: press Ctrl-C to cancel");
                        duet::sleep(Duration::from_secs(3600)).await;
                    });
                });
            }),
        );
        return;
    }
    if flag("--nested-run") {
        let result = duet::run_with(
            config,
            duet::scope(async |s| {
                s.spawn(async {
                    let nested = legacy_wait_for_an_hour();
                    println!("nested run returned: {nested:?}");
                    duet::yield_now().await; // the outer cancellation takes effect here
                    println!("never printed: the outer run was interrupted too");
                });
            }),
        );
        println!("run returned: {}", result.unwrap_err());
        std::process::exit(130);
    }
    if flag("--plain-root") {
        duet::run_with(config, async {
            let _cleanup = Cleanup { task: 0, slow };
            println!("ready: press Ctrl-C to cancel");
            duet::sleep(Duration::from_secs(3600)).await;
        });
        return;
    }
    let result = duet::run_with(
        config,
        duet::scope(async |s| {
            for task in 0..3 {
                s.spawn(async move {
                    let _cleanup = Cleanup { task, slow };
                    duet::sleep(Duration::from_secs(3600)).await;
                });
            }
            // The tasks run before the body's next turn: all three have started.
            duet::yield_now().await;
            println!("ready: press Ctrl-C to cancel");
        }),
    );
    match result {
        Err(
            error @ ScopeError::Cancelled {
                reason: CancelReason::Interrupted,
                ..
            },
        ) => {
            println!("run returned: {error}");
            std::process::exit(130);
        }
        other => println!("run returned: {other:?}"),
    }
}
