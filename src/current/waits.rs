//! What a suspended task is waiting on, as reported by the futures it awaits.
//!
//! During a task's poll, duet's own futures that stay pending (join handles, sleeps,
//! nested scopes, limiter waits, completable futures...) report a [`Wait`] here. The
//! scope driver collects the reports of each poll and keeps them with the task until its
//! next poll. They feed the task-tree dump (`scope::dump`) and the deadlock analysis
//! (`scope::deadlock`).
//!
//! A report is kept only if the reporting future was polled with the task's own waker
//! (directly, through `async` blocks and combinators that pass the waker on): only then
//! does the wait hold exactly one clone of that waker, which the deadlock analysis relies
//! on. A future polled by an executor nested in the task (say a `FuturesUnordered`) holds
//! that executor's waker instead, and its report is dropped.
//!
//! A wait names a scope by its id (the id of its `Signal`), not by a reference: reporting
//! costs no reference count, and this module needs no scope type. The dump and the
//! deadlock analysis resolve ids through the loop's registry of live scopes
//! (`scope::registry`) when they run, which is rare. A wait on a task set holds a weak
//! reference to the set's [`SetWatch`]; a wait on a limiter, a trait object
//! ([`DescribeWait`]) that the limiter implements.
//!
//! Every `Wait` is `Send + Sync` (asserted below), so that the task tables that keep them
//! can belong to a scope that moves between threads (`design/send-scopes.md`).
//!
//! # Invariants
//!
//! 1. Reports collected for a poll describe the task's suspension after that poll, and
//!    nothing else: the poll frame records where its reports start in the report stack,
//!    nested polls take theirs before returning, so the poll's own are the stack's tail.
//! 2. A task's waits change only when it is polled.
//! 3. One poll keeps at most `MAX_REPORTS_PER_POLL` reports (plus a marker saying more
//!    were left out), so the report stack is bounded whatever a poll does.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::task::Waker;
use std::time::Instant;

use super::frame::{NO_REPORT, note_report};

/// One thing a suspended task is waiting on.
#[derive(Clone)]
pub(crate) enum Wait {
    /// The join handle of a task (`index` in the scope with id `scope`).
    Join { scope: u64, index: u32 },
    /// A scope opened in the task (its id).
    Scope(u64),
    /// The next task of a [`TaskSet`](crate::TaskSet) to finish.
    Set(Weak<SetWatch>),
    /// A timer.
    Sleep(Instant),
    /// A slot of a limiter, or room in it.
    Limiter {
        limiter: Arc<dyn DescribeWait>,
        /// The waiter's key in the limiter's queues (tells two waits apart; the limiter
        /// describes it on demand, so that reporting a wait costs no walk of its queue).
        key: u32,
    },
    /// Something only another thread or runtime can complete (described).
    External(&'static str),
}

/// What one poll of a task reported: almost always a single wait, kept without an
/// allocation (a report is made on most polls that leave a task suspended).
#[derive(Clone)]
pub(crate) enum Waits {
    One(Wait),
    Many(Box<[Wait]>),
}

impl Default for Waits {
    fn default() -> Self {
        Waits::Many(Box::default())
    }
}

impl Waits {
    /// Forgets the waits; checks first, since most tasks have none to drop.
    #[inline]
    pub(crate) fn clear(&mut self) {
        if !matches!(self, Waits::Many(waits) if waits.is_empty()) {
            *self = Waits::default();
        }
    }
}

impl std::ops::Deref for Waits {
    type Target = [Wait];

    fn deref(&self) -> &[Wait] {
        match self {
            Waits::One(wait) => std::slice::from_ref(wait),
            Waits::Many(waits) => waits,
        }
    }
}

/// Who holds a suspended task's waker, as far as its counts tell.
#[derive(Clone, Copy)]
pub(crate) struct HeldBy {
    /// The task is queued to run.
    pub(crate) queued: bool,
    /// Clones of its waker besides the scope's own references.
    pub(crate) clones: usize,
    /// The waker's data pointer: its identity, to check that a wait the task reported
    /// still holds a clone of this very waker.
    pub(crate) waker: usize,
}

/// What the dump and the deadlock analysis read of a [`TaskSet`](crate::TaskSet) a task
/// waits on. The set keeps it up to date as members are spawned and taken and as its
/// consumer registers; the atomics make a `Wait` holding it `Send`, and cost plain loads
/// and stores (`Relaxed`: the set writes them in the poll that reports the wait, and the
/// analysis reads them on the same thread, or after the loop's idle point).
#[derive(Debug)]
pub(crate) struct SetWatch {
    scope: u64,
    pending: AtomicUsize,
    registered: AtomicUsize,
}

impl SetWatch {
    /// The watch of a set whose members belong to the scope with id `scope`.
    pub(crate) fn new(scope: u64) -> Self {
        SetWatch {
            scope,
            pending: AtomicUsize::new(0),
            registered: AtomicUsize::new(0),
        }
    }

    /// The id of the scope the set's members belong to.
    pub(crate) fn scope_id(&self) -> u64 {
        self.scope
    }

    /// Members spawned and not yet taken.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    pub(crate) fn set_pending(&self, pending: usize) {
        self.pending.store(pending, Ordering::Relaxed);
    }

    /// The data pointer of the waker the consumer waits with (0: none).
    pub(crate) fn registered(&self) -> usize {
        self.registered.load(Ordering::Relaxed)
    }

    pub(crate) fn set_registered(&self, waker: Option<&Waker>) {
        let data = waker.map_or(0, |waker| waker.data() as usize);
        self.registered.store(data, Ordering::Relaxed);
    }
}

// A scope that moves between threads keeps waits in its task tables.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Wait>();
    assert_send_sync::<Waits>();
};

/// A shared primitive that can describe one of its waiters for a dump.
pub(crate) trait DescribeWait: Send + Sync {
    /// Describes the wait of the waiter `key` (its place in the queue, say).
    fn describe_wait(&self, key: u32) -> String;
}

thread_local! {
    static REPORTS: RefCell<Vec<Wait>> = const { RefCell::new(Vec::new()) };
}

/// How many reports one poll of a task keeps: a task may poll a million sleeps in one
/// poll, and their reports must not hold memory until it yields. Dropping a report can
/// only make the deadlock analysis more careful (an unexplained waker clone counts as a
/// possible wake-up), and the dump says that more were left out.
const MAX_REPORTS_PER_POLL: usize = 32;

/// Reports that the task polled with `waker` waits on `wait` (ignored unless `waker` is
/// the polled task's own waker).
pub(crate) fn report(waker: &Waker, wait: Wait) {
    REPORTS.with(|r| {
        let mut reports = r.borrow_mut();
        let position = reports.len();
        let Some(first) = note_report(waker, position) else {
            return;
        };
        match (position - first).cmp(&MAX_REPORTS_PER_POLL) {
            std::cmp::Ordering::Less => reports.push(wait),
            std::cmp::Ordering::Equal => reports.push(Wait::External(
                "more, left out (a poll keeps its first 32 waits)",
            )),
            std::cmp::Ordering::Greater => {}
        }
    });
}

/// Takes the reports of a poll that started them at `first` (see
/// [`FrameReport::first_report`](super::FrameReport::first_report)): `None`, and
/// no thread-local access, when the poll made none.
pub(crate) fn take(first: u32) -> Option<Waits> {
    if first == NO_REPORT {
        return None;
    }
    let first = first as usize;
    Some(REPORTS.with(|r| {
        let mut reports = r.borrow_mut();
        if reports.len() == first + 1 {
            Waits::One(reports.pop().expect("a report at `first`"))
        } else {
            Waits::Many(reports.drain(first..).collect())
        }
    }))
}
