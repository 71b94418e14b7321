//! CPU work offloaded to rayon's thread pool and awaited by duet tasks through an
//! `AwaitableFuture`: the job completes the future from a rayon thread, which wakes the
//! duet loop; cancelling the awaiting task cancels the future, which the job can see.

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::watchdog;
use duet::{AwaitError, AwaitableFuture};
use rayon::prelude::*;

const GENEROUS: Duration = Duration::from_secs(30);

/// Runs `job` on rayon's global pool; the returned future completes with its result.
fn on_rayon<T, F>(job: F) -> AwaitableFuture<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let future = AwaitableFuture::new();
    let producer = future.clone();
    rayon::spawn(move || producer.set_result(job()));
    future
}

fn sum_of_squares(range: std::ops::Range<u64>) -> u64 {
    range.into_par_iter().map(|x| x * x).sum()
}

#[test]
fn cpu_work_on_rayon_is_awaited_through_awaitable_futures() {
    let _watchdog = watchdog("rayon offload", Duration::from_secs(120));
    let loop_thread = thread::current().id();
    let results = duet::run_scope(async |s| {
        let handles: Vec<_> = (0..16u64)
            .map(|k| {
                s.spawn(async move {
                    let (sum, worker) = on_rayon(move || {
                        (
                            sum_of_squares(k * 1000..(k + 1) * 1000),
                            thread::current().id(),
                        )
                    })
                    .await?;
                    assert_ne!(worker, loop_thread, "the work ran on a rayon thread");
                    Ok(sum)
                })
            })
            .collect();
        let mut sums = Vec::new();
        for h in handles {
            sums.push(h.await.expect("not cancelled"));
        }
        Ok::<_, AwaitError>(sums)
    })
    .unwrap();
    let total: u64 = results.iter().sum();
    assert_eq!(total, (0..16_000u64).map(|x| x * x).sum());
}

#[test]
fn pmap_offloads_chunks_to_rayon_a_few_at_a_time() {
    let chunks: Vec<Vec<u64>> = (0..20u64)
        .map(|c| (c * 100..(c + 1) * 100).collect())
        .collect();
    let sums = duet::try_pmap(chunks, Some(4), async |chunk: Vec<u64>| {
        on_rayon(move || chunk.par_iter().sum::<u64>()).await
    })
    .unwrap();
    assert_eq!(sums.len(), 20);
    assert_eq!(sums[1], (100..200).sum::<u64>());
    assert_eq!(sums.iter().sum::<u64>(), (0..2000).sum::<u64>());
}

#[test]
fn a_rayon_job_sees_that_its_awaiter_was_cancelled_and_stops() {
    let _watchdog = watchdog("rayon cancellation", Duration::from_secs(120));
    let (stopped_tx, stopped) = mpsc::channel();
    let r = duet::run(duet::timeout(Duration::from_millis(20), async {
        let future = AwaitableFuture::<u64>::new();
        let producer = future.clone();
        rayon::spawn(move || {
            // Long work in small steps, checking for cancellation between them.
            let mut steps = 0u64;
            while !producer.is_cancelled() {
                steps += sum_of_squares(0..1000) % 2 + 1;
                thread::sleep(Duration::from_millis(1));
            }
            stopped_tx.send(steps).unwrap();
            producer.set_result(steps); // after cancellation: silently dropped
        });
        future.await
    }));
    assert!(r.is_err(), "the timeout dropped the awaiting future");
    let steps = stopped.recv_timeout(GENEROUS).expect("the job stopped");
    assert!(steps > 0);
}

#[test]
fn a_rayon_job_that_never_answers_abandons_its_future_instead_of_hanging() {
    let r = duet::run(async {
        let future = AwaitableFuture::<u64>::new();
        let producer = future.clone();
        rayon::spawn(move || {
            let _work = sum_of_squares(0..10);
            drop(producer); // forgot to set a result
        });
        future.await
    });
    assert!(matches!(r, Err(AwaitError::Abandoned)), "{r:?}");
}
