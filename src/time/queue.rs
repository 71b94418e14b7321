//! A timer queue: a [`TimerHeap`] behind a mutex, shared by the timers registered in it
//! and by whoever fires them (a loop, or the fallback timer thread).
//!
//! A [`Sleep`](crate::Sleep) may be dropped on any thread (it is `Send`), so cancelling
//! reaches the heap through an `Arc` and a mutex. The mutex is uncontended in the common
//! case: registration and firing happen on the loop's thread.
//!
//! # Invariants
//!
//! 1. No waker is woken or dropped while the mutex is held (the heap hands them out).
//! 2. A queue served by a thread (`Service::Thread`) notifies the condvar whenever a new
//!    timer becomes the earliest, under the same mutex the thread waits with, so the
//!    thread never sleeps past a deadline.
//! 3. A closed queue (its loop ended) accepts no timers; keys into it are all dead, and
//!    the timers it held when it closed were woken.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Instant;

use super::heap::{TimerHeap, TimerKey, Update};

/// Who fires the timers of a queue.
#[derive(Debug)]
pub(crate) enum Service {
    /// A `run` loop, which looks at the heap every time it goes idle.
    Loop,
    /// The fallback timer thread, which waits on this condvar.
    Thread(Condvar),
}

#[derive(Debug)]
pub(crate) struct TimerQueue {
    heap: Mutex<State>,
    service: Service,
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) heap: TimerHeap,
    closed: bool,
}

/// What [`TimerQueue::update`] found.
pub(crate) enum Refresh {
    /// Still registered under the same key.
    Registered,
    /// The timer had left the queue; it must be registered again.
    Gone,
}

impl TimerQueue {
    /// An empty queue for deadlines after `now` (the reading of the clock that will
    /// serve it).
    pub(crate) fn new(service: Service, now: Instant) -> Self {
        TimerQueue {
            heap: Mutex::new(State {
                heap: TimerHeap::new(now),
                closed: false,
            }),
            service,
        }
    }

    /// Orders timers with equal deadlines by `seed` (see `TimerHeap::shuffle_ties`).
    pub(crate) fn shuffle_ties(&self, seed: u64) {
        self.lock().heap.shuffle_ties(seed);
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.heap.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn service(&self) -> &Service {
        &self.service
    }

    /// Registers a timer; `None` if the queue is closed.
    pub(crate) fn insert(&self, deadline: Instant, waker: &Waker) -> Option<TimerKey> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        let (key, earliest) = state.heap.insert(deadline, waker.clone());
        if let (true, Service::Thread(condvar)) = (earliest, &self.service) {
            condvar.notify_one();
        }
        Some(key)
    }

    /// Points a registered timer at `waker` (re-polling with a new waker must not lose
    /// the wake-up).
    pub(crate) fn update(&self, key: TimerKey, waker: &Waker) -> Refresh {
        let update = self.lock().heap.update(key, waker);
        match update {
            Update::Pending(replaced) => {
                drop(replaced);
                Refresh::Registered
            }
            Update::Gone => Refresh::Gone,
        }
    }

    /// Cancels a timer (a no-op if it already fired).
    pub(crate) fn remove(&self, key: TimerKey) {
        let waker = self.lock().heap.remove(key);
        drop(waker);
    }

    /// How many pending timers each waker (by data pointer) is registered in.
    pub(crate) fn count_by_waker(&self) -> std::collections::HashMap<usize, usize> {
        self.lock().heap.count_by_waker()
    }

    /// The earliest pending deadline, if any.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.lock().heap.peek_live()
    }

    /// Fires due timers into `fired` and returns the next pending deadline.
    pub(crate) fn fire_due(&self, now: Instant, fired: &mut Vec<Waker>) -> Option<Instant> {
        self.lock().heap.fire_due(now, fired)
    }

    /// Closes the queue and wakes the timers still registered: their loop has ended, and
    /// a future that outlives it (to be continued by a later `run`) must be polled again
    /// to re-register its timer there.
    pub(crate) fn close(&self) {
        let wakers = {
            let mut state = self.lock();
            state.closed = true;
            state.heap.clear()
        };
        crate::wakers::wake_all(wakers);
    }
}
