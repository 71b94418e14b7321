//! duet tasks awaiting tokio I/O. A tokio multi-thread runtime serves TCP on 127.0.0.1
//! and drives tokio's reactor on its worker threads; `duet::run` runs on the test thread
//! with the runtime's handle entered, so duet tasks can create and await tokio sockets.
//! Readiness arrives as wakes from tokio's threads. Loopback only.

mod common;

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::watchdog;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

const GENEROUS: Duration = Duration::from_secs(30);

/// A multi-thread runtime running an echo server on 127.0.0.1.
struct Server {
    rt: Runtime,
    addr: SocketAddr,
    /// One message per connection accepted.
    accepted: mpsc::UnboundedReceiver<()>,
    /// One message per connection that the client closed.
    closed: mpsc::UnboundedReceiver<()>,
}

/// The server echoes what it reads, except messages starting with "ignore".
fn echo_server() -> Server {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let (closed_tx, closed) = mpsc::unbounded_channel();
    let (accepted_tx, accepted) = mpsc::unbounded_channel();
    rt.spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let _ = accepted_tx.send(());
            let closed_tx = closed_tx.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 256];
                loop {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => {
                            let _ = closed_tx.send(());
                            return;
                        }
                        Ok(n) if buf[..n].starts_with(b"ignore") => {}
                        Ok(n) => {
                            if socket.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    Server {
        rt,
        addr,
        accepted,
        closed,
    }
}

async fn round_trip(addr: SocketAddr, message: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(message).await?;
    let mut reply = vec![0u8; message.len()];
    stream.read_exact(&mut reply).await?;
    Ok(reply)
}

#[test]
fn a_hundred_echo_round_trips_from_duet_tasks_under_a_limiter_and_a_timeout() {
    let _watchdog = watchdog("100 tokio round trips", Duration::from_secs(120));
    let Server { rt, addr, .. } = echo_server();
    let _tokio = rt.handle().enter();
    let limiter = duet::Limiter::new(16);
    let (open, most_open) = (Cell::new(0), Cell::new(0));
    let started = Instant::now();

    let replies = duet::run(duet::timeout(
        GENEROUS,
        duet::scope(async |s| {
            let handles: Vec<_> = (0..100)
                .map(|i| {
                    let (limiter, open, most_open) = (&limiter, &open, &most_open);
                    s.spawn(async move {
                        let _slot = limiter.acquire().await;
                        open.set(open.get() + 1);
                        most_open.set(most_open.get().max(open.get()));
                        let message = format!("message {i:03}");
                        let reply = round_trip(addr, message.as_bytes()).await;
                        open.set(open.get() - 1);
                        Ok((message, reply?))
                    })
                })
                .collect();
            let mut replies = Vec::new();
            for h in handles {
                replies.push(h.await.expect("no task is cancelled"));
            }
            Ok::<_, std::io::Error>(replies)
        }),
    ));

    let replies = replies.expect("within the timeout").expect("no I/O error");
    assert_eq!(replies.len(), 100);
    for (message, reply) in &replies {
        assert_eq!(reply, message.as_bytes());
    }
    assert!(
        most_open.get() <= 16,
        "{} connections at once",
        most_open.get()
    );
    assert!(started.elapsed() < GENEROUS);
}

#[test]
fn a_duet_timeout_drops_a_pending_tokio_read_and_the_connection_closes() {
    let _watchdog = watchdog("timeout around tokio I/O", Duration::from_secs(120));
    let Server {
        rt,
        addr,
        mut closed,
        ..
    } = echo_server();
    let _tokio = rt.handle().enter();
    let started = Instant::now();
    let r = duet::run(duet::timeout(
        Duration::from_millis(50),
        round_trip(addr, b"ignore me"),
    ));
    assert!(r.is_err(), "the server never answers");
    assert!(started.elapsed() >= Duration::from_millis(50));
    // Dropping the read dropped the socket: the server sees the connection close.
    let seen = rt.block_on(tokio::time::timeout(GENEROUS, closed.recv()));
    assert_eq!(seen, Ok(Some(())));
}

#[test]
fn cancelling_a_scope_closes_the_tokio_connections_of_its_tasks() {
    let _watchdog = watchdog("cancelling tokio I/O", Duration::from_secs(120));
    let Server {
        rt,
        addr,
        mut accepted,
        mut closed,
    } = echo_server();
    let _tokio = rt.handle().enter();
    let r = duet::run(duet::scope(async |s| {
        for _ in 0..5 {
            s.spawn(async move {
                round_trip(addr, b"ignore this").await?;
                Ok(())
            });
        }
        // Cancel from another thread once the server has accepted every connection.
        let handle = s.cancel_handle();
        std::thread::spawn(move || {
            for _ in 0..5 {
                accepted.blocking_recv().expect("the server runs");
            }
            handle.cancel();
        });
        Ok::<_, std::io::Error>(())
    }));
    assert!(r.unwrap_err().is_cancelled());
    rt.block_on(async {
        for _ in 0..5 {
            let seen = tokio::time::timeout(GENEROUS, closed.recv()).await;
            assert_eq!(seen, Ok(Some(())));
        }
    });
}

#[test]
fn a_tokio_join_handle_and_tokio_timers_can_be_awaited_by_duet_tasks() {
    let _watchdog = watchdog("tokio handles in duet", Duration::from_secs(120));
    let Server { rt, .. } = echo_server();
    let _tokio = rt.handle().enter();
    let started = Instant::now();
    let (sum, ()) = duet::run(async {
        futures::join!(
            async {
                tokio::spawn(async { (1..=10u64).sum::<u64>() })
                    .await
                    .unwrap()
            },
            tokio::time::sleep(Duration::from_millis(20)),
        )
    });
    assert_eq!(sum, 55);
    assert!(started.elapsed() >= Duration::from_millis(20));
}
