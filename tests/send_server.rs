//! The Send-scope server of `examples/send_server.rs` under a bounded load: 20,000 page
//! requests from 64 concurrent clients (each page three backend calls on loopback, a
//! deadline, fail-fast, a shielded audit), then clients that hang up early. Checks that
//! no request leaves a child running after its response, that every audit was written,
//! that a client going away cancels its handler's children, and that memory comes back
//! to its plateau.

#[path = "../examples/send_server.rs"]
mod server;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use server::{AUDITS, CANCELLED_CHILDREN, LIVE_CHILDREN};

const CLIENTS: usize = 64;

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Waits (up to 20 s) until `f` holds.
async fn eventually(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[derive(Default, Debug)]
struct Statuses {
    ok: usize,
    failed: usize,
    timed_out: usize,
}

/// `requests` page requests, `CLIENTS` at a time, users numbered from `first`.
async fn load(addr: std::net::SocketAddr, first: u64, requests: u64) -> Statuses {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .unwrap();
    let per_client = requests / CLIENTS as u64;
    let mut workers = Vec::new();
    for c in 0..CLIENTS as u64 {
        let client = client.clone();
        workers.push(tokio::spawn(async move {
            let mut statuses = Statuses::default();
            for i in 0..per_client {
                let user = first + c * per_client + i;
                let response = client
                    .get(format!("http://{addr}/page/{user}"))
                    .send()
                    .await
                    .expect("the server answers every request");
                match response.status().as_u16() {
                    200 => statuses.ok += 1,
                    502 => statuses.failed += 1,
                    504 => statuses.timed_out += 1,
                    other => panic!("unexpected status {other}"),
                }
                response.bytes().await.expect("the body arrives");
            }
            statuses
        }));
    }
    let mut total = Statuses::default();
    for worker in workers {
        let s = worker.await.expect("a client did not panic");
        total.ok += s.ok;
        total.failed += s.failed;
        total.timed_out += s.timed_out;
    }
    total
}

#[test]
fn a_send_scope_server_under_load_leaves_no_child_running_and_no_leak() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let addr = server::start(Duration::from_millis(300)).await;

        // Three rounds: 20,000 requests in all; memory after each.
        let rounds = [6_400u64, 6_400, 7_232];
        let mut resident = Vec::new();
        let mut first = 0;
        let mut served = 0;
        for requests in rounds {
            let statuses = load(addr, first, requests).await;
            first += requests;
            served += requests as usize;
            // Every response was sent after its scope finished: no child outlives it.
            assert_eq!(LIVE_CHILDREN.load(Ordering::SeqCst), 0, "{statuses:?}");
            assert!(
                statuses.ok > 0 && statuses.failed > 0 && statuses.timed_out > 0,
                "{statuses:?}"
            );
            assert_eq!(
                statuses.ok + statuses.failed + statuses.timed_out,
                requests as usize
            );
            resident.push(resident_bytes());
        }
        assert_eq!(served, 20_032);
        // The shielded audit finished for every page, failed and timed out ones too.
        assert_eq!(AUDITS.load(Ordering::SeqCst), served);
        // Fail-fast and deadlines cancelled children.
        assert!(CANCELLED_CHILDREN.load(Ordering::SeqCst) > 0);
        // Memory: the last round adds no more than a small margin over the first.
        let (first_round, last_round) = (resident[0], resident[2]);
        assert!(
            last_round <= first_round + first_round / 5 + (8 << 20),
            "resident memory grew from {first_round} to {last_round} bytes ({resident:?})"
        );

        // Clients that hang up: each handler's child waits on a backend that never
        // answers; only the client's going away can end it.
        let cancelled_before = CANCELLED_CHILDREN.load(Ordering::SeqCst);
        let impatient = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(100))
            .build()
            .unwrap();
        let mut hangers = Vec::new();
        for user in 0..32 {
            let impatient = impatient.clone();
            hangers.push(tokio::spawn(async move {
                impatient
                    .get(format!("http://{addr}/hang/{user}"))
                    .send()
                    .await
            }));
        }
        for hanger in hangers {
            let result = hanger.await.unwrap();
            assert!(result.expect_err("nothing answers /hang").is_timeout());
        }
        eventually("the hung handlers' children to be cancelled", || {
            LIVE_CHILDREN.load(Ordering::SeqCst) == 0
        })
        .await;
        assert_eq!(
            CANCELLED_CHILDREN.load(Ordering::SeqCst) - cancelled_before,
            32
        );
    });
}
