//! Workload 7: bytes per pending child, with N children pending at once.
//!
//! Resident memory does not shrink reliably after a run, so each peer is measured in a
//! fresh child process (this binary re-run with `--memory-child PEER N`), which reports
//! the growth of its resident set while N children are pending, divided by N.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use futures::stream::FuturesUnordered;

use crate::common::{Parked, ParkedSend, yield_once};

fn resident_bytes() -> usize {
    let status =
        std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux only)");
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kb * 1024
}

/// Runs in the child process: prints bytes per pending child, then exits without tearing
/// down (teardown time is not what this measures).
pub fn child(peer: &str, n: usize) -> ! {
    let drops = Rc::new(Cell::new(0));
    let report = |before: usize| -> ! {
        let after = resident_bytes();
        println!("{}", (after.saturating_sub(before)) as f64 / n as f64);
        std::process::exit(0)
    };
    let before = resident_bytes();
    match peer {
        "duet" => {
            let _ = duet::run_scope(async |s: duet::Scope<'_>| {
                for _ in 0..n {
                    s.spawn(Parked::new(&drops));
                }
                yield_once().await;
                report(before)
            });
        }
        "tokio" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async {
                let mut set = tokio::task::JoinSet::new();
                for _ in 0..n {
                    set.spawn_local(Parked::new(&drops));
                }
                yield_once().await;
                report(before)
            })
        }
        "futures_unordered" => futures::executor::block_on(async {
            let mut set: FuturesUnordered<_> = (0..n).map(|_| Parked::new(&drops)).collect();
            let _ = futures::poll!(futures::StreamExt::next(&mut set));
            report(before)
        }),
        "smol" => {
            let ex = async_executor::LocalExecutor::new();
            futures::executor::block_on(ex.run(async {
                let _tasks: Vec<_> = (0..n).map(|_| ex.spawn(Parked::new(&drops))).collect();
                yield_once().await;
                while ex.try_tick() {}
                report(before)
            }))
        }
        "moro" => {
            let drops = Arc::new(AtomicUsize::new(0));
            futures::executor::block_on(moro::async_scope!(|scope| -> () {
                for _ in 0..n {
                    drop(scope.spawn(ParkedSend::new(&drops)));
                }
                yield_once().await;
                report(before)
            }))
        }
        other => panic!("unknown peer {other}"),
    }
    unreachable!()
}

/// Measures `peer` in a child process; bytes per pending child.
pub fn measure(peer: &str, n: usize) -> f64 {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--memory-child", peer, &n.to_string()])
        .output()
        .expect("re-running the benchmark binary");
    assert!(
        out.status.success(),
        "{peer}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}
