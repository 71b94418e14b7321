//! Send scopes (the scope half of `duet::send`, whose public face and docs are
//! `src/send.rs`): the code of `per_kind/` with `Arc` and mutex-backed cells
//! (`kind/send.rs`), so that a scope whose body and tasks are `Send` is a `Send` future.

// The scope code of `per_kind/`, compiled with the cells of a Send scope. Its files name
// what they share with the other kind through `super::` (the re-exports below).
#[path = "kind/send.rs"]
pub(crate) mod kind;

#[path = "per_kind/core.rs"]
pub(crate) mod core;
#[path = "per_kind/driver.rs"]
mod driver;
#[path = "per_kind/handle.rs"]
mod handle;
#[path = "per_kind/join.rs"]
mod join;
#[path = "per_kind/open.rs"]
mod open;
#[path = "per_kind/openers.rs"]
mod openers;
#[path = "per_kind/supervise.rs"]
mod supervise;
#[path = "per_kind/task_set.rs"]
mod task_set;
#[path = "per_kind/tasks.rs"]
mod tasks;
#[path = "per_kind/timed.rs"]
mod timed;
#[cfg(feature = "tracing")]
#[path = "per_kind/trace.rs"]
mod trace;

pub(crate) use super::output::{BodyOutput, BodyValue};
pub(crate) use super::{
    ErrorPolicy, Interruptible, ScopeOptions, current, output, registry, signal, status,
    supervised, table, view, waker,
};

pub use handle::Scope;
pub use join::JoinHandle;
pub(crate) use openers::internal_scope;
pub use openers::{infallible, scope, scope_with};
pub use supervise::{supervise, supervise_with};
pub use task_set::TaskSet;
pub use timed::{deadline_scope, timeout_scope};

pub use kind::Spawnable;
