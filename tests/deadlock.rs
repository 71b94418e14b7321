//! Deadlock detection (no false positives) and the task-tree dump.

mod common;

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::pending;
use std::rc::Rc;
use std::thread;
use std::time::Duration;

use common::panic_message;
use duet::{AwaitableFuture, Config, JoinHandle, Limiter};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The dump with this file's locations and the scope ids made comparable as text.
fn normalize(dump: &str) -> String {
    common::normalize_dump(dump, file!())
}

// ---- detected ---------------------------------------------------------------------

#[test]
fn two_tasks_awaiting_each_others_join_handle_are_a_deadlock() {
    let slot_a: RefCell<Option<JoinHandle<()>>> = RefCell::new(None);
    let slot_b: RefCell<Option<JoinHandle<()>>> = RefCell::new(None);
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            let (slot_a, slot_b) = (&slot_a, &slot_b);
            let waiter = async |slot: &RefCell<Option<JoinHandle<()>>>| {
                while slot.borrow().is_none() {
                    duet::yield_now().await;
                }
                let other = slot.borrow_mut().take().unwrap();
                let _ = other.await;
            };
            let a = s.spawn_named("a", waiter(slot_b));
            let b = s.spawn_named("b", waiter(slot_a));
            *slot_a.borrow_mut() = Some(a);
            *slot_b.borrow_mut() = Some(b);
            Ok::<_, Infallible>(())
        });
    });
    assert!(
        msg.starts_with("duet::run: deadlock: every task is waiting"),
        "{msg}"
    );
    let tree = normalize(&msg[msg.find("scope #").unwrap()..]);
    assert_eq!(
        tree,
        "scope #1 opened at <here>: running\n\
         ├── task #0 `a` spawned at <here>: waiting on the join handle of task #1 of scope #1\n\
         └── task #1 `b` spawned at <here>: waiting on the join handle of task #0 of scope #1\n"
    );
}

#[test]
fn a_slot_moved_to_another_thread_is_never_taken_for_a_deadlock() {
    // The task holds the only slot, hands it to a thread that releases it later, and
    // waits for a slot: that wait ends, so reporting it would crash a correct program.
    let limiter = Limiter::new(1);
    let r = duet::run_scope(async |s| {
        let limiter = &limiter;
        let h = s.spawn(async move {
            let slot = limiter.acquire().await;
            let releaser = thread::spawn(move || {
                thread::sleep(ms(300)); // well past the detector's 50 ms
                drop(slot);
            });
            let again = limiter.acquire().await;
            drop(again);
            releaser.join().unwrap();
        });
        let _ = h.await;
        Ok::<_, Infallible>(())
    });
    assert!(r.is_ok());
    assert_eq!(limiter.held(), 0);
}

#[test]
fn a_slot_handed_to_a_sibling_and_on_to_a_pool_job_is_never_taken_for_a_deadlock() {
    let limiter = Limiter::new(1);
    let pool = duet::ThreadPool::new(1);
    let r = duet::run_scope(async |s| {
        let (limiter, pool) = (&limiter, &pool);
        let slot = limiter.acquire().await;
        let (tx, rx) = futures::channel::oneshot::channel();
        s.spawn(async move {
            let slot: duet::Slot = rx.await.unwrap();
            // The sibling gives the slot to a job and returns at once.
            pool.execute(move || {
                thread::sleep(ms(300));
                drop(slot);
            });
        });
        let _ = tx.send(slot);
        let again = limiter.acquire().await;
        drop(again);
        Ok::<_, Infallible>(())
    });
    assert!(r.is_ok());
    assert_eq!(limiter.held(), 0);
}

#[test]
fn a_task_waiting_for_the_slot_it_holds_is_not_reported_as_another_thread_may_add_one() {
    // Indistinguishable, to duet, from the thread cases above: the slot might be on
    // another thread. Here another thread ends the wait by raising the capacity.
    let limiter = Limiter::new(1);
    let raiser = {
        let limiter = limiter.clone();
        thread::spawn(move || {
            thread::sleep(ms(300));
            limiter.set_capacity(Some(2));
        })
    };
    let r = duet::run_scope(async |s| {
        let limiter = &limiter;
        s.spawn(async move {
            let _first = limiter.acquire().await;
            let _second = limiter.acquire().await; // until the capacity is raised
        });
        Ok::<_, Infallible>(())
    });
    raiser.join().unwrap();
    assert!(r.is_ok());
}

#[test]
fn a_task_awaiting_a_nested_scope_stuck_on_its_parents_task_is_a_deadlock() {
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            let never = s.spawn(pending::<()>());
            let h = s.spawn(async move {
                duet::scope(async |_inner| {
                    let _ = never.await; // waits for a sibling of its parent task
                })
                .await
                .unwrap();
            });
            let _ = h.await;
            Ok::<_, Infallible>(())
        });
    });
    assert!(msg.contains("deadlock"), "{msg}");
}

#[test]
fn a_collector_whose_producers_are_all_gone_ends_with_an_error_not_a_hang() {
    // A collector nobody can feed any more (every producer handle dropped) is reported to
    // its consumer as abandoned. A collector whose producer handle is still alive is not
    // a deadlock duet can prove: that handle may be on its way to another thread.
    use futures::StreamExt;
    let out = duet::run(async {
        let (collector, mut stream) = duet::AsyncCollector::<u32>::new();
        drop(collector);
        stream.next().await
    });
    assert!(matches!(out, Some(Err(duet::CollectorError::Abandoned))));
}

// ---- not flagged ----------------------------------------------------------------------

#[test]
fn waiting_on_another_thread_is_not_a_deadlock() {
    let got = duet::run_scope(async |s| {
        let f = AwaitableFuture::new();
        let producer = f.clone();
        thread::spawn(move || {
            thread::sleep(ms(200)); // well past the loop's deadlock check
            producer.set_result(7);
        });
        let h = s.spawn(async move { Ok(f.await.unwrap()) });
        Ok::<_, Infallible>(h.await.unwrap())
    });
    assert_eq!(got.unwrap(), 7);
}

#[test]
fn waiting_on_a_timer_is_not_a_deadlock() {
    let r = duet::run_scope(async |s| {
        let h = s.spawn(duet::sleep(ms(200)));
        let _ = h.await;
        Ok::<_, Infallible>(())
    });
    assert!(r.is_ok());
}

#[test]
fn waiting_on_a_buffered_future_completed_elsewhere_is_not_a_deadlock() {
    let batcher = duet::Batcher::new(|batch: duet::Batch<u32, u32>| {
        thread::spawn(move || {
            thread::sleep(ms(200));
            let values: Vec<u32> = batch.keys().map(|k| k + 1).collect();
            batch.complete(values);
        });
    });
    let got = duet::run_scope(async |s| {
        let a = s.spawn(batcher.get(1));
        let b = s.spawn(batcher.get(2));
        Ok::<_, duet::AwaitError>((a.await.unwrap(), b.await.unwrap()))
    });
    assert_eq!(got.unwrap(), (2, 3));
}

#[test]
fn waiting_on_a_limiter_slot_held_by_another_thread_is_not_a_deadlock() {
    let limiter = Limiter::new(1);
    let slot = limiter.try_acquire().unwrap();
    let releaser = thread::spawn(move || {
        thread::sleep(ms(200));
        drop(slot);
    });
    let r = duet::run_scope(async |s| {
        let h = s.spawn(async { drop(limiter.acquire().await) });
        let _ = h.await;
        Ok::<_, Infallible>(())
    });
    releaser.join().unwrap();
    assert!(r.is_ok());
}

#[test]
fn a_wait_on_a_limiter_slot_held_outside_any_loop_is_not_a_deadlock() {
    // The slot's holder is plain code on this thread (not a task of the loop), which
    // could release it from a destructor, a callback or another loop: not provable.
    let limiter = Limiter::new(1);
    let slot = limiter.try_acquire().unwrap();
    let r = duet::run_scope(async |s| {
        let h = s.spawn(async { drop(limiter.acquire().await) });
        s.spawn(async {
            duet::sleep(ms(200)).await;
        });
        duet::sleep(ms(100)).await;
        h.cancel();
        Ok::<_, Infallible>(())
    });
    drop(slot);
    assert!(r.is_ok());
}

// ---- dumps --------------------------------------------------------------------------

#[test]
fn dump_snapshot() {
    let captured = RefCell::new(String::new());
    let r = duet::run_with(
        Config::new().virtual_clock(),
        duet::scope_with(duet::ScopeOptions::new().timeout(ms(5_000)), async |s| {
            s.spawn_named("sleeper", duet::sleep(ms(2_000)));
            let stuck = s.spawn(pending::<()>());
            s.spawn(async move {
                let _ = stuck.await;
            });
            s.spawn(async {
                duet::scope(async |inner| {
                    inner.spawn(duet::sleep(ms(1_000)));
                    inner.spawn(duet::shield(duet::sleep(ms(3_000))));
                })
                .await
                .unwrap();
            });
            duet::sleep(ms(10)).await;
            *captured.borrow_mut() = duet::dump();
            s.cancel_with_grace(ms(100));
            Ok::<_, Infallible>(())
        }),
    );
    assert!(r.unwrap_err().is_cancelled());
    assert_eq!(
        normalize(&captured.borrow()),
        "scope #1 opened at <here>: running, deadline in 4.990s\n\
         ├── body: running now\n\
         ├── task #0 `sleeper` spawned at <here>: waiting on a sleep (due in 1.990s)\n\
         ├── task #1 spawned at <here>: waiting (on something duet cannot see)\n\
         ├── task #2 spawned at <here>: waiting on the join handle of task #1 of scope #1\n\
         └── task #3 spawned at <here>: waiting on scope #2 [shielded]\n    \
             └── scope #2 opened at <here>: running\n        \
                 ├── task #0 spawned at <here>: waiting on a sleep (due in 0.990s)\n        \
                 └── task #1 spawned at <here>: waiting on a sleep (due in 2.990s) [shielded]\n"
    );
}

#[test]
fn dump_shows_a_cancelling_scope_and_outside_a_loop_says_so() {
    assert!(duet::dump().starts_with("duet::dump: not inside duet::run"));
    let captured = RefCell::new(String::new());
    let _ = duet::run_with(
        Config::new().virtual_clock(),
        duet::scope(async |s| {
            s.spawn(async {
                duet::cancelled().await;
                duet::sleep(ms(50)).await;
            });
            s.cancel_with_grace(ms(100));
            duet::yield_now().await;
            *captured.borrow_mut() = duet::dump();
            Ok::<_, Infallible>(())
        }),
    );
    assert_eq!(
        normalize(&captured.borrow()),
        "scope #1 opened at <here>: cancelling (cancelled explicitly), hard in 0.100s\n\
         ├── body: running now\n\
         └── task #0 spawned at <here>: waiting on a sleep (due in 0.050s)\n"
    );
}

#[test]
fn dump_shows_limiter_queue_positions_as_they_are_at_dump_time() {
    // Positions are computed when the dump is taken, not when each waiter last polled:
    // after the first waiter leaves the queue, the others move up.
    let captured = RefCell::new(String::new());
    let limiter = duet::Limiter::new(1);
    let r = duet::run_with(
        Config::new().virtual_clock(),
        duet::scope(async |s| {
            let held = limiter.acquire().await;
            let first = s.spawn(async { drop(limiter.acquire().await) });
            s.spawn(async { drop(limiter.acquire().await) });
            s.spawn(async { drop(limiter.acquire().await) });
            s.spawn(limiter.available());
            duet::yield_now().await;
            first.cancel();
            duet::yield_now().await;
            *captured.borrow_mut() = duet::dump();
            drop(held);
            Ok::<_, Infallible>(())
        }),
    );
    r.unwrap();
    assert_eq!(
        normalize(&captured.borrow()),
        "scope #1 opened at <here>: running\n\
         ├── body: running now\n\
         ├── task #1 spawned at <here>: waiting on a limiter slot (position 1 in its queue)\n\
         ├── task #2 spawned at <here>: waiting on a limiter slot (position 2 in its queue)\n\
         └── task #3 spawned at <here>: waiting on room in a limiter (position 1 in its queue)\n"
    );
}

#[test]
fn a_scope_polled_twice_in_one_poll_counts_its_stuck_hold_once() {
    // The scope is stuck (its task and body wait on nothing), and is polled twice in one
    // poll of the root; the root also waits for a thread that answers after 200 ms.
    let _watchdog = common::watchdog("a twice-polled stuck scope", Duration::from_secs(20));
    let r = duet::run(async {
        let mut stuck = std::pin::pin!(duet::scope(async |s| {
            s.spawn(pending::<()>());
            pending::<()>().await;
            Ok::<_, Infallible>(())
        }));
        let (tx, rx) = futures::channel::oneshot::channel::<u32>();
        thread::spawn(move || {
            thread::sleep(ms(200));
            let _ = tx.send(7);
        });
        let _ = futures::poll!(stuck.as_mut()); // a first poll...
        match futures::future::select(stuck, rx).await {
            futures::future::Either::Left(_) => 0, // ...and a second, in the same poll
            futures::future::Either::Right((v, _)) => v.unwrap(),
        }
    });
    assert_eq!(r, 7);
}

#[test]
fn a_join_handle_peeked_and_handed_on_is_not_taken_for_a_deadlock() {
    // Task `t` polls `b`'s handle once, hands it to the body and waits for a thread: its
    // report of waiting on the join is stale, and must not explain away the thread's
    // clone of its waker.
    let _watchdog = common::watchdog("a handed-on join handle", Duration::from_secs(20));
    let r = duet::run_scope(async |s| {
        let slot_b: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::default();
        let handed: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::default();
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        thread::spawn(move || {
            thread::sleep(ms(200));
            let _ = tx.send(());
        });
        let t = {
            let (slot_b, handed) = (slot_b.clone(), handed.clone());
            s.spawn(async move {
                let mut b = slot_b.borrow_mut().take().unwrap();
                let _ = futures::poll!(&mut b);
                *handed.borrow_mut() = Some(b);
                let _ = rx.await;
            })
        };
        let b = s.spawn(async move {
            let _ = t.await;
        });
        *slot_b.borrow_mut() = Some(b);
        let b = loop {
            if let Some(b) = handed.borrow_mut().take() {
                break b;
            }
            duet::yield_now().await;
        };
        let _ = b.await;
        Ok::<_, Infallible>(1)
    });
    assert_eq!(r.unwrap(), 1);
}

#[test]
fn a_sleep_that_lost_a_select_under_a_held_clock_is_not_taken_for_a_deadlock() {
    // Timers count as waits only the loop's tasks can end while the virtual clock is
    // held; a sleep that was polled and then dropped holds nothing any more.
    let _watchdog = common::watchdog("a lost select under a held clock", Duration::from_secs(20));
    let r = duet::run_with(Config::new().virtual_clock(), async {
        let _hold = duet::hold_clock();
        duet::scope(async |s| {
            let (tx, rx) = futures::channel::oneshot::channel::<u32>();
            thread::spawn(move || {
                thread::sleep(ms(200));
                let _ = tx.send(3);
            });
            let t = s.spawn(async move {
                let (ready_tx, ready_rx) = futures::channel::oneshot::channel::<()>();
                ready_tx.send(()).unwrap();
                let _ =
                    futures::future::select(duet::sleep(Duration::from_secs(1)), ready_rx).await;
                let _ = futures::poll!(duet::sleep(Duration::from_secs(1))); // peeked, dropped
                Ok(rx.await.unwrap())
            });
            Ok::<_, Infallible>(t.await.unwrap())
        })
        .await
    });
    assert_eq!(r.unwrap(), 3);
}

/// A oneshot that another thread answers with 42 after 300 ms.
fn answered_later() -> futures::channel::oneshot::Receiver<u32> {
    common::answered_later(ms(300), 42)
}

#[test]
fn a_join_record_made_stale_inside_the_joined_tasks_own_poll_is_not_trusted() {
    // Task A polls X's handle once (A is then the recorded waiter) and waits for a
    // thread; X polls its own handle during its own poll (the record cannot be updated
    // then, its waker is out of its slot), then waits for A. A's report of waiting on the
    // join is stale, and must not explain away the thread's clone of A's waker.
    use futures::FutureExt;
    let _watchdog = common::watchdog("a stale join record", Duration::from_secs(20));
    let r = duet::run_scope(async |s| {
        let to_x: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::default();
        let to_a: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::default();
        let (x_gets, x_waits_for) = (to_x.clone(), to_a.clone());
        let x = s.spawn(async move {
            let mut own = loop {
                let handed = x_gets.borrow_mut().take();
                if let Some(h) = handed {
                    break h;
                }
                duet::yield_now().await;
            };
            assert!((&mut own).now_or_never().is_none());
            let a = loop {
                let handed = x_waits_for.borrow_mut().take();
                if let Some(h) = handed {
                    break h;
                }
                duet::yield_now().await;
            };
            let _ = a.await;
        });
        let mut x = Some(x);
        let mut thread = answered_later();
        let a = s.spawn(async move {
            futures::future::poll_fn(|cx| {
                if let Some(mut x) = x.take() {
                    assert!(x.poll_unpin(cx).is_pending());
                    *to_x.borrow_mut() = Some(x);
                }
                thread.poll_unpin(cx)
            })
            .await
            .unwrap();
        });
        *to_a.borrow_mut() = Some(a);
        Ok::<_, Infallible>(())
    });
    assert!(r.is_ok());
}

#[test]
fn a_stuck_scope_dropped_in_the_poll_that_counted_it_leaves_no_stuck_hold_behind() {
    // A zero timeout around a scope that waits on nothing: the scope is polled, found
    // stuck (its hold counted in this poll), and dropped by the timeout in the same poll;
    // then the task waits for a thread.
    let _watchdog = common::watchdog("a dropped stuck scope", Duration::from_secs(20));
    let v = duet::run(async {
        let cut = duet::timeout(
            Duration::ZERO,
            duet::scope(async |_| pending::<Result<(), Infallible>>().await),
        )
        .await;
        assert!(cut.is_err());
        answered_later().await.unwrap()
    });
    assert_eq!(v, 42);
    // The same in a task, on a real-clock timeout.
    let got = std::cell::Cell::new(0);
    duet::run_scope(async |s| {
        let got = &got;
        s.spawn(async move {
            let cut = duet::timeout(
                ms(20),
                duet::scope(async |_| pending::<Result<(), Infallible>>().await),
            )
            .await;
            assert!(cut.is_err());
            got.set(answered_later().await.unwrap());
        });
        Ok::<_, Infallible>(())
    })
    .unwrap();
    assert_eq!(got.get(), 42);
}

#[test]
fn a_stuck_scope_moved_to_a_nested_task_in_the_same_poll_takes_its_hold_along() {
    // The body polls a stuck scope once (its hold counted in the body's poll), then, in
    // the same poll, hands it to a task of a nested scope, which polls it again (another
    // waker, a nested frame) while waiting for a thread.
    let _watchdog = common::watchdog("a moved stuck scope", Duration::from_secs(20));
    let r = duet::run_scope(async |_| {
        let mut stuck = Box::pin(duet::scope(async |s| {
            s.spawn(pending::<()>());
            pending::<()>().await;
            Ok::<_, Infallible>(())
        }));
        assert!(futures::poll!(stuck.as_mut()).is_pending());
        let v = duet::scope(async |inner| {
            let h = inner.spawn(async move {
                match futures::future::select(stuck, answered_later()).await {
                    futures::future::Either::Left(_) => Ok(0),
                    futures::future::Either::Right((v, _)) => Ok(v.unwrap()),
                }
            });
            Ok::<_, Infallible>(h.await.unwrap())
        })
        .await
        .unwrap();
        Ok::<_, Infallible>(v)
    });
    assert_eq!(r.unwrap(), 42);
}

#[test]
fn a_scope_continued_by_a_nested_run_and_back_appears_once_in_the_outer_dump() {
    // The scope future is polled by the outer loop, then by a nested run, then by the
    // outer loop again: it moves to each loop's registry as it is polled there, and
    // moving back must not list it twice.
    let captured = RefCell::new(String::new());
    let captured = &captured;
    let _ = duet::run_scope(async |outer| {
        outer.spawn(async move {
            let mut inner = std::pin::pin!(duet::scope(async |s| {
                s.spawn_named("moving", pending::<()>());
                pending::<Result<(), Infallible>>().await
            }));
            assert!(futures::poll!(inner.as_mut()).is_pending());
            duet::run(async { assert!(futures::poll!(inner.as_mut()).is_pending()) });
            assert!(futures::poll!(inner.as_mut()).is_pending());
            *captured.borrow_mut() = duet::dump();
        });
        duet::yield_now().await;
        duet::yield_now().await;
        outer.cancel();
        Ok::<_, Infallible>(())
    });
    let text = captured.borrow();
    assert_eq!(text.matches("`moving`").count(), 1, "{text}");
}
