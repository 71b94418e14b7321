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
pub(crate) mod current;
pub(crate) mod deadlock;
mod dump;
// The files of `per_kind/` are compiled twice on purpose, once per kind of scope.
#[allow(
    clippy::duplicate_mod,
    reason = "one copy per kind of scope: local.rs, send.rs"
)]
mod local;
mod observe;
pub(crate) mod output;
pub(crate) mod registry;
#[allow(
    clippy::duplicate_mod,
    reason = "one copy per kind of scope: local.rs, send.rs"
)]
pub(crate) mod send;
mod shield;
pub(crate) mod signal;
pub(crate) mod status;
pub(crate) mod supervised;
pub(crate) mod table;
pub(crate) mod view;
pub(crate) mod waker;

pub use cancel_handle::CancelHandle;
pub use dump::dump;
pub(crate) use local::internal_scope;
pub(crate) use local::kind as local_kind;
pub(crate) use local::kind::Spawnable as LocalSpawnable;
pub use local::{
    JoinHandle, Scope, TaskSet, deadline_scope, infallible, scope, scope_with, supervise,
    supervise_with, timeout_scope,
};
pub use observe::{cancel_reason, cancelled, is_cancelled};
pub use output::{BodyOutput, BodyValue, Infallibly, TaskOutput};
pub use shield::{Shield, shield};
pub(crate) use signal::Observer;
pub(crate) use signal::Signal;
pub(crate) use status::BODY;
pub use supervised::Supervised;

use std::time::{Duration, Instant};

use crate::time::Sleep;
use crate::{sleep, sleep_until};

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
    /// [`ScopeError::Cancelled`](crate::ScopeError::Cancelled) with [`CancelReason::TimedOut`](crate::CancelReason::TimedOut)
    /// ([`ScopeError::is_timeout`](crate::ScopeError::is_timeout) is true); join handles of the dropped tasks report the
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

/// Whether Ctrl-C may cancel a scope polled directly by an interruptible loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interruptible {
    AtTheRoot,
    Never,
}
