//! Structured concurrency for Rust: nurseries, cancellation and a re-entrant loop.
//!
//! `duet` runs async code on the current thread. [`run`] blocks the thread and drives a
//! future; [`scope()`] opens a *nursery* in which tasks are spawned. A scope owns its
//! tasks: it waits for all of them, cancels the rest when one fails, and reports every
//! error. Work that completes on other threads (thread pools, rayon, tokio, any
//! `Future`) wakes the loop through ordinary wakers, and the loop fires its own timers.
//!
//! The sections below are a tutorial, each step building on the last: [run](#run) →
//! [scopes](#scopes) → [spawning tasks](#spawning-tasks) → [errors and
//! cancellation](#errors-and-cancellation) → [results as they
//! finish](#results-as-they-finish-races-and-partial-results) → [timeouts](#timeouts-and-deadlines) →
//! [limits](#limits) → [parallel map](#parallel-map) → [interop](#interop) →
//! [task-local context](#task-local-context) → [testing with
//! simulation](#testing-with-simulation), and [tracing](#tracing) (a feature). Every
//! example is a doctest. The `examples/` directory has runnable programs (`cargo run
//! --example quickstart`), and `design/` explains how the crate works and what it
//! deliberately leaves out.
//!
//! # Run
//!
//! [`run`] drives a future to completion on this thread and returns its output. While
//! nothing is ready, the thread parks; it never spins.
//!
//! ```
//! assert_eq!(duet::run(async { 40 + 2 }), 42);
//! ```
//!
//! `run` is re-entrant: a task may call a synchronous function that itself calls `run`.
//! The nested call is a new root with its own, isolated cancellation tree; it returns its
//! value to the task that called it. This is what lets a synchronous code base move to
//! async one function at a time (`examples/reentrancy.rs`).
//!
//! ```
//! fn legacy_sync_api() -> u32 {
//!     duet::run(async { 1 }) // a loop of its own, even when called from a task
//! }
//! assert_eq!(duet::run(async { legacy_sync_api() + 1 }), 2);
//! ```
//!
//! # Scopes
//!
//! [`scope()`] opens a nursery inside async code and [`run_scope`] opens one at the root
//! (`run(scope(body))`). The body receives the scope's [`Scope`] handle and returns
//! `Result<T, E>`; the scope returns `Result<T, ScopeError<E>>` once the body *and every
//! task spawned into it* have finished. `E`, the scope's error type, is inferred from the
//! `Result`s the tasks and the body return. A scope that cannot fail has a body that
//! returns `()`, or its value wrapped in [`infallible`]. Scopes nest, and no task
//! outlives the scope that spawned it.
//!
//! ```
//! let answer = duet::run(async {
//!     let inner = duet::scope(duet::infallible(async |_s| 21)).await.unwrap();
//!     inner * 2
//! });
//! assert_eq!(answer, 42);
//!
//! let doubled = duet::run_scope(async |s| {
//!     let n = s.spawn(async { "21".parse::<u32>() }); // E = ParseIntError, from this task
//!     Ok(n.await.expect("not cancelled") * 2)
//! });
//! assert_eq!(doubled.unwrap(), 42);
//! ```
//!
//! Tasks may borrow anything that outlives the scope, and need not be `Send`; but not
//! locals of the body, which may be gone before the tasks finish (see
//! [`Scope`'s lifetimes](Scope#lifetimes)).
//!
//! # Spawning tasks
//!
//! [`Scope::spawn`] starts a task and returns a [`JoinHandle`]: await it for the task's
//! value, or [`cancel`](JoinHandle::cancel) that one task. Spawning never runs the task
//! at once: the caller continues to its next await. Dropping a handle does not detach or
//! cancel anything; the scope still owns and waits for the task.
//!
//! ```
//! # use std::rc::Rc;
//! let names = vec!["ada", "grace"];
//! let shared = Rc::new(10); // `!Send` is fine: everything runs on this thread
//! let total = duet::run_scope(duet::infallible(async |s| {
//!     let lens: Vec<_> = names.iter().map(|n| s.spawn(async move { Ok(n.len()) })).collect();
//!     let extra = shared.clone();
//!     let bonus = s.spawn(async move { Ok(*extra) });
//!     let forever = s.spawn(futures::future::pending::<()>());
//!     forever.cancel(); // that task alone; its handle reports the cancellation
//!     assert!(forever.await.unwrap_err().is_cancelled());
//!
//!     let mut total = bonus.await.unwrap();
//!     for len in lens {
//!         total += len.await.unwrap();
//!     }
//!     total
//! }));
//! assert_eq!(total.unwrap(), 18);
//! ```
//!
//! The body owns its handle, and `s.spawn(..)` borrows it, so a task cannot take `s`
//! itself (the compiler says "cannot move out of `s` because it is borrowed", E0505); a
//! task that spawns siblings takes a [clone](Scope#lifetimes) of the handle,
//! `let s2 = s.clone();`, and moves that in.
//!
//! # Errors and cancellation
//!
//! The first error, from a task or the body, cancels every other task of the scope (each
//! is dropped at its current await point, so its destructors run) and the scope returns
//! it in [`ScopeError::Failed`], together with any other errors that surfaced. A
//! collect-all scope ([`ScopeOptions::collect_all`], a supervisor) lets every task finish
//! and returns all the errors. A panic cancels the siblings and is re-raised by the
//! scope, as in [`std::thread::scope`].
//!
//! ```
//! let r = duet::run_scope(async |s| {
//!     s.spawn(futures::future::pending::<Result<(), &str>>()); // cancelled by the failure
//!     s.spawn(async { Err::<(), _>("no route to host") });
//!     Ok(())
//! });
//! let error = r.unwrap_err();
//! assert!(error.is_failed());
//! assert_eq!(error.into_errors(), ["no route to host"]);
//!
//! let all = duet::run(duet::scope_with(duet::ScopeOptions::new().collect_all(), async |s| {
//!     s.spawn(async { Err::<(), _>("first") });
//!     s.spawn(async { Err::<(), _>("second") });
//!     Ok(())
//! }));
//! assert_eq!(all.unwrap_err().errors().count(), 2);
//! ```
//!
//! A [`ScopeError`] is a [`std::error::Error`] whenever its errors can be displayed, so
//! `?` takes it into `anyhow::Result` or `Result<_, Box<dyn Error + Send + Sync>>`; a
//! downcast to `ScopeError<E>` gets the typed errors back (see the examples on its
//! `Error` impl).
//!
//! [`Scope::cancel`] (or a [`CancelHandle`], which works from any thread) cancels a
//! whole scope, its nested scopes first. The result is [`ScopeError::Cancelled`] with a
//! [`CancelReason`], which callers can tell apart from a failure:
//!
//! ```
//! let r = duet::run_scope(async |s| {
//!     let handle = s.cancel_handle(); // Send + Sync
//!     std::thread::spawn(move || handle.cancel());
//!     futures::future::pending::<()>().await; // dropped here
//! });
//! let error = r.unwrap_err();
//! assert!(error.is_cancelled() && !error.is_failed());
//! assert_eq!(error.cancel_reason(), Some(&duet::CancelReason::Explicit));
//! ```
//!
//! Cancellation is drop: Rust has no async drop, so a cancelled task is dropped at its
//! current await point and its destructors run. Beyond that:
//!
//! - every cancellation carries a typed [`CancelReason`] (explicit, which sibling failed
//!   or panicked, deadline, Ctrl-C, an enclosing scope), seen by the scope's result, by
//!   join handles, and by code that observes cancellation;
//! - a task can observe cancellation ([`is_cancelled`], [`cancelled`]`().await`) to stop
//!   a long loop cooperatively;
//! - a *graceful* cancellation ([`Scope::cancel_with_grace`], [`ScopeOptions::grace`])
//!   first lets tasks see it and finish for a while, then drops what is left;
//! - [`shield`] marks a section that cancellation does not interrupt, which is how async
//!   cleanup is written;
//! - [`dump`] shows the live task tree, and a run whose every task waits on the others
//!   panics with "deadlock" and that tree instead of hanging.
//!
//! ```
//! use std::cell::RefCell;
//! use std::time::Duration;
//!
//! let log = RefCell::new(Vec::new());
//! let r = duet::run_with(duet::Config::new().virtual_clock(), duet::scope(async |s| {
//!     let log = &log;
//!     s.spawn(async move {
//!         let reason = duet::cancelled().await; // woken by the soft phase
//!         log.borrow_mut().push(format!("cancelled: {reason}"));
//!         duet::shield(async {
//!             duet::sleep(Duration::from_millis(200)).await; // async cleanup, uninterrupted
//!             log.borrow_mut().push("flushed".to_string());
//!         })
//!         .await;
//!     });
//!     s.cancel_with_grace(Duration::from_millis(100)); // the cleanup outlasts it: shielded
//! }));
//! assert!(r.unwrap_err().is_cancelled());
//! assert_eq!(*log.borrow(), ["cancelled: cancelled explicitly", "flushed"]);
//! ```
//!
//! # Results as they finish, races and partial results
//!
//! A [`TaskSet`] spawns into a scope and yields outcomes in the order the tasks finish
//! (tokio's `JoinSet::join_next`, with the tasks still owned by the scope: dropping the
//! set cancels the rest). [`Scope::cancel_tasks`] stops every task but keeps the body
//! running and the scope's value, where [`Scope::cancel`] would turn it into an error:
//!
//! ```
//! use std::time::Duration;
//!
//! // Search four shards; stop at the first hit and keep it.
//! let hit = duet::run_with(duet::Config::new().virtual_clock(), duet::scope(duet::infallible(async |s| {
//!     let mut set = duet::TaskSet::new(&s);
//!     for shard in [40u64, 10, 30, 20] {
//!         set.spawn(async move {
//!             duet::sleep(Duration::from_millis(shard)).await;
//!             Ok((shard % 20 == 0).then_some(shard)) // shards 40 and 20 hold a hit
//!         });
//!     }
//!     while let Some(found) = set.join_next().await {
//!         if let Ok(Some(shard)) = found {
//!             s.cancel_tasks(); // the shards still searching are dropped
//!             return Some(shard);
//!         }
//!     }
//!     None
//! })));
//! assert_eq!(hit.unwrap(), Some(20));
//! ```
//!
//! [`race`] returns the first future to complete and [`first_ok`] the first to succeed
//! (with every error if all fail); both cancel the losers and wait for their teardown
//! before they return. [`pmap_stream_unordered`] is a `pmap` whose results come as the
//! calls finish. A collect-all scope returns only its errors when a task fails;
//! [`supervise`] returns the body's value next to them, so the body can gather the
//! successes:
//!
//! ```
//! let outcome = duet::run(duet::supervise(async |s| {
//!     let calls: Vec<_> = [3, 0, 5].into_iter()
//!         .map(|n| s.spawn(async move { if n == 0 { Err("zero") } else { Ok(10 / n) } }))
//!         .collect();
//!     let mut successes = Vec::new();
//!     for call in calls {
//!         successes.extend(call.await.ok());
//!     }
//!     Ok(successes)
//! }));
//! assert_eq!(outcome.value, Some(vec![3, 2]));
//! assert_eq!(outcome.errors, ["zero"]);
//! ```
//!
//! # Timeouts and deadlines
//!
//! [`sleep`], [`timeout`] and [`deadline`] work in any task; [`timeout_scope`] and
//! [`deadline_scope`] cancel a whole scope when its time is up and report it as
//! [`ScopeError::is_timeout`], distinct from a failure or an explicit cancel. Nested
//! deadlines compose: the earliest wins. The loop fires timers itself, parking the thread
//! until the next deadline. Tests run on a virtual clock ([`Config::virtual_clock`]) that
//! jumps to the next deadline whenever every task is waiting, so they are instant and
//! their timings exact:
//!
//! ```
//! use std::time::Duration;
//!
//! duet::run_with(duet::Config::new().virtual_clock(), async {
//!     let start = duet::now();
//!     let slow = duet::timeout(Duration::from_millis(500), duet::sleep(Duration::from_secs(10)));
//!     assert!(slow.await.is_err());
//!
//!     let r = duet::timeout_scope(Duration::from_secs(1), async |s| {
//!         s.spawn(duet::sleep(Duration::from_secs(60))); // dropped at the deadline
//!     })
//!     .await;
//!     assert!(r.unwrap_err().is_timeout());
//!     assert_eq!(duet::now() - start, Duration::from_millis(1500));
//! });
//! ```
//!
//! The virtual clock stands still while work duet started runs on other threads
//! ([`unblock`], [`ThreadPool`] jobs, [`Batcher`] batches), so a timeout around blocking
//! work does not fire early. A test that wants to look between two timers holds the clock
//! ([`hold_clock`]) and steps it by hand ([`advance`]), firing timers in order:
//!
//! ```
//! use std::cell::Cell;
//! use std::time::Duration;
//!
//! let attempts = Cell::new(0);
//! duet::run_with(duet::Config::new().virtual_clock(), duet::scope(async |s| {
//!     let _hold = duet::hold_clock();
//!     let attempts = &attempts;
//!     s.spawn(async move {
//!         for backoff in [1, 2, 4] {
//!             attempts.set(attempts.get() + 1); // a retry loop with backoff
//!             duet::sleep(Duration::from_secs(backoff)).await;
//!         }
//!     });
//!     duet::advance(Duration::from_millis(2500)).await; // attempts at 0 s and 1 s
//!     assert_eq!(attempts.get(), 2);
//!     duet::advance(Duration::from_secs(1)).await; // 3.5 s: the third came at 3 s
//!     assert_eq!(attempts.get(), 3);
//! }))
//! .unwrap();
//! ```
//!
//! # Limits
//!
//! A [`Limiter`] lets at most N holders in at once and serves waiters in FIFO order; its
//! capacity can change while slots are held. [`acquire`](Limiter::acquire) returns a
//! [`Slot`] that is released when dropped. A [`LimitedScope`] puts everything spawned
//! through it under one limiter.
//!
//! ```
//! use std::cell::Cell;
//!
//! let limiter = duet::Limiter::new(2);
//! let (inside, most) = (Cell::new(0), Cell::new(0));
//! duet::run_scope(async |s| {
//!     for _ in 0..6 {
//!         let (limiter, inside, most) = (&limiter, &inside, &most);
//!         s.spawn(async move {
//!             let _slot = limiter.acquire().await; // released at the end of the task
//!             inside.set(inside.get() + 1);
//!             most.set(most.get().max(inside.get()));
//!             duet::yield_now().await;
//!             inside.set(inside.get() - 1);
//!         });
//!     }
//! })
//! .unwrap();
//! assert_eq!(most.get(), 2);
//! ```
//!
//! # Parallel map
//!
//! [`pmap()`] (blocking), [`pmap_async`] and [`pmap_stream`] run an async function on
//! every item, at most `limit` calls at once, and give the results in input order even
//! when later calls finish first. The items (an iterator or a stream) are pulled only as
//! calls can start, and at most a window of finished results waits for a slow earlier
//! one ([`PmapLimit`]). The `try_` forms stop at the first error and cancel the calls
//! still running.
//!
//! ```
//! async fn process(x: u64) -> u64 {
//!     duet::yield_now().await; // stands for real async work
//!     x * x
//! }
//!
//! let items = vec![3, 1, 2];
//! let results = duet::pmap(items.clone(), Some(16), async |x| process(x).await);
//! assert_eq!(results, [9, 1, 4]);
//!
//! let results = duet::run(async {
//!     duet::pmap_async(items, Some(16), async |x| process(x).await).await
//! });
//! assert_eq!(results, [9, 1, 4]);
//!
//! let found = duet::try_pmap(["1", "2", "three"], Some(2), async |s| s.parse::<u64>());
//! assert!(found.is_err());
//! ```
//!
//! [`AsyncCollector`] feeds values from producers to a consumer that reads them as a
//! stream. For duet-py's `aiter`, `aenumerate` and `azip`, use `futures::StreamExt`
//! (see [`AnyIterable`] for the table).
//!
//! # Interop
//!
//! duet has no I/O of its own and needs none: it awaits any [`Future`], and parallelism
//! comes from work done elsewhere.
//!
//! **Futures completed by other threads.** An [`AwaitableFuture`] is completed by hand,
//! from any thread, and awaited by a task; [`unblock`] and [`ThreadPool`] run blocking
//! code on other threads and hand back its result. If the awaiting task is cancelled,
//! the producer sees [`AwaitableFuture::is_cancelled`] and can stop; a closure given to
//! [`unblock_cancellable`] polls its [`CancelToken`] for the same. This is also how
//! CPU work goes to rayon: `rayon::spawn` a job that calls `set_result`.
//!
//! ```
//! let f = duet::AwaitableFuture::new();
//! let producer = f.clone();
//! rayon::spawn(move || producer.set_result((1..=20u64).product::<u64>()));
//!
//! let (a, b) = duet::run(async {
//!     let b = duet::unblock(|| std::fs::read_to_string("Cargo.toml").map(|t| t.len()));
//!     futures::join!(f, b)
//! });
//! assert_eq!(a.unwrap(), 2_432_902_008_176_640_000);
//! assert!(b.unwrap() > 0);
//! ```
//!
//! **Other runtimes' futures.** Sockets and timers from tokio or smol are futures like any
//! other. smol's reactor runs on a thread of its own, so its I/O works under `run` as is.
//! tokio's needs a runtime whose worker threads drive its reactor, entered on the loop's
//! thread: with the `tokio` cargo feature that is one line,
//! [`Config::tokio`](Config::tokio) (a shared multi-thread runtime) or
//! [`Config::tokio_handle`](Config::tokio_handle) (yours), and tokio-based clients
//! (reqwest, hyper, tonic) work in every task and in nested runs:
//!
//! ```
//! # #[cfg(feature = "tokio")] {
//! # use std::time::Duration;
//! let sum = duet::run_with(duet::Config::new().tokio(), async {
//!     tokio::time::sleep(Duration::from_millis(5)).await; // tokio's timer, in a duet task
//!     tokio::spawn(async { 20 + 22 }).await // work on tokio's threads
//! });
//! assert_eq!(sum.unwrap(), 42);
//! # }
//! ```
//!
//! Without the feature, keep a multi-thread runtime and enter its handle around `run`
//! (`examples/tokio_interop.rs` does TCP); a current-thread runtime's handle would leave
//! its sockets waiting forever, which `Config::tokio_handle` refuses with a message:
//!
//! ```
//! # use std::time::Duration;
//! let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
//! let _tokio = rt.handle().enter(); // tokio resources created on this thread use `rt`
//! let sum = duet::run(async { tokio::spawn(async { 20 + 22 }).await })?;
//! assert_eq!(sum, 42);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
//!
//! **duet inside other runtimes.** A scope is an ordinary future: another executor can
//! run it (tokio's current-thread runtime, a tokio `LocalSet`, smol's `LocalExecutor`,
//! `futures::executor::block_on`). Its tasks still need not be `Send`, and duet's timers
//! still work: outside `run` a timer thread of duet's serves them; with the `tokio`
//! feature, inside a tokio runtime, tokio's timer does, following `tokio::time::pause`
//! (the runtime then needs its timer enabled, as for tokio's own timers).
//!
//! ```
//! # use std::time::Duration;
//! let rt = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
//! let r = rt.block_on(duet::timeout_scope(Duration::from_millis(10), async |s| {
//!     s.spawn(duet::sleep(Duration::from_secs(60))); // cut at 10 ms
//! }));
//! assert!(r.unwrap_err().is_timeout());
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
//!
//! **Batching.** A [`Batcher`] collects the requests that many tasks make and sends them
//! as one batch when the loop has nothing else to do (built on
//! [buffered futures](AwaitableFuture::buffered)):
//!
//! ```
//! # use std::sync::Arc;
//! # use std::sync::atomic::{AtomicUsize, Ordering};
//! let calls = Arc::new(AtomicUsize::new(0));
//! let counter = calls.clone();
//! let squares = duet::Batcher::new(move |batch: duet::Batch<u32, u32>| {
//!     counter.fetch_add(1, Ordering::SeqCst);
//!     let values: Vec<u32> = batch.keys().map(|k| k * k).collect();
//!     batch.complete(values); // or complete it later, from another thread
//! });
//! let total = duet::run_scope(async |s| {
//!     let handles: Vec<_> = (1..=10).map(|k| s.spawn(squares.get(k))).collect();
//!     let mut total = 0;
//!     for h in handles {
//!         total += h.await.unwrap();
//!     }
//!     Ok(total)
//! });
//! assert_eq!(total.unwrap(), 385);
//! assert_eq!(calls.load(Ordering::SeqCst), 1); // one batch
//! ```
//!
//! # Task-local context
//!
//! A [`ContextVar`] is inherited by tasks at spawn time, like Python's `contextvars`:
//! a task starts with its spawner's values of that moment, and what it changes is seen by
//! itself and the tasks it spawns later, never by its parent or siblings. A variable
//! declared with [`ContextVar::with_default`] reads as its default wherever nothing set it.
//!
//! ```
//! static USER: duet::ContextVar<&str> = duet::ContextVar::new("user");
//!
//! duet::run_scope(async |s| {
//!     USER.set("ada");
//!     let task = s.spawn(async { Ok(USER.get()) });
//!     USER.set("grace"); // too late for the task spawned above
//!     assert_eq!(task.await.unwrap(), Some("ada"));
//! })
//! .unwrap();
//! ```
//!
//! # Testing with simulation
//!
//! A plain [`run`] follows one schedule: the tasks a scope has queued run in the order
//! they were queued. Code that is only right in that order passes its tests every time
//! and fails in production, where a reply comes back late. The way to test code built
//! on duet is [`sim::check`]: it runs the test body under 256 schedules chosen by seeds,
//! each one an order that duet's semantics allow, on the virtual clock, and stops at the
//! first that fails (a panic, a deadlock, an `Err` returned) with a report that replays
//! it. `examples/testing.rs` finds a stale cache fill this way.
//!
//! Here a worker "gives the loader a moment" instead of waiting for it. The plain loop
//! always polls the loader first, so a plain run passes; a simulated schedule that polls
//! the worker first finds the bug:
//!
//! ```
//! use std::cell::Cell;
//!
//! async fn load_config() -> u32 {
//!     duet::yield_now().await; // stands for reading a file
//!     42
//! }
//!
//! async fn start_up() {
//!     let config = Cell::new(None);
//!     duet::scope(async |s| {
//!         let config = &config;
//!         s.spawn_named("loader", async move { config.set(Some(load_config().await)) });
//!         s.spawn_named("worker", async move {
//!             duet::yield_now().await; // the bug: "the loader is done by now"
//!             assert!(config.get().is_some(), "the worker started before the config was loaded");
//!         });
//!     })
//!     .await
//!     .unwrap();
//! }
//!
//! duet::run(start_up()); // passes, every time
//!
//! // In a test, `duet::sim::check(start_up)` panics with the report; `explore` returns it.
//! let failure = duet::sim::Explorer::new().explore(start_up).unwrap_err();
//! assert_eq!(failure.message(), "the worker started before the config was loaded");
//! assert!(failure.task().unwrap().starts_with("task #1 `worker`"));
//! ```
//!
//! The report (the `Display` of a [`sim::Failure`], which `check` panics with) gives the
//! run that failed and its seed, the step (task polls and offloaded jobs so far) and the
//! message, the task that panicked, and the task tree at that moment:
//!
//! ```text
//! duet::sim: run 0 of 256 failed (seed 0x0, strategy: random) at step 6:
//!     the worker started before the config was loaded
//! Replay exactly this run: DUET_SEED=0x0 cargo test <this test> (or Explorer::replay(0x0))
//! The task that panicked: task #1 `worker` spawned at tests/start_up.rs:13:11
//! The task tree when it failed:
//! scope #36 opened at tests/start_up.rs:10:5: running
//! ├── task #0 `loader` spawned at tests/start_up.rs:12:11: ready to run
//! └── task #1 `worker` spawned at tests/start_up.rs:13:11: running now
//! ```
//!
//! `DUET_SEED=0x0 cargo test the_test` runs that schedule alone, poll for poll, as often
//! as you like: add prints or [`dump`] calls, which do not change it (an added await
//! does), until the bug is clear. `DUET_SIM_RUNS=10000 cargo test` explores longer. A
//! correct version waits for the loader itself, and passes every schedule:
//!
//! ```
//! # async fn load_config() -> u32 { duet::yield_now().await; 42 }
//! duet::sim::check(|| duet::scope(duet::infallible(async |s| {
//!     let loader = s.spawn(async { Ok(load_config().await) });
//!     s.spawn(async move {
//!         let config = loader.await.expect("not cancelled"); // waits for the loader
//!         assert_eq!(config, 42);
//!     });
//! })));
//! ```
//!
//! What is simulated: everything duet schedules. The order of ready tasks in every
//! scope, ties between timers with equal deadlines, where poll budgets end, when
//! buffered futures are flushed, and work sent to [`unblock`], a [`ThreadPool`] or a
//! [`Batcher`], which runs on the loop's thread at a seeded step instead of on a pool
//! thread. Time is virtual. What is not: threads the program starts itself, other
//! runtimes (tokio, smol), real I/O and the real clock; a test that waits on them still
//! runs, but its schedule depends on them and a seed does not replay it. [`sim`] has
//! the details, an [`Explorer`](sim::Explorer) chooses the number of runs and the
//! strategy, and [`sim::run`] runs one seed and returns its trace.
//! # Tracing
//!
//! With the `tracing` feature, every scope and task runs in a
//! [`tracing`](https://docs.rs/tracing) span, and the spans form the scope tree: a task's
//! span (`task`: its `index`, its `name` if it was spawned with [`Scope::spawn_named`],
//! the `location` of the spawn) is a child of its scope's span (`scope`: the scope's `id`
//! and the `location` where it was opened), and a scope opened inside a task is a child
//! of that task's span. So each line a `tracing-subscriber` log prints carries its place
//! in the tree. Every poll of a task runs inside its span, and so do the destructors of a
//! task that is cancelled. When a span closes it says how it ended: `outcome` is `done`,
//! `failed`, `panicked` (with the `panic` message) or `cancelled` (with the
//! [`CancelReason`] as `reason`). The spans are at level INFO with target `duet` (a
//! filter such as `duet=warn` leaves them out); without the feature, none of this is
//! compiled. `examples/tracing_tree.rs` shows a whole log.
//!
//! ```
//! # #[cfg(feature = "tracing")] {
//! # use std::sync::{Arc, Mutex};
//! # #[derive(Clone, Default)]
//! # struct Capture(Arc<Mutex<Vec<u8>>>);
//! # impl std::io::Write for Capture {
//! #     fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
//! #         self.0.lock().unwrap().write(bytes)
//! #     }
//! #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! # }
//! let log = Capture::default(); // an `io::Write` that keeps what it is given
//! let writer = log.clone();
//! let subscriber = tracing_subscriber::fmt()
//!     .with_writer(move || writer.clone())
//!     .without_time()
//!     .finish();
//! tracing::subscriber::with_default(subscriber, || {
//!     duet::run_scope(async |s| {
//!         s.spawn_named("fetch", async {
//!             tracing::info!("fetching");
//!         });
//!     })
//!     .unwrap();
//! });
//! let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
//! // INFO scope{id=1 location=src/main.rs:18:5}:task{index=0 name="fetch" location=src/main.rs:19:11}: my_app: fetching
//! assert!(log.contains(r#"}:task{index=0 name="fetch" location="#));
//! assert!(log.contains("fetching"));
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(rust_2018_idioms, unreachable_pub, missing_debug_implementations)]

mod cancel;
mod collector;
mod context;
mod current;
mod error;
mod interop;
mod limited_scope;
mod limiter;
#[cfg(all(loom, test))]
mod loom_model;
mod pmap;
mod race;
mod runtime;
mod schedule;
mod scope;
pub mod send;
pub mod sim;
mod sync;
mod time;
mod wakers;
mod yield_now;

pub use cancel::{CancelReason, TaskRef};
pub use collector::{AsyncCollector, CollectorClosed, CollectorError, CollectorStream};
pub use context::ContextVar;
pub use error::{JoinError, ScopeError};
pub use interop::{
    AwaitError, AwaitableFuture, Batch, Batcher, CancelToken, Cancelled, ThreadPool, Unblock,
    completed_future, failed_future, unblock, unblock_cancellable,
};
pub use limited_scope::LimitedScope;
pub use limiter::{Acquire, Available, Limiter, Slot, Throttle};
pub use pmap::{
    AnyIterable, PmapLimit, PmapStream, TryPmapStream, ViaIterator, ViaStream, pmap, pmap_async,
    pmap_stream, pmap_stream_unordered, try_pmap, try_pmap_async, try_pmap_stream,
    try_pmap_stream_unordered,
};
pub use race::{first_ok, race};
pub use runtime::{Config, run, run_scope, run_with};
pub use scope::{
    BodyOutput, BodyValue, CancelHandle, ErrorPolicy, Infallibly, JoinHandle, Scope, ScopeOptions,
    Shield, Supervised, TaskOutput, TaskSet, cancel_reason, cancelled, deadline_scope, dump,
    infallible, is_cancelled, scope, scope_with, shield, supervise, supervise_with, timeout_scope,
};
pub use time::{
    Advance, ClockHold, Elapsed, Sleep, Timeout, advance, deadline, hold_clock, now, sleep,
    sleep_until, timeout,
};
pub use yield_now::{YieldNow, yield_now};

/// The README's examples, compiled and run as doctests so that they cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
