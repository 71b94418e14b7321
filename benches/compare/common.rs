//! Pieces every workload shares: the futures tasks await, timing and statistics.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

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

/// One run of one peer: wall time, and the measuring thread's on-CPU time where the
/// platform tells (`/proc/thread-self/schedstat`, Linux).
#[derive(Clone, Copy)]
pub struct Sample {
    pub wall: Duration,
    pub cpu: Option<Duration>,
}

impl From<Duration> for Sample {
    fn from(wall: Duration) -> Self {
        Sample { wall, cpu: None }
    }
}

/// On-CPU time of the calling thread so far, if the platform tells.
pub fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// Runs `f`, timing it by the wall clock and by the calling thread's CPU time.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Sample) {
    let cpu = thread_cpu();
    let start = Instant::now();
    let out = f();
    let wall = start.elapsed();
    let cpu = cpu.and_then(|before| Some(thread_cpu()?.saturating_sub(before)));
    (out, Sample { wall, cpu })
}

/// Tiny deterministic PRNG (splitmix64): the same pseudo-random delays for every peer
/// and every run, without a `rand` dependency.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
