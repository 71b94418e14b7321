//! `duet::send::race` and `duet::send::first_ok`: `per_kind.rs` over Send scopes.

pub(crate) use super::{lost_member, own_scope_ended};
pub(crate) use crate::scope::send::{Spawnable, TaskSet, internal_scope};

#[path = "per_kind.rs"]
mod per_kind;

pub use per_kind::{first_ok, race};
