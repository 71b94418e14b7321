//! Cancellation: why a task or scope was cancelled, and how a cancellation is requested.
//!
//! Plumbing is kept apart from origination (as trio keeps `CancelStatus` apart from
//! `CancelScope`): [`request`] is the cell a scope's driver polls to learn that it must
//! tear down, shared by every way of asking; [`CancelHandle`] and
//! [`Scope::cancel`](crate::Scope::cancel) are what users hold. Propagation through the
//! tree is done by the scope driver (`scope::driver`): a cancelled scope drops its tasks,
//! which drops the scopes nested inside them, descendants first.

mod handle;
mod observe;
mod reason;
pub(crate) mod request;
mod shield;

pub use handle::CancelHandle;
pub use observe::{cancel_reason, cancelled, is_cancelled};
pub use reason::CancelReason;
pub use shield::{Shield, shield};
