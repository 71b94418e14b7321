//! Workload 3: one task awaits N sequential completions made by another thread.
//!
//! Each round the task sends a oneshot sender to a helper thread (over a std channel)
//! and awaits the reply. The floor is the same ping-pong between two plain threads.
//! CPU time is the awaiting thread's (the helper's is not counted).

use crate::common::{Sample, timed};
use std::sync::mpsc;
use std::thread;

use futures::channel::oneshot;

fn helper() -> (mpsc::Sender<oneshot::Sender<u64>>, thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<oneshot::Sender<u64>>();
    let handle = thread::spawn(move || {
        for (i, reply) in rx.iter().enumerate() {
            let _ = reply.send(i as u64);
        }
    });
    (tx, handle)
}

async fn rounds(n: u64, to_helper: &mpsc::Sender<oneshot::Sender<u64>>) -> u64 {
    let mut sum = 0;
    for _ in 0..n {
        let (tx, rx) = oneshot::channel();
        to_helper.send(tx).unwrap();
        sum += rx.await.unwrap();
    }
    sum
}

fn check(n: u64, sum: u64) {
    assert_eq!(sum, n * (n - 1) / 2);
}

/// Starts the helper, times `drive` (which runs [`rounds`] on some executor), stops the
/// helper and checks the sum: the part every async peer shares.
fn with_helper(n: u64, drive: impl FnOnce(&mpsc::Sender<oneshot::Sender<u64>>) -> u64) -> Sample {
    let (to_helper, handle) = helper();
    let (sum, sample) = timed(|| drive(&to_helper));
    drop(to_helper);
    handle.join().unwrap();
    check(n, sum);
    sample
}

pub fn floor(n: u64) -> Sample {
    let (ping_tx, ping_rx) = mpsc::channel::<u64>();
    let (pong_tx, pong_rx) = mpsc::channel::<u64>();
    let handle = thread::spawn(move || {
        for i in ping_rx.iter() {
            pong_tx.send(i).unwrap();
        }
    });
    let (sum, sample) = timed(|| {
        let mut sum = 0;
        for i in 0..n {
            ping_tx.send(i).unwrap();
            sum += pong_rx.recv().unwrap();
        }
        sum
    });
    drop(ping_tx);
    handle.join().unwrap();
    check(n, sum);
    sample
}

pub fn duet(n: u64) -> Sample {
    with_helper(n, |to_helper| duet::run(rounds(n, to_helper)))
}

/// duet with `Config::spin_before_park`: the loop spins up to 20 µs before parking.
pub fn duet_spinning(n: u64) -> Sample {
    let config = duet::Config::new().spin_before_park(std::time::Duration::from_micros(20));
    with_helper(n, |to_helper| duet::run_with(config, rounds(n, to_helper)))
}

pub fn tokio(n: u64) -> Sample {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    with_helper(n, |to_helper| rt.block_on(rounds(n, to_helper)))
}

pub fn tokio_multi_thread(n: u64) -> Sample {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    with_helper(n, |to_helper| rt.block_on(rounds(n, to_helper)))
}

pub fn futures_block_on(n: u64) -> Sample {
    with_helper(n, |to_helper| {
        futures::executor::block_on(rounds(n, to_helper))
    })
}
