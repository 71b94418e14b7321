//! duet and smol. smol's I/O and timers (async-io) are driven by their own reactor
//! thread, so duet tasks can await them under `duet::run` with no setup; and a duet
//! scope, being `!Send`, runs as a task of smol's `LocalExecutor` (see also
//! `tests/interop_executors.rs`). Loopback only.

mod common;

use std::convert::Infallible;
use std::time::{Duration, Instant};

use common::watchdog;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::{TcpListener, TcpStream};

const GENEROUS: Duration = Duration::from_secs(30);

#[test]
fn duet_tasks_await_smol_tcp_echoes_under_a_limiter() {
    let _watchdog = watchdog("smol round trips", Duration::from_secs(120));
    // The server runs on its own thread, on smol's executor.
    let listener = smol::block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        smol::block_on(async {
            let executor = smol::Executor::new();
            executor
                .run(async {
                    loop {
                        let (mut socket, _) = listener.accept().await.unwrap();
                        executor
                            .spawn(async move {
                                let mut buf = [0u8; 64];
                                while let Ok(n @ 1..) = socket.read(&mut buf).await {
                                    if socket.write_all(&buf[..n]).await.is_err() {
                                        return;
                                    }
                                }
                            })
                            .detach();
                    }
                })
                .await
        })
    });

    let limiter = duet::Limiter::new(8);
    let replies = duet::run(duet::timeout(
        GENEROUS,
        duet::pmap_async(0..50, None, async |i: u32| {
            let _slot = limiter.acquire().await;
            let mut stream = TcpStream::connect(addr).await?;
            let message = format!("hello {i:02}");
            stream.write_all(message.as_bytes()).await?;
            let mut reply = vec![0u8; message.len()];
            stream.read_exact(&mut reply).await?;
            Ok::<_, std::io::Error>((message, reply))
        }),
    ))
    .expect("within the timeout");
    assert_eq!(replies.len(), 50);
    for reply in replies {
        let (message, reply) = reply.unwrap();
        assert_eq!(reply, message.as_bytes());
    }
}

#[test]
fn smol_timers_and_duet_timers_mix_in_one_scope() {
    // Deadlines far apart, so that the order holds on a loaded machine too.
    let started = Instant::now();
    let order = std::cell::RefCell::new(Vec::new());
    duet::run_scope(async |s| {
        let order = &order;
        s.spawn(async move {
            smol::Timer::after(Duration::from_millis(100)).await;
            order.borrow_mut().push("smol 100 ms");
        });
        s.spawn(async move {
            duet::sleep(Duration::from_millis(10)).await;
            order.borrow_mut().push("duet 10 ms");
        });
        // A duet timeout cuts a smol timer: the timer is dropped.
        let cut = duet::timeout(
            Duration::from_millis(250),
            smol::Timer::after(Duration::from_secs(3600)),
        )
        .await;
        assert!(cut.is_err());
        order.borrow_mut().push("duet timeout 250 ms");
        Ok::<_, Infallible>(())
    })
    .unwrap();
    assert_eq!(
        *order.borrow(),
        ["duet 10 ms", "smol 100 ms", "duet timeout 250 ms"]
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < GENEROUS,
        "{elapsed:?}"
    );
}
