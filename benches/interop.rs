//! Interop benchmark: cross-thread completion round trips and blocking offload throughput.
//!
//! ```sh
//! cargo bench --bench interop              # 100,000 operations, 7 repetitions
//! cargo bench --bench interop -- --quick   # 10,000 operations, 3 repetitions
//! cargo bench --bench interop -- round-trip # or `offload`: only that table
//! ```
//!
//! Every variant runs in the same process, alternating within each repetition (so drift
//! of the machine hits all of them alike); the table shows medians, per operation, and
//! ratios to duet's variant.
//!
//! Round trip: a duet task makes a future, hands the producer's end to a helper thread
//! over a std channel, and awaits it; the helper completes it. Peers: the same with
//! `futures::channel::oneshot` on tokio's current-thread runtime, the same oneshot on
//! duet (to separate the loop from the future type), and a plain two-thread ping-pong
//! over std channels (the OS floor: one wake-up each way).
//!
//! Offload: submit N trivial jobs to a pool of 4 threads, then await every result.
//! Peers: tokio's `spawn_blocking` (current-thread runtime, at most 4 blocking threads),
//! and futures' thread pool with a oneshot per job, awaited on duet (what duet's pool
//! wraps, without duet's job wrapper and `AwaitableFuture`).

use std::hint::black_box;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use duet::{AwaitError, AwaitableFuture, ThreadPool};
use futures::channel::oneshot;

const POOL_THREADS: usize = 4;

/// Runs `task` on a duet scope task (the realistic path: task waker, scope, loop).
fn in_duet_task<T>(task: impl Future<Output = T>) -> T {
    duet::run_scope(async |s| {
        let h = s.spawn(async move { Ok(task.await) });
        Ok::<_, std::convert::Infallible>(h.await.expect("not cancelled"))
    })
    .expect("infallible")
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(POOL_THREADS)
        .build()
        .expect("tokio runtime")
}

/// A helper thread that runs `complete` on everything sent to it.
fn helper<T: Send + 'static>(complete: fn(T)) -> (mpsc::Sender<T>, thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<T>();
    let worker = thread::spawn(move || {
        for item in rx {
            complete(item);
        }
    });
    (tx, worker)
}

fn round_trip_duet_awaitable(n: usize) -> Duration {
    let (tx, worker) = helper(|f: AwaitableFuture<u64>| f.set_result(1));
    let started = Instant::now();
    let sum = in_duet_task(async {
        let mut sum = 0u64;
        for _ in 0..n {
            let f = AwaitableFuture::new();
            tx.send(f.clone()).unwrap();
            sum += f.await.unwrap();
        }
        sum
    });
    let elapsed = started.elapsed();
    assert_eq!(black_box(sum), n as u64);
    drop(tx);
    worker.join().unwrap();
    elapsed
}

fn round_trip_duet_oneshot(n: usize) -> Duration {
    let (tx, worker) = helper(|s: oneshot::Sender<u64>| s.send(1).unwrap());
    let started = Instant::now();
    let sum = in_duet_task(async {
        let mut sum = 0u64;
        for _ in 0..n {
            let (s, r) = oneshot::channel();
            tx.send(s).unwrap();
            sum += r.await.unwrap();
        }
        sum
    });
    let elapsed = started.elapsed();
    assert_eq!(black_box(sum), n as u64);
    drop(tx);
    worker.join().unwrap();
    elapsed
}

fn round_trip_tokio_oneshot(n: usize) -> Duration {
    let rt = tokio_rt();
    let (tx, worker) = helper(|s: oneshot::Sender<u64>| s.send(1).unwrap());
    let started = Instant::now();
    let sum = rt.block_on(async {
        let task = tokio::task::spawn(async move {
            let mut sum = 0u64;
            for _ in 0..n {
                let (s, r) = oneshot::channel();
                tx.send(s).unwrap();
                sum += r.await.unwrap();
            }
            sum
        });
        task.await.unwrap()
    });
    let elapsed = started.elapsed();
    assert_eq!(black_box(sum), n as u64);
    worker.join().unwrap();
    elapsed
}

fn round_trip_std_ping_pong(n: usize) -> Duration {
    let (reply_tx, reply_rx) = mpsc::channel::<u64>();
    let (tx, rx) = mpsc::channel::<u64>();
    let worker = thread::spawn(move || {
        for v in rx {
            reply_tx.send(v).unwrap();
        }
    });
    let started = Instant::now();
    let mut sum = 0u64;
    for _ in 0..n {
        tx.send(1).unwrap();
        sum += reply_rx.recv().unwrap();
    }
    let elapsed = started.elapsed();
    assert_eq!(black_box(sum), n as u64);
    drop(tx);
    worker.join().unwrap();
    elapsed
}

fn offload_duet_submit(pool: &ThreadPool, n: usize) -> Duration {
    let started = Instant::now();
    let sum = in_duet_task(async {
        let futures: Vec<AwaitableFuture<u64>> =
            (0..n as u64).map(|i| pool.submit(move || i)).collect();
        let mut sum = 0u64;
        for f in futures {
            sum += f.await?;
        }
        Ok::<_, AwaitError>(sum)
    })
    .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(black_box(sum), (n as u64) * (n as u64 - 1) / 2);
    elapsed
}

fn offload_duet_unblock(pool: &ThreadPool, n: usize) -> Duration {
    let started = Instant::now();
    let sum = in_duet_task(async {
        let jobs: Vec<_> = (0..n as u64).map(|i| pool.unblock(move || i)).collect();
        let mut sum = 0u64;
        for job in jobs {
            sum += job.await;
        }
        sum
    });
    let elapsed = started.elapsed();
    assert_eq!(black_box(sum), (n as u64) * (n as u64 - 1) / 2);
    elapsed
}

fn offload_futures_pool_oneshot(pool: &futures::executor::ThreadPool, n: usize) -> Duration {
    let started = Instant::now();
    let sum = in_duet_task(async {
        let receivers: Vec<_> = (0..n as u64)
            .map(|i| {
                let (s, r) = oneshot::channel();
                pool.spawn_ok(async move {
                    let _ = s.send(i);
                });
                r
            })
            .collect();
        let mut sum = 0u64;
        for r in receivers {
            sum += r.await.unwrap();
        }
        sum
    });
    let elapsed = started.elapsed();
    assert_eq!(black_box(sum), (n as u64) * (n as u64 - 1) / 2);
    elapsed
}

fn offload_tokio_spawn_blocking(rt: &tokio::runtime::Runtime, n: usize) -> Duration {
    let started = Instant::now();
    let sum = rt.block_on(async {
        let handles: Vec<_> = (0..n as u64)
            .map(|i| tokio::task::spawn_blocking(move || i))
            .collect();
        let mut sum = 0u64;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    });
    let elapsed = started.elapsed();
    assert_eq!(black_box(sum), (n as u64) * (n as u64 - 1) / 2);
    elapsed
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Runs every variant `reps` times, alternating, and prints a table of medians.
fn compare(
    title: &str,
    n: usize,
    reps: usize,
    variants: &mut [(&str, &mut dyn FnMut() -> Duration)],
) {
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
    for _ in 0..reps {
        for (i, (_, run)) in variants.iter_mut().enumerate() {
            samples[i].push(run());
        }
    }
    let medians: Vec<Duration> = samples.iter_mut().map(|s| median(s)).collect();
    let base = medians[0].as_secs_f64();
    println!("\n{title} ({n} operations, median of {reps})\n");
    println!("| variant | median total | per operation | vs duet |");
    println!("|---|---:|---:|---:|");
    for ((name, _), m) in variants.iter().zip(&medians) {
        println!(
            "| {name} | {:.1} ms | {:.2} µs | {:.2}x |",
            m.as_secs_f64() * 1e3,
            m.as_secs_f64() * 1e6 / n as f64,
            m.as_secs_f64() / base
        );
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (n, reps) = if quick { (10_000, 3) } else { (100_000, 7) };
    let only_offload = std::env::args().any(|a| a == "offload");
    let only_round_trip = std::env::args().any(|a| a == "round-trip");
    let cores = thread::available_parallelism().map_or(1, |c| c.get());
    println!("duet interop benchmark: {cores} cores, {POOL_THREADS} pool threads, quick={quick}");

    if !only_offload {
        compare(
            "Cross-thread completion round trip",
            n,
            reps,
            &mut [
                ("duet task awaits AwaitableFuture", &mut || {
                    round_trip_duet_awaitable(n)
                }),
                (
                    "tokio current-thread task awaits futures oneshot",
                    &mut || round_trip_tokio_oneshot(n),
                ),
                ("duet task awaits futures oneshot", &mut || {
                    round_trip_duet_oneshot(n)
                }),
                (
                    "two threads ping-pong over std mpsc (OS floor)",
                    &mut || round_trip_std_ping_pong(n),
                ),
            ],
        );
    }
    if only_round_trip {
        return;
    }

    let pool = ThreadPool::new(POOL_THREADS);
    let raw_pool = futures::executor::ThreadPool::builder()
        .pool_size(POOL_THREADS)
        .create()
        .expect("futures pool");
    let rt = tokio_rt();
    compare(
        "Blocking offload throughput (trivial jobs, submitted at once, then awaited)",
        n,
        reps,
        &mut [
            ("duet ThreadPool::submit (AwaitableFuture)", &mut || {
                offload_duet_submit(&pool, n)
            }),
            ("duet ThreadPool::unblock", &mut || {
                offload_duet_unblock(&pool, n)
            }),
            ("tokio spawn_blocking (current-thread rt)", &mut || {
                offload_tokio_spawn_blocking(&rt, n)
            }),
            ("futures ThreadPool + oneshot, awaited on duet", &mut || {
                offload_futures_pool_oneshot(&raw_pool, n)
            }),
        ],
    );
}
