//! The plain data a scope's cells hold, the same for both kinds of scope (`local.rs`,
//! `send.rs`): its phase, task keys, why a task is cancelled, what the dump sees of the
//! body.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::current::waits::Waits;
use crate::{CancelReason, ScopeError};

/// Where a scope is in its life. It only moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The body or some task is still running, and nothing asked to cancel.
    Running,
    /// Soft cancellation: observers were told, tasks may finish or clean up until the
    /// grace period ends.
    Cancelling,
    /// Hard cancellation: tasks are being dropped (shielded ones once their shield ends);
    /// spawns are cancelled on arrival.
    TearingDown,
    /// The scope has produced its result (or was dropped); spawning is a misuse.
    Finished,
}

/// Identifies one task of a scope; the generation tells reused slots apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TaskKey {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// The slot index that stands for a scope's body.
pub(crate) use crate::current::frame::BODY;

/// Who asked for one task to be cancelled: its join handle, or
/// [`Scope::cancel_tasks`](crate::Scope::cancel_tasks) for every task of its scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskCancel {
    Handle,
    AllTasks,
}

impl TaskCancel {
    /// The reason the task is cancelled for.
    pub(crate) fn reason(self) -> CancelReason {
        match self {
            TaskCancel::Handle => CancelReason::JoinHandle,
            TaskCancel::AllTasks => CancelReason::TasksCancelled,
        }
    }
}

/// The state of a scope's body, as the dump and the deadlock analysis see it.
#[derive(Default)]
pub(crate) struct BodyView {
    pub(crate) done: bool,
    pub(crate) polling: bool,
    pub(crate) shielded: bool,
    pub(crate) waits: Waits,
}

/// Scope ids start at 1 and are unique per process, across both kinds (they name scopes
/// in dumps, task references and wait reports).
static NEXT_SCOPE_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_scope_id() -> u64 {
    NEXT_SCOPE_ID.fetch_add(1, Ordering::Relaxed)
}

/// How a scope ended, in full: the body's value if it returned one (even if tasks
/// failed, or the scope was cancelled after the body returned), every error, and the
/// reason if the scope was cancelled.
pub(crate) struct Outcome<V, E> {
    pub(crate) value: Option<V>,
    pub(crate) errors: Vec<E>,
    pub(crate) cancelled: Option<CancelReason>,
}

impl<V, E> Outcome<V, E> {
    /// The result of a scope that keeps its value only if nothing went wrong.
    pub(crate) fn into_result(self) -> Result<V, ScopeError<E>> {
        let Outcome {
            value,
            mut errors,
            cancelled,
        } = self;
        match cancelled {
            Some(reason) => Err(ScopeError::Cancelled { reason, errors }),
            None if !errors.is_empty() => {
                let error = errors.remove(0);
                Err(ScopeError::Failed {
                    error,
                    others: errors,
                })
            }
            // Nothing ended the scope early and nothing failed: the body returned `Ok`.
            None => Ok(value.expect("the body finished successfully before the scope did")),
        }
    }
}
