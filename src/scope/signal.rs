//! The part of a scope that other threads may touch: its ready queue, the waker of whoever
//! polls the scope, and its cancellation request.
//!
//! # Invariants
//!
//! 1. An index is in `ready` at most once at a time: only a [`TaskWaker`] whose `queued`
//!    flag went from false to true pushes it (see `waker`).
//! 2. Every push, cancellation request and handle-cancel notification wakes `parent`
//!    afterwards, so a scope that returned `Pending` is always polled again after any of
//!    them.
//!
//! [`TaskWaker`]: super::waker::TaskWaker

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Waker;

use futures::task::AtomicWaker;

use crate::CancelReason;
use crate::cancel::request::CancelRequest;

#[derive(Default)]
pub(crate) struct Signal {
    ready: Mutex<Vec<u32>>,
    parent: AtomicWaker,
    cancel: CancelRequest,
    /// Live [`CancelHandle`](crate::CancelHandle)s: each one can wake the scope from
    /// outside the task tree, so a scope with any of them is never "stuck".
    remote_handles: AtomicUsize,
}

impl Signal {
    pub(crate) fn push(&self, index: u32) {
        self.ready
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(index);
        self.parent.wake();
    }

    /// Moves every queued index into `batch` (which must be empty).
    pub(crate) fn take_ready(&self, batch: &mut Vec<u32>) {
        debug_assert!(batch.is_empty());
        std::mem::swap(
            &mut *self.ready.lock().unwrap_or_else(|e| e.into_inner()),
            batch,
        );
    }

    pub(crate) fn has_ready(&self) -> bool {
        !self
            .ready
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    pub(crate) fn register(&self, waker: &Waker) {
        self.parent.register(waker);
    }

    /// Wakes whoever polls the scope without queueing a task.
    pub(crate) fn notify(&self) {
        self.parent.wake();
    }

    pub(crate) fn cancel(&self, reason: CancelReason) {
        if self.cancel.request(reason) {
            self.parent.wake();
        }
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
