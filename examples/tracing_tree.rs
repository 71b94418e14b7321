//! duet's scope tree in a `tracing` log (feature `tracing`).
//!
//! A request fans out to three backends; one of them, `orders`, fans out again to two
//! shards in a nested scope; `billing` fails, which cancels everything else. Every line
//! the tasks log carries its place in the tree (`scope{..}:task{..}:scope{..}:task{..}`),
//! the destructors of the cancelled tasks log inside their own tasks' spans, and each
//! span's closing line says how it ended (`outcome`, `reason`).
//!
//! Run it with `cargo run --features tracing --example tracing_tree`.

use std::time::Duration;

use tracing_subscriber::fmt::format::FmtSpan;

/// Logs when it is dropped: on a cancelled task, inside that task's span.
struct Connection(&'static str);

impl Drop for Connection {
    fn drop(&mut self) {
        tracing::info!(backend = self.0, "connection closed");
    }
}

async fn query(backend: &'static str, millis: u64, fails: bool) -> Result<usize, String> {
    let _connection = Connection(backend);
    tracing::info!(backend, "query sent");
    duet::sleep(Duration::from_millis(millis)).await;
    if fails {
        return Err(format!("{backend} refused the query"));
    }
    tracing::info!(backend, "answer received");
    Ok(backend.len())
}

fn main() {
    tracing_subscriber::fmt()
        .with_span_events(FmtSpan::CLOSE) // a line when each span closes, with its fields
        .with_target(false)
        .without_time()
        .init();

    let config = duet::Config::new().virtual_clock(); // the sleeps take no real time
    let result = duet::run_with(
        config,
        duet::scope(async |s| {
            s.spawn_named("users", query("users", 10, false));
            s.spawn_named("orders", async {
                // A nested scope: its span sits under this task's span.
                duet::scope(async |shards| {
                    shards.spawn(query("orders-shard-1", 50, false));
                    shards.spawn(query("orders-shard-2", 60, false));
                    Ok::<_, String>(())
                })
                .await
                .map_err(|error| error.to_string())
            });
            s.spawn_named("billing", query("billing", 20, true)); // fails at 20 ms
            Ok(())
        }),
    );
    println!("\nthe scope returned: {result:?}");
}
