//! The fallback timer thread: serves timers polled outside any `duet::run`.
//!
//! A duet future may be awaited by another executor (a duet scope inside
//! `futures::executor::block_on`, a `sleep` inside a tokio task). No duet loop is there to
//! fire its timers, so they go to one process-wide [`TimerQueue`] served by a thread that
//! is started the first time such a timer is registered and then lives as long as the
//! process. It sleeps on a condvar until the earliest deadline plus the default timer
//! slack (or without a timeout when no timer is pending), fires what is due and goes back
//! to sleep: it never busy-waits, and costs nothing to programs that only use timers
//! inside `duet::run`.
//!
//! # Invariants
//!
//! 1. The thread only waits after it has fired every due timer and read the earliest
//!    remaining deadline under the queue's mutex; an insertion of an earlier timer
//!    notifies the condvar under the same mutex, so no deadline is slept through.
//! 2. Wakers are woken with the mutex released (a waker may poll or register timers); a
//!    waker that panics is reported by the panic hook and does not stop the thread.
//! 3. The fallback always uses the real clock.

use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::Instant;

use super::clock::DEFAULT_SLACK;
use super::queue::{Service, TimerQueue};

static GLOBAL: OnceLock<Arc<TimerQueue>> = OnceLock::new();

/// The process-wide queue, starting its thread on first use.
pub(crate) fn queue() -> &'static Arc<TimerQueue> {
    GLOBAL.get_or_init(|| {
        let queue = Arc::new(TimerQueue::new(
            Service::Thread(std::sync::Condvar::new()),
            Instant::now(),
        ));
        let served = queue.clone();
        thread::Builder::new()
            .name("duet-timer".into())
            .spawn(move || serve(&served))
            .unwrap_or_else(|error| {
                panic!(
                    "duet: could not start the timer thread that serves timers awaited \
                     outside duet::run ({error}); await the timer inside duet::run instead"
                )
            });
        queue
    })
}

fn serve(queue: &TimerQueue) -> ! {
    let Service::Thread(condvar) = queue.service() else {
        unreachable!("the fallback queue is served by a thread")
    };
    let mut fired = Vec::new();
    let mut state = queue.lock();
    loop {
        let now = Instant::now();
        let next = state.heap.fire_due(now, &mut fired);
        if !fired.is_empty() {
            drop(state);
            // A panicking waker must not end the thread that serves every such timer:
            // the others are woken, and the panic was reported by the panic hook.
            drop(crate::wakers::wake_all_catching(fired.drain(..)));
            state = queue.lock();
            continue;
        }
        state = match next {
            // The slack lets deadlines close together fire in one wake-up (nothing fires
            // early: firing compares with the clock).
            Some(deadline) => {
                condvar
                    .wait_timeout(
                        state,
                        deadline.saturating_duration_since(now) + DEFAULT_SLACK,
                    )
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            None => condvar.wait(state).unwrap_or_else(|e| e.into_inner()),
        };
    }
}
