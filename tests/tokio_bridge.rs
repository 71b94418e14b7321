//! The tokio bridge (feature `tokio`): `Config::tokio` / `Config::tokio_handle` make
//! tokio-based clients work inside `duet::run` and nested runs; duet's timers polled inside
//! a tokio runtime are served by tokio's timer and follow `tokio::time::pause`; a
//! `CancelHandle` cancels a duet scope from a tokio task. Loopback only: the HTTP server is
//! hyper on a tokio runtime of the test's own, bound to 127.0.0.1.
#![cfg(feature = "tokio")]

mod common;

use std::cell::Cell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{DropFlag, panic_message, watchdog};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::runtime::{Builder, Handle, Runtime};

/// Far more than anything here takes; only a hang reaches it.
const GENEROUS: Duration = Duration::from_secs(30);

fn multi_thread_runtime(workers: usize) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

/// Answers `GET /path` with "you asked for /path"; `/slow` never answers.
async fn answer(
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    if path == "/slow" {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let body = format!("you asked for {path}");
    Ok(hyper::Response::new(Full::new(Bytes::from(body))))
}

/// A hyper server on 127.0.0.1, on a runtime of its own (not the bridge's), counting the
/// connections that ended.
struct Server {
    _rt: Runtime,
    addr: SocketAddr,
    closed: Arc<AtomicUsize>,
}

impl Server {
    fn start() -> Self {
        let rt = multi_thread_runtime(2);
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let closed = Arc::new(AtomicUsize::new(0));
        let counter = closed.clone();
        rt.spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let connection = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service_fn(answer));
                    let _ = connection.await;
                    counter.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Server {
            _rt: rt,
            addr,
            closed,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// A client that never goes through a proxy from the environment.
fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn get(client: &reqwest::Client, url: &str) -> reqwest::Result<String> {
    client
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await
}

#[test]
fn reqwest_works_in_the_tasks_of_a_bridged_run() {
    let _watchdog = watchdog("reqwest under the bridge", Duration::from_secs(120));
    let server = Server::start();
    let client = client();
    let limiter = duet::Limiter::new(8);
    let (open, most_open) = (Cell::new(0), Cell::new(0));
    let bodies = duet::run_with(
        duet::Config::new().tokio(),
        duet::timeout_scope(GENEROUS, async |s| {
            let handles: Vec<_> = (0..40)
                .map(|i| {
                    let (client, server, limiter) = (&client, &server, &limiter);
                    let (open, most_open) = (&open, &most_open);
                    s.spawn(async move {
                        let _slot = limiter.acquire().await;
                        open.set(open.get() + 1);
                        most_open.set(most_open.get().max(open.get()));
                        let body = get(client, &server.url(&format!("/item/{i}"))).await;
                        open.set(open.get() - 1);
                        body
                    })
                })
                .collect();
            let mut bodies = Vec::new();
            for h in handles {
                bodies.push(h.await.expect("not cancelled"));
            }
            Ok(bodies)
        }),
    )
    .expect("every request answered in time");
    assert_eq!(bodies.len(), 40);
    for (i, body) in bodies.iter().enumerate() {
        assert_eq!(body, &format!("you asked for /item/{i}"));
    }
    assert!(most_open.get() <= 8, "{} requests at once", most_open.get());
}

/// A synchronous API that uses async code inside: its own `duet::run`, no config.
fn fetch_blocking(client: &reqwest::Client, url: &str) -> reqwest::Result<String> {
    duet::run(get(client, url))
}

#[test]
fn a_nested_run_inherits_the_bridge_and_reqwest_works_there() {
    let _watchdog = watchdog("reqwest in a nested run", Duration::from_secs(120));
    let server = Server::start();
    let client = client();
    let bodies = duet::run_with(duet::Config::new().tokio(), async {
        let outer = get(&client, &server.url("/outer")).await;
        // Called from a task of the bridged loop: a nested run, in the same context.
        let nested = fetch_blocking(&client, &server.url("/nested"));
        let nested_in_a_task = duet::run_scope(async |s| {
            let h = s.spawn(async { fetch_blocking(&client, &server.url("/deeper")) });
            Ok(h.await.expect("not cancelled"))
        });
        (outer, nested, nested_in_a_task)
    });
    assert_eq!(bodies.0.unwrap(), "you asked for /outer");
    assert_eq!(bodies.1.unwrap(), "you asked for /nested");
    assert_eq!(bodies.2.unwrap(), "you asked for /deeper");
}

#[test]
fn a_duet_timeout_around_a_request_drops_it_and_the_connection_closes() {
    let _watchdog = watchdog("timeout around reqwest", Duration::from_secs(120));
    let server = Server::start();
    let client = client();
    let started = Instant::now();
    let r = duet::run_with(
        duet::Config::new().tokio(),
        duet::timeout(
            Duration::from_millis(50),
            get(&client, &server.url("/slow")),
        ),
    );
    assert!(r.is_err(), "the server never answers /slow");
    assert!(started.elapsed() >= Duration::from_millis(50));
    // The request future was dropped; with the client gone too, nothing keeps the
    // connection: the server sees it end.
    drop(client);
    let deadline = Instant::now() + GENEROUS;
    while server.closed.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the connection stayed open");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn your_own_multi_thread_runtime_serves_the_loop_and_its_tokio_spawns() {
    let rt = Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("my-runtime")
        .enable_all()
        .build()
        .unwrap();
    let config = duet::Config::new().tokio_handle(rt.handle().clone());
    let (id, worker) = duet::run_with(config, async {
        let worker = tokio::spawn(async { std::thread::current().name().map(str::to_owned) });
        (Handle::current().id(), worker.await.unwrap())
    });
    assert_eq!(id, rt.handle().id());
    assert_eq!(worker.as_deref(), Some("my-runtime"));
}

#[test]
fn a_current_thread_runtime_is_refused_with_a_message_that_says_what_to_do() {
    let rt = Builder::new_current_thread().enable_all().build().unwrap();
    let message = panic_message(|| {
        let _ = duet::Config::new().tokio_handle(rt.handle().clone());
    });
    for needed in [
        "current-thread tokio runtime",
        "Handle::runtime_flavor() is CurrentThread",
        "would wait forever",
        "new_multi_thread().enable_all()",
        "Config::tokio()",
    ] {
        assert!(message.contains(needed), "{needed:?} not in: {message}");
    }
}

#[test]
#[should_panic(expected = "duet::Config::tokio_handle: this is the handle of a current-thread")]
fn a_current_thread_runtime_is_refused_before_the_loop_starts() {
    let rt = Builder::new_current_thread().enable_all().build().unwrap();
    // Refused by the config: the run never starts, so nothing can hang.
    duet::run_with(
        duet::Config::new().tokio_handle(rt.handle().clone()),
        async {},
    );
}

#[test]
fn the_callers_tokio_context_is_restored_when_the_run_returns_and_when_it_unwinds() {
    assert!(Handle::try_current().is_err());
    duet::run_with(duet::Config::new().tokio(), async {
        assert!(Handle::try_current().is_ok());
    });
    assert!(Handle::try_current().is_err(), "left after returning");

    let panicked = catch_unwind(|| {
        duet::run_with(duet::Config::new().tokio(), async {
            panic!("inside a bridged run");
        })
    });
    assert!(panicked.is_err());
    assert!(Handle::try_current().is_err(), "left after unwinding");

    // A caller inside another runtime gets that one back.
    let mine = multi_thread_runtime(1);
    let _entered = mine.handle().enter();
    let inside = duet::run_with(duet::Config::new().tokio(), async {
        Handle::current().id()
    });
    assert_ne!(
        inside,
        mine.handle().id(),
        "the loop ran in the shared runtime"
    );
    assert_eq!(Handle::current().id(), mine.handle().id());
    // A run without a tokio config leaves the caller's context as it is.
    assert_eq!(
        duet::run(async { Handle::current().id() }),
        mine.handle().id()
    );
}

/// Checks, when dropped, that a tokio runtime is current (cleanup may `tokio::spawn`).
struct SpawnsOnDrop(Rc<Cell<bool>>);

impl Drop for SpawnsOnDrop {
    fn drop(&mut self) {
        if let Ok(handle) = Handle::try_current() {
            drop(handle.spawn(async {}));
            self.0.set(true);
        }
    }
}

#[test]
fn destructors_of_cancelled_tasks_and_of_the_root_run_inside_the_tokio_context() {
    let (cancelled, unwound) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(false)));
    let r = duet::run_with(
        duet::Config::new().tokio(),
        duet::scope(async |s| {
            let guard = SpawnsOnDrop(cancelled.clone());
            s.spawn(async move {
                let _guard = guard;
                futures::future::pending::<()>().await;
            });
            duet::sleep(Duration::from_millis(1)).await;
            s.cancel();
        }),
    );
    assert!(r.unwrap_err().is_cancelled());
    assert!(
        cancelled.get(),
        "a cancelled task's destructor had no tokio context"
    );

    let guard = SpawnsOnDrop(unwound.clone());
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        duet::run_with(duet::Config::new().tokio(), async move {
            let _guard = guard;
            duet::sleep(Duration::from_millis(1)).await;
            panic!("the root unwinds");
        })
    }));
    assert!(panicked.is_err());
    assert!(
        unwound.get(),
        "the unwinding root's destructor had no tokio context"
    );
}

#[test]
fn loop_timers_stay_duets_under_the_bridge_virtual_clock_included() {
    let (elapsed, sum) = duet::run_with(duet::Config::new().virtual_clock().tokio(), async {
        let start = duet::now();
        duet::sleep(Duration::from_secs(3600)).await; // the virtual clock jumps
        let sum = tokio::spawn(async { 20 + 22 }).await.unwrap();
        (duet::now() - start, sum)
    });
    assert_eq!(elapsed, Duration::from_secs(3600));
    assert_eq!(sum, 42);
}

// ---- duet's timers inside a tokio runtime -------------------------------------------

#[tokio::test(start_paused = true)]
async fn duet_sleep_and_timeout_in_a_tokio_task_follow_tokios_paused_clock() {
    let real = Instant::now();
    let task = tokio::spawn(async {
        let start = tokio::time::Instant::now();
        assert_eq!(duet::now(), start.into_std(), "duet reads tokio's clock");
        duet::sleep(Duration::from_secs(3600)).await;
        let slept = start.elapsed();
        let cut = duet::timeout(Duration::from_secs(60), futures::future::pending::<()>()).await;
        (slept, cut, start.elapsed())
    });
    let (slept, cut, total) = task.await.unwrap();
    // The paused clock auto-advanced to duet's deadlines (tokio's millisecond tick may
    // round them up); real time barely moved.
    assert!(slept >= Duration::from_secs(3600), "{slept:?}");
    assert!(cut.is_err());
    assert!(total >= Duration::from_secs(3660), "{total:?}");
    assert!(
        real.elapsed() < GENEROUS,
        "waited in real time: {:?}",
        real.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_duet_timeout_scope_awaited_by_tokio_is_cut_on_tokios_paused_clock() {
    let real = Instant::now();
    let start = tokio::time::Instant::now();
    let flag = Rc::new(Cell::new(false));
    let r = duet::timeout_scope(Duration::from_secs(30), async |s| {
        let guard = DropFlag(flag.clone());
        s.spawn(async move {
            let _guard = guard;
            duet::sleep(Duration::from_secs(3600)).await;
        });
        s.spawn(duet::sleep(Duration::from_secs(1))); // done in time
    })
    .await;
    assert!(r.unwrap_err().is_timeout());
    assert!(flag.get(), "the long sleeper was dropped");
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_secs(30) && elapsed < Duration::from_secs(3600));
    assert!(real.elapsed() < GENEROUS);
}

#[tokio::test(start_paused = true)]
async fn tokio_advance_fires_duet_timers_and_only_at_their_deadline() {
    let mut sleep = duet::sleep(Duration::from_secs(10));
    assert!(futures::poll!(&mut sleep).is_pending());
    tokio::time::advance(Duration::from_secs(5)).await;
    assert!(futures::poll!(&mut sleep).is_pending(), "5 s of 10");
    assert!(!sleep.is_elapsed());
    tokio::time::advance(Duration::from_secs(5)).await;
    assert!(sleep.is_elapsed());
    assert!(futures::poll!(&mut sleep).is_ready());
}

#[test]
fn duet_timers_in_tasks_of_a_multi_thread_runtime_complete_on_the_real_clock() {
    let rt = multi_thread_runtime(2);
    let started = Instant::now();
    let results = rt.block_on(async {
        let tasks: Vec<_> = (1..=20u64)
            .map(|ms| {
                tokio::spawn(async move {
                    duet::sleep(Duration::from_millis(ms)).await;
                    duet::timeout(Duration::from_millis(ms), futures::future::pending::<()>())
                        .await
                        .is_err()
                })
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        results
    });
    assert!(results.iter().all(|&timed_out| timed_out));
    assert!(started.elapsed() >= Duration::from_millis(40));
    assert!(started.elapsed() < GENEROUS);
}

#[test]
fn a_sleep_first_polled_in_a_duet_loop_finishes_under_tokio() {
    let mut sleep = duet::sleep(Duration::from_millis(20));
    duet::run(async {
        assert!(futures::poll!(&mut sleep).is_pending()); // in the loop's queue
    });
    let rt = multi_thread_runtime(1);
    let started = Instant::now();
    rt.block_on(sleep); // moves to tokio's timer
    assert!(started.elapsed() < GENEROUS);
}

#[test]
#[should_panic(expected = "timers are disabled")]
fn a_duet_timer_in_a_tokio_runtime_without_timers_gets_tokios_message() {
    // With the feature, tokio's timer serves duet's timers there, so the runtime needs
    // one, as tokio's own timers do; tokio says to call `enable_time`.
    let rt = Builder::new_current_thread().build().unwrap();
    rt.block_on(duet::sleep(Duration::from_millis(1)));
}

// ---- cancellation from tokio tasks ---------------------------------------------------

#[test]
fn a_cancel_handle_is_send_sync_and_static_for_tokio_spawn() {
    fn assert_send_sync_static<T: Send + Sync + 'static>() {}
    assert_send_sync_static::<duet::CancelHandle>();
}

#[test]
fn a_tokio_task_on_a_multi_thread_runtime_cancels_a_bridged_duet_scope() {
    let _watchdog = watchdog("cancel from a tokio task", Duration::from_secs(120));
    let flags: Vec<_> = (0..4).map(|_| Rc::new(Cell::new(false))).collect();
    let r = duet::run_with(
        duet::Config::new().tokio(),
        duet::scope(async |s| {
            for flag in &flags {
                let guard = DropFlag(flag.clone());
                s.spawn(async move {
                    let _guard = guard;
                    futures::future::pending::<()>().await;
                });
            }
            let handle = s.cancel_handle();
            // A tokio task on the shared runtime's worker threads cancels the scope.
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                handle.cancel();
            });
            futures::future::pending::<()>().await;
        }),
    );
    assert!(r.unwrap_err().is_cancelled());
    assert!(flags.iter().all(|f| f.get()), "every task was dropped");
}

#[test]
fn a_duet_task_cancels_its_scope_when_a_tokio_task_says_so() {
    let r = duet::run_with(
        duet::Config::new().tokio(),
        duet::scope(async |s| {
            s.spawn(futures::future::pending::<()>());
            let stop = tokio::spawn(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
            });
            let s2 = s.clone();
            s.spawn(async move {
                stop.await.unwrap(); // woken from a tokio worker thread
                s2.cancel();
            });
        }),
    );
    assert!(r.unwrap_err().is_cancelled());
}

#[test]
fn a_scope_awaited_by_tokio_is_cancelled_from_a_task_of_another_tokio_runtime() {
    let _watchdog = watchdog("cancel across tokio runtimes", Duration::from_secs(120));
    let canceller = multi_thread_runtime(2);
    let local = Builder::new_current_thread().enable_all().build().unwrap();
    let flag = Rc::new(Cell::new(false));
    let r = local.block_on(duet::scope(async |s| {
        let guard = DropFlag(flag.clone());
        s.spawn(async move {
            let _guard = guard;
            duet::sleep(Duration::from_secs(3600)).await; // tokio's timer
        });
        let handle = s.cancel_handle();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        canceller.spawn(async move {
            ready_rx.await.unwrap();
            handle.cancel();
        });
        ready_tx.send(()).unwrap();
        futures::future::pending::<()>().await;
    }));
    assert!(r.unwrap_err().is_cancelled());
    assert!(flag.get());
}

// ---- what tokio itself says -----------------------------------------------------------

#[test]
#[should_panic(expected = "there is no reactor running")]
fn a_tokio_socket_in_a_run_without_the_bridge_gets_tokios_message() {
    // No tokio context on this thread: tokio says so at the first socket (the fix is
    // `Config::tokio()`).
    let _ = duet::run(TcpListener::bind("127.0.0.1:0"));
}

#[test]
#[should_panic(expected = "IO is disabled")]
fn a_runtime_without_io_gets_tokios_message_at_the_first_socket() {
    let rt = Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    let config = duet::Config::new().tokio_handle(rt.handle().clone());
    let _ = duet::run_with(config, TcpListener::bind("127.0.0.1:0"));
}
