//! Buffered futures and the idle flush: deferring work until the loop has nothing to do.
//!
//! A buffered [`AwaitableFuture`](super::AwaitableFuture) carries a *flush action*: the
//! work that will complete it (typically "send every request collected so far"). The
//! action does not run when the future is created; it runs once, at the first of:
//!
//! - the loop that awaits the future going idle: when a task of a `run` loop polls a
//!   pending buffered future, the future is queued on that loop's [`FlushQueue`] (the
//!   thread's current one, which `run` enters for its loop: [`EnterFlushQueue`]); when
//!   nothing in the loop is ready any more, the loop flushes the whole queue before it
//!   considers parking (`runtime::run`, the idle step);
//! - the future being polled by anything that is not a duet loop's task (a blocking
//!   executor such as `futures::executor::block_on`, another runtime, a sub-executor
//!   such as `FuturesUnordered`): duet cannot know when that executor will be idle, or
//!   whether it will block the loop's thread, so the action runs at once;
//! - an explicit [`AwaitableFuture::flush`](super::AwaitableFuture::flush).
//!
//! The action is dropped unrun if the future completes first (for example because its
//! awaiter was cancelled).
//!
//! # Invariants
//!
//! 1. A flush action runs at most once: it is taken out of the cell under its lock.
//! 2. A pending buffered future polled by a loop's task is in that loop's queue: it is
//!    queued unless its cell records that loop as the last one it was queued on. A
//!    future queued on an outer loop and then awaited in a nested `run` is queued on the
//!    nested loop too, so the nested loop's idle flush runs it (the outer loop cannot
//!    go idle while the nested call blocks its thread).
//! 3. The queue holds cells, not handles: being queued neither keeps a future from being
//!    abandoned nor counts as awaiting it.
//! 4. A loop that ends flushes the futures still queued on it: their awaiters outlive it
//!    (they are continued by a later `run`), and may never see an idle point otherwise.
//! 5. The current flush queue is the innermost active `run`'s, or none (outside every
//!    loop, and while a simulation runs an offloaded job); every change is undone by a
//!    guard, on return or unwind.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;

use super::cell::{FutureCell, State};
use crate::current::frame;

thread_local! {
    /// The flush queue of the innermost loop on this thread (none outside every loop).
    static CURRENT: RefCell<Option<Rc<FlushQueue>>> = const { RefCell::new(None) };
}

/// A future whose deferred work can be run now.
pub(crate) trait Flush: Send + Sync {
    /// Runs the deferred work if it has not run yet; true if it ran.
    fn flush(self: Arc<Self>) -> bool;
}

impl<T: Send + 'static> Flush for FutureCell<T> {
    fn flush(self: Arc<Self>) -> bool {
        self.run_flush()
    }
}

/// One loop's buffered futures waiting for its next idle point.
pub(crate) struct FlushQueue {
    /// The id of the loop it belongs to.
    loop_id: u64,
    queued: RefCell<Vec<Arc<dyn Flush>>>,
}

impl FlushQueue {
    /// The queue of the loop `loop_id`.
    pub(crate) fn new(loop_id: u64) -> Self {
        FlushQueue {
            loop_id,
            queued: RefCell::new(Vec::new()),
        }
    }

    /// Runs the flush action of every queued future that still has one; true if any ran.
    ///
    /// Flush actions run user code; anything they queue (they cannot poll this loop's
    /// tasks, so normally nothing) waits for the next idle point.
    pub(crate) fn flush_all(&self) -> bool {
        let queued = std::mem::take(&mut *self.queued.borrow_mut());
        let mut flushed = false;
        for future in queued {
            flushed |= future.flush();
        }
        flushed
    }

    fn push(&self, future: Arc<dyn Flush>) {
        self.queued.borrow_mut().push(future);
    }
}

impl Drop for FlushQueue {
    /// The loop ends, and nothing it polled will run in it again: its end is its last
    /// idle point. Futures still queued outlive it (their tasks were dropped with the
    /// root, which cancelled theirs), awaited by a future that a later `run` continues
    /// (a scope polled one run per frame); their work is sent now, and completing them
    /// wakes whoever polls them next. (A panicking action completes its own future.)
    fn drop(&mut self) {
        self.flush_all();
    }
}

impl fmt::Debug for FlushQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlushQueue")
            .field("loop_id", &self.loop_id)
            .field("queued", &self.queued.try_borrow().map(|q| q.len()).ok())
            .finish()
    }
}

/// Queues a pending buffered future polled with `waker` on the loop that polls it
/// (invariant 2). Returns true when it must be flushed now instead: it was polled from
/// outside any loop's task. Called under the cell's lock; runs no user code.
pub(crate) fn schedule_flush<T>(cell: &FutureCell<T>, state: &mut State<T>, waker: &Waker) -> bool {
    if state.flush.is_none() {
        return false;
    }
    let (Some(queue), Some(flusher)) = (polling_flush_queue(waker), cell.flusher()) else {
        return true;
    };
    if state.flush_loop != queue.loop_id {
        state.flush_loop = queue.loop_id;
        queue.push(flusher);
    }
    false
}

/// The flush queue of the loop whose task is being polled with `waker` right now, if the
/// caller is polled directly by a loop's task (see `current::frame::is_polling`).
fn polling_flush_queue(waker: &Waker) -> Option<Rc<FlushQueue>> {
    if frame::is_polling(waker) {
        CURRENT.with(|c| c.borrow().clone())
    } else {
        None
    }
}

/// Makes `queue` (`None`: no loop's) the current flush queue until dropped, then
/// restores the previous one.
pub(crate) struct EnterFlushQueue {
    previous: Option<Rc<FlushQueue>>,
}

impl EnterFlushQueue {
    pub(crate) fn new(queue: Option<Rc<FlushQueue>>) -> Self {
        EnterFlushQueue {
            previous: CURRENT.with(|c| c.replace(queue)),
        }
    }
}

impl Drop for EnterFlushQueue {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}
