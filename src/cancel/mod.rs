//! What a cancellation is: why a task or scope was cancelled ([`CancelReason`]), which
//! task a reason names ([`TaskRef`]), and the cell through which a cancellation is
//! requested.
//!
//! Plumbing is kept apart from origination (as trio keeps `CancelStatus` apart from
//! `CancelScope`): [`request`] is the cell a scope's driver polls to learn that it must
//! tear down, shared by every way of asking. What users hold and call
//! ([`CancelHandle`](crate::CancelHandle), [`Scope::cancel`](crate::Scope::cancel),
//! [`is_cancelled`](crate::is_cancelled), [`shield`](crate::shield)) acts on the scope
//! tree and lives with it, in `scope/`. Propagation through the tree is done by the scope
//! driver (`scope::driver`): a cancelled scope drops its tasks, which drops the scopes
//! nested inside them, descendants first. This module imports nothing else of duet.

mod reason;
pub(crate) mod request;
mod task_ref;

pub use reason::CancelReason;
pub use task_ref::TaskRef;
