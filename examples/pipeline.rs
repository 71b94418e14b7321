//! A three-stage pipeline connected by bounded channels, under a deadline scope.
//!
//! producer ──(channel of 4)──> square ──(channel of 4)──> consumer
//!
//! - The channels are bounded (`futures::channel::mpsc::channel`): a stage that gets
//!   ahead waits in `send` until the next one catches up (backpressure), so the producer
//!   is never more than a few items ahead of the consumer.
//! - Clean shutdown when the consumer stops early: it drops its receiver, the `square`
//!   stage's next `send` fails, so it returns and drops *its* receiver, and the producer's
//!   next `send` fails in turn. Every stage returns normally; nothing is cancelled.
//! - The whole pipeline runs in a `duet::timeout_scope`. When the deadline passes first,
//!   every stage is dropped at its current await point (its destructors run) and the scope
//!   returns a timeout error, distinct from a failure.
//!
//! Run it with `cargo run --example pipeline`.

use std::cell::Cell;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use duet::ScopeError;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};

/// Progress shared by the stages (they run on one thread, so a `Cell` is enough).
#[derive(Default)]
struct Progress {
    produced: Cell<u64>,
    consumed: Cell<u64>,
    /// The furthest the producer got ahead of the consumer.
    max_lead: Cell<u64>,
}

/// Lives on a stage's stack: says whether the stage returned or was dropped (cancelled).
struct Stage {
    name: &'static str,
    returned: bool,
}

impl Stage {
    fn new(name: &'static str) -> Self {
        Stage {
            name,
            returned: false,
        }
    }

    fn returns(mut self, why: &str) {
        println!("    {}: {why}; returning", self.name);
        self.returned = true;
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if !self.returned {
            println!(
                "    {}: cancelled at its await point (its destructors ran)",
                self.name
            );
        }
    }
}

/// Stage 1: a reading every millisecond, forever (or until nobody listens).
async fn produce(mut out: mpsc::Sender<u64>, progress: &Progress) {
    let stage = Stage::new("producer");
    for n in 1.. {
        duet::sleep(Duration::from_millis(1)).await; // a reading arrives
        if out.send(n).await.is_err() {
            return stage.returns("the next stage hung up");
        }
        progress.produced.set(n);
        let lead = n - progress.consumed.get();
        progress.max_lead.set(progress.max_lead.get().max(lead));
    }
}

/// Stage 2: transforms each value, until its input ends or its output hangs up.
async fn square(mut input: mpsc::Receiver<u64>, mut out: mpsc::Sender<u64>) {
    let stage = Stage::new("square");
    while let Some(n) = input.next().await {
        if out.send(n * n).await.is_err() {
            return stage.returns("the consumer hung up");
        }
    }
    stage.returns("its input ended");
}

/// Stage 3: takes `wanted` values, spending `per_item` on each, then stops early by
/// dropping its receiver.
async fn consume(
    mut input: mpsc::Receiver<u64>,
    wanted: u64,
    per_item: Duration,
    progress: &Progress,
) -> u64 {
    let stage = Stage::new("consumer");
    let mut sum = 0;
    while progress.consumed.get() < wanted {
        let Some(value) = input.next().await else {
            break;
        };
        duet::sleep(per_item).await; // the work done per value
        sum += value;
        progress.consumed.set(progress.consumed.get() + 1);
    }
    stage.returns(&format!("has its {wanted} values"));
    sum
}

/// Runs the pipeline until the consumer has `wanted` values, or the time limit passes.
fn pipeline(
    wanted: u64,
    per_item: Duration,
    limit: Duration,
) -> Result<u64, ScopeError<Infallible>> {
    let progress = Progress::default();
    let started = Instant::now();
    let result = duet::run(duet::timeout_scope(limit, async |s| {
        let (numbers_tx, numbers_rx) = mpsc::channel(4);
        let (squares_tx, squares_rx) = mpsc::channel(4);
        s.spawn(produce(numbers_tx, &progress));
        s.spawn(square(numbers_rx, squares_tx));
        // The consumer is the scope's body; the scope ends once all three are done.
        let sum = consume(squares_rx, wanted, per_item, &progress).await;
        Ok(sum)
    }));
    println!(
        "  after {} ms: produced {}, consumed {}; the producer was never more than {} ahead",
        started.elapsed().as_millis(),
        progress.produced.get(),
        progress.consumed.get(),
        progress.max_lead.get(),
    );
    result
}

fn main() {
    println!("1. The consumer wants 20 values, then stops early (time limit 5 s):");
    match pipeline(20, Duration::ZERO, Duration::from_secs(5)) {
        Ok(sum) => println!("  => Ok: sum of the first 20 squares = {sum}"),
        Err(e) => println!("  => unexpected: {e}"),
    }

    println!("2. A slow consumer wants 1,000 values; the pipeline has 200 ms:");
    match pipeline(1_000, Duration::from_millis(5), Duration::from_millis(200)) {
        Err(e) if e.is_timeout() => println!("  => Err(timed out): {e}"),
        other => println!("  => unexpected: {other:?}"),
    }
}
