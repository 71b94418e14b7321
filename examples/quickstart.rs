//! The quickstart of the original Python duet, in Rust.
//!
//! 1. Blocking work runs on another thread; a duet task awaits its result.
//! 2. Re-entrancy: an async function calls `duet::run` again, from inside the loop.
//! 3. A scope fans the blocking work out and joins the results.
//!
//! Run it with `cargo run --example quickstart`.

use std::thread;
use std::time::{Duration, Instant};

use futures::channel::oneshot;

/// A blocking synchronous task.
fn long_running_sync_task(value: &str) -> String {
    thread::sleep(Duration::from_millis(100)); // simulate work
    format!("Processed {value}")
}

/// Runs the blocking task on its own thread; the returned future completes when it is
/// done. (Later versions of duet add a thread pool and a completable future for this.)
fn submit(value: &'static str) -> oneshot::Receiver<String> {
    let (tx, rx) = oneshot::channel();
    thread::spawn(move || {
        let _ = tx.send(long_running_sync_task(value));
    });
    rx
}

async fn nested_task() -> &'static str {
    println!("  Running nested_task synchronously via duet::run...");
    let nested_result = submit("data_item_B").await.expect("worker thread panicked");
    println!("  Nested task result: {nested_result}");
    "Nested task completed"
}

fn main() {
    duet::run(async {
        println!("Starting duet example...");

        // 1. Blocking work on another thread, awaited by a duet task.
        let result_a = submit("data_item_A").await.expect("worker thread panicked");
        println!("Result 1: {result_a}");

        // 2. Re-entrancy: calling duet::run from inside a running loop. Most async
        //    runtimes refuse this; duet runs the nested root to completion and returns.
        let nested_call_result = duet::run(nested_task());
        println!("Result 2: {nested_call_result}");

        // 3. Fan-out in a scope: three blocking jobs run at once, joined in order.
        let items = ["x", "y", "z"];
        let started = Instant::now();
        let results = duet::scope(async |s| {
            let jobs: Vec<_> = items
                .iter()
                .map(|&item| s.spawn(async move { submit(item).await }))
                .collect();
            let mut results = Vec::new();
            for job in jobs {
                results.push(job.await.expect("job cancelled"));
            }
            Ok(results)
        })
        .await
        .expect("a worker thread panicked");
        println!(
            "Result 3: {results:?} in {} ms (the jobs ran in parallel)",
            started.elapsed().as_millis()
        );

        println!("Duet example finished.");
    });
}
