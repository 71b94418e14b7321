//! Refactoring a synchronous code base to async, one function at a time.
//!
//! `duet::run` may be called from inside a running task. That lets you convert a call
//! graph bottom-up or top-down without converting everything at once: a new async
//! function can call an old synchronous one, which itself calls `duet::run` to use async
//! code underneath.
//!
//! Run it with `cargo run --example reentrancy`.

use std::thread;
use std::time::Duration;

use futures::channel::oneshot;

// Step 0: the leaf. Some I/O done on another thread, exposed as a future.
fn fetch_price(item: &'static str) -> oneshot::Receiver<u32> {
    let (tx, rx) = oneshot::channel();
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        let _ = tx.send(item.len() as u32 * 100);
    });
    rx
}

// Step 1: a legacy synchronous function, converted internally to use the async leaf.
// Its signature did not change, so none of its callers had to.
fn legacy_price_of(item: &'static str) -> u32 {
    duet::run(async { fetch_price(item).await.expect("price service down") })
}

// Step 2: a legacy synchronous function that still calls the step-1 function.
fn legacy_invoice(items: &[&'static str]) -> u32 {
    items.iter().map(|item| legacy_price_of(item)).sum()
}

// Step 3: new async code fans out concurrently, and still calls the legacy function:
// `legacy_invoice` runs nested loops inside a task of this scope.
async fn invoice_all(orders: &[Vec<&'static str>]) -> Vec<u32> {
    duet::scope(duet::infallible(async |s| {
        let totals: Vec<_> = orders
            .iter()
            .map(|items| s.spawn(async move { Ok(legacy_invoice(items)) }))
            .collect();
        let mut out = Vec::new();
        for total in totals {
            out.push(total.await.expect("not cancelled"));
        }
        out
    }))
    .await
    .unwrap()
}

fn main() {
    println!(
        "legacy, sync all the way: {}",
        legacy_invoice(&["tea", "milk"])
    );
    let orders = vec![
        vec!["tea", "milk"],
        vec!["bread"],
        vec!["jam", "butter", "eggs"],
    ];
    let totals = duet::run(invoice_all(&orders));
    println!("new async code calling legacy sync code that calls duet::run: {totals:?}");
    println!(
        "(each legacy_invoice call blocks its task while its nested run works; other \
         tasks continue once it returns; nested runs are isolated from the outer tree)"
    );
}
