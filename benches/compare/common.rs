//! Pieces every workload shares: the futures tasks await, timing and statistics.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Yields exactly once (wakes itself, returns `Pending`), identically for every peer, so
/// no runtime's own yield (tokio's co-operative budget, for one) skews the comparison.
pub struct YieldOnce(bool);

pub fn yield_once() -> YieldOnce {
    YieldOnce(false)
}

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Pending forever, holding its waker like a task waiting on I/O would; counts its drop.
pub struct Parked {
    waker: Option<Waker>,
    drops: Rc<Cell<usize>>,
}

impl Parked {
    pub fn new(drops: &Rc<Cell<usize>>) -> Self {
        Parked {
            waker: None,
            drops: drops.clone(),
        }
    }
}

impl Future for Parked {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Parked {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

/// `Parked`, but `Send` (for moro, which requires `Send` tasks); counts drops atomically.
pub struct ParkedSend {
    waker: Option<Waker>,
    drops: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl ParkedSend {
    pub fn new(drops: &std::sync::Arc<std::sync::atomic::AtomicUsize>) -> Self {
        ParkedSend {
            waker: None,
            drops: drops.clone(),
        }
    }
}

impl Future for ParkedSend {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for ParkedSend {
    fn drop(&mut self) {
        self.drops
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}
