//! The `pmap` family and `LimitedScope` of `duet::send` where they are meant to be used:
//! inside `tokio::spawn` on the multi-thread runtime, the calls borrowing the spawned
//! block's data and moving between worker threads between polls.

mod common;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::ThreadId;
use std::time::Duration;

use common::tokio_threads::{Drops, hop, multi_thread};
use futures::StreamExt;

/// Counts the calls running now and the most that ever ran at once.
#[derive(Default)]
struct Concurrency {
    running: AtomicUsize,
    most: AtomicUsize,
}

impl Concurrency {
    fn enter(&self) {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
    }

    fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

fn needs_send<F: Future + Send>(future: F) -> F {
    future
}

fn needs_send_value<T: Send>(_: &T) {}

/// A bound on every test's wait, so that a hang fails instead of stalling the suite.
async fn within_10s<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("finished within 10 s")
}

#[test]
fn pmap_async_in_tokio_spawn_returns_results_in_input_order_with_calls_borrowing_the_task_data() {
    let runtime = multi_thread();
    let (results, threads) = runtime.block_on(async {
        tokio::spawn(async {
            let words: Vec<String> = (0..40).map(|i| format!("w{i}")).collect();
            let threads = Mutex::new(HashSet::<ThreadId>::new());
            let (words_ref, threads_ref) = (&words, &threads);
            let results = duet::send::pmap_async(0..words.len(), Some(8), |i| async move {
                // Later items finish first: the reorder buffer puts them back in order.
                hop((40 - i) % 7 + 1).await;
                threads_ref
                    .lock()
                    .unwrap()
                    .insert(std::thread::current().id());
                words_ref[i].len() * 100 + i
            })
            .await;
            (results, threads.into_inner().unwrap())
        })
        .await
        .expect("the handler did not panic")
    });
    let expected: Vec<usize> = (0..40).map(|i| format!("w{i}").len() * 100 + i).collect();
    assert_eq!(results, expected);
    // Not asserted (the scheduler decides), but shown when the test is run verbosely.
    println!("the calls ran on {} worker thread(s)", threads.len());
}

#[test]
fn pmap_async_never_runs_more_calls_at_once_than_its_limit() {
    let runtime = multi_thread();
    let (results, most) = runtime.block_on(async {
        tokio::spawn(async {
            let calls = Concurrency::default();
            let calls = &calls;
            let results = duet::send::pmap_async(0..30u32, Some(3), |x| async move {
                calls.enter();
                hop(4).await;
                calls.leave();
                x * 2
            })
            .await;
            (results, calls.most())
        })
        .await
        .expect("the handler did not panic")
    });
    assert_eq!(results, (0..30).map(|x| x * 2).collect::<Vec<_>>());
    assert_eq!(most, 3, "the limit of 3 is reached and never exceeded");
}

#[test]
fn try_pmap_async_stops_at_the_first_error_and_drops_the_running_calls() {
    let runtime = multi_thread();
    let drops = Drops::default();
    let started = AtomicUsize::new(0);
    let result = runtime.block_on(async {
        let (drops, started) = (drops.clone(), &started);
        within_10s(duet::send::try_pmap_async(0..100u32, Some(4), |x| {
            let guard = drops.guard();
            async move {
                let _guard = guard;
                started.fetch_add(1, Ordering::SeqCst);
                hop(2).await;
                if x == 2 {
                    return Err(format!("item {x} failed"));
                }
                std::future::pending::<()>().await; // only cancellation ends it
                Ok(x)
            }
        }))
        .await
    });
    assert_eq!(result, Err("item 2 failed".to_string()));
    let started = started.load(Ordering::SeqCst);
    assert!(
        (3..=4).contains(&started),
        "the error stopped the input ({started} calls started)"
    );
    assert_eq!(
        drops.count(),
        started,
        "every call was dropped, the failed one and those still running"
    );
}

#[test]
fn a_pmap_stream_is_consumed_in_a_send_scope_body_while_a_task_runs() {
    let runtime = multi_thread();
    let (log, background) = runtime.block_on(async {
        tokio::spawn(async {
            let words = ["alpha", "be", "gam"];
            let words = &words;
            duet::send::scope(duet::send::infallible(async |s| {
                let background = s.spawn(async {
                    hop(3).await;
                    Ok::<_, std::convert::Infallible>("background done")
                });
                let mut lengths =
                    duet::send::pmap_stream(&s, words.iter(), Some(2), |w| async move {
                        hop(5 - w.len()).await;
                        w.len()
                    });
                needs_send_value(&lengths);
                let mut log = Vec::new();
                while let Some(len) = lengths.next().await {
                    hop(1).await;
                    log.push(len);
                }
                (log, background.await.expect("the background task succeeds"))
            }))
            .await
        })
        .await
        .expect("the handler did not panic")
        .expect("the scope cannot fail")
    });
    assert_eq!(log, [5, 2, 3]);
    assert_eq!(background, "background done");
}

#[test]
fn pmap_stream_unordered_yields_in_completion_order_across_workers() {
    let runtime = multi_thread();
    let order = runtime.block_on(async {
        tokio::spawn(duet::send::scope(duet::send::infallible(async |s| {
            let finished =
                duet::send::pmap_stream_unordered(&s, [300u64, 10, 150], None, |ms| async move {
                    duet::sleep(Duration::from_millis(ms)).await;
                    ms
                });
            within_10s(finished.collect::<Vec<_>>()).await
        })))
        .await
        .expect("the handler did not panic")
        .expect("the scope cannot fail")
    });
    assert_eq!(order, [10, 150, 300]);
}

#[test]
fn two_pmaps_on_one_send_limited_scope_share_its_limiter() {
    let runtime = multi_thread();
    let (first, second, most) = runtime.block_on(async {
        tokio::spawn(async {
            let calls = Concurrency::default();
            let calls = &calls;
            let (first, second) = duet::send::scope(duet::send::infallible(async |s| {
                let limited = duet::send::LimitedScope::new(&s, duet::Limiter::new(3));
                let work = |x: u32| async move {
                    calls.enter();
                    hop(4).await;
                    calls.leave();
                    x + 1
                };
                let a = limited.pmap_async(0..12, work);
                let b = limited.pmap_async(100..112, work);
                futures::join!(a, b)
            }))
            .await
            .expect("the scope cannot fail");
            (first, second, calls.most())
        })
        .await
        .expect("the handler did not panic")
    });
    assert_eq!(first, (1..13).collect::<Vec<_>>());
    assert_eq!(second, (101..113).collect::<Vec<_>>());
    assert_eq!(
        most, 3,
        "both pmaps together hold at most the limiter's 3 slots"
    );
}

#[test]
fn a_panic_in_a_call_reaches_the_tokio_join_error_after_the_other_calls_were_dropped() {
    let runtime = multi_thread();
    let drops = Drops::default();
    let joined = runtime.block_on({
        let drops = drops.clone();
        async move {
            tokio::spawn(duet::send::pmap_async(0..4u32, Some(4), move |x| {
                let guard = drops.guard();
                async move {
                    let _guard = guard;
                    hop(2).await;
                    if x == 1 {
                        panic!("call {x} panicked");
                    }
                    std::future::pending::<u32>().await
                }
            }))
            .await
        }
    });
    let error = joined.expect_err("the panic reached tokio");
    assert!(error.is_panic());
    let payload = error.into_panic();
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied());
    assert_eq!(message, Some("call 1 panicked"));
    assert_eq!(drops.count(), 4, "every call was dropped");
}

#[test]
fn the_send_forms_futures_are_send() {
    let runtime = multi_thread();
    let handler = async {
        tokio::spawn(async {
            let data = vec![1u64, 2, 3];
            let data = &data;
            let a = needs_send(duet::send::pmap_async(
                0..3,
                None,
                |i| async move { data[i] },
            ));
            let b = needs_send(duet::send::try_pmap_async(0..3, Some(1), |i| async move {
                data.get(i).copied().ok_or(i)
            }));
            let c = needs_send(duet::send::scope(duet::send::infallible(async |s| {
                let limited = duet::send::LimitedScope::new(&s, duet::Limiter::new(1));
                let all = needs_send(
                    limited.try_pmap_async(0..3, |i| async move { data.get(i).copied().ok_or(i) }),
                );
                let stream = limited.pmap_stream(0..3, |i| async move { data[i] * 10 });
                needs_send_value(&stream);
                (all.await, stream.collect::<Vec<_>>().await)
            })));
            (a.await, b.await, c.await)
        })
        .await
    };
    let out = runtime.block_on(handler);
    let (a, b, c) = out.expect("the handler did not panic");
    assert_eq!(a, [1, 2, 3]);
    assert_eq!(b, Ok(vec![1, 2, 3]));
    assert_eq!(c.unwrap(), (Ok(vec![1, 2, 3]), vec![10, 20, 30]));
}
