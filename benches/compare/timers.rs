//! Workload 4: N tasks each sleep a pseudo-random 0–50 ms (the same delays for every
//! peer). The ideal wall time is the longest delay; the rest is overhead ("over ideal"),
//! and the measuring thread's CPU time per timer is the cost of a timer.
//!
//! Every peer spawns one task per sleep: duet into one scope, tokio into a `JoinSet` on a
//! `LocalSet` (its timer wheel), smol into a `LocalExecutor` under `async_io::block_on`
//! with `async_io::Timer` (what `smol::block_on` and `smol::Timer` are), and a bare
//! `FuturesUnordered` of `async_io::Timer`s under `async_io::block_on`. moro has no timers.

use std::convert::Infallible;
use std::rc::Rc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::common::{Sample, SplitMix, timed};

/// The delays of one run: pseudo-random, 0–50 ms inclusive, deterministic.
pub fn delays(n: usize) -> Vec<Duration> {
    let mut rng = SplitMix(0x5eed);
    (0..n)
        .map(|_| Duration::from_micros(rng.next() % 50_001))
        .collect()
}

/// The best any runtime can do: the longest delay.
pub fn ideal(delays: &[Duration]) -> Duration {
    delays.iter().copied().max().unwrap_or_default()
}

pub fn duet(delays: &[Duration]) -> Sample {
    timed(|| {
        duet::run_scope(async |s| {
            for &d in delays {
                s.spawn(duet::sleep(d));
            }
            Ok::<_, Infallible>(())
        })
        .unwrap()
    })
    .1
}

/// duet with exact wake-ups (`Config::timer_slack(Duration::ZERO)`; the default slack
/// is 250 µs), to separate the slack from the rest of the overhead.
pub fn duet_no_slack(delays: &[Duration]) -> Sample {
    timed(|| {
        let config = duet::Config::new().timer_slack(Duration::ZERO);
        duet::run_with(
            config,
            duet::scope(async |s| {
                for &d in delays {
                    s.spawn(duet::sleep(d));
                }
                Ok::<_, Infallible>(())
            }),
        )
        .unwrap()
    })
    .1
}

pub fn tokio(delays: &[Duration]) -> Sample {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    timed(|| {
        local.block_on(&rt, async {
            let mut set = tokio::task::JoinSet::new();
            for &d in delays {
                set.spawn_local(tokio::time::sleep(d));
            }
            while let Some(r) = set.join_next().await {
                r.unwrap();
            }
        })
    })
    .1
}

pub fn smol(delays: &[Duration]) -> Sample {
    let ex = Rc::new(async_executor::LocalExecutor::new());
    timed(|| {
        async_io::block_on(ex.run(async {
            let tasks: Vec<_> = delays
                .iter()
                .map(|&d| ex.spawn(async_io::Timer::after(d)))
                .collect();
            for t in tasks {
                t.await;
            }
        }))
    })
    .1
}

pub fn futures_unordered(delays: &[Duration]) -> Sample {
    timed(|| {
        async_io::block_on(async {
            let mut set: FuturesUnordered<_> =
                delays.iter().map(|&d| async_io::Timer::after(d)).collect();
            while set.next().await.is_some() {}
        })
    })
    .1
}
