//! [`race`] and [`first_ok`]: the first of several futures wins, the rest are cancelled
//! and torn down before the call returns.
//!
//! Both run their futures as tasks of a scope of their own (never adopted by Ctrl-C, so
//! an interruption reaches whatever awaits them) and take outcomes from a
//! [`TaskSet`](crate::TaskSet) in the order they finish. Returning drops the set, which
//! cancels the losers through their join handles, and the scope does not complete until
//! they are dropped (a loser inside a shield finishes its shield first): no loser is
//! still running, or still holding a resource, once the race has returned.
//!
//! The code is one source, `per_kind.rs`, compiled for each kind of scope: `local.rs`
//! (the crate root's [`race`], [`first_ok`]) and `send.rs` (`duet::send::race`,
//! `duet::send::first_ok`, whose futures must be `Send` and whose own future then is).

use std::convert::Infallible;

use crate::ScopeError;

// `per_kind.rs` is compiled twice on purpose, once per kind of scope.
#[allow(
    clippy::duplicate_mod,
    reason = "one copy per kind of scope: local.rs, send.rs"
)]
mod local;
#[allow(
    clippy::duplicate_mod,
    reason = "one copy per kind of scope: local.rs, send.rs"
)]
pub(crate) mod send;

pub use local::{first_ok, race};

/// Nothing cancels a member of a race but the race itself, which takes no outcome after.
#[cold]
pub(crate) fn lost_member(form: &str, error: crate::JoinError) -> ! {
    unreachable!("duet::{form}: a future of the race ended without an outcome ({error})")
}

#[cold]
pub(crate) fn own_scope_ended(form: &str, error: ScopeError<Infallible>) -> ! {
    unreachable!("duet::{form}: its own scope, which nothing else can cancel, ended ({error})")
}
