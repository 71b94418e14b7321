//! The part of a scope that other threads may touch: its ready queue, the waker of whoever
//! polls the scope, its cancellation request, and its place in the cancellation tree.
//!
//! The tree lives here rather than in `ScopeCore` because every link in it must be
//! thread-safe: a scope links to the scope it was opened in, and observing cancellation
//! (`duet::is_cancelled`, `duet::cancelled`) walks those links upwards, from whatever
//! thread polls the scope. Each `Signal` is an `Arc`; its parent link, its id, the reason
//! it was cancelled for and the observers waiting for that are set or read here, never
//! per task poll.
//!
//! # Invariants
//!
//! 1. An index is in `ready` at most once at a time: only a [`TaskWaker`] whose `queued`
//!    flag went from false to true pushes it (see `waker`).
//! 2. While the scope's driver is polling (`polling` is set), pushes do not wake the
//!    parent: the driver checks the queue before it returns. Otherwise the parent is
//!    woken when the queue goes from empty to non-empty; a non-empty queue means the
//!    parent was already woken since, or the driver is about to yield.
//! 3. Every cancellation request and handle-cancel notification wakes `parent`, and the
//!    driver re-checks for them after registering, so none is lost.
//! 4. The settled reason (why the scope left `Running`) is set once and never changes;
//!    setting it wakes every observer registered before, and an observer registered after
//!    finds it set (both under the observers' lock), so no `cancelled()` misses it.
//!
//! [`TaskWaker`]: super::waker::TaskWaker

use std::sync::{Arc, OnceLock, Weak};
use std::task::Waker;
use std::time::Duration;

use futures::task::AtomicWaker;

use crate::CancelReason;
use crate::cancel::request::{CancelRequest, Grace};
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::{Mutex, MutexGuard};
use crate::time::ClockGate;

#[derive(Default)]
struct ReadyQueue {
    ready: Vec<u32>,
    polling: bool,
}

/// Where a scope sits in the tree: the scope and task it was opened in.
pub(crate) struct ParentLink {
    pub(crate) signal: Arc<Signal>,
    /// The task of the parent the scope was opened in (`BODY` for its body).
    pub(crate) task: u32,
    /// The scope was opened inside a shield: the parent's cancellation stops here.
    pub(crate) shielded: bool,
}

/// Someone waiting for a scope (or an ancestor) to be cancelled: `duet::cancelled()`.
#[derive(Default)]
pub(crate) struct Observer {
    pub(crate) waker: std::sync::Mutex<Option<Waker>>,
}

impl Observer {
    pub(crate) fn set_waker(&self, waker: &Waker) {
        let mut slot = self.waker.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *slot {
            Some(old) if old.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }

    fn take_waker(&self) -> Option<Waker> {
        self.waker.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

#[derive(Default)]
pub(crate) struct Signal {
    queue: Mutex<ReadyQueue>,
    parent: AtomicWaker,
    cancel: CancelRequest,
    /// Live handles that may be on another thread ([`CancelHandle`](crate::CancelHandle)s;
    /// a Send scope's join handles and `Scope` clones, `kind/send.rs`): each one can wake
    /// the scope from outside the task tree, so a scope with any of them is never "stuck".
    remote_handles: AtomicUsize,
    /// The data pointer of the parent's waker registered last (for the deadlock analysis,
    /// which runs on the loop's thread, as the registration does).
    registered: AtomicUsize,
    /// The gate of the virtual clock the scope was opened under, which every wake of its
    /// tasks counts itself in (see `time::gate`); `None` on the real clock.
    gate: Option<Arc<ClockGate>>,
    /// The scope's id (it names the scope in dumps and task references).
    id: u64,
    link: Option<ParentLink>,
    /// Why the scope left `Running`, once it has (invariant 4).
    settled: OnceLock<CancelReason>,
    observers: std::sync::Mutex<Vec<Weak<Observer>>>,
}

impl Signal {
    pub(crate) fn new(id: u64, parent: Option<ParentLink>, gate: Option<Arc<ClockGate>>) -> Self {
        Signal {
            gate,
            id,
            link: parent,
            ..Signal::default()
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn parent(&self) -> Option<&ParentLink> {
        self.link.as_ref()
    }

    /// Records why the scope left `Running` (the first reason wins) and wakes its
    /// observers.
    pub(crate) fn settle(&self, reason: CancelReason) {
        let observers = {
            let mut observers = self.observers.lock().unwrap_or_else(|e| e.into_inner());
            if self.settled.set(reason).is_err() {
                return;
            }
            std::mem::take(&mut *observers)
        };
        crate::wakers::wake_all(
            observers
                .iter()
                .filter_map(Weak::upgrade)
                .filter_map(|observer| observer.take_waker()),
        );
    }

    /// Why the scope left `Running`, if it has.
    pub(crate) fn settled_reason(&self) -> Option<CancelReason> {
        self.settled.get().cloned()
    }

    /// The reason to report to code observing cancellation from inside the scope: why it
    /// left `Running`, or a request the driver has not acted on yet.
    pub(crate) fn observed_reason(&self) -> Option<CancelReason> {
        self.settled_reason().or_else(|| self.cancel.reason())
    }

    /// Registers `observer` to be woken when the scope leaves `Running`; false if it has
    /// already (the caller then reads the reason instead of waiting).
    pub(crate) fn add_observer(&self, observer: &Arc<Observer>) -> bool {
        let mut observers = self.observers.lock().unwrap_or_else(|e| e.into_inner());
        if self.settled.get().is_some() {
            return false;
        }
        if observers.len() >= 16 && observers.len().is_power_of_two() {
            observers.retain(|o| o.strong_count() > 0);
        }
        observers.push(Arc::downgrade(observer));
        true
    }

    #[inline]
    pub(crate) fn gate(&self) -> Option<&ClockGate> {
        self.gate.as_deref()
    }

    fn lock(&self) -> MutexGuard<'_, ReadyQueue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push(&self, index: u32) {
        let wake_parent = {
            let mut queue = self.lock();
            if queue.ready.capacity() == 0 {
                // As for the task tables: skip the first growth steps of a small scope.
                queue.ready.reserve_exact(super::table::FIRST_CAPACITY);
            }
            queue.ready.push(index);
            !queue.polling && queue.ready.len() == 1
        };
        if wake_parent {
            self.parent.wake();
        }
    }

    /// Marks the driver as polling and appends every queued index to `batch`.
    pub(crate) fn begin_round(&self, batch: &mut Vec<u32>) {
        let mut queue = self.lock();
        queue.polling = true;
        if batch.is_empty() {
            std::mem::swap(&mut queue.ready, batch);
        } else {
            batch.append(&mut queue.ready);
        }
    }

    /// Marks the driver as no longer polling; true if tasks were queued meanwhile (the
    /// driver must then make sure it is polled again).
    pub(crate) fn end_polling(&self) -> bool {
        let mut queue = self.lock();
        queue.polling = false;
        !queue.ready.is_empty()
    }

    pub(crate) fn register(&self, waker: &Waker) {
        self.registered
            .store(waker.data() as usize, Ordering::Relaxed);
        self.parent.register(waker);
    }

    /// The data pointer of the waker registered last: whose task the scope would wake.
    pub(crate) fn registered(&self) -> usize {
        self.registered.load(Ordering::Relaxed)
    }

    /// Wakes whoever polls the scope without queueing a task.
    pub(crate) fn notify(&self) {
        self.parent.wake();
    }

    pub(crate) fn cancel(&self, reason: CancelReason, grace: Grace) {
        if self.cancel.request(reason, grace) {
            self.parent.wake();
        }
    }

    /// The pending request, if any, with `default` standing for the scope's default grace.
    pub(crate) fn cancel_request(&self, default: Duration) -> Option<(CancelReason, Duration)> {
        self.cancel.get(default)
    }

    pub(crate) fn is_cancel_requested(&self) -> bool {
        self.cancel.is_requested()
    }

    pub(crate) fn add_remote_handle(&self) {
        self.remote_handles.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops one remote handle. The last one to go, between two polls of the scope, wakes
    /// its poller: the scope was not stuck at its last poll because of the handles, and
    /// may be now, which only a poll can report (a drop during a poll is seen by it: the
    /// driver reads the count after `end_polling`, under the same lock as here).
    pub(crate) fn remove_remote_handle(&self) {
        if self.remote_handles.fetch_sub(1, Ordering::AcqRel) == 1 && !self.lock().polling {
            self.parent.wake();
        }
    }

    pub(crate) fn has_remote_handles(&self) -> bool {
        self.remote_handles.load(Ordering::Acquire) > 0
    }
}
