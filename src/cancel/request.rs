//! The cell through which any thread asks a scope to cancel.
//!
//! # Invariants
//!
//! 1. The first request wins: its reason is the one the scope reports; later requests
//!    are ignored.
//! 2. `requested` is set only after `reason` is stored, so a reader that sees the flag
//!    finds the reason.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::CancelReason;

#[derive(Default)]
pub(crate) struct CancelRequest {
    requested: AtomicBool,
    reason: Mutex<Option<CancelReason>>,
}

impl CancelRequest {
    /// Records a request; returns false if one was already recorded.
    pub(crate) fn request(&self, reason: CancelReason) -> bool {
        let mut slot = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            return false;
        }
        *slot = Some(reason);
        self.requested.store(true, Ordering::Release);
        true
    }

    pub(crate) fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// The reason of the first request, if any.
    pub(crate) fn reason(&self) -> Option<CancelReason> {
        if !self.is_requested() {
            return None;
        }
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
