//! The quickstart of the original Python duet, in Rust.
//!
//! 1. A thread pool executes a blocking function; a duet task awaits its result through
//!    an `AwaitableFuture`.
//! 2. Re-entrancy: an async function calls `duet::run` again, from inside the loop, and
//!    awaits another pool job there.
//! 3. A scope fans the blocking work out and joins the results.
//!
//! Run it with `cargo run --example quickstart`.

use std::error::Error;
use std::thread;
use std::time::{Duration, Instant};

use duet::{AwaitError, AwaitableFuture, ThreadPool};

/// A blocking synchronous task.
fn long_running_sync_task(value: &str) -> String {
    thread::sleep(Duration::from_millis(100)); // simulate work
    format!("Processed {value}")
}

/// Awaits a future that a pool thread completes. (Python duet wraps a
/// `concurrent.futures.Future` here; in Rust the pool hands out the awaitable directly.)
async fn async_wrapper(future: AwaitableFuture<String>) -> Result<String, AwaitError> {
    future.await
}

async fn nested_task(executor: &ThreadPool) -> Result<&'static str, AwaitError> {
    println!("  Running nested_task synchronously via duet::run...");
    let nested_future = executor.submit(|| long_running_sync_task("data_item_B"));
    let nested_result = async_wrapper(nested_future).await?;
    println!("  Nested task result: {nested_result}");
    Ok("Nested task completed")
}

async fn main_task() -> Result<(), Box<dyn Error>> {
    println!("Starting duet example...");
    let executor = ThreadPool::new(4);

    // 1. A blocking function on a thread pool, awaited through an AwaitableFuture.
    let future = executor.submit(|| long_running_sync_task("data_item_A"));
    let result_a = async_wrapper(future).await?;
    println!("Result 1: {result_a}");

    // 2. Re-entrancy: calling duet::run from inside a running loop. Most async runtimes
    //    refuse this; duet runs the nested root to completion and returns its value.
    let nested_call_result = duet::run(nested_task(&executor))?;
    println!("Result 2: {nested_call_result}");

    // 3. Fan-out in a scope: three blocking jobs run at once, joined in order.
    let items = ["x", "y", "z"];
    let started = Instant::now();
    let results = duet::scope(async |s| {
        let jobs: Vec<_> = items
            .iter()
            .map(|&item| s.spawn(executor.submit(move || long_running_sync_task(item))))
            .collect();
        let mut results = Vec::new();
        for job in jobs {
            results.push(job.await.expect("nothing cancels these jobs"));
        }
        Ok(results)
    })
    .await?;
    println!(
        "Result 3: {results:?} in {} ms (the jobs ran in parallel)",
        started.elapsed().as_millis()
    );

    println!("Duet example finished.");
    Ok(())
}

fn main() {
    duet::run(main_task()).expect("a pool job failed");
}
