//! Borrowing fan-out: one task per element of a slice, results joined in order, and one
//! failure cancelling the rest.
//!
//! Run it with `cargo run --example fan_out`.

use std::cell::Cell;

#[derive(Debug)]
struct BadRecord(usize);

/// Pretend-async parsing: a few yields stand in for I/O; record 4 is corrupt.
async fn parse(index: usize, line: &str, progress: &Cell<usize>) -> Result<u32, BadRecord> {
    for _ in 0..index % 3 {
        duet::yield_now().await;
    }
    progress.set(progress.get() + 1);
    line.trim().parse().map_err(|_| BadRecord(index))
}

/// One task per line, each borrowing its line and the shared counter; the body joins
/// the results in input order. A failed task cancels the others and the body.
fn total_of(lines: &[&str], progress: &Cell<usize>) -> Result<u32, duet::ScopeError<BadRecord>> {
    duet::run_scope(async |s| {
        let parsed: Vec<_> = lines
            .iter()
            .enumerate()
            .map(|(i, line)| s.spawn(parse(i, line, progress)))
            .collect();
        let mut total = 0;
        for value in parsed {
            // A handle only reports a cancellation if the scope is failing, and then the
            // body is cancelled at this await before it could see it.
            total += value.await.expect("the body outlives no cancelled task");
        }
        Ok(total)
    })
}

fn main() {
    // The tasks borrow `lines` and `progress`: both outlive the scope.
    let lines = ["10", "20", " 30", "40"];
    let progress = Cell::new(0);
    let total = total_of(&lines, &progress);
    println!(
        "all good: total = {:?}, {} records parsed",
        total.unwrap(),
        progress.get()
    );

    // One bad record fails the scope; the tasks still running are cancelled.
    let lines = ["1", "2", "3", "4", "oops", "6", "7", "8"];
    progress.set(0);
    let result = total_of(&lines, &progress);
    match result {
        Err(duet::ScopeError::Failed {
            error: BadRecord(index),
            others,
        }) => println!(
            "record {index} is bad ({} other errors); {} of {} records were parsed before the rest were cancelled",
            others.len(),
            progress.get(),
            lines.len()
        ),
        other => println!("unexpected: {other:?}"),
    }
}
