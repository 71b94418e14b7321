//! Timers polled outside any `duet::run`: by `futures::executor::block_on`, by tokio, on
//! other threads. They are served by duet's fallback timer thread, on the real clock
//! (with the `tokio` feature, those polled inside a tokio runtime by tokio's timer:
//! tests/tokio_bridge.rs).

mod common;

use std::cell::Cell;
use std::convert::Infallible;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{DropFlag, Probe};
use futures::executor::block_on;
use futures::future::pending;

const GENEROUS: Duration = Duration::from_secs(2);

#[test]
fn sleep_works_under_futures_block_on() {
    let start = Instant::now();
    block_on(duet::sleep(Duration::from_millis(30)));
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(30) && elapsed < GENEROUS,
        "{elapsed:?}"
    );
}

#[test]
fn sleeping_under_block_on_does_not_busy_poll() {
    let probe = Probe::new();
    block_on(probe.track(duet::sleep(Duration::from_millis(50))));
    assert!(probe.polls() <= 10, "polled {} times", probe.polls());
}

#[test]
fn timeout_works_under_block_on_and_drops_the_future() {
    let probe = Probe::new();
    let r = block_on(duet::timeout(
        Duration::from_millis(10),
        probe.track(pending::<()>()),
    ));
    assert!(r.is_err());
    assert_eq!(probe.cancelled(), 1);
}

#[test]
fn a_deadline_scope_works_under_block_on() {
    let flag = Rc::new(Cell::new(false));
    let r = block_on(duet::timeout_scope(Duration::from_millis(20), async |s| {
        let guard = DropFlag(flag.clone());
        s.spawn(async move {
            let _guard = guard;
            duet::sleep(Duration::from_secs(60)).await;
        });
        s.spawn(duet::sleep(Duration::from_millis(5))); // finishes in time
        Ok::<_, Infallible>(())
    }));
    assert!(r.unwrap_err().is_timeout());
    assert!(flag.get());
}

#[test]
fn many_timers_under_block_on_fire_in_order() {
    let order = std::cell::RefCell::new(Vec::new());
    block_on(duet::scope(async |s| {
        let base = Instant::now();
        for ms in [25u64, 5, 15, 10, 20] {
            let order = &order;
            s.spawn(async move {
                duet::sleep_until(base + Duration::from_millis(ms)).await;
                order.borrow_mut().push(ms);
            });
        }
    }))
    .unwrap();
    assert_eq!(*order.borrow(), [5, 10, 15, 20, 25]);
}

#[test]
fn timers_work_under_a_tokio_current_thread_runtime() {
    // Served by duet's timer thread; with the `tokio` feature, by tokio's timer, which
    // must then be enabled.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let start = Instant::now();
    let r = rt.block_on(async {
        duet::sleep(Duration::from_millis(10)).await;
        duet::timeout(Duration::from_millis(10), pending::<()>()).await
    });
    assert!(r.is_err());
    assert!(start.elapsed() >= Duration::from_millis(20));
}

#[test]
fn a_sleep_is_send_and_may_be_awaited_on_another_thread() {
    fn assert_send_sync_unpin<T: Send + Sync + Unpin>(_: &T) {}
    let sleep = duet::sleep(Duration::from_millis(10));
    assert_send_sync_unpin(&sleep);
    let timeout = duet::timeout(Duration::from_millis(10), async {});
    fn assert_send<T: Send>(_: &T) {}
    assert_send(&timeout);
    std::thread::spawn(move || block_on(sleep)).join().unwrap();
}

#[test]
fn a_sleep_registered_in_a_loop_can_finish_under_another_executor() {
    // First polled (and registered) inside duet::run, then moved out and finished by
    // block_on: it re-registers with the fallback thread.
    let mut sleep = duet::sleep(Duration::from_millis(20));
    duet::run(async {
        assert!(futures::poll!(&mut sleep).is_pending());
    });
    let start = Instant::now();
    block_on(sleep);
    assert!(start.elapsed() < GENEROUS);
}

#[test]
fn now_outside_any_run_is_the_real_clock() {
    let before = Instant::now();
    let now = duet::now();
    assert!(now >= before && now <= Instant::now());
}
