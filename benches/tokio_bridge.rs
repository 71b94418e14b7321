//! The latency cost of the tokio bridge (`Config::tokio`): loopback request round trips
//! from a duet task, against the same client code on plain tokio.
//!
//! ```sh
//! cargo bench --features tokio --bench tokio_bridge              # 7 repetitions
//! cargo bench --features tokio --bench tokio_bridge -- --quick   # 3, fewer round trips
//! cargo bench --features tokio --bench tokio_bridge -- echo      # or `http`: one table
//! ```
//!
//! Echo: one TCP connection to a blocking echo server on 127.0.0.1 (a std thread per
//! connection, the same for every variant), and N sequential round trips of 64 bytes
//! (`TCP_NODELAY` on both ends). HTTP: N sequential `GET`s with one reqwest client (its
//! pooled keep-alive connection) to a hyper server on 127.0.0.1, which runs on a tokio
//! runtime of its own with one worker.
//!
//! Variants: the client in a duet task under `run_with(Config::new().tokio())` (tokio's
//! reactor runs on the shared runtime's worker threads, and each readiness event reaches
//! the loop as a cross-thread wake-up); the same with `spin_before_park(20 µs)`; the
//! client in a task of a tokio current-thread runtime (the task and the reactor on one
//! thread); and in a task of a tokio multi-thread runtime (default worker count). Every
//! variant runs in the same process, alternating within each repetition; the tables show
//! medians and ratios to the bridged duet variant.

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::{Builder, Runtime};

const MESSAGE: [u8; 64] = [7; 64];

/// A blocking echo server on 127.0.0.1: one std thread per connection.
fn echo_server() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.expect("accept");
            stream.set_nodelay(true).expect("nodelay");
            thread::spawn(move || {
                let mut buf = [0u8; 64];
                while stream.read_exact(&mut buf).is_ok() {
                    if stream.write_all(&buf).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// `n` echo round trips over one tokio connection; the bytes echoed back.
async fn echo_client(addr: SocketAddr, n: usize) -> usize {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut reply = [0u8; 64];
    let mut echoed = 0;
    for _ in 0..n {
        stream.write_all(&MESSAGE).await.expect("write");
        stream.read_exact(&mut reply).await.expect("read");
        echoed += reply.len();
    }
    echoed
}

/// A hyper server on 127.0.0.1, on a runtime of its own with one worker.
fn http_server() -> (Runtime, SocketAddr) {
    let rt = Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("server runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    rt.spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            stream.set_nodelay(true).expect("nodelay");
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_request| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        Bytes::from_static(b"pong"),
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (rt, addr)
}

/// `n` sequential GETs with one client; the body bytes received.
async fn http_client(url: &str, n: usize) -> usize {
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .build()
        .expect("client");
    let mut received = 0;
    for _ in 0..n {
        let body = client
            .get(url)
            .send()
            .await
            .expect("send")
            .bytes()
            .await
            .expect("body");
        received += body.len();
    }
    received
}

fn duet_bridged<F: Future<Output = usize>>(config: duet::Config, client: F) -> usize {
    duet::run_with(
        config,
        duet::scope(async |s| {
            let h = s.spawn(async { Ok(client.await) });
            Ok::<_, std::convert::Infallible>(h.await.expect("not cancelled"))
        }),
    )
    .expect("infallible")
}

fn on_tokio<F>(rt: &Runtime, client: F) -> usize
where
    F: Future<Output = usize> + Send + 'static,
{
    rt.block_on(async { tokio::spawn(client).await.expect("client task") })
}

/// Times one run of `client`, checking that it did all its work.
fn timed(expected: usize, run: impl FnOnce() -> usize) -> Duration {
    let started = Instant::now();
    let done = run();
    let elapsed = started.elapsed();
    assert_eq!(black_box(done), expected);
    elapsed
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

type Variant<'a> = (&'a str, Box<dyn FnMut() -> Duration + 'a>);

/// Runs every variant `reps` times, alternating, and prints a table of medians.
fn compare(title: &str, n: usize, reps: usize, variants: &mut [Variant<'_>]) {
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
    for (_, run) in variants.iter_mut() {
        run(); // warm-up: connections, the shared runtime, caches
    }
    for _ in 0..reps {
        for (i, (_, run)) in variants.iter_mut().enumerate() {
            samples[i].push(run());
        }
    }
    let medians: Vec<Duration> = samples.iter_mut().map(|s| median(s)).collect();
    let base = medians[0].as_secs_f64();
    println!("\n{title} ({n} round trips, median of {reps})\n");
    println!("| variant | median total | per round trip | vs duet + bridge |");
    println!("|---|---:|---:|---:|");
    for ((name, _), m) in variants.iter().zip(&medians) {
        println!(
            "| {name} | {:.1} ms | {:.1} µs | {:.2}x |",
            m.as_secs_f64() * 1e3,
            m.as_secs_f64() * 1e6 / n as f64,
            m.as_secs_f64() / base
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only = |table: &str| {
        let named = ["echo", "http"];
        !args.iter().any(|a| named.contains(&a.as_str())) || args.iter().any(|a| a == table)
    };
    let reps = if quick { 3 } else { 7 };
    let cores = thread::available_parallelism().map_or(1, |c| c.get());
    println!("duet tokio bridge benchmark: {cores} cores, quick={quick}");

    let current_thread = Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("current-thread runtime");
    let multi_thread = Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("multi-thread runtime");
    let bridge = duet::Config::new().tokio();
    let spinning = bridge.clone().spin_before_park(Duration::from_micros(20));

    if only("echo") {
        let n = if quick { 1_000 } else { 5_000 };
        let addr = echo_server();
        let bytes = n * MESSAGE.len();
        compare(
            "TCP echo over loopback, 64 bytes each way",
            n,
            reps,
            &mut [
                (
                    "duet task, Config::tokio()",
                    Box::new(|| {
                        timed(bytes, || duet_bridged(bridge.clone(), echo_client(addr, n)))
                    }),
                ),
                (
                    "duet task, Config::tokio() + spin_before_park(20 µs)",
                    Box::new(|| {
                        timed(bytes, || {
                            duet_bridged(spinning.clone(), echo_client(addr, n))
                        })
                    }),
                ),
                (
                    "tokio current-thread task",
                    Box::new(|| timed(bytes, || on_tokio(&current_thread, echo_client(addr, n)))),
                ),
                (
                    "tokio multi-thread task",
                    Box::new(|| timed(bytes, || on_tokio(&multi_thread, echo_client(addr, n)))),
                ),
            ],
        );
    }

    if only("http") {
        let n = if quick { 300 } else { 2_000 };
        let (_server, addr) = http_server();
        let url = format!("http://{addr}/");
        let bytes = n * b"pong".len();
        let owned = || url.clone();
        compare(
            "HTTP/1.1 GET over loopback with reqwest (keep-alive), hyper server",
            n,
            reps,
            &mut [
                (
                    "duet task, Config::tokio()",
                    Box::new(|| {
                        timed(bytes, || {
                            duet_bridged(bridge.clone(), async { http_client(&url, n).await })
                        })
                    }),
                ),
                (
                    "duet task, Config::tokio() + spin_before_park(20 µs)",
                    Box::new(|| {
                        timed(bytes, || {
                            duet_bridged(spinning.clone(), async { http_client(&url, n).await })
                        })
                    }),
                ),
                (
                    "tokio current-thread task",
                    Box::new(|| {
                        let url = owned();
                        timed(bytes, || {
                            on_tokio(&current_thread, async move { http_client(&url, n).await })
                        })
                    }),
                ),
                (
                    "tokio multi-thread task",
                    Box::new(|| {
                        let url = owned();
                        timed(bytes, || {
                            on_tokio(&multi_thread, async move { http_client(&url, n).await })
                        })
                    }),
                ),
            ],
        );
    }
}
