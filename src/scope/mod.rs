//! Scopes (nurseries): a body and the tasks it spawns, owned and polled together.
//!
//! [`scope`] opens a scope inside async code; [`Scope`] is the handle its body gets;
//! `driver` is the future that polls the body and tasks; `tasks` and `waker` hold the
//! tasks and route wake-ups to exactly the task woken; `join` connects a task to its
//! [`JoinHandle`].
//!
//! # Invariants of the scope tree
//!
//! 1. A scope does not complete before its body and every task spawned into it have
//!    completed or been dropped.
//! 2. Tasks are owned by exactly one scope; they run only when that scope is polled, so
//!    no task outlives its scope and none runs after its scope was dropped.
//! 3. Cancelling a scope drops its tasks, which drops the scopes nested in them first
//!    (each scope tears down its own tasks as it is dropped): descendants go first.
//! 4. A nested [`run`](crate::run) starts a new tree: nothing outside it can cancel it,
//!    and it reports its result to the task that called it.

mod cancel_handle;
mod core;
pub(crate) mod current;
pub(crate) mod deadlock;
mod driver;
mod dump;
mod handle;
mod join;
mod observe;
mod open;
mod output;
pub(crate) mod registry;
mod shield;
pub(crate) mod signal;
mod supervise;
mod table;
mod task_set;
mod tasks;
mod timed;
#[cfg(feature = "tracing")]
mod trace;
mod waker;

pub use cancel_handle::CancelHandle;
pub(crate) use core::{BODY, ScopeCore};
pub use dump::dump;
pub use handle::Scope;
pub use join::JoinHandle;
pub use observe::{cancel_reason, cancelled, is_cancelled};
pub use output::{BodyOutput, Infallibly, TaskOutput, infallible};
pub use shield::{Shield, shield};
pub(crate) use signal::Observer;
pub(crate) use signal::Signal;
pub use supervise::{Supervised, supervise, supervise_with};
pub use task_set::TaskSet;
pub use timed::{deadline_scope, timeout_scope};

use std::panic::Location;
use std::time::{Duration, Instant};

use crate::time::Sleep;
use crate::{ScopeError, sleep, sleep_until};

/// What a scope does when a task (or its body) fails with an error.
///
/// See [`ScopeOptions::error_policy`] for an example, and `examples/errors.rs` for the
/// same workload under both policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ErrorPolicy {
    /// The first error cancels everything else in the scope and fails it. The default.
    #[default]
    FailFast,
    /// Errors do not cancel anything: every task runs to completion, and the scope
    /// returns every error (a supervisor). Panics still cancel the scope.
    CollectAll,
}

/// Options for [`scope_with`]: the [`ErrorPolicy`], and an optional time limit
/// ([`timeout`](ScopeOptions::timeout), [`deadline`](ScopeOptions::deadline)).
///
/// # Examples
///
/// ```
/// use duet::ScopeOptions;
///
/// let result = duet::run(duet::scope_with(ScopeOptions::new().collect_all(), async |s| {
///     s.spawn(async { Err::<(), _>("first") });
///     s.spawn(async { Err::<(), _>("second") });
///     s.spawn(async { Ok(()) });
///     Ok(())
/// }));
/// let mut errors = result.unwrap_err().into_errors();
/// errors.sort();
/// assert_eq!(errors, ["first", "second"]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ScopeOptions {
    // `None`: not chosen (fail-fast), which `supervise_with` tells apart from a choice.
    policy: Option<ErrorPolicy>,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    grace: Option<Duration>,
}

impl ScopeOptions {
    /// The defaults: [`ErrorPolicy::FailFast`], no time limit.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = duet::run(duet::scope_with(duet::ScopeOptions::new(), async |s| {
    ///     s.spawn(async { Err::<(), _>("fails fast") });
    ///     Ok(())
    /// }));
    /// assert!(r.unwrap_err().is_failed());
    /// ```
    pub fn new() -> Self {
        ScopeOptions::default()
    }

    /// Sets what happens when a task fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use duet::{ErrorPolicy, ScopeOptions};
    ///
    /// let options = ScopeOptions::new().error_policy(ErrorPolicy::CollectAll);
    /// let r = duet::run(duet::scope_with(options, async |s| {
    ///     s.spawn(async { Err::<(), _>(1) });
    ///     s.spawn(async { Err::<(), _>(2) });
    ///     Ok(())
    /// }));
    /// assert_eq!(r.unwrap_err().into_errors().len(), 2);
    /// ```
    pub fn error_policy(mut self, policy: ErrorPolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Shorthand for `error_policy(ErrorPolicy::CollectAll)`: a supervisor scope.
    ///
    /// # Examples
    ///
    /// See [`ScopeOptions`].
    pub fn collect_all(self) -> Self {
        self.error_policy(ErrorPolicy::CollectAll)
    }

    /// Gives the scope a time limit, counted from when the scope starts (its first poll).
    ///
    /// When the time is up and the scope has not finished, it is cancelled: every task
    /// and the body are dropped at their current await points, and the scope returns
    /// [`ScopeError::Cancelled`] with [`CancelReason::TimedOut`](crate::CancelReason::TimedOut)
    /// ([`ScopeError::is_timeout`] is true); join handles of the dropped tasks report the
    /// same reason. With both a timeout and a [`deadline`](Self::deadline), the earlier
    /// applies. See [`timeout_scope`](crate::timeout_scope) for the shorthand and how
    /// nested deadlines compose.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use duet::ScopeOptions;
    ///
    /// let options = ScopeOptions::new().collect_all().timeout(Duration::from_secs(5));
    /// let r = duet::run_with(duet::Config::new().virtual_clock(), duet::scope_with(options, async |s| {
    ///     s.spawn(async { Err::<(), _>("one failure does not cancel the rest") });
    ///     s.spawn(duet::sleep(Duration::from_secs(60))); // cut at 5 s
    ///     Ok(())
    /// }));
    /// let error = r.unwrap_err();
    /// assert!(error.is_timeout());
    /// assert_eq!(error.into_errors(), ["one failure does not cancel the rest"]);
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Gives the scope a deadline: like [`timeout`](Self::timeout), at a fixed instant of
    /// the loop's clock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use duet::ScopeOptions;
    ///
    /// duet::run_with(duet::Config::new().virtual_clock(), async {
    ///     let at = duet::now() + Duration::from_secs(1);
    ///     let r = duet::scope_with(ScopeOptions::new().deadline(at), async |s| {
    ///         s.spawn(duet::sleep(Duration::from_secs(60)));
    ///     })
    ///     .await;
    ///     assert!(r.unwrap_err().is_timeout());
    ///     assert_eq!(duet::now(), at);
    /// });
    /// ```
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Gives the scope's cancellations a grace period: when the scope is cancelled (by
    /// [`Scope::cancel`], a [`CancelHandle`](crate::CancelHandle), Ctrl-C, its timeout or
    /// deadline, or a task's failure under the fail-fast policy), it first enters a
    /// *soft* phase of up to `grace`, in which nothing is dropped and code observing
    /// cancellation ([`is_cancelled`](crate::is_cancelled), [`cancelled`](crate::cancelled))
    /// wakes to finish or clean up; then the tasks still running are dropped. A panic is
    /// never graceful. [`Scope::cancel_with_grace`] sets the grace for one cancellation.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use duet::ScopeOptions;
    ///
    /// // A timeout whose tasks get 100 ms to stop on their own.
    /// let options = ScopeOptions::new().timeout(Duration::from_secs(1)).grace(Duration::from_millis(100));
    /// let stopped_cleanly = std::cell::Cell::new(false);
    /// let r = duet::run_with(duet::Config::new().virtual_clock(), duet::scope_with(options, async |s| {
    ///     let stopped_cleanly = &stopped_cleanly;
    ///     s.spawn(async move {
    ///         loop {
    ///             duet::sleep(Duration::from_millis(10)).await; // a unit of work
    ///             if duet::is_cancelled() {
    ///                 stopped_cleanly.set(true); // stop between units, not in the middle
    ///                 return;
    ///             }
    ///         }
    ///     });
    /// }));
    /// assert!(r.unwrap_err().is_timeout());
    /// assert!(stopped_cleanly.get());
    /// ```
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = Some(grace);
        self
    }

    /// The timer of the scope's time limit, if it has one (the earlier of the two).
    fn deadline_timer(&self) -> Option<Sleep> {
        match (self.timeout.map(sleep), self.deadline.map(sleep_until)) {
            (Some(a), Some(b)) => Some(if a.deadline() <= b.deadline() { a } else { b }),
            (a, b) => a.or(b),
        }
    }
}

/// Opens a scope (a nursery): runs `body`, lets it spawn tasks, and waits for all of them.
///
/// The body receives a [`Scope`] to [`spawn`](Scope::spawn) tasks with. The scope
/// completes when the body and every task have completed, and returns the body's value.
/// The first error, from the body or any task, cancels everything still running (each
/// task is dropped at its current await point, nested scopes first) and the scope returns
/// [`ScopeError::Failed`]. A panic in a task cancels the rest and is re-raised by the
/// scope, as [`std::thread::scope`] does. See [`scope_with`] for other error policies.
///
/// The scope's error type `E` is inferred from the `Result`s the tasks and the body
/// return. A body that cannot fail returns `()`, or is wrapped in [`infallible`] to
/// return a value; a body that uses `?` on errors no task returns names `E` once
/// (`Ok::<_, MyError>(value)`).
///
/// # Cancel safety
///
/// Dropping the returned future cancels the scope: every task in it is dropped, and
/// their join handles report [`CancelReason::Parent`](crate::CancelReason::Parent).
///
/// # Examples
///
/// ```
/// #[derive(Debug)]
/// struct NotFound(&'static str);
///
/// async fn fetch(key: &'static str) -> Result<usize, NotFound> {
///     if key.is_empty() { Err(NotFound(key)) } else { Ok(key.len()) }
/// }
///
/// let keys = ["alpha", "beta"];
/// let total = duet::run(async {
///     duet::scope(async |s| {
///         let lens: Vec<_> = keys.iter().map(|&k| s.spawn(fetch(k))).collect();
///         let mut total = 0;
///         for len in lens {
///             total += len.await.expect("no task of a running scope is cancelled here");
///         }
///         Ok(total) // the scope's error type, NotFound, comes from the tasks
///     })
///     .await
/// });
/// assert_eq!(total.unwrap(), 9);
///
/// let failed = duet::run_scope(async |s| {
///     s.spawn(fetch(""));
///     s.spawn(futures::future::pending::<Result<(), NotFound>>()); // cancelled by the failure
///     Ok(())
/// });
/// assert!(matches!(failed, Err(duet::ScopeError::Failed { error: NotFound(""), .. })));
/// ```
#[track_caller]
pub fn scope<'env, B, Fut, E>(
    body: B,
) -> impl Future<Output = Result<<Fut::Output as BodyOutput<E>>::Ok, ScopeError<E>>>
where
    B: FnOnce(Scope<'env, E>) -> Fut,
    Fut: Future,
    Fut::Output: BodyOutput<E>,
    E: 'env,
{
    scope_with(ScopeOptions::new(), body)
}

/// Opens a scope with [`ScopeOptions`]; see [`scope`].
///
/// # Cancel safety
///
/// As for [`scope`]: dropping the future cancels every task of the scope.
///
/// # Examples
///
/// ```
/// use duet::{ScopeError, ScopeOptions};
///
/// // A supervisor: failures do not cancel the other tasks.
/// let done = std::cell::Cell::new(0);
/// let result = duet::run(duet::scope_with(ScopeOptions::new().collect_all(), async |s| {
///     for i in 0..4 {
///         let done = &done;
///         s.spawn(async move {
///             done.set(done.get() + 1);
///             if i % 2 == 0 { Err(i) } else { Ok(()) }
///         });
///     }
///     Ok(())
/// }));
/// assert_eq!(done.get(), 4);
/// match result {
///     Err(ScopeError::Failed { error, others }) => assert_eq!((error, others), (0, vec![2])),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[track_caller]
pub fn scope_with<'env, B, Fut, E>(
    options: ScopeOptions,
    body: B,
) -> impl Future<Output = Result<<Fut::Output as BodyOutput<E>>::Ok, ScopeError<E>>>
where
    B: FnOnce(Scope<'env, E>) -> Fut,
    Fut: Future,
    Fut::Output: BodyOutput<E>,
    E: 'env,
{
    open(options, Location::caller(), Interruptible::AtTheRoot, body)
}

/// A scope of duet's own (the calls of a `pmap`), whose result its caller turns into
/// something else: Ctrl-C never adopts it as a root scope (whatever it runs under
/// reports the interruption instead), and nothing else can cancel it.
#[track_caller]
pub(crate) fn internal_scope<'env, B, Fut, E>(
    body: B,
) -> impl Future<Output = Result<<Fut::Output as BodyOutput<E>>::Ok, ScopeError<E>>>
where
    B: FnOnce(Scope<'env, E>) -> Fut,
    Fut: Future,
    Fut::Output: BodyOutput<E>,
    E: 'env,
{
    open(
        ScopeOptions::new(),
        Location::caller(),
        Interruptible::Never,
        body,
    )
}

/// Whether Ctrl-C may cancel a scope polled directly by an interruptible loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interruptible {
    AtTheRoot,
    Never,
}

fn open<'env, B, Fut, E>(
    options: ScopeOptions,
    location: &'static Location<'static>,
    interruptible: Interruptible,
    body: B,
) -> impl Future<Output = Result<<Fut::Output as BodyOutput<E>>::Ok, ScopeError<E>>>
where
    B: FnOnce(Scope<'env, E>) -> Fut,
    Fut: Future,
    Fut::Output: BodyOutput<E>,
    E: 'env,
{
    driver::IntoResult::new(open::ScopeFuture::new(
        options,
        location,
        interruptible,
        body,
    ))
}
