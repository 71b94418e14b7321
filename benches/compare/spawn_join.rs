//! Workload 1: N children in one scope, each yields once and returns a number; sum them.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::common::yield_once;

fn expected(n: u64) -> u64 {
    n * (n - 1) / 2
}

pub fn duet(n: u64) -> Duration {
    let start = Instant::now();
    let sum = duet::run_scope(async |s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                s.spawn(async move {
                    yield_once().await;
                    Ok(i)
                })
            })
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        Ok::<_, Infallible>(sum)
    })
    .unwrap();
    let elapsed = start.elapsed();
    assert_eq!(sum, expected(n));
    elapsed
}

pub fn tokio(n: u64) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let start = Instant::now();
    let sum = local.block_on(&rt, async {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n {
            set.spawn_local(async move {
                yield_once().await;
                i
            });
        }
        let mut sum = 0;
        while let Some(r) = set.join_next().await {
            sum += r.unwrap();
        }
        sum
    });
    let elapsed = start.elapsed();
    assert_eq!(sum, expected(n));
    elapsed
}

pub fn futures_unordered(n: u64) -> Duration {
    let start = Instant::now();
    let sum = futures::executor::block_on(async {
        let mut set = FuturesUnordered::new();
        for i in 0..n {
            set.push(async move {
                yield_once().await;
                i
            });
        }
        let mut sum = 0;
        while let Some(i) = set.next().await {
            sum += i;
        }
        sum
    });
    let elapsed = start.elapsed();
    assert_eq!(sum, expected(n));
    elapsed
}

pub fn smol(n: u64) -> Duration {
    let ex = async_executor::LocalExecutor::new();
    let start = Instant::now();
    let sum = futures::executor::block_on(ex.run(async {
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                ex.spawn(async move {
                    yield_once().await;
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await;
        }
        sum
    }));
    let elapsed = start.elapsed();
    assert_eq!(sum, expected(n));
    elapsed
}

pub fn moro(n: u64) -> Duration {
    let start = Instant::now();
    let sum = futures::executor::block_on(moro::async_scope!(|scope| -> u64 {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                scope.spawn(async move {
                    yield_once().await;
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await;
        }
        sum
    }));
    let elapsed = start.elapsed();
    assert_eq!(sum, expected(n));
    elapsed
}
