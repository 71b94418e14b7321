//! The loop context: per-`run` state that tasks reach through a thread-local.
//!
//! Each call to [`run`](crate::run) creates one [`LoopContext`] and makes it current for
//! the duration of the call; a nested `run` makes its own current and restores the
//! caller's when it returns or unwinds. Facilities that belong to one loop (timers, the
//! idle flush of buffered futures) hang their state here, so a nested run is isolated from
//! the outer one by construction.
//!
//! # Invariants
//!
//! 1. The current context is the innermost active `run` on this thread, or none.
//! 2. Loop ids are unique per process and never 0 (0 means "outside any loop").
//! 3. `buffered` holds only futures that a task of this loop polled; the loop flushes it
//!    at its idle step, before it considers parking.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::interop::FlushQueue;

/// Loop ids start at 1 so that 0 can mean "not inside `run`".
static NEXT_LOOP_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static CURRENT: RefCell<Option<Rc<LoopContext>>> = const { RefCell::new(None) };
}

/// State of one `run` loop.
#[derive(Debug)]
pub(crate) struct LoopContext {
    id: u64,
    /// Buffered futures awaited in this loop whose flush waits for its next idle point.
    pub(crate) buffered: FlushQueue,
}

impl LoopContext {
    pub(crate) fn new() -> Rc<Self> {
        Rc::new(LoopContext {
            id: NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed),
            buffered: FlushQueue::default(),
        })
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}

/// The id of the innermost loop on this thread, or 0 outside any loop.
pub(crate) fn current_loop() -> u64 {
    CURRENT.with(|c| c.borrow().as_ref().map_or(0, |c| c.id()))
}

/// The innermost loop's context on this thread, if any.
pub(crate) fn current() -> Option<Rc<LoopContext>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Makes a context current until dropped, then restores the previous one.
pub(crate) struct Enter {
    previous: Option<Rc<LoopContext>>,
}

impl Enter {
    pub(crate) fn new(context: Rc<LoopContext>) -> Self {
        Enter {
            previous: CURRENT.with(|c| c.replace(Some(context))),
        }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = self.previous.take());
    }
}
