//! Workload 2: a tree of nested scopes, fan-out 10, depth 5 (111,111 tasks); leaves
//! yield once and count themselves.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::common::yield_once;

const FAN_OUT: u64 = 10;

fn leaves(depth: u32) -> u64 {
    FAN_OUT.pow(depth)
}

fn duet_node(level: u32) -> Pin<Box<dyn Future<Output = u64>>> {
    Box::pin(async move {
        if level == 0 {
            yield_once().await;
            return 1;
        }
        duet::scope(async |s| {
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

pub fn duet(depth: u32) -> Duration {
    let start = Instant::now();
    let total = duet::run(duet_node(depth));
    let elapsed = start.elapsed();
    assert_eq!(total, leaves(depth));
    elapsed
}

fn tokio_node(level: u32) -> Pin<Box<dyn Future<Output = u64>>> {
    Box::pin(async move {
        if level == 0 {
            yield_once().await;
            return 1;
        }
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..FAN_OUT {
            set.spawn_local(tokio_node(level - 1));
        }
        let mut total = 0;
        while let Some(r) = set.join_next().await {
            total += r.unwrap();
        }
        total
    })
}

pub fn tokio(depth: u32) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let start = Instant::now();
    let total = local.block_on(&rt, tokio_node(depth));
    let elapsed = start.elapsed();
    assert_eq!(total, leaves(depth));
    elapsed
}

fn fu_node(level: u32) -> Pin<Box<dyn Future<Output = u64>>> {
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
    let start = Instant::now();
    let total = futures::executor::block_on(fu_node(depth));
    let elapsed = start.elapsed();
    assert_eq!(total, leaves(depth));
    elapsed
}

/// The same `FuturesUnordered` tree, driven by tokio's current-thread `block_on` (what a
/// tokio user nesting `FuturesUnordered`s gets, cooperative budget included).
pub fn futures_unordered_tokio(depth: u32) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let start = Instant::now();
    let total = rt.block_on(fu_node(depth));
    let elapsed = start.elapsed();
    assert_eq!(total, leaves(depth));
    elapsed
}

fn smol_node(
    ex: Rc<async_executor::LocalExecutor<'static>>,
    level: u32,
) -> Pin<Box<dyn Future<Output = u64>>> {
    Box::pin(async move {
        if level == 0 {
            yield_once().await;
            return 1;
        }
        let tasks: Vec<_> = (0..FAN_OUT)
            .map(|_| ex.spawn(smol_node(ex.clone(), level - 1)))
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await;
        }
        total
    })
}

pub fn smol(depth: u32) -> Duration {
    let ex = Rc::new(async_executor::LocalExecutor::new());
    let start = Instant::now();
    let total = futures::executor::block_on(ex.run(smol_node(ex.clone(), depth)));
    let elapsed = start.elapsed();
    assert_eq!(total, leaves(depth));
    elapsed
}

fn moro_node(level: u32) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if level == 0 {
            yield_once().await;
            return 1;
        }
        moro::async_scope!(|scope| -> u64 {
            let children: Vec<_> = (0..FAN_OUT)
                .map(|_| scope.spawn(moro_node(level - 1)))
                .collect();
            let mut total = 0;
            for c in children {
                total += c.await;
            }
            total
        })
        .await
    })
}

pub fn moro(depth: u32) -> Duration {
    let start = Instant::now();
    let total = futures::executor::block_on(moro_node(depth));
    let elapsed = start.elapsed();
    assert_eq!(total, leaves(depth));
    elapsed
}
