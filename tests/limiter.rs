//! The limiter: FIFO order, resizing, hand-off on cancellation, no leaked slots, misuse.

mod common;

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use common::{Probe, panic_message, until};
use duet::{CancelReason, JoinError, Limiter};
use futures::StreamExt;
use futures::channel::oneshot;

#[test]
fn waiters_acquire_in_fifo_order_with_capacity_one() {
    let limiter = Limiter::new(1);
    let order = RefCell::new(Vec::new());
    let (inside, most) = (Cell::new(0), Cell::new(0));
    duet::run_scope(async |s| {
        let first = limiter.acquire().await;
        for i in 0..10 {
            let (limiter, order, inside, most) = (&limiter, &order, &inside, &most);
            s.spawn(async move {
                // Waiter i queues after 9 - i yields: the queue is 9, 8, ..., 0, the
                // reverse of the spawn (and polling) order.
                for _ in 0..9 - i {
                    duet::yield_now().await;
                }
                let _slot = limiter.acquire().await;
                inside.set(inside.get() + 1);
                most.set(most.get().max(inside.get()));
                order.borrow_mut().push(i);
                duet::yield_now().await; // hold the slot across an await
                inside.set(inside.get() - 1);
            });
        }
        until(|| limiter.waiting() == 10).await;
        drop(first);
    })
    .unwrap();
    assert_eq!(*order.borrow(), [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    assert_eq!(most.get(), 1);
    assert_eq!((limiter.held(), limiter.waiting()), (0, 0));
}

#[test]
fn a_released_slot_goes_to_the_first_waiter_not_to_a_newcomer() {
    let limiter = Limiter::new(1);
    let order = RefCell::new(Vec::new());
    duet::run_scope(async |s| {
        let slot = limiter.acquire().await;
        let (limiter, order) = (&limiter, &order);
        s.spawn(async move {
            let _slot = limiter.acquire().await;
            order.borrow_mut().push("waiter");
        });
        until(|| limiter.waiting() == 1).await;
        drop(slot);
        // The slot was handed to the waiter, which has not run yet.
        assert_eq!((limiter.held(), limiter.waiting()), (1, 0));
        assert!(!limiter.is_available());
        assert!(limiter.try_acquire().is_none());
        let _mine = limiter.acquire().await; // queues behind the waiter
        order.borrow_mut().push("newcomer");
    })
    .unwrap();
    assert_eq!(*order.borrow(), ["waiter", "newcomer"]);
}

/// Tasks that take a slot and hold it until told to let go.
struct Holders {
    release: Vec<Option<oneshot::Sender<()>>>,
    handles: Vec<duet::JoinHandle<()>>,
}

impl Holders {
    fn spawn<'env>(
        s: &duet::Scope<'env, Infallible>,
        limiter: &'env Limiter,
        log: &'env RefCell<Vec<String>>,
        n: usize,
    ) -> Self {
        let mut release = Vec::new();
        let mut handles = Vec::new();
        for i in 0..n {
            let (tx, rx) = oneshot::channel::<()>();
            release.push(Some(tx));
            handles.push(s.spawn(async move {
                let _slot = limiter.acquire().await;
                let _ = rx.await;
                log.borrow_mut().push(format!("H{i}-"));
            }));
        }
        Holders { release, handles }
    }

    async fn release(&mut self, i: usize) {
        self.release[i].take().unwrap().send(()).unwrap();
        (&mut self.handles[i]).await.unwrap();
    }
}

/// Waiters that, once they have a slot, hold it for one yield.
fn spawn_waiters<'env>(
    s: &duet::Scope<'env, Infallible>,
    limiter: &'env Limiter,
    log: &'env RefCell<Vec<String>>,
    n: usize,
) -> Vec<duet::JoinHandle<()>> {
    (0..n)
        .map(|i| {
            s.spawn(async move {
                let _slot = limiter.acquire().await;
                log.borrow_mut().push(format!("W{i}+"));
                duet::yield_now().await;
                log.borrow_mut().push(format!("W{i}-"));
            })
        })
        .collect()
}

#[test]
fn shrinking_below_the_held_count_blocks_acquirers_until_enough_are_released() {
    let limiter = Limiter::new(3);
    let log = RefCell::new(Vec::<String>::new());
    duet::run_scope(async |s| {
        let mut holders = Holders::spawn(&s, &limiter, &log, 3);
        until(|| limiter.held() == 3).await;
        let waiters = spawn_waiters(&s, &limiter, &log, 3);
        until(|| limiter.waiting() == 3).await;

        log.borrow_mut().push("shrink".into());
        limiter.set_capacity(Some(1));
        holders.release(0).await;
        assert_eq!((limiter.held(), limiter.waiting()), (2, 3));
        holders.release(1).await;
        // One slot held, capacity 1: still nobody gets in.
        assert_eq!((limiter.held(), limiter.waiting()), (1, 3));
        assert!(!limiter.is_available());

        log.borrow_mut().push("grow".into());
        limiter.set_capacity(Some(3)); // two free slots: W0 and W1 at once
        assert_eq!((limiter.held(), limiter.waiting()), (3, 1));
        for w in waiters {
            w.await.unwrap();
        }
        holders.release(2).await;
    })
    .unwrap();
    assert_eq!(
        *log.borrow(),
        [
            "shrink", "H0-", "H1-", "grow", "W0+", "W1+", "W0-", "W1-", "W2+", "W2-", "H2-"
        ]
    );
    assert_eq!((limiter.held(), limiter.waiting()), (0, 0));
}

#[test]
fn growing_wakes_as_many_waiters_as_the_new_capacity_allows() {
    let limiter = Limiter::new(1);
    let log = RefCell::new(Vec::<String>::new());
    duet::run_scope(async |s| {
        let mut holders = Holders::spawn(&s, &limiter, &log, 1);
        until(|| limiter.held() == 1).await;
        let waiters = spawn_waiters(&s, &limiter, &log, 4);
        until(|| limiter.waiting() == 4).await;
        log.borrow_mut().push("grow".into());
        limiter.set_capacity(Some(3)); // no release: the growth alone admits W0 and W1
        assert_eq!((limiter.held(), limiter.waiting()), (3, 2));
        duet::yield_now().await;
        log.borrow_mut().push("unlimited".into());
        limiter.set_capacity(None); // admits everyone left
        assert_eq!(limiter.waiting(), 0);
        for w in waiters {
            w.await.unwrap();
        }
        holders.release(0).await;
    })
    .unwrap();
    assert_eq!(
        *log.borrow(),
        [
            "grow",
            "W0+",
            "W1+",
            "unlimited",
            "W0-",
            "W1-",
            "W2+",
            "W3+",
            "W2-",
            "W3-",
            "H0-"
        ]
    );
    assert_eq!(limiter.held(), 0);
}

#[test]
fn a_waiter_cancelled_while_queued_leaves_the_queue() {
    let limiter = Limiter::new(1);
    let log = RefCell::new(Vec::<String>::new());
    let probe = Probe::new();
    duet::run_scope(async |s| {
        let slot = limiter.acquire().await;
        let (limiter_ref, log_ref) = (&limiter, &log);
        let mut waiters = Vec::new();
        for i in 0..3 {
            waiters.push(s.spawn(probe.track(async move {
                let _slot = limiter_ref.acquire().await;
                log_ref.borrow_mut().push(format!("W{i}"));
                duet::yield_now().await;
            })));
        }
        until(|| limiter.waiting() == 3).await;
        waiters[1].cancel();
        duet::yield_now().await;
        assert_eq!(limiter.waiting(), 2);
        assert_eq!(probe.cancelled(), 1);
        drop(slot);
        let results: Vec<_> = futures::future::join_all(waiters).await;
        assert_eq!(
            results,
            [
                Ok(()),
                Err(JoinError::Cancelled(CancelReason::JoinHandle)),
                Ok(())
            ]
        );
    })
    .unwrap();
    assert_eq!(*log.borrow(), ["W0", "W2"]);
    assert_eq!((limiter.held(), limiter.waiting()), (0, 0));
}

#[test]
fn a_waiter_cancelled_after_it_was_granted_a_slot_passes_the_slot_on() {
    let limiter = Limiter::new(1);
    let log = RefCell::new(Vec::<String>::new());
    duet::run_scope(async |s| {
        let slot = limiter.acquire().await;
        let waiters = spawn_waiters(&s, &limiter, &log, 2);
        until(|| limiter.waiting() == 2).await;
        drop(slot); // handed to W0, which has not run since
        assert_eq!((limiter.held(), limiter.waiting()), (1, 1));
        waiters[0].cancel(); // W0 is dropped before it can use the slot
        let mut waiters = waiters.into_iter();
        let w0 = waiters.next().unwrap();
        assert!(w0.await.unwrap_err().is_cancelled());
        // W0's drop passed the slot to W1.
        assert_eq!((limiter.held(), limiter.waiting()), (1, 0));
        waiters.next().unwrap().await.unwrap();
    })
    .unwrap();
    assert_eq!(*log.borrow(), ["W1+", "W1-"]);
    assert_eq!((limiter.held(), limiter.waiting()), (0, 0));
}

#[test]
fn no_slot_is_leaked_when_holders_and_waiters_are_cancelled() {
    let limiter = Limiter::new(3);
    let probe = Probe::new();
    let r = duet::run_scope(async |s| {
        let mine = limiter.acquire().await;
        let limiter = &limiter;
        for _ in 0..2 {
            s.spawn(probe.track(async move {
                let _slot = limiter.acquire().await;
                futures::future::pending::<()>().await;
            }));
        }
        for _ in 0..5 {
            s.spawn(probe.track(async move {
                let _slot = limiter.acquire().await;
                futures::future::pending::<()>().await;
            }));
        }
        until(|| limiter.waiting() == 5).await;
        drop(mine); // granted to the first waiter, which is cancelled before it runs
        assert_eq!((limiter.held(), limiter.waiting()), (3, 4));
        s.cancel();
        Ok::<_, Infallible>(())
    });
    assert!(r.unwrap_err().is_cancelled());
    assert_eq!(
        (probe.created(), probe.dropped(), probe.completed()),
        (7, 7, 0)
    );
    assert_eq!((limiter.held(), limiter.waiting()), (0, 0));
    let all: Vec<_> = (0..3).map(|_| limiter.try_acquire()).collect();
    assert!(
        all.iter().all(Option::is_some),
        "the full capacity is available again"
    );
}

#[test]
fn run_holds_a_slot_while_the_future_runs_and_releases_it_on_panic() {
    let limiter = Limiter::new(1);
    let seen = duet::run(limiter.run(async { limiter.held() }));
    assert_eq!(seen, 1);
    assert_eq!(limiter.held(), 0);
    let msg = panic_message(|| duet::run(limiter.run(async { panic!("inside the limiter") })));
    assert_eq!(msg, "inside the limiter");
    assert_eq!(limiter.held(), 0);
}

#[test]
fn available_yields_once_even_when_the_limiter_is_available() {
    let limiter = Limiter::new(1);
    let log = RefCell::new(Vec::new());
    duet::run_scope(async |s| {
        let log = &log;
        s.spawn(async move { log.borrow_mut().push("sibling") });
        limiter.available().await;
        log.borrow_mut().push("after available");
    })
    .unwrap();
    assert_eq!(*log.borrow(), ["sibling", "after available"]);
}

#[test]
fn available_waits_for_a_release_and_takes_no_slot() {
    let limiter = Limiter::new(1);
    let log = RefCell::new(Vec::new());
    duet::run_scope(async |s| {
        let slot = limiter.acquire().await;
        let (limiter, log) = (&limiter, &log);
        s.spawn(async move {
            limiter.available().await;
            log.borrow_mut().push("available");
        });
        for _ in 0..5 {
            duet::yield_now().await;
        }
        log.borrow_mut().push("release");
        drop(slot);
    })
    .unwrap();
    assert_eq!(*log.borrow(), ["release", "available"]);
    assert_eq!(limiter.held(), 0);
}

#[test]
fn a_throttled_producer_does_not_race_ahead_of_its_work() {
    let limiter = Limiter::new(2);
    let pulled = Cell::new(0);
    let gates = RefCell::new(Vec::<oneshot::Sender<()>>::new());
    let done = Cell::new(0);
    duet::run_scope(async |s| {
        let (limiter_ref, gates, done) = (&limiter, &gates, &done);
        let mut items = limiter.throttle(futures::stream::iter(0..10).inspect(|_| {
            pulled.set(pulled.get() + 1);
        }));
        let producer = async {
            while let Some(_item) = items.next().await {
                s.spawn(async move {
                    let _slot = limiter_ref.acquire().await;
                    // Hold the slot until the test opens this call's gate.
                    let (tx, rx) = oneshot::channel();
                    gates.borrow_mut().push(tx);
                    let _ = rx.await;
                    done.set(done.get() + 1);
                });
            }
        };
        let checker = async {
            until(|| limiter.held() == 2).await;
            for _ in 0..10 {
                duet::yield_now().await;
            }
            // Two calls hold both slots, and the third item was not pulled: after each
            // item the producer yielded, so its call took a slot before the next check.
            assert_eq!(pulled.get(), 2);
            until(|| {
                for gate in gates.borrow_mut().drain(..) {
                    let _ = gate.send(());
                }
                done.get() == 10
            })
            .await;
        };
        futures::join!(producer, checker);
    })
    .unwrap();
    assert_eq!((pulled.get(), done.get()), (10, 10));
}

#[test]
fn a_slot_released_on_another_thread_wakes_a_waiter_on_the_loop() {
    let limiter = Limiter::new(1);
    let slot = limiter.try_acquire().unwrap();
    let got = duet::run_scope(async |s| {
        let waiter = s.spawn({
            let limiter = &limiter;
            async move {
                let _slot = limiter.acquire().await;
                Ok("acquired")
            }
        });
        until(|| limiter.waiting() == 1).await;
        let releaser = thread::spawn(move || drop(slot));
        let got = waiter.await.unwrap();
        releaser.join().unwrap();
        Ok::<_, Infallible>(got)
    });
    assert_eq!(got.unwrap(), "acquired");
}

#[test]
fn one_limiter_bounds_loops_on_several_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Limiter>();
    assert_send_sync::<duet::Slot>();

    let limiter = Limiter::new(1);
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (limiter, inside, most) = (limiter.clone(), inside.clone(), most.clone());
            thread::spawn(move || {
                duet::run_scope(async |s| {
                    for _ in 0..200 {
                        let (limiter, inside, most) = (&limiter, &inside, &most);
                        s.spawn(async move {
                            let _slot = limiter.acquire().await;
                            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            duet::yield_now().await;
                            inside.fetch_sub(1, Ordering::SeqCst);
                        });
                    }
                })
                .unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(most.load(Ordering::SeqCst), 1);
    assert_eq!((limiter.held(), limiter.waiting()), (0, 0));
}

#[test]
fn an_acquire_polled_after_it_returned_its_slot_panics() {
    let limiter = Limiter::new(1);
    let msg = panic_message(|| {
        duet::run(async {
            let mut acquire = limiter.acquire();
            let _slot = (&mut acquire).await;
            let _ = futures::poll!(&mut acquire);
        })
    });
    assert_eq!(
        msg,
        "duet: a Limiter::acquire future was polled after it returned its slot"
    );
    assert_eq!(limiter.held(), 0);
}

#[test]
fn an_unlimited_limiter_never_waits_and_counts_its_slots() {
    let limiter = Limiter::unlimited();
    let probe = Probe::new();
    duet::run_scope(async |s| {
        for _ in 0..100 {
            let limiter = &limiter;
            s.spawn(probe.track(async move {
                let _slot = limiter.acquire().await;
                duet::yield_now().await;
            }));
        }
        duet::yield_now().await;
        assert_eq!((limiter.held(), limiter.waiting()), (100, 0));
    })
    .unwrap();
    // Each task: one poll to acquire and yield, one to finish.
    assert_eq!((probe.polls(), probe.completed()), (200, 100));
    assert_eq!(limiter.held(), 0);
}

#[test]
fn growth_wakes_every_waiter_it_grants_even_when_the_first_ones_waker_panics() {
    use std::task::{Context, Waker};
    let limiter = Limiter::new(1);
    let held = limiter.try_acquire().unwrap();
    let bad = common::PanickingWaker::new();
    let r = duet::run_scope(async |s| {
        let limiter = &limiter;
        // First in the queue: a foreign acquirer whose waker panics.
        let mut foreign = Box::pin(limiter.acquire());
        let waker = Waker::from(bad.clone());
        assert!(
            foreign
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        // Second: a duet task.
        let task = s.spawn(async move {
            let _slot = limiter.acquire().await;
            Ok(limiter.held())
        });
        duet::yield_now().await;
        assert_eq!(limiter.waiting(), 2);
        let message = panic_message(|| limiter.set_capacity(Some(3)));
        assert_eq!(message, "the foreign waker panicked");
        let held_inside = task.await.unwrap();
        drop(foreign); // granted but never taken: its slot goes back
        Ok::<_, Infallible>(held_inside)
    });
    assert_eq!(
        r.unwrap(),
        3,
        "both waiters were granted a slot, and the task took its own"
    );
    assert_eq!(bad.wakes(), 1);
    drop(held);
    assert_eq!(limiter.held(), 0);
}
