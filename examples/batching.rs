//! Batching with buffered futures: many tasks each ask for one key, and the requests
//! made until the loop has nothing left to do go out as one batch.
//!
//! 1. 100 tasks look up one user each: one batch of 100 keys, one round trip.
//! 2. Each task then looks up its user's manager: the next idle point sends the
//!    follow-up requests. (The answers of batch 1 arrive together, so the tasks resume
//!    together and their follow-ups make one batch; answers that trickle in over time
//!    would make one batch per idle point in between.)
//! 3. A request whose task is cancelled before the idle point is left out of the batch.
//! 4. Awaiting a request from blocking code sends it at once instead of deadlocking.
//!
//! Run it with `cargo run --example batching`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use duet::{AwaitError, Batch, Batcher, ThreadPool};

/// A remote service that answers a whole batch in one (slow) round trip.
fn lookup_users(ids: &[u32]) -> Vec<String> {
    thread::sleep(Duration::from_millis(50)); // one network round trip, whatever the size
    ids.iter().map(|id| format!("user-{id}")).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = ThreadPool::new(2);
    let round_trips = Arc::new(AtomicUsize::new(0));
    let trips = round_trips.clone();
    let users = Batcher::new(move |batch: Batch<u32, String>| {
        let n = trips.fetch_add(1, Ordering::SeqCst) + 1;
        let keys: Vec<u32> = batch.keys().copied().collect();
        let shown: Vec<u32> = keys.iter().copied().take(8).collect();
        let more = if keys.len() > 8 { ", ..." } else { "" };
        let plural = if keys.len() == 1 { "" } else { "s" };
        println!("  batch #{n}: {} key{plural} {shown:?}{more}", keys.len());
        // `send` runs on the loop's thread when it is idle: hand the round trip to the
        // pool so the loop stays free, and complete the batch from there.
        pool.execute(move || {
            let values = lookup_users(&keys);
            batch.complete(values);
        });
    });

    // 1 and 2: two dependent lookups per task, 100 tasks.
    println!("1-2. 100 tasks, each looking up a user and then that user's manager:");
    let started = Instant::now();
    let managers = duet::run_scope(async |s| {
        let handles: Vec<_> = (0..100u32)
            .map(|id| {
                let users = &users;
                s.spawn(async move {
                    let user = users.get(id).await?;
                    let manager_id = 1000 + id / 10; // derived from the first answer
                    let manager = users.get(manager_id).await?;
                    Ok((user, manager))
                })
            })
            .collect();
        let mut pairs = Vec::new();
        for h in handles {
            pairs.push(h.await.expect("no task is cancelled"));
        }
        Ok::<_, AwaitError>(pairs) // names the error type for the tasks' `?` too
    })?;
    println!(
        "  {} answers, {} round trips, {} ms; e.g. {:?}",
        managers.len() * 2,
        round_trips.load(Ordering::SeqCst),
        started.elapsed().as_millis(),
        managers[42]
    );

    // 3: a cancelled request is left out of the batch.
    println!("3. two requests, one of them cancelled before the loop goes idle:");
    duet::run_scope(async |s| {
        let kept = s.spawn(users.get(7));
        let cancelled = s.spawn(users.get(8));
        duet::yield_now().await; // both tasks are awaiting their requests
        cancelled.cancel();
        println!("  kept: {}", kept.await.expect("not cancelled"));
        Ok(())
    })?;

    // 4: a blocking caller flushes its request right away.
    println!("4. a request awaited from blocking code (futures::executor::block_on):");
    let user = futures::executor::block_on(users.get(99))?;
    println!("  got {user}");
    Ok(())
}
