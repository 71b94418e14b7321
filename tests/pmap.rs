//! pmap: input order, limits, laziness, the reorder window, failures, cancellation, and
//! LimitedScope.

mod common;

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::rc::Rc;
use std::time::Duration;

use common::{Probe, panic_message, until, yields};
use duet::{LimitedScope, Limiter, PmapLimit};
use futures::channel::{mpsc, oneshot};
use futures::{StreamExt, TryStreamExt};

/// Counts calls running at once.
#[derive(Default)]
struct InFlight {
    now: Cell<usize>,
    most: Cell<usize>,
}

impl InFlight {
    fn enter(&self) {
        self.now.set(self.now.get() + 1);
        self.most.set(self.most.get().max(self.now.get()));
    }
    fn leave(&self) {
        self.now.set(self.now.get() - 1);
    }
}

#[test]
fn results_come_in_input_order_when_later_items_finish_first() {
    let finished = RefCell::new(Vec::new());
    let results = duet::pmap(0..8usize, Some(8), async |x| {
        yields(8 - x).await; // item 7 finishes first, item 0 last
        finished.borrow_mut().push(x);
        x * 10
    });
    assert_eq!(*finished.borrow(), [7, 6, 5, 4, 3, 2, 1, 0]);
    assert_eq!(results, [0, 10, 20, 30, 40, 50, 60, 70]);
}

#[test]
fn never_more_than_limit_calls_run_at_once() {
    for limit in [1, 3, 7] {
        // With the default window (24 times the limit) or a wide one, only the limit holds
        // calls back, so it is reached exactly: the slowest call (5 yields) is less than
        // twice the mean. With a window equal to the limit, results waiting for a slower
        // earlier item count against it, so fewer calls may run.
        let default = PmapLimit::new(Some(limit));
        assert_eq!(default.window_size(), Some(24 * limit));
        for (limits, reaches_limit) in [
            (default, true),
            (default.window(1000), true),
            (default.window(limit), false),
        ] {
            let in_flight = InFlight::default();
            let results = duet::run(duet::pmap_async(0..100usize, limits, async |x| {
                in_flight.enter();
                yields(1 + x % 5).await;
                in_flight.leave();
                x
            }));
            assert_eq!(results, (0..100).collect::<Vec<_>>());
            let most = in_flight.most.get();
            assert!(most <= limit, "{limits:?}: {most} calls at once");
            if reaches_limit {
                assert_eq!(most, limit, "{limits:?}");
            }
        }
    }
}

#[test]
fn an_unlimited_pmap_starts_every_call_at_once() {
    let in_flight = InFlight::default();
    let results = duet::pmap(vec!['a', 'b', 'c', 'd'], None, async |c| {
        in_flight.enter();
        duet::yield_now().await;
        in_flight.leave();
        c.to_ascii_uppercase()
    });
    assert_eq!(results, ['A', 'B', 'C', 'D']);
    assert_eq!(in_flight.most.get(), 4);
}

#[test]
fn an_unlimited_pmap_over_a_long_input_lets_the_rest_of_the_tree_run() {
    let pulled = Cell::new(0);
    let seen_by_sibling = Cell::new(None);
    let out = duet::run_scope(async |s| {
        let items = (0..10_000).inspect(|_| pulled.set(pulled.get() + 1));
        let results = duet::pmap_stream(&s, items, None, async |x| x);
        let (pulled, seen_by_sibling) = (&pulled, &seen_by_sibling);
        s.spawn(async move { seen_by_sibling.set(Some(pulled.get())) });
        Ok::<_, Infallible>(results.collect::<Vec<_>>().await)
    });
    assert_eq!(out.unwrap(), (0..10_000).collect::<Vec<_>>());
    // The feeder yielded while pulling, so the sibling ran before the input was used up.
    let seen = seen_by_sibling.get().unwrap();
    assert!(
        seen < 1000,
        "the sibling first ran after {seen} items were pulled"
    );
}

#[test]
fn input_is_pulled_only_when_a_call_can_start() {
    // Every call blocks until its gate opens: with limit 4, exactly four items are pulled,
    // from an iterator and from a stream alike. (The window is wide, so that the limit
    // alone holds the input back.)
    for from_stream in [false, true] {
        let pulled = Cell::new(0);
        let count = |x: usize| {
            pulled.set(pulled.get() + 1);
            x
        };
        let gates = RefCell::new(Vec::<oneshot::Sender<()>>::new());
        let call = async |x: usize| {
            let (tx, rx) = oneshot::channel();
            gates.borrow_mut().push(tx);
            let _ = rx.await;
            x
        };
        let limits = PmapLimit::new(Some(4)).window(100);
        let sum = duet::run_scope(async |s| {
            let results = if from_stream {
                duet::pmap_stream(&s, futures::stream::iter(0..).map(count), limits, call)
            } else {
                duet::pmap_stream(&s, (0..).map(count), limits, call)
            };
            let mut results = results.take(10);
            let finished = Cell::new(false);
            let checker = async {
                yields(20).await;
                assert_eq!(pulled.get(), 4, "from_stream: {from_stream}");
                until(|| {
                    for gate in gates.borrow_mut().drain(..) {
                        let _ = gate.send(());
                    }
                    finished.get()
                })
                .await;
            };
            let consumer = async {
                let mut sum = 0;
                while let Some(x) = results.next().await {
                    sum += x;
                }
                finished.set(true);
                sum
            };
            let (sum, ()) = futures::join!(consumer, checker);
            Ok::<_, Infallible>(sum)
        });
        assert_eq!(sum.unwrap(), 45);
        // Ten results taken; at most the limit (4) more had started when the stream was
        // dropped, and their calls were cancelled.
        assert!(pulled.get() <= 14, "pulled {}", pulled.get());
    }
}

#[test]
fn a_consumer_that_stops_early_leaves_the_rest_of_the_input_unpulled() {
    let pulled = Cell::new(0);
    let probe = Probe::new();
    let firsts = duet::run_scope(async |s| {
        let items = (0..).inspect(|_| pulled.set(pulled.get() + 1));
        let results = duet::pmap_stream(&s, items, Some(2), async |x: u64| {
            probe.track(duet::yield_now()).await;
            x
        });
        Ok::<_, Infallible>(results.take(5).collect::<Vec<_>>().await)
    });
    assert_eq!(firsts.unwrap(), [0, 1, 2, 3, 4]);
    // Five results delivered. Item 5 was running (the limit is 2) when the consumer took
    // item 4, and the stream was dropped before another call finished and made room under
    // the limit, so no further item was pulled (the window, 48, is not what binds here).
    assert_eq!(pulled.get(), 6);
    assert_eq!(probe.created(), 6);
}

#[test]
fn a_slow_first_item_holds_back_at_most_a_window_of_results() {
    // (limit, window): the window defaults to 24 times the limit.
    for (limit, window) in [
        (PmapLimit::new(Some(4)), 4 * 24),
        (PmapLimit::new(Some(4)).window(8), 8),
    ] {
        let started = Cell::new(0);
        let finished = Cell::new(0);
        let delivered = Cell::new(0);
        let (gate, gate_rx) = oneshot::channel::<()>();
        let gate_rx = RefCell::new(Some(gate_rx));
        let most_buffered = Cell::new(0);
        let results = duet::run_scope(async |s| {
            let mut results = duet::pmap_stream(&s, 0..200usize, limit, async |x| {
                started.set(started.get() + 1);
                if x == 0 {
                    let rx = gate_rx.borrow_mut().take().unwrap();
                    let _ = rx.await;
                }
                finished.set(finished.get() + 1);
                x
            });
            let checker = async {
                yields(window + 20).await;
                // Item 0 is stuck: `window` items started, all but item 0 finished and
                // wait in the reorder buffer; nothing was delivered.
                assert_eq!(
                    (started.get(), finished.get(), delivered.get()),
                    (window, window - 1, 0),
                    "window {window}"
                );
                gate.send(()).unwrap();
            };
            let consumer = async {
                let mut out = Vec::new();
                while let Some(x) = results.next().await {
                    delivered.set(delivered.get() + 1);
                    most_buffered.set(most_buffered.get().max(finished.get() - delivered.get()));
                    out.push(x);
                }
                out
            };
            let (out, ()) = futures::join!(consumer, checker);
            Ok::<_, Infallible>(out)
        });
        assert_eq!(results.unwrap(), (0..200).collect::<Vec<_>>());
        assert_eq!(finished.get(), 200);
        assert!(most_buffered.get() < window, "window {window}");
    }
}

#[test]
fn calls_are_driven_by_the_scope_while_the_consumer_awaits_something_else() {
    let finished = Cell::new(0);
    let out = duet::run_scope(async |s| {
        let results = duet::pmap_stream(&s, 0..10, PmapLimit::new(Some(2)).window(10), async |x| {
            duet::yield_now().await;
            finished.set(finished.get() + 1);
            x
        });
        // The stream is not polled while every call runs to completion.
        until(|| finished.get() == 10).await;
        Ok::<_, Infallible>(results.collect::<Vec<_>>().await)
    });
    assert_eq!(out.unwrap(), (0..10).collect::<Vec<_>>());
}

/// Items 0..4 succeed at once, item 4 fails after five yields, later items never finish.
fn fail_at_four(limit: Option<usize>) -> (Result<Vec<usize>, String>, Probe) {
    let probe = Probe::new();
    let result = duet::try_pmap(0..30usize, limit, async |x| {
        probe
            .track(async move {
                match x {
                    0..4 => Ok(x),
                    4 => {
                        yields(5).await;
                        Err(format!("item {x} failed"))
                    }
                    _ => futures::future::pending().await,
                }
            })
            .await
    });
    (result, probe)
}

#[test]
fn the_first_error_cancels_the_running_calls_and_is_returned() {
    // With limit L, four results were delivered when item 4 fails and the calls after it
    // never finish, so they hold the limit: items 4..4+L had started, item 4 failed and
    // L - 1 later calls were running.
    for (limit, started) in [(Some(3), 7), (Some(10), 14), (None, 30)] {
        let (result, probe) = fail_at_four(limit);
        assert_eq!(result, Err("item 4 failed".to_string()), "limit {limit:?}");
        assert_eq!(
            (probe.created(), probe.completed(), probe.cancelled()),
            (started, 5, started - 5),
            "limit {limit:?}"
        );
        assert_eq!(probe.dropped(), probe.created(), "every call was dropped");
    }
}

#[test]
fn a_failed_stream_yields_the_results_before_the_gap_then_the_error_then_ends() {
    let probe = Probe::new();
    let out = duet::run_scope(async |s| {
        let results = duet::try_pmap_stream(&s, 0..6, None, async |x| {
            probe
                .track(async move {
                    match x {
                        3 => {
                            duet::yield_now().await;
                            Err("three")
                        }
                        4 | 5 => {
                            yields(2).await;
                            Ok(x)
                        }
                        _ => Ok(x),
                    }
                })
                .await
        });
        Ok::<_, Infallible>(results.collect::<Vec<_>>().await)
    });
    assert_eq!(out.unwrap(), [Ok(0), Ok(1), Ok(2), Err("three")]);
    // Items 4 and 5 were running when item 3 failed.
    assert_eq!((probe.created(), probe.cancelled()), (6, 2));
}

#[test]
fn an_error_reaches_the_consumer_not_the_scope() {
    let out = duet::run_scope(async |s| {
        let first =
            duet::try_pmap_stream(
                &s,
                [1, 2],
                Some(1),
                async |x| {
                    if x == 2 { Err("two") } else { Ok(x) }
                },
            )
            .collect::<Vec<_>>()
            .await;
        // The scope is still running: the consumer decides what the error means.
        let again = s.spawn(async { Ok(7) }).await.unwrap();
        Ok::<_, Infallible>((first, again))
    });
    assert_eq!(out.unwrap(), (vec![Ok(1), Err("two")], 7));
}

#[test]
fn dropping_the_stream_cancels_the_calls_still_running() {
    let probe = Probe::new();
    duet::run_scope(async |s| {
        let mut results = duet::pmap_stream(&s, 0..100, Some(5), async |x: i32| {
            probe.track(yields(x as usize)).await;
            x
        });
        assert_eq!(results.next().await, Some(0));
        drop(results);
    })
    .unwrap();
    // Five calls started (the limit); item 0 finished and was delivered, and the stream
    // was dropped before item 5 could start: the four running calls were cancelled.
    assert_eq!(
        (probe.created(), probe.completed(), probe.cancelled()),
        (5, 1, 4)
    );
}

#[test]
fn a_panicking_call_cancels_the_others_and_is_re_raised() {
    let probe = Probe::new();
    let msg = panic_message(|| {
        duet::pmap(0..10, Some(4), async |x: i32| {
            probe
                .track(async move {
                    if x == 2 {
                        panic!("call {x} panicked");
                    }
                    futures::future::pending::<()>().await;
                })
                .await
        });
    });
    assert_eq!(msg, "call 2 panicked");
    // Calls 0 and 1 were running and were cancelled; call 3 was spawned but never polled.
    assert_eq!(
        (probe.created(), probe.dropped(), probe.completed()),
        (3, 3, 0)
    );
}

#[test]
fn items_come_from_iterators_and_streams() {
    let square = async |x: &i32| x * x;
    let v = vec![1, 2, 3];
    assert_eq!(duet::pmap(&v, Some(2), square), [1, 4, 9]);
    assert_eq!(duet::pmap(v.iter(), Some(2), square), [1, 4, 9]);
    assert_eq!(
        duet::pmap(futures::stream::iter(&v), Some(2), square),
        [1, 4, 9]
    );

    // A stream whose items arrive while the pmap runs.
    let (tx, rx) = mpsc::unbounded::<i32>();
    let out = duet::run_scope(async |s| {
        let results = duet::pmap_stream(&s, rx, Some(2), async |x| x + 1);
        s.spawn(async move {
            for i in 0..5 {
                tx.unbounded_send(i).unwrap();
                duet::yield_now().await;
            }
        });
        Ok::<_, Infallible>(results.collect::<Vec<_>>().await)
    });
    assert_eq!(out.unwrap(), [1, 2, 3, 4, 5]);
}

#[test]
fn tuples_stand_in_for_pstarmap() {
    let pairs = [(1, "one"), (2, "two")];
    let out = duet::pmap(pairs, None, async |(n, name)| format!("{n}={name}"));
    assert_eq!(out, ["1=one", "2=two"]);
}

#[test]
fn calls_may_borrow_and_need_not_be_send() {
    let shared = Rc::new(RefCell::new(Vec::new()));
    let words = vec!["a".to_string(), "bb".to_string()];
    let lens = duet::pmap(&words, Some(1), async |w| {
        shared.borrow_mut().push(w.as_str());
        w.len()
    });
    assert_eq!(lens, [1, 2]);
    assert_eq!(*shared.borrow(), ["a", "bb"]);
}

#[test]
fn the_blocking_form_runs_inside_a_running_loop() {
    let out = duet::run(async {
        duet::yield_now().await;
        duet::pmap(0..3, Some(2), async |x| x + 1) // a nested run
    });
    assert_eq!(out, [1, 2, 3]);
}

#[test]
fn a_zero_limit_or_window_is_rejected_with_a_message() {
    let msg = |f: &str| {
        format!(
            "duet::{f}: the limit must be at least 1 call, got Some(0): no call could ever \
             start. Pass Some(n) with n >= 1, or None for no limit."
        )
    };
    assert_eq!(
        panic_message(|| drop(duet::pmap(0..3, Some(0), async |x| x))),
        msg("pmap")
    );
    assert_eq!(
        panic_message(|| drop(duet::pmap_async(0..3, Some(0), async |x| x))),
        msg("pmap_async")
    );
    assert_eq!(
        panic_message(|| drop(duet::try_pmap(0..3, Some(0), async |x| Ok::<_, ()>(x)))),
        msg("try_pmap")
    );
    assert_eq!(
        panic_message(
            || drop(duet::try_pmap_async(0..3, Some(0), async |x| Ok::<_, ()>(
                x
            )))
        ),
        msg("try_pmap_async")
    );
    assert_eq!(
        panic_message(|| {
            let _ =
                duet::run_scope(async |s| drop(duet::pmap_stream(&s, 0..3, Some(0), async |x| x)));
        }),
        msg("pmap_stream")
    );
    assert_eq!(
        panic_message(|| {
            let _ = PmapLimit::new(Some(2)).window(0);
        }),
        "duet: a pmap window must be at least 1 item, got 0: no call could ever start"
    );
}

#[test]
fn a_pmap_stream_polled_after_its_scope_cancelled_the_calls_panics_with_advice() {
    // Only reachable by smuggling the stream out of its scope: it borrows the scope
    // handle, so this needs a leaked handle and a place outside to put the stream.
    thread_local! {
        static ESCAPED: RefCell<Option<duet::PmapStream<'static, u32>>> =
            const { RefCell::new(None) };
    }
    let r = duet::run_scope(async |s: duet::Scope<'static, Infallible>| {
        let leaked: &'static duet::Scope<'static, Infallible> = Box::leak(Box::new(s.clone()));
        let results = duet::pmap_stream(leaked, 0..10u32, Some(2), async |x| {
            futures::future::pending::<()>().await;
            x
        });
        ESCAPED.with(|e| *e.borrow_mut() = Some(results));
        duet::yield_now().await; // the calls start
        s.cancel();
    });
    assert!(r.unwrap_err().is_cancelled());
    let mut results = ESCAPED.with(|e| e.borrow_mut().take()).unwrap();
    let msg = panic_message(|| {
        let _ = duet::run(results.next());
    });
    assert_eq!(
        msg,
        "duet: a pmap stream was polled after the scope running its calls cancelled them; \
         consume a pmap stream inside the scope it was started on (from its body or one of \
         its tasks)"
    );
}

#[test]
fn limited_scope_spawns_wait_for_slots_in_fifo_order() {
    let log = RefCell::new(Vec::new());
    let limiter = Limiter::new(2);
    let in_flight = InFlight::default();
    duet::run_scope(async |s| {
        let limited = LimitedScope::new(&s, limiter.clone());
        for i in 0..6 {
            let (log, in_flight) = (&log, &in_flight);
            limited.spawn(async move {
                in_flight.enter();
                log.borrow_mut().push(i);
                duet::yield_now().await;
                in_flight.leave();
            });
        }
    })
    .unwrap();
    assert_eq!(*log.borrow(), [0, 1, 2, 3, 4, 5]);
    assert_eq!(in_flight.most.get(), 2);
    assert_eq!(limiter.held(), 0);
}

#[test]
fn limited_scope_pmaps_and_tasks_share_the_limiter() {
    let limiter = Limiter::new(3);
    let in_flight = InFlight::default();
    let work = async |x: usize| {
        in_flight.enter();
        yields(x % 4).await;
        in_flight.leave();
        x
    };
    let out = duet::run_scope(async |s| {
        let limited = LimitedScope::new(&s, limiter.clone());
        let work = &work;
        let background: Vec<_> = (100..110)
            .map(|x| limited.spawn(async move { Ok(work(x).await) }))
            .collect();
        let (a, b) = futures::join!(
            limited.pmap_async(0..20, work),
            limited.pmap_stream(20..40, work).collect::<Vec<_>>()
        );
        for h in background {
            h.await.unwrap();
        }
        Ok::<_, Infallible>((a, b))
    });
    let (a, b) = out.unwrap();
    assert_eq!(a, (0..20).collect::<Vec<_>>());
    assert_eq!(b, (20..40).collect::<Vec<_>>());
    assert_eq!(in_flight.most.get(), 3, "three slots shared by everything");
    assert_eq!(limiter.held(), 0);
}

#[test]
fn limited_scope_follows_capacity_changes_and_leaks_no_slot_on_cancel() {
    let limiter = Limiter::new(1);
    let in_flight = InFlight::default();
    let tasks_in_flight = Cell::new(0);
    let probe = Probe::new();
    let r = duet::run_scope(async |s| {
        let limited = LimitedScope::new(&s, limiter.clone());
        let (in_flight, tasks_in_flight, probe) = (&in_flight, &tasks_in_flight, &probe);
        // The pmap's window is 24 (the default for its capacity at start, 1), so it
        // wants more slots than the limiter will ever have.
        let stream = limited.pmap_stream(0..50, async move |x: usize| {
            probe
                .track(async move {
                    in_flight.enter();
                    futures::future::pending::<()>().await;
                    x
                })
                .await
        });
        until(|| in_flight.now.get() == 1).await;
        limiter.set_capacity(Some(5));
        for i in 0..4 {
            limited.spawn(async move {
                in_flight.enter();
                tasks_in_flight.set(tasks_in_flight.get() + 1);
                probe.track(futures::future::pending::<()>()).await;
                let _ = i;
            });
        }
        until(|| in_flight.now.get() == 5).await;
        yields(10).await; // nothing more starts: the five slots are held
        assert_eq!(in_flight.most.get(), 5);
        // The pmap's feeder waits for a sixth slot, and so does every task that found
        // none (how the pmap and the tasks split the new slots depends on poll order).
        let waiting_tasks = 4 - tasks_in_flight.get();
        assert_eq!((limiter.held(), limiter.waiting()), (5, 1 + waiting_tasks));
        s.cancel();
        drop(stream);
        Ok::<_, Infallible>(())
    });
    assert!(r.unwrap_err().is_cancelled());
    assert_eq!(
        (probe.created(), probe.dropped(), probe.completed()),
        (5, 5, 0)
    );
    assert_eq!((limiter.held(), limiter.waiting()), (0, 0));
}

#[test]
fn limited_scope_pulls_no_input_while_the_shared_limiter_is_full() {
    let limiter = Limiter::new(1);
    let pulled = Cell::new(0);
    let out = duet::run_scope(async |s| {
        let limited = LimitedScope::new(&s, limiter.clone());
        let held = limiter.acquire().await;
        let items = (0..3).inspect(|_| pulled.set(pulled.get() + 1));
        let results = limited.pmap_stream(items, async |x| x * 2);
        yields(10).await;
        assert_eq!((pulled.get(), limiter.waiting()), (0, 1));
        drop(held);
        Ok::<_, Infallible>(results.collect::<Vec<_>>().await)
    });
    assert_eq!(out.unwrap(), [0, 2, 4]);
    assert_eq!(pulled.get(), 3);
}

#[test]
fn limited_scope_try_pmap_returns_the_first_error() {
    let limiter = Limiter::new(2);
    let out = duet::run_scope(async |s| {
        let limited = LimitedScope::new(&s, limiter.clone());
        let r = limited
            .try_pmap_async(["1", "2", "x", "4"], async |t| {
                t.parse::<u8>().map_err(|_| t)
            })
            .await;
        let ok: Vec<u8> = limited
            .try_pmap_stream(["5", "6"], async |t| t.parse::<u8>())
            .try_collect()
            .await
            .unwrap();
        Ok::<_, Infallible>((r, ok))
    });
    assert_eq!(out.unwrap(), (Err("x"), vec![5, 6]));
    assert_eq!(limiter.held(), 0);
}

// ---- completion order (pmap_stream_unordered) -------------------------------------

#[test]
fn unordered_results_come_as_calls_finish_and_a_slow_call_holds_nothing_back() {
    let (order, elapsed) = duet::run_with(duet::Config::new().virtual_clock(), async {
        let start = duet::now();
        let order = duet::scope(async |s| {
            // Limit 2 and a window of 2: in input order, the slow first call would hold
            // every later one back; in completion order the other slot keeps working.
            let limit = duet::PmapLimit::new(Some(2)).window(2);
            let delays = [1_000u64, 10, 10, 10, 10];
            let results = duet::pmap_stream_unordered(&s, delays, limit, async |ms| {
                duet::sleep(Duration::from_millis(ms)).await;
                ms
            });
            Ok::<_, Infallible>(results.collect::<Vec<_>>().await)
        })
        .await;
        (order.unwrap(), duet::now() - start)
    });
    assert_eq!(order, [10, 10, 10, 10, 1_000]);
    assert_eq!(elapsed, Duration::from_millis(1_000));
}

#[test]
fn unordered_pmap_respects_its_limit_and_its_window_bounds_untaken_results() {
    let running = Cell::new(0usize);
    let peak = Cell::new(0usize);
    let started = Cell::new(0usize);
    duet::run_with(
        duet::Config::new().virtual_clock(),
        duet::scope(async |s| {
            let (running, peak, started) = (&running, &peak, &started);
            let limit = duet::PmapLimit::new(Some(3)).window(5);
            let mut results = duet::pmap_stream_unordered(&s, 0..100u64, limit, async move |i| {
                started.set(started.get() + 1);
                running.set(running.get() + 1);
                peak.set(peak.get().max(running.get()));
                duet::sleep(Duration::from_millis(1 + i % 7)).await;
                running.set(running.get() - 1);
                i
            });
            // Nobody takes results for a while: at most the window is started.
            duet::sleep(Duration::from_secs(1)).await;
            assert_eq!(started.get(), 5, "window of 5: five started, none taken");
            let mut all: Vec<u64> = Vec::new();
            while let Some(i) = results.next().await {
                all.push(i);
            }
            all.sort_unstable();
            assert_eq!(all, (0..100).collect::<Vec<_>>());
            Ok::<_, Infallible>(())
        }),
    )
    .unwrap();
    assert_eq!(peak.get(), 3);
}

#[test]
fn unordered_try_pmap_yields_what_finished_then_the_error_and_cancels_the_rest() {
    let probe = Probe::new();
    let seen = duet::run_with(
        duet::Config::new().virtual_clock(),
        duet::scope(async |s| {
            let probe = &probe;
            let mut results =
                duet::try_pmap_stream_unordered(&s, [50u64, 10, 20, 1_000], None, async |ms| {
                    probe
                        .track(async move {
                            duet::sleep(Duration::from_millis(ms)).await;
                            if ms == 20 {
                                Err("failed at 20")
                            } else {
                                Ok(ms)
                            }
                        })
                        .await
                });
            let mut seen = Vec::new();
            while let Some(r) = results.next().await {
                seen.push(r);
            }
            Ok::<_, Infallible>(seen)
        }),
    );
    assert_eq!(seen.unwrap(), [Ok(10), Err("failed at 20")]);
    assert_eq!(probe.cancelled(), 2, "the 50 ms and 1 s calls");
}

#[test]
fn dropping_an_unordered_stream_cancels_the_running_calls() {
    let probe = Probe::new();
    duet::run_with(
        duet::Config::new().virtual_clock(),
        duet::scope(async |s| {
            let probe = &probe;
            let mut results = duet::pmap_stream_unordered(&s, 1..=10u64, Some(4), async |i| {
                probe
                    .track(duet::sleep(Duration::from_millis(i * 10)))
                    .await;
                i
            });
            assert_eq!(results.next().await, Some(1));
            drop(results);
            Ok::<_, Infallible>(())
        }),
    )
    .unwrap();
    assert_eq!(probe.completed(), 1);
    assert_eq!(probe.cancelled(), 3, "the three other calls running");
}
