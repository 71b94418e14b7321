//! [`LimitedScope`]: a scope plus a limiter; all the work started through it shares the
//! limiter's slots.
//!
//! Built only on [`Scope::spawn`], [`Limiter`] and the pmap engine. A task spawned
//! through it waits (FIFO) for a slot before it runs and holds the slot until it ends; a
//! pmap started through it takes a slot before it pulls each item, so its input is
//! throttled by the limiter, and every call holds its slot until it has its result.
//!
//! The struct and its kind-independent methods are one source, `per_kind.rs`, compiled
//! for each kind of scope: `local.rs` (the crate root's [`LimitedScope`]) and `send.rs`
//! (`duet::send::LimitedScope`, whose pmap methods take an `Fn` returning a `Send`
//! future, as `duet::send::pmap_async` does).

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

pub use local::LimitedScope;
