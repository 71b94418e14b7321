//! `race` and `first_ok` over local scopes: `per_kind.rs` with the crate root's scope.

pub(crate) use super::{lost_member, own_scope_ended};
pub(crate) use crate::scope::{LocalSpawnable as Spawnable, TaskSet, internal_scope};

#[path = "per_kind.rs"]
mod per_kind;

pub use per_kind::{first_ok, race};
