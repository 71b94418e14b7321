//! duet and tokio, both ways round.
//!
//! 1. duet awaiting tokio I/O. A tokio multi-thread runtime runs a TCP echo server on
//!    127.0.0.1 (its worker threads also drive tokio's I/O reactor). The main thread runs
//!    `duet::run` with the runtime's handle entered (`Handle::enter()`), so duet tasks can
//!    create and await tokio sockets: readiness is reported by a tokio worker thread,
//!    which wakes the duet loop through an ordinary waker. A `duet::timeout` that expires
//!    drops the tokio socket it was waiting on, which closes the connection.
//! 2. A duet scope awaited inside a tokio current-thread runtime: `rt.block_on(..)` polls
//!    the scope like any future. Its tasks need not be `Send`, and duet's timers still
//!    work (outside `duet::run` they are served by duet's timer thread), next to tokio's.
//!
//! Run it with `cargo run --example tokio_interop`.

use std::error::Error;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An echo server: sends every line back, except lines starting with "ignore".
async fn echo_server(listener: TcpListener) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            loop {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return, // the client closed the connection
                    Ok(n) if buf[..n].starts_with(b"ignore") => continue,
                    Ok(n) => {
                        if socket.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
}

/// One round trip: connect, send `message`, read the same number of bytes back.
async fn echo(addr: SocketAddr, message: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(message.as_bytes()).await?;
    let mut reply = vec![0u8; message.len()];
    stream.read_exact(&mut reply).await?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

fn duet_awaits_tokio_io() -> Result<(), Box<dyn Error>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .build()?;
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    rt.spawn(echo_server(listener));
    println!("  echo server on {addr}, run by tokio's worker threads");

    // While the guard lives, tokio resources created on this thread use `rt`'s reactor.
    let _tokio = rt.handle().enter();
    let names = ["ada", "grace", "barbara", "frances", "edsger"];
    let limiter = duet::Limiter::new(3); // at most 3 connections open at once
    let replies = duet::run_scope(async |s| {
        let handles: Vec<_> = names
            .iter()
            .map(|name| {
                let limiter = &limiter;
                s.spawn(async move {
                    let _slot = limiter.acquire().await;
                    let reply = duet::timeout(Duration::from_secs(5), echo(addr, name)).await;
                    Ok(reply??)
                })
            })
            .collect();
        let mut replies = Vec::new();
        for h in handles {
            replies.push(h.await?);
        }
        Ok::<_, Box<dyn Error>>(replies)
    })
    .map_err(|e| e.to_string())?;
    println!(
        "  {} duet tasks on thread {:?} got their echoes: {replies:?}",
        names.len(),
        std::thread::current().name().unwrap_or("?")
    );

    // A timeout around tokio I/O: the server never answers "ignore me", so the timeout
    // fires and drops the read, and with it the socket.
    let started = Instant::now();
    let r = duet::run(duet::timeout(
        Duration::from_millis(100),
        echo(addr, "ignore me"),
    ));
    println!(
        "  a request the server ignores: {} after {} ms",
        match r {
            Err(elapsed) => format!("Err({elapsed})"),
            Ok(reply) => format!("unexpected {reply:?}"),
        },
        started.elapsed().as_millis()
    );

    // Work handed to tokio's threads, awaited from duet: a tokio JoinHandle is a future.
    let sum = duet::run(async { rt.spawn(async { (1..=100u64).sum::<u64>() }).await })?;
    println!("  a job spawned on tokio's runtime, awaited by duet: {sum}");
    Ok(())
}

fn duet_inside_tokio() -> Result<(), Box<dyn Error>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let started = Instant::now();
    let shared = Rc::new(std::cell::RefCell::new(Vec::new())); // `!Send`: fine in a scope
    let outcome = rt.block_on(duet::scope(async |s| {
        let log = shared.clone();
        s.spawn(async move {
            duet::sleep(Duration::from_millis(30)).await; // duet's timer
            log.borrow_mut().push("duet::sleep(30 ms)");
        });
        let log = shared.clone();
        s.spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await; // tokio's timer
            log.borrow_mut().push("tokio::time::sleep(10 ms)");
        });
        // A deadline scope nested inside, cut by duet's timer.
        let inner = duet::timeout_scope(Duration::from_millis(50), async |s| {
            s.spawn(duet::sleep(Duration::from_secs(60)));
        })
        .await;
        shared
            .borrow_mut()
            .push(if inner.is_err_and(|e| e.is_timeout()) {
                "timeout_scope(50 ms) timed out"
            } else {
                "timeout_scope(50 ms) did not time out?"
            });
    }));
    println!(
        "  scope returned {outcome:?} after {} ms; in order: {:?}",
        started.elapsed().as_millis(),
        shared.borrow()
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    println!("1. duet tasks awaiting tokio TCP I/O (tokio multi-thread runtime, handle entered):");
    duet_awaits_tokio_io()?;
    println!("2. a duet scope awaited inside a tokio current-thread runtime:");
    duet_inside_tokio()?;
    Ok(())
}
