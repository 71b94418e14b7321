//! The cell through which any thread asks a scope to cancel.
//!
//! A request carries a reason and a grace period: either one the caller gives
//! (`cancel_with_grace`), or the scope's default (`cancel`, timeouts, Ctrl-C), which the
//! scope's driver resolves from its options. Several requests combine: the first reason
//! stays, and the shortest grace wins (so a hard `cancel` ends a soft one).
//!
//! # Invariants
//!
//! 1. The first request wins: its reason is the one the scope reports.
//! 2. `requested` is set only after the request is stored, so a reader that sees the flag
//!    finds it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::CancelReason;

/// How long a cancellation lets tasks finish before dropping them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grace {
    /// The scope's default (its `ScopeOptions::grace`, or none).
    Default,
    Given(Duration),
}

#[derive(Default)]
struct Requests {
    reason: Option<CancelReason>,
    shortest_given: Option<Duration>,
    default_requested: bool,
}

#[derive(Default)]
pub(crate) struct CancelRequest {
    requested: AtomicBool,
    requests: Mutex<Requests>,
}

impl CancelRequest {
    /// Records a request; returns true if it changes anything (first request, or a
    /// shorter grace).
    pub(crate) fn request(&self, reason: CancelReason, grace: Grace) -> bool {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let first = requests.reason.is_none();
        requests.reason.get_or_insert(reason);
        let changed = match grace {
            Grace::Default => !std::mem::replace(&mut requests.default_requested, true),
            Grace::Given(given) => {
                let shorter = requests.shortest_given.is_none_or(|g| given < g);
                if shorter {
                    requests.shortest_given = Some(given);
                }
                shorter
            }
        };
        self.requested.store(true, Ordering::Release);
        first || changed
    }

    pub(crate) fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// The first reason and the grace to apply, `default` standing for the scope's
    /// default grace.
    pub(crate) fn get(&self, default: Duration) -> Option<(CancelReason, Duration)> {
        if !self.is_requested() {
            return None;
        }
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let reason = requests.reason.clone()?;
        let mut grace = requests.shortest_given.unwrap_or(Duration::MAX);
        if requests.default_requested {
            grace = grace.min(default);
        }
        Some((reason, grace))
    }

    /// The reason of the first request, if any.
    pub(crate) fn reason(&self) -> Option<CancelReason> {
        if !self.is_requested() {
            return None;
        }
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reason
            .clone()
    }
}
