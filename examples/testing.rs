//! Testing with simulation: an ordering bug that a plain run never shows, found by
//! `duet::sim` and replayed from its seed.
//!
//! The program is a read-through price cache in front of a slow database. A price feed
//! updates prices: it writes the database, then invalidates the item's cache entry. Two
//! quote servers answer requests through the cache: a hit is served from memory, a miss
//! reads the database and fills the entry. The contract the test checks: once an update
//! has returned, no quote requested after it shows an older price.
//!
//! **The bug** is the classic stale fill of a cache-aside design. A miss reads the row,
//! and while the answer is on its way back (an await), the feed writes a new price and
//! invalidates the entry, which is not there yet; then the fill lands and stores the old
//! price, and every later hit serves it. **The fix**: the cache counts invalidations per
//! item, and a fill stores its row only if no invalidation of that item happened since
//! the fill started (memcache's leases do the same job).
//!
//! **Why a plain `duet::run` never shows it.** Every await here is one network round
//! trip (a `yield_now`), and the plain loop polls the tasks of a scope in the order they
//! were queued, so the tasks go round in a fixed order, one step each per round. A
//! fill's read and its store are one round apart, and so are an update's write and its
//! invalidation. Two windows of one round each, visited in a fixed order, can overlap
//! but never nest, and the stale fill needs exactly that nesting: the read before the
//! write, the store after the invalidation. With real latencies the reply to a read can
//! be slow; under `duet::sim` each round runs in a seeded order and may leave some tasks
//! for a later round, which is what a slow reply looks like to the program, and the
//! windows nest within the first dozen schedules or so (of the default 256).
//!
//! The example checks every claim it prints, and panics if one stops holding:
//!
//! 1. a plain `duet::run` of the buggy service passes;
//! 2. exploring schedules with `duet::sim` finds the bug, and the report gives the seed,
//!    the step and the task tree;
//! 3. replaying that seed fails again, at the same step with the same message;
//! 4. the fixed service passes the same exploration.
//!
//! `tests/sim_example.rs` checks the same in `cargo test`. In a test suite of your own,
//! step 2 is one line, `duet::sim::check(|| price_service(Fill::Blind))`: it panics with
//! the report, and `DUET_SEED=<the seed> cargo test <the test>` replays the failure.
//!
//! Run it with `cargo run --example testing`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use duet::sim::Explorer;

/// How many schedules the example explores: the default of `duet::sim::check`.
pub const RUNS: u32 = duet::sim::DEFAULT_RUNS;

/// A price and the version the database gave it; every write makes a new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub price: u32,
    pub version: u64,
}

/// Stands for one network trip to or from the database.
async fn network() {
    duet::yield_now().await;
}

/// The database, behind a network: a request travels there, is served, and its answer
/// travels back.
struct Db {
    rows: RefCell<HashMap<&'static str, Row>>,
    versions: Cell<u64>,
}

impl Db {
    fn new(prices: &[(&'static str, u32)]) -> Self {
        let rows = prices
            .iter()
            .map(|&(item, price)| (item, Row { price, version: 0 }))
            .collect();
        Db {
            rows: RefCell::new(rows),
            versions: Cell::new(0),
        }
    }

    async fn get(&self, item: &str) -> Row {
        network().await;
        let row = self.rows.borrow()[item];
        network().await;
        row
    }

    /// Writes a new price and returns its version.
    async fn set(&self, item: &'static str, price: u32) -> u64 {
        network().await;
        let version = self.versions.get() + 1;
        self.versions.set(version);
        self.rows.borrow_mut().insert(item, Row { price, version });
        network().await;
        version
    }
}

/// How the cache stores what a miss read from the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// Stores it unconditionally: the planted bug.
    Blind,
    /// Stores it only if the item was not invalidated while the read was in flight: the
    /// fix.
    Checked,
}

/// A read-through cache in front of `Db`; `update` writes through and invalidates.
struct Cache<'db> {
    db: &'db Db,
    fill: Fill,
    entries: RefCell<HashMap<&'static str, Row>>,
    invalidations: RefCell<HashMap<&'static str, u64>>,
}

impl<'db> Cache<'db> {
    fn new(db: &'db Db, fill: Fill) -> Self {
        Cache {
            db,
            fill,
            entries: RefCell::new(HashMap::new()),
            invalidations: RefCell::new(HashMap::new()),
        }
    }

    fn invalidations(&self, item: &str) -> u64 {
        self.invalidations.borrow().get(item).copied().unwrap_or(0)
    }

    async fn get(&self, item: &'static str) -> Row {
        if let Some(&row) = self.entries.borrow().get(item) {
            return row;
        }
        let before = self.invalidations(item);
        let row = self.db.get(item).await; // an await: the feed may run meanwhile
        let invalidated_meanwhile = self.invalidations(item) != before;
        if self.fill == Fill::Blind || !invalidated_meanwhile {
            self.entries.borrow_mut().insert(item, row);
        }
        row
    }

    /// Writes the new price to the database, then drops the cached one; returns the
    /// new version once both are done.
    async fn update(&self, item: &'static str, price: u32) -> u64 {
        let version = self.db.set(item, price).await;
        self.entries.borrow_mut().remove(item);
        *self.invalidations.borrow_mut().entry(item).or_default() += 1;
        version
    }
}

/// The price changes the feed applies, in order.
const FEED: [(&str, u32); 3] = [("pear", 13), ("apple", 31), ("pear", 14)];

/// What each quote server is asked for, in order.
const REQUESTS: [(&str, [&str; 6]); 2] = [
    (
        "quotes A",
        ["pear", "apple", "pear", "plum", "pear", "apple"],
    ),
    (
        "quotes B",
        ["apple", "pear", "plum", "apple", "pear", "pear"],
    ),
];

/// The test: the feed and the quote servers run concurrently on one cache, and every
/// quote is checked against the updates that had returned before it was requested.
///
/// # Panics
///
/// In a quote server, if a quote shows a price older than an update that had already
/// returned when the quote was requested.
pub async fn price_service(fill: Fill) {
    let db = Db::new(&[("apple", 30), ("pear", 12), ("plum", 50)]);
    let cache = Cache::new(&db, fill);
    // The newest version of each item whose update has returned.
    let acknowledged = RefCell::new(HashMap::<&str, u64>::new());
    duet::scope(async |s| {
        let (cache, acknowledged) = (&cache, &acknowledged);
        s.spawn_named("price feed", async move {
            for (item, price) in FEED {
                let version = cache.update(item, price).await;
                acknowledged.borrow_mut().insert(item, version);
            }
        });
        for (server, items) in REQUESTS {
            s.spawn_named(server, async move {
                for item in items {
                    let floor = acknowledged.borrow().get(item).copied().unwrap_or(0);
                    let quote = cache.get(item).await;
                    assert!(
                        quote.version >= floor,
                        "{server} quoted {item} at {} (version {}), but the update to \
                         version {floor} had returned before the request: a stale cache entry",
                        quote.price,
                        quote.version,
                    );
                }
            });
        }
    })
    .await
    .unwrap();
}

/// Runs `f` with the panic hook silenced: each failing run panics (that is how the test
/// fails), and the report printed afterwards says everything the hook would.
fn quietly<T>(f: impl FnOnce() -> T) -> T {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let out = f();
    std::panic::set_hook(hook);
    out
}

fn main() {
    println!("1. A plain duet::run of the buggy cache:");
    duet::run(price_service(Fill::Blind));
    println!("   passes: the tasks take turns in a fixed order, which never nests the windows\n");

    println!("2. duet::sim explores {RUNS} schedules of the buggy cache:");
    let failure = quietly(|| {
        Explorer::new()
            .runs(RUNS)
            .explore(|| price_service(Fill::Blind))
    })
    .expect_err(
        "the exploration no longer finds the stale fill (see the top of examples/testing.rs)",
    );
    println!("   it fails, and the report says where and how to replay it:\n");
    for line in failure.to_string().lines() {
        println!("   | {line}");
    }
    println!();

    println!("3. Replaying seed {:#x}:", failure.seed());
    let replay = quietly(|| {
        Explorer::new()
            .replay(failure.seed())
            .explore(|| price_service(Fill::Blind))
    })
    .expect_err("replaying the failing seed passed: the schedule was not reproduced");
    assert_eq!(
        (replay.step(), replay.message()),
        (failure.step(), failure.message()),
        "the replay failed differently"
    );
    println!(
        "   fails again at step {}, with the same message\n",
        replay.step()
    );

    println!("4. The fixed cache under the same {RUNS} schedules:");
    let report = Explorer::new()
        .runs(RUNS)
        .explore(|| price_service(Fill::Checked))
        .unwrap_or_else(|failure| panic!("the fixed cache failed:\n{failure}"));
    println!(
        "   passes: {} runs, {} distinct schedules, {} steps in all",
        report.runs(),
        report.schedules(),
        report.steps()
    );
}
