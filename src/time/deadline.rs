//! How nested deadlines compose: the earliest one wins.
//!
//! A *deadline holder* ([`Timeout`](crate::Timeout), a scope with a deadline) polls what it
//! guards inside [`EnteredDeadline`], which records the earliest deadline enclosing the
//! current poll (trio calls it the *effective deadline*). After the guarded poll stays
//! pending, the holder checks its own deadline; if that has passed, it fires only if no
//! enclosing deadline is earlier or equal ([`yields_to_enclosing`]).
//! Otherwise an enclosing holder, further up the same call stack, has passed its
//! deadline too and fires as soon as this poll returns to it: the outer result wins.
//!
//! So with an outer 0.5 s timeout around an inner 10 s one, the outer fires at 0.5 s
//! (the inner has not expired); and if the loop was blocked past both deadlines, the one
//! that passed first still wins, ties going to the outer one.
//!
//! The enclosing deadline is stored per loop (outside every loop, per thread), so a nested
//! `run` starts with none: an outer deadline does not reach into a nested root.
//!
//! # Invariants
//!
//! 1. The enclosing deadline is restored when the guard drops, including on unwind.
//! 2. A holder yields only to a deadline that is enclosing it on the current call stack,
//!    earlier or equal to its own, hence already passed; that holder acts on it before
//!    the poll returns to the loop (fires, or, if what it guards is suspended inside a
//!    shield, waits for the shield), so yielding never leaves a passed deadline
//!    unreported. A yielding holder does not wake its task: if the enclosing holder waits
//!    for a shield, such a wake would re-poll the task forever (a busy loop that kept a
//!    virtual clock still for good).
//! 3. Inside a shield no deadline encloses anything: enclosing deadlines cannot cut
//!    shielded work, so they must not make the shielded work's own limits yield either.

use std::time::Instant;

use super::source::with_source;

/// Marks a poll as running under `deadline` until dropped.
#[derive(Debug)]
pub(crate) struct EnteredDeadline {
    enclosing: Option<Instant>,
}

impl EnteredDeadline {
    pub(crate) fn new(deadline: Instant) -> Self {
        let enclosing = with_source(|source| {
            let enclosing = source.enclosing();
            source.set_enclosing(Some(enclosing.map_or(deadline, |e| e.min(deadline))));
            enclosing
        });
        EnteredDeadline { enclosing }
    }

    /// Marks a poll as running under no deadline until dropped: what a shield polls
    /// is out of reach of every deadline enclosing the shield, so its own time limits
    /// (`shield(timeout(d, cleanup))`) fire by themselves.
    pub(crate) fn none() -> Self {
        let enclosing = with_source(|source| {
            let enclosing = source.enclosing();
            source.set_enclosing(None);
            enclosing
        });
        EnteredDeadline { enclosing }
    }
}

/// True if a deadline enclosing the current poll is earlier than or equal to `deadline`:
/// when both have passed, the enclosing holder reports the timeout, not the caller.
pub(crate) fn yields_to_enclosing(deadline: Instant) -> bool {
    with_source(|source| source.enclosing()).is_some_and(|enclosing| enclosing <= deadline)
}

impl Drop for EnteredDeadline {
    fn drop(&mut self) {
        with_source(|source| source.set_enclosing(self.enclosing));
    }
}
