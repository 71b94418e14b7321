//! The cell every handle of one [`AwaitableFuture`] shares.
//!
//! It owns the outcome, the wakers of the handles awaiting it (and of producers awaiting
//! `cancelled()`), the done-callbacks, the count of live handles, and, for a buffered
//! future, the flush action not yet run. Everything mutable sits behind one mutex; a
//! [`Status`] byte mirrors the outcome so that `is_done` and `is_cancelled` never lock.
//!
//! # Invariants
//!
//! 1. `outcome` goes from `None` to `Some` exactly once, in [`FutureCell::complete`], under the
//!    lock; `status` is written in the same critical section and never changes again.
//! 2. Completing takes the wakers, the callbacks and the flush action out of the state;
//!    after the lock is released every waker is woken, every callback is run once and
//!    the flush action is dropped. Nothing is registered after completion, so each
//!    callback runs exactly once and no waker is left behind.
//! 3. No user code runs while the lock is held: callbacks, flush actions, wakes, and the
//!    drops of a value that lost a race or of a waker that was replaced all happen after
//!    it is released. (A callback may
//!    therefore use any handle of the same future.)
//! 4. `handles` counts the live handles; `awaiters.len()` counts those that registered a
//!    waker by being polled and have not yet returned `Ready` or been dropped. While
//!    pending, `awaiters.len() == handles > 0` with no flush action left means nobody can
//!    complete the future any more: it completes at once as [`AwaitError::Abandoned`].
//! 5. While the future is pending, `handles` changes only under the lock, so the check in
//!    4 sees a stable count. Once it is complete the count no longer matters, and handles
//!    are cloned and dropped without locking: a producer dropping its handle right after
//!    completing never contends with the awaiter it just woke.
//!
//! [`AwaitableFuture`]: super::AwaitableFuture

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Weak};
use std::task::Waker;

use smallvec::SmallVec;

use super::AwaitableFuture;
use super::buffered::Flush;
use super::error::{AwaitError, panic_message};
use crate::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use crate::sync::{Mutex, MutexGuard};

/// What a future ended as; mirrored in [`FutureCell::status`] for lock-free queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Status {
    Pending = 0,
    Value = 1,
    Failed = 2,
    Cancelled = 3,
    Abandoned = 4,
    Panicked = 5,
}

impl Status {
    fn of<T>(outcome: &Result<T, AwaitError>) -> Status {
        match outcome {
            Ok(_) => Status::Value,
            Err(AwaitError::Failed(_)) => Status::Failed,
            Err(AwaitError::Cancelled) => Status::Cancelled,
            Err(AwaitError::Abandoned) => Status::Abandoned,
            Err(AwaitError::Panicked(_)) => Status::Panicked,
        }
    }

    fn from_u8(byte: u8) -> Status {
        match byte {
            0 => Status::Pending,
            1 => Status::Value,
            2 => Status::Failed,
            3 => Status::Cancelled,
            4 => Status::Abandoned,
            _ => Status::Panicked,
        }
    }

    /// True when a producer set this outcome (a value, an error, a job's panic): setting
    /// another one is a double completion. Cancelled and abandoned futures merely lost
    /// the race.
    pub(crate) fn set_by_producer(self) -> bool {
        matches!(self, Status::Value | Status::Failed | Status::Panicked)
    }
}

/// A done-callback, already wrapped to clone the outcome out of the cell.
pub(crate) type Callback<T> = Box<dyn FnOnce(&FutureCell<T>) + Send>;

/// A buffered future's deferred work; it receives a handle to complete the future with.
pub(crate) type FlushAction<T> = Box<dyn FnOnce(AwaitableFuture<T>) + Send>;

/// A small slab of wakers: a registered handle keeps its slot index.
pub(crate) struct Waiters {
    slots: SmallVec<[Option<Waker>; 1]>,
    free: Vec<usize>,
    len: usize,
}

impl Waiters {
    fn new() -> Self {
        Waiters {
            slots: SmallVec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    /// Registers `waker` in `slot` (allocating one if `None`) or refreshes it. Returns
    /// the waker it replaced, to be dropped after the lock is released (invariant 3).
    #[must_use = "drop the replaced waker after unlocking"]
    pub(crate) fn register(&mut self, slot: &mut Option<usize>, waker: &Waker) -> Option<Waker> {
        if let Some(index) = *slot {
            if let Some(Some(current)) = self.slots.get_mut(index) {
                if current.will_wake(waker) {
                    return None;
                }
                return Some(std::mem::replace(current, waker.clone()));
            }
        }
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index] = Some(waker.clone());
                index
            }
            None => {
                self.slots.push(Some(waker.clone()));
                self.slots.len() - 1
            }
        };
        self.len += 1;
        *slot = Some(index);
        None
    }

    /// Frees a slot and returns its waker (`None` if it held none), to be dropped after
    /// the lock is released.
    #[must_use = "drop the removed waker after unlocking"]
    pub(crate) fn remove(&mut self, index: usize) -> Option<Waker> {
        let waker = self.slots.get_mut(index).and_then(Option::take)?;
        self.free.push(index);
        self.len -= 1;
        Some(waker)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn take_all(&mut self) -> impl Iterator<Item = Waker> {
        self.free.clear();
        self.len = 0;
        std::mem::take(&mut self.slots).into_iter().flatten()
    }
}

pub(crate) struct State<T> {
    /// `None` while pending (invariant 1).
    pub(crate) outcome: Option<Result<T, AwaitError>>,
    /// Handles awaiting the outcome.
    pub(crate) awaiters: Waiters,
    /// Producers awaiting `cancelled()`.
    pub(crate) cancel_waiters: Waiters,
    callbacks: Vec<Callback<T>>,
    /// A buffered future's deferred work, until it runs or the future completes.
    pub(crate) flush: Option<FlushAction<T>>,
    /// The loop whose idle flush this future was last queued on (0: none).
    pub(crate) flush_loop: u64,
}

pub(crate) struct FutureCell<T> {
    status: AtomicU8,
    /// Live handles (invariants 4 and 5).
    handles: AtomicUsize,
    state: Mutex<State<T>>,
    /// For buffered futures: this cell as a type-erased flush target, to queue on a loop.
    /// Weak, so that the cell does not keep itself alive.
    flusher: Option<Weak<dyn Flush>>,
}

/// What completing the future left to do once the lock is released (invariant 3).
#[must_use = "the completion's wakes and callbacks run only in `finish`"]
pub(crate) struct Completion<T> {
    wakers: SmallVec<[Waker; 1]>,
    callbacks: Vec<Callback<T>>,
    flush: Option<FlushAction<T>>,
}

impl<T> FutureCell<T> {
    /// A cell with one handle, pending (`outcome == None`) or already complete.
    pub(crate) fn new(outcome: Option<Result<T, AwaitError>>) -> Arc<Self> {
        Arc::new(FutureCell::with_state(outcome, None, None))
    }

    /// A pending, buffered cell with one handle.
    pub(crate) fn buffered(flush: FlushAction<T>) -> Arc<Self>
    where
        T: Send + 'static,
    {
        Arc::new_cyclic(|weak: &Weak<Self>| {
            let flusher: Weak<dyn Flush> = weak.clone();
            FutureCell::with_state(None, Some(flush), Some(flusher))
        })
    }

    fn with_state(
        outcome: Option<Result<T, AwaitError>>,
        flush: Option<FlushAction<T>>,
        flusher: Option<Weak<dyn Flush>>,
    ) -> Self {
        let status = outcome.as_ref().map_or(Status::Pending, Status::of);
        FutureCell {
            status: AtomicU8::new(status as u8),
            handles: AtomicUsize::new(1),
            state: Mutex::new(State {
                outcome,
                awaiters: Waiters::new(),
                cancel_waiters: Waiters::new(),
                callbacks: Vec::new(),
                flush,
                flush_loop: 0,
            }),
            flusher,
        }
    }

    /// Locks the state. A panic never happens while it is held (no user code runs under
    /// it, invariant 3), but poisoning is ignored all the same.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn status(&self) -> Status {
        Status::from_u8(self.status.load(Ordering::Acquire))
    }

    /// Counts a new handle (invariant 5: locks only while pending).
    pub(crate) fn add_handle(&self) {
        if self.status() == Status::Pending {
            let _state = self.lock();
            self.handles.fetch_add(1, Ordering::Relaxed);
        } else {
            self.handles.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Uncounts a handle that is not awaiting, if the future is complete: no lock needed
    /// (invariant 5). False if it is pending: the caller must lock and use
    /// [`remove_handle`](Self::remove_handle).
    pub(crate) fn try_remove_handle_unlocked(&self) -> bool {
        if self.status() == Status::Pending {
            return false;
        }
        self.handles.fetch_sub(1, Ordering::Relaxed);
        true
    }

    /// Uncounts a handle, under the lock.
    pub(crate) fn remove_handle(&self, _locked: &mut State<T>) {
        self.handles.fetch_sub(1, Ordering::Relaxed);
    }

    /// Invariant 4: every live handle is waiting and no flush action is left to run.
    pub(crate) fn is_abandoned(&self, state: &State<T>) -> bool {
        state.outcome.is_none()
            && state.awaiters.len() > 0
            && state.awaiters.len() == self.handles.load(Ordering::Relaxed)
            && state.flush.is_none()
    }

    /// This cell as a flush target, if it is buffered and still alive.
    pub(crate) fn flusher(&self) -> Option<Arc<dyn Flush>> {
        self.flusher.as_ref().and_then(Weak::upgrade)
    }

    /// Completes the future with `outcome` if it is pending. Otherwise gives `outcome`
    /// back (to be dropped outside the lock) with the status the future already had.
    pub(crate) fn try_complete(
        &self,
        outcome: Result<T, AwaitError>,
    ) -> Result<(), (Result<T, AwaitError>, Status)> {
        let mut state = self.lock();
        if state.outcome.is_some() {
            drop(state);
            return Err((outcome, self.status()));
        }
        let completion = self.complete(&mut state, outcome);
        drop(state);
        completion.finish(self);
        Ok(())
    }

    /// Stores the outcome of a pending future and takes what must run afterwards.
    pub(crate) fn complete(
        &self,
        state: &mut State<T>,
        outcome: Result<T, AwaitError>,
    ) -> Completion<T> {
        debug_assert!(state.outcome.is_none(), "completed twice");
        self.status
            .store(Status::of(&outcome) as u8, Ordering::Release);
        state.outcome = Some(outcome);
        Completion {
            wakers: state
                .awaiters
                .take_all()
                .chain(state.cancel_waiters.take_all())
                .collect(),
            callbacks: std::mem::take(&mut state.callbacks),
            flush: state.flush.take(),
        }
    }

    /// Registers a done-callback, or returns it to be run at once if already done.
    pub(crate) fn add_callback(&self, callback: Callback<T>) -> Option<Callback<T>> {
        let mut state = self.lock();
        if state.outcome.is_none() {
            state.callbacks.push(callback);
            None
        } else {
            Some(callback)
        }
    }

    /// Runs the flush action, if it is still there, giving it a handle to the future.
    /// A panicking action completes the future as [`AwaitError::Panicked`]. Returns
    /// whether an action ran.
    pub(crate) fn run_flush(self: &Arc<Self>) -> bool {
        let (action, handle, keep) = {
            let mut state = self.lock();
            let Some(action) = state.flush.take() else {
                return false;
            };
            // One handle for the action, one kept here until it returns: if the action
            // panics, the future reports the panic rather than "abandoned" (which the
            // drop of its handle during unwinding would otherwise cause).
            self.handles.fetch_add(2, Ordering::Relaxed);
            (
                action,
                AwaitableFuture::from_counted(self.clone()),
                AwaitableFuture::from_counted(self.clone()),
            )
        };
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| action(handle))) {
            let message = panic_message(&*payload);
            let _ = keep.inner.try_complete(Err(AwaitError::Panicked(message)));
        }
        drop(keep);
        true
    }
}

impl<T> Completion<T> {
    /// Wakes every waiter and runs every callback (each inside `catch_unwind`, so a
    /// panicking waker or callback strands none of the others), drops the flush action,
    /// then re-raises the first panic, unless the thread is already unwinding (a second
    /// panic would abort).
    pub(crate) fn finish(self, cell: &FutureCell<T>) {
        let Completion {
            wakers,
            callbacks,
            flush,
        } = self;
        let mut first_panic: Option<Box<dyn Any + Send>> = crate::wakers::wake_all_catching(wakers);
        for callback in callbacks {
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| callback(cell))) {
                first_panic.get_or_insert(payload);
            }
        }
        drop(flush);
        if let Some(payload) = first_panic {
            crate::wakers::reraise(payload);
        }
    }
}
