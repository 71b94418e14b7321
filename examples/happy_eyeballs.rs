//! Happy eyeballs (RFC 8305 style): connect to whichever of several addresses answers
//! first, starting the attempts one after another, and cancel the losers.
//!
//! Three loopback endpoints: one refuses connections, one accepts but answers only after
//! 800 ms, one answers after 30 ms. The attempts run under `duet::first_ok`: each starts
//! when the previous one has failed or has had a head start of 250 ms, the first to
//! greet us wins, and the losers are cancelled (their sockets closed) *before*
//! `first_ok` returns; a live-attempt counter shows it. If every attempt fails,
//! `first_ok` returns every error.
//!
//! The sockets are tokio's, driven by a multi-thread runtime whose handle is entered
//! around `duet::run` (see `examples/tokio_interop.rs`).
//!
//! Run it with `cargo run --example happy_eyeballs`.

use std::cell::Cell;
use std::error::Error;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long an attempt has to itself before the next one starts (RFC 8305 suggests 250 ms).
const HEAD_START: Duration = Duration::from_millis(250);

/// A server that greets every connection after `delay`.
async fn greeter(listener: TcpListener, name: &'static str, delay: Duration) {
    while let Ok((mut socket, _)) = listener.accept().await {
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = socket
                .write_all(format!("hello from {name}\n").as_bytes())
                .await;
        });
    }
}

/// Connects and reads the server's greeting.
async fn connect_and_greet(addr: SocketAddr) -> Result<String, String> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut greeting = vec![0u8; 64];
    let n = stream
        .read(&mut greeting)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    Ok(String::from_utf8_lossy(&greeting[..n]).trim().to_string())
}

/// Counts the attempts in flight: +1 when one starts, -1 when it ends or is dropped.
struct InFlight<'a>(&'a Cell<usize>);

impl<'a> InFlight<'a> {
    fn enter(count: &'a Cell<usize>) -> Self {
        count.set(count.get() + 1);
        InFlight(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// One attempt: waits for its turn, then connects. Its turn comes when the previous
/// attempt fails (dropping `start`'s sender) or has had its head start; after its own
/// head start it lets the next one go.
async fn attempt(
    addr: SocketAddr,
    start: oneshot::Receiver<()>,
    next: oneshot::Sender<()>,
    began: Instant,
    in_flight: &Cell<usize>,
) -> Result<String, String> {
    let _ = start.await; // Ok: the previous one had its head start; Err: it ended
    let _counted = InFlight::enter(in_flight);
    println!("{:>5} ms  trying {addr}", began.elapsed().as_millis());
    let mut connect = pin!(connect_and_greet(addr));
    let result = match duet::timeout(HEAD_START, connect.as_mut()).await {
        Ok(result) => result,
        Err(_) => {
            let _ = next.send(()); // still waiting: let the next attempt start too
            connect.await
        }
    };
    // On failure, `next` (if still unsent) is dropped on return: the next one starts now.
    match &result {
        Ok(greeting) => println!(
            "{:>5} ms  {addr} answered: {greeting}",
            began.elapsed().as_millis()
        ),
        Err(error) => println!("{:>5} ms  failed: {error}", began.elapsed().as_millis()),
    }
    result
}

/// Races attempts against `addrs` in order, staggered; returns the winner's greeting.
async fn happy_eyeballs(
    addrs: &[SocketAddr],
    in_flight: &Cell<usize>,
) -> Result<String, Vec<String>> {
    let began = Instant::now();
    // A chain of start signals: attempt i+1 waits on the sender attempt i holds.
    let (first_go, mut start) = oneshot::channel();
    let _ = first_go.send(());
    let mut attempts = Vec::new();
    for &addr in addrs {
        let (next, next_start) = oneshot::channel();
        attempts.push(attempt(addr, start, next, began, in_flight));
        start = next_start;
    }
    duet::first_ok(attempts).await
}

fn main() -> Result<(), Box<dyn Error>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let (slow, fast) = rt.block_on(async {
        let slow = TcpListener::bind("127.0.0.1:0").await?;
        let fast = TcpListener::bind("127.0.0.1:0").await?;
        Ok::<_, std::io::Error>((slow, fast))
    })?;
    let (slow_addr, fast_addr) = (slow.local_addr()?, fast.local_addr()?);
    rt.spawn(greeter(slow, "the slow server", Duration::from_millis(800)));
    rt.spawn(greeter(fast, "the fast server", Duration::from_millis(30)));
    // A port nobody listens on: connecting is refused at once.
    let refused = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;

    let _tokio = rt.enter();
    let in_flight = Cell::new(0);
    let winner = duet::run(happy_eyeballs(&[refused, slow_addr, fast_addr], &in_flight));
    println!(
        "winner: {winner:?}; attempts still running: {}",
        in_flight.get()
    );
    assert_eq!(winner.as_deref(), Ok("hello from the fast server"));
    assert_eq!(
        in_flight.get(),
        0,
        "first_ok returned with a loser still running"
    );

    let all_fail = duet::run(happy_eyeballs(&[refused, refused], &in_flight));
    println!("when every attempt fails: {all_fail:?}");
    assert_eq!(all_fail.map_err(|errors| errors.len()), Err(2));
    Ok(())
}
