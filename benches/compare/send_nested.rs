//! Workload 9: workload 2's tree (fan-out 10, depth 5: 111,111 tasks, leaves yield once)
//! as Send scopes inside `tokio::spawn` on tokio's multi-thread runtime (two workers),
//! against what a tokio user writes there: nested `JoinSet`s (each child a
//! `tokio::spawn`ed task, `'static`) and nested `FuturesUnordered`s in one spawned task.
//! Also the same Send tree under `duet::run`, next to workload 2's local tree: the price
//! of the Send kind's cells on one thread.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::common::yield_once;

const FAN_OUT: u64 = 10;

type Node = Pin<Box<dyn Future<Output = u64> + Send>>;

fn leaves(depth: u32) -> u64 {
    FAN_OUT.pow(depth)
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

fn duet_node(level: u32) -> Node {
    Box::pin(async move {
        if level == 0 {
            yield_once().await;
            return 1;
        }
        duet::send::scope(async |s| {
            let children: Vec<_> = (0..FAN_OUT)
                .map(|_| s.spawn(async move { Ok(duet_node(level - 1).await) }))
                .collect();
            let mut total = 0;
            for c in children {
                total += c.await.unwrap();
            }
            Ok::<_, Infallible>(total)
        })
        .await
        .unwrap()
    })
}

/// Times `root` inside `tokio::spawn` on a fresh two-worker runtime (started before the
/// clock starts).
fn in_tokio_spawn(root: Node, expected: u64) -> Duration {
    let rt = multi_thread();
    let start = Instant::now();
    let total = rt.block_on(async { tokio::spawn(root).await.unwrap() });
    let elapsed = start.elapsed();
    assert_eq!(total, expected);
    elapsed
}

pub fn duet(depth: u32) -> Duration {
    in_tokio_spawn(duet_node(depth), leaves(depth))
}

pub fn duet_under_run(depth: u32) -> Duration {
    let start = Instant::now();
    let total = duet::run(duet_node(depth));
    let elapsed = start.elapsed();
    assert_eq!(total, leaves(depth));
    elapsed
}

fn join_set_node(level: u32) -> Node {
    Box::pin(async move {
        if level == 0 {
            yield_once().await;
            return 1;
        }
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..FAN_OUT {
            set.spawn(join_set_node(level - 1));
        }
        let mut total = 0;
        while let Some(r) = set.join_next().await {
            total += r.unwrap();
        }
        total
    })
}

pub fn join_set(depth: u32) -> Duration {
    in_tokio_spawn(join_set_node(depth), leaves(depth))
}

fn fu_node(level: u32) -> Node {
    Box::pin(async move {
        if level == 0 {
            yield_once().await;
            return 1;
        }
        let mut set: FuturesUnordered<_> = (0..FAN_OUT).map(|_| fu_node(level - 1)).collect();
        let mut total = 0;
        while let Some(n) = set.next().await {
            total += n;
        }
        total
    })
}

pub fn futures_unordered(depth: u32) -> Duration {
    in_tokio_spawn(fu_node(depth), leaves(depth))
}
