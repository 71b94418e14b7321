//! The part of a scope that other threads may touch: its ready queue, the waker of whoever
//! polls the scope, and its cancellation request.
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
//!
//! [`TaskWaker`]: super::waker::TaskWaker

use std::sync::Arc;
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

#[derive(Default)]
pub(crate) struct Signal {
    queue: Mutex<ReadyQueue>,
    parent: AtomicWaker,
    cancel: CancelRequest,
    /// Live [`CancelHandle`](crate::CancelHandle)s: each one can wake the scope from
    /// outside the task tree, so a scope with any of them is never "stuck".
    remote_handles: AtomicUsize,
    /// The data pointer of the parent's waker registered last (for the deadlock analysis,
    /// which runs on the loop's thread, as the registration does).
    registered: AtomicUsize,
    /// The gate of the virtual clock the scope was opened under, which every wake of its
    /// tasks counts itself in (see `time::gate`); `None` on the real clock.
    gate: Option<Arc<ClockGate>>,
}

impl Signal {
    pub(crate) fn new(gate: Option<Arc<ClockGate>>) -> Self {
        Signal {
            gate,
            ..Signal::default()
        }
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

    pub(crate) fn cancel_reason(&self) -> Option<CancelReason> {
        self.cancel.reason()
    }

    pub(crate) fn add_remote_handle(&self) {
        self.remote_handles.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn remove_remote_handle(&self) {
        self.remote_handles.fetch_sub(1, Ordering::Release);
    }

    pub(crate) fn has_remote_handles(&self) -> bool {
        self.remote_handles.load(Ordering::Acquire) > 0
    }
}
