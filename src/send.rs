//! Send scopes: nurseries whose future is `Send`, for `tokio::spawn`, axum and hyper
//! handlers, tonic services and anything else that asks for a `Send` future.
//!
//! The functions and types here have the names, signatures and behaviour of the crate
//! root's ([`duet::scope`](crate::scope()), [`duet::Scope`](crate::Scope), ...), plus one
//! rule: the body, every task, their values and the error type must be `Send`
//! ([`Spawnable`]), because the scope may move to another thread between two polls with
//! everything in it. Tasks still borrow from the enclosing function, and still run where
//! the scope is polled: a Send scope is not a thread pool. Cancellation (the tree,
//! fail-fast and collect-all, shields, grace periods, timeouts, [`CancelHandle`]),
//! panics, `ContextVar` values and `duet::run` work as in a local scope.
//!
//! # Dumps and deadlock detection
//!
//! Under [`duet::run`](crate::run()), Send scopes are part of the loop's task tree:
//! [`duet::dump`](crate::dump()) shows them, and the loop's deadlock detection reads them,
//! with one difference from a local scope. A Send scope's handles are `Send`, so any of
//! them may be on another thread, about to spawn or cancel; nothing records where a value
//! went, so while one lives (a join handle, a [`TaskSet`], a clone of the [`Scope`], or
//! the body's own, which is alive until the body returns) the scope counts as one that
//! may be woken, as a scope with a live [`CancelHandle`] does. A Send scope is therefore
//! reported as deadlocked only once its body has returned and none of its handles is
//! left; a cycle of join handles between its tasks is not detected. Under a foreign
//! executor (a tokio task) a Send scope that no scope encloses is the root of a tree of
//! its own, which `dump` shows when called inside it (from its body or any task in it);
//! there is no loop there whose idleness could prove a deadlock, so nothing is detected.
//!
//! For `!Send` work (tasks holding an `Rc` or a `RefCell` borrow) use a local scope,
//! which is itself `!Send`; inside a Send scope's tasks, open Send scopes.
//!
//! # The toolkit
//!
//! The toolkit is here too, over Send scopes: [`race`] and [`first_ok`], whose futures
//! must be `Send`; the `pmap` family ([`pmap_async`], [`try_pmap_async`], [`pmap_stream`],
//! [`try_pmap_stream`], [`pmap_stream_unordered`], [`try_pmap_stream_unordered`]) and
//! [`LimitedScope`], whose calls, items and results must be `Send`. Their futures and
//! streams then are `Send`. One difference from the crate root's: a pmap's per-item
//! function is an `Fn` returning a `Send` future (`|x| async move { .. }`), not an async
//! closure, since the future of an `AsyncFn` cannot be required to be `Send` on stable
//! Rust. The calls still borrow from the enclosing function. The blocking
//! [`duet::pmap`](crate::pmap()) and [`duet::try_pmap`](crate::try_pmap()) have no Send
//! form: they block the thread, which a Send future's caller must not.
//!
//! ```
//! # let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
//! # runtime.block_on(async {
//! let handler = tokio::spawn(async {
//!     let ids = vec![3u32, 1, 2];
//!     let names = ["zero", "one", "two", "three"];
//!     let names = &names; // borrowed by the calls
//!     duet::send::pmap_async(ids, Some(8), |id| async move {
//!         tokio::task::yield_now().await; // stands for a request
//!         names[id as usize]
//!     })
//!     .await
//! });
//! assert_eq!(handler.await.unwrap(), ["three", "one", "two"]);
//! # });
//! ```
//!
//! A call whose future is not `Send` is refused where the pmap is started:
//!
//! ```compile_fail
//! fn needs_send<F: Future + Send>(_: F) {}
//! needs_send(duet::send::pmap_async(0..3, None, |x| {
//!     let local = std::rc::Rc::new(x);
//!     async move { *local } // error: `Rc<i32>` cannot be sent between threads safely
//! }));
//! ```
//!
//! ```
//! # let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
//! # runtime.block_on(async {
//! use std::time::Duration;
//!
//! async fn replica(name: &str, delay_ms: u64) -> Result<String, String> {
//!     duet::sleep(Duration::from_millis(delay_ms)).await;
//!     if name == "b" { Err(format!("{name}: refused")) } else { Ok(format!("{name} answered")) }
//! }
//!
//! let handler = tokio::spawn(async {
//!     let replicas = [("a", 200), ("b", 10), ("c", 50)];
//!     duet::send::first_ok(replicas.map(|(name, delay)| replica(name, delay))).await
//! });
//! assert_eq!(handler.await.unwrap().unwrap(), "c answered"); // "a" was cancelled
//! # });
//! ```
//!
//! # Examples
//!
//! A scope inside `tokio::spawn` on the multi-thread runtime, its tasks borrowing the
//! spawned block's request:
//!
//! ```
//! # let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
//! # runtime.block_on(async {
//! let handler = tokio::spawn(async move {
//!     let request = vec!["profile", "feed", "ads"];
//!     duet::send::scope(async |s| {
//!         let lens: Vec<_> = request
//!             .iter()
//!             .map(|part| s.spawn(async move { Ok::<_, std::io::Error>(part.len()) }))
//!             .collect();
//!         let mut total = 0;
//!         for len in lens {
//!             total += len.await.expect("no part fails");
//!         }
//!         Ok(total)
//!     })
//!     .await
//! });
//! assert_eq!(handler.await.unwrap().unwrap(), 14);
//! # });
//! ```
//!
//! A task that is not `Send` is refused where it is spawned ("future cannot be sent
//! between threads safely ... required by a bound in `duet::send::Scope::spawn`"):
//!
//! ```compile_fail
//! # futures::executor::block_on(async {
//! duet::send::scope(async |s| {
//!     let shared = std::rc::Rc::new(1);
//!     s.spawn(async move { println!("{shared}") }); // error: `Rc<i32>` cannot be sent between threads safely
//! })
//! .await
//! # });
//! ```
//!
//! and so is a body that holds something `!Send` across an await (at the `send::scope`
//! call, wherever the scope is awaited; a local scope awaited in the body is such a
//! thing):
//!
//! ```compile_fail
//! fn needs_send<F: Future + Send>(_: F) {}
//! needs_send(async {
//!     duet::send::scope(async |s| {
//!         let local = std::rc::Rc::new(5);
//!         s.spawn(async {});
//!         duet::sleep(std::time::Duration::from_millis(1)).await; // `local` is held across it
//!         println!("{local}");
//!     })
//!     .await
//! });
//! ```
//!
//! nor does a race of `!Send` futures compile here:
//!
//! ```compile_fail
//! fn needs_send<F: Future + Send>(_: F) {}
//! let shared = std::rc::Rc::new(1);
//! needs_send(duet::send::race([async move { *shared }]));
//! ```
//!
//! A local scope's future is not `Send`:
//!
//! ```compile_fail,E0277
//! fn needs_send<F: Future + Send>(_: F) {}
//! needs_send(duet::scope(async |s| {
//!     s.spawn(async {});
//! }));
//! ```
//!
//! [`CancelHandle`]: crate::CancelHandle

pub use crate::limited_scope::send::LimitedScope;
pub use crate::pmap::send::{
    PmapStream, TryPmapStream, pmap_async, pmap_stream, pmap_stream_unordered, try_pmap_async,
    try_pmap_stream, try_pmap_stream_unordered,
};
pub use crate::race::send::{first_ok, race};
pub use crate::scope::send::{
    JoinHandle, Scope, Spawnable, TaskSet, deadline_scope, infallible, scope, scope_with,
    supervise, supervise_with, timeout_scope,
};
