//! Workload 8: fan-out under a limiter. N tasks are spawned at once; each takes one of 64
//! slots, awaits once (`yield_once`) while holding it, and returns. So 64 run and the
//! rest queue on the limiter.
//!
//! Peers: tokio's `Semaphore` with a `JoinSet` on a `LocalSet`; smol's `LocalExecutor`
//! with `async_lock::Semaphore` (what smol users reach for); a bare `FuturesUnordered` on
//! `futures::executor::block_on` with the same `async_lock::Semaphore` (futures has no
//! semaphore); and moro with it (moro's tasks must be `Send`, so the semaphore is in an
//! `Arc`).

use std::convert::Infallible;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::common::yield_once;

pub const LIMIT: usize = 64;

pub fn duet(n: usize) -> Duration {
    let limiter = duet::Limiter::new(LIMIT);
    let start = Instant::now();
    duet::run_scope(async |s| {
        for _ in 0..n {
            let limiter = &limiter;
            s.spawn(async move {
                let _slot = limiter.acquire().await;
                yield_once().await;
            });
        }
        Ok::<_, Infallible>(())
    })
    .unwrap();
    let elapsed = start.elapsed();
    assert_eq!(limiter.held(), 0);
    elapsed
}

pub fn tokio(n: usize) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let sem = Arc::new(tokio::sync::Semaphore::new(LIMIT));
    let start = Instant::now();
    local.block_on(&rt, async {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n {
            let sem = sem.clone();
            set.spawn_local(async move {
                let _permit = sem.acquire().await.unwrap();
                yield_once().await;
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
    });
    let elapsed = start.elapsed();
    assert_eq!(sem.available_permits(), LIMIT);
    elapsed
}

pub fn smol(n: usize) -> Duration {
    let ex = async_executor::LocalExecutor::new();
    let sem = Rc::new(async_lock::Semaphore::new(LIMIT));
    let start = Instant::now();
    futures::executor::block_on(ex.run(async {
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let sem = sem.clone();
                ex.spawn(async move {
                    let _guard = sem.acquire().await;
                    yield_once().await;
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
    }));
    start.elapsed()
}

pub fn futures_unordered(n: usize) -> Duration {
    let sem = async_lock::Semaphore::new(LIMIT);
    let start = Instant::now();
    futures::executor::block_on(async {
        let mut set: FuturesUnordered<_> = (0..n)
            .map(|_| async {
                let _guard = sem.acquire().await;
                yield_once().await;
            })
            .collect();
        while set.next().await.is_some() {}
    });
    start.elapsed()
}

pub fn moro(n: usize) -> Duration {
    let sem = Arc::new(async_lock::Semaphore::new(LIMIT));
    let start = Instant::now();
    futures::executor::block_on(moro::async_scope!(|scope| -> () {
        for _ in 0..n {
            let sem = sem.clone();
            drop(scope.spawn(async move {
                let _guard = sem.acquire().await;
                yield_once().await;
            }));
        }
    }));
    start.elapsed()
}
