//! Workload 5: N pending children (each holding its waker), then cancel the scope; time
//! from the cancel until every child future has been dropped.

use std::cell::Cell;
use std::convert::Infallible;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::stream::FuturesUnordered;

use crate::common::{Parked, ParkedSend, yield_once};

pub fn duet(n: usize) -> Duration {
    let drops = Rc::new(Cell::new(0));
    let mut started = None;
    let r = duet::run_scope(async |s| {
        for _ in 0..n {
            s.spawn(Parked::new(&drops));
        }
        yield_once().await; // every child is polled once and parks
        started = Some(Instant::now());
        s.cancel();
        Ok::<_, Infallible>(())
    });
    let elapsed = started.unwrap().elapsed();
    assert!(r.unwrap_err().is_cancelled());
    assert_eq!(drops.get(), n);
    elapsed
}

pub fn tokio(n: usize) -> Duration {
    let drops = Rc::new(Cell::new(0));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let elapsed = local.block_on(&rt, async {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n {
            set.spawn_local(Parked::new(&drops));
        }
        yield_once().await;
        let start = Instant::now();
        set.abort_all();
        while set.join_next().await.is_some() {}
        start.elapsed()
    });
    assert_eq!(drops.get(), n);
    elapsed
}

pub fn futures_unordered(n: usize) -> Duration {
    let drops = Rc::new(Cell::new(0));
    let elapsed = futures::executor::block_on(async {
        let mut set: FuturesUnordered<_> = (0..n).map(|_| Parked::new(&drops)).collect();
        let _ = futures::poll!(futures::StreamExt::next(&mut set)); // park every child once
        let start = Instant::now();
        drop(set);
        start.elapsed()
    });
    assert_eq!(drops.get(), n);
    elapsed
}

pub fn smol(n: usize) -> Duration {
    let drops = Rc::new(Cell::new(0));
    let ex = async_executor::LocalExecutor::new();
    let elapsed = futures::executor::block_on(ex.run(async {
        let tasks: Vec<_> = (0..n).map(|_| ex.spawn(Parked::new(&drops))).collect();
        yield_once().await;
        while ex.try_tick() {}
        let start = Instant::now();
        drop(tasks);
        while drops.get() < n {
            yield_once().await;
        }
        start.elapsed()
    }));
    assert_eq!(drops.get(), n);
    elapsed
}

pub fn moro(n: usize) -> Duration {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut started = None;
    futures::executor::block_on(moro::async_scope!(|scope| -> () {
        for _ in 0..n {
            drop(scope.spawn(ParkedSend::new(&drops)));
        }
        yield_once().await;
        started = Some(Instant::now());
        scope.terminate(()).await
    }));
    let elapsed = started.unwrap().elapsed();
    assert_eq!(drops.load(Ordering::Relaxed), n);
    elapsed
}
