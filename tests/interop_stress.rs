//! Stress: four threads complete 100,000 futures awaited by duet tasks; no wake-up is
//! lost (a lost one would hang, so a watchdog bounds the run).

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::watchdog;
use duet::{AwaitError, AwaitableFuture};

const PRODUCERS: usize = 4;
const TASKS: usize = 1_000;
const ROUNDS: usize = 100; // TASKS * ROUNDS = 100,000 futures

#[test]
fn four_threads_complete_100_000_futures_awaited_by_duet_tasks() {
    let _watchdog = watchdog("interop stress", Duration::from_secs(300));
    let (senders, producers): (Vec<_>, Vec<_>) = (0..PRODUCERS)
        .map(|_| {
            let (tx, rx) = mpsc::channel::<(u64, AwaitableFuture<u64>)>();
            let producer = thread::spawn(move || {
                let mut completed = 0u64;
                for (value, future) in rx {
                    future.set_result(value);
                    completed += 1;
                }
                completed
            });
            (tx, producer)
        })
        .unzip();

    let total = duet::run_scope(async |s| {
        let handles: Vec<_> = (0..TASKS)
            .map(|task| {
                let senders = senders.clone();
                s.spawn(async move {
                    let mut sum = 0u64;
                    for round in 0..ROUNDS {
                        let value = (task * ROUNDS + round) as u64;
                        let future = AwaitableFuture::new();
                        senders[(task + round) % PRODUCERS]
                            .send((value, future.clone()))
                            .unwrap();
                        // Races the producer: sometimes already complete, sometimes the
                        // waker is registered first and the wake comes from the thread.
                        sum += future.await?;
                    }
                    Ok::<_, AwaitError>(sum)
                })
            })
            .collect();
        let mut total = 0;
        for h in handles {
            total += h.await.unwrap();
        }
        Ok::<_, AwaitError>(total)
    });
    drop(senders);
    let n = (TASKS * ROUNDS) as u64;
    assert_eq!(total.unwrap(), n * (n - 1) / 2);
    let completed: u64 = producers.into_iter().map(|p| p.join().unwrap()).sum();
    assert_eq!(completed, n);
}
