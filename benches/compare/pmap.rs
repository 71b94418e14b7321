//! Workload 6: an ordered parallel map of N items, at most 64 calls in flight, each call
//! awaiting once (`yield_once`) and returning its item.
//!
//! Peers, each the idiomatic way to get the same result (outputs in input order, at most
//! 64 calls in flight; `buffered(64)`'s window is 64, duet's default window 24 x 64, which
//! makes no difference when every call takes the same time):
//! `stream::iter(..).map(..).buffered(64)` on `futures::executor::block_on` (the
//! calls run inside one future, not as tasks); and the same `buffered(64)` over *task*
//! handles, so each call is a task as in duet, on tokio (`spawn_local` on a `LocalSet`)
//! and on smol (`LocalExecutor::spawn`). moro has no pmap.

use std::rc::Rc;
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::common::yield_once;

pub const LIMIT: usize = 64;

fn check(n: usize, out: Vec<usize>) {
    assert_eq!(out.len(), n);
    assert!(out.iter().enumerate().all(|(i, &x)| i == x), "out of order");
}

pub fn duet(n: usize) -> Duration {
    let start = Instant::now();
    let out = duet::run(duet::pmap_async(0..n, Some(LIMIT), async |x| {
        yield_once().await;
        x
    }));
    let elapsed = start.elapsed();
    check(n, out);
    elapsed
}

pub fn futures_buffered(n: usize) -> Duration {
    let start = Instant::now();
    let out = futures::executor::block_on(
        futures::stream::iter(0..n)
            .map(|x| async move {
                yield_once().await;
                x
            })
            .buffered(LIMIT)
            .collect(),
    );
    let elapsed = start.elapsed();
    check(n, out);
    elapsed
}

pub fn tokio(n: usize) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let start = Instant::now();
    let out = local.block_on(&rt, async {
        futures::stream::iter(0..n)
            .map(|x| {
                tokio::task::spawn_local(async move {
                    yield_once().await;
                    x
                })
            })
            .buffered(LIMIT)
            .map(Result::unwrap)
            .collect()
            .await
    });
    let elapsed = start.elapsed();
    check(n, out);
    elapsed
}

pub fn smol(n: usize) -> Duration {
    let ex = Rc::new(async_executor::LocalExecutor::new());
    let start = Instant::now();
    let out = futures::executor::block_on(
        ex.run(
            futures::stream::iter(0..n)
                .map(|x| {
                    ex.spawn(async move {
                        yield_once().await;
                        x
                    })
                })
                .buffered(LIMIT)
                .collect(),
        ),
    );
    let elapsed = start.elapsed();
    check(n, out);
    elapsed
}
