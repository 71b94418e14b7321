//! [`Limiter`]: at most N holders at once, served in FIFO order, resizable at run time.
//!
//! A limiter counts *slots*. [`Limiter::acquire`] waits for one and returns a [`Slot`]
//! that gives it back when dropped; [`Limiter::run`] holds one while a future runs.
//! Waiters queue in arrival order and are served strictly in that order.
//!
//! # How a release goes
//!
//! Slots are *handed off*: when a holder releases its slot while acquirers are queued,
//! the slot goes to the first of them directly (the held count does not drop, the waiter
//! is marked served and woken). A newcomer can therefore never take a slot that a queued
//! waiter was promised, whatever order the tasks are polled in afterwards. The served
//! waiter picks its slot up when it is next polled; if it is dropped (cancelled) before
//! that, its drop releases the slot again, which hands it to the next waiter.
//!
//! Wakers are collected under the lock and woken after it is released.
//!
//! # Invariants
//!
//! 1. `held` is the number of live [`Slot`]s plus the number of served acquirers that have
//!    not yet picked theirs up.
//! 2. No acquirer is queued while a slot is free: after every change (release, resize,
//!    dequeue), free slots are handed to queued acquirers until either runs out.
//! 3. A slot is released exactly once: a [`Slot`] is not `Clone`, releasing consumes it,
//!    and a served acquirer's slot is released by its drop only if it never returned it.
//! 4. Capacity is never zero: `None` means unlimited, `Some(n)` has `n >= 1`.

mod acquire;
mod wait_list;

use std::fmt;
use std::future::IntoFuture;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use futures::Stream;
use smallvec::SmallVec;

pub use acquire::{Acquire, Available, Throttle};
use wait_list::WaitList;

/// Limits how many holders may be inside a section at once; waiters are served in FIFO
/// order.
///
/// Create one with [`Limiter::new`] (a number of slots) or [`Limiter::unlimited`].
/// [`acquire`](Limiter::acquire) waits for a slot and returns a [`Slot`] that gives it
/// back when dropped; [`run`](Limiter::run) holds a slot while a future runs.
///
/// - **FIFO.** Waiters are served in the order they started waiting. A released slot is
///   handed to the first waiter directly, so a newcomer never overtakes a waiter.
/// - **Resizable.** [`set_capacity`](Limiter::set_capacity) takes effect at once. Shrinking
///   below the number of slots held blocks new acquirers until enough slots are released;
///   growing hands the new slots to as many waiters as fit, immediately.
/// - **Cancellation.** A waiter that is dropped while queued leaves the queue. A waiter
///   that was handed a slot but dropped before it ran passes the slot to the next waiter.
///
/// # Sharing
///
/// `Limiter` is a cheap handle (an `Arc`): clones share the same slots. It is
/// `Send + Sync`, so one limiter can bound work across several threads, each running its
/// own [`run`](crate::run) loop (for example a per-process limit on RPCs). Its state sits
/// behind a mutex that is held only for a few instructions, never while user code runs.
///
/// A limiter does not know about scopes: holding a slot while awaiting something that
/// needs another slot of the same limiter (for example a nested `acquire` with capacity 1)
/// waits forever, as with any semaphore. The deadlock detector of [`run`](crate::run)
/// does not report it: a [`Slot`] may be on another thread, about to be released, and
/// duet cannot tell that apart from a slot held by a task that is stuck.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
///
/// let limiter = duet::Limiter::new(2);
/// let (inside, most) = (Cell::new(0), Cell::new(0));
/// duet::run_scope(async |s| {
///     for _ in 0..10 {
///         let (limiter, inside, most) = (&limiter, &inside, &most);
///         s.spawn(async move {
///             let _slot = limiter.acquire().await;
///             inside.set(inside.get() + 1);
///             most.set(most.get().max(inside.get()));
///             duet::yield_now().await;
///             inside.set(inside.get() - 1);
///         });
///     }
/// })
/// .unwrap();
/// assert_eq!(most.get(), 2);
/// assert!(limiter.is_available());
/// ```
#[derive(Clone)]
pub struct Limiter {
    shared: Arc<Mutex<State>>,
}

/// The state behind the lock.
struct State {
    /// `None`: unlimited. Never `Some(0)`.
    capacity: Option<usize>,
    /// Slots held, including slots handed to served acquirers not yet polled (may exceed
    /// `capacity` after it shrank).
    held: usize,
    /// Acquirers waiting for a slot, in arrival order.
    acquirers: WaitList,
    /// [`Limiter::available`] futures waiting for the limiter to have room.
    watchers: WaitList,
}

/// Wakers collected under the lock, woken once it is released.
type Wakes = SmallVec<[Waker; 4]>;

impl State {
    fn has_room(&self) -> bool {
        self.capacity.is_none_or(|capacity| self.held < capacity)
    }

    /// True when an acquire would succeed at once.
    fn is_available(&self) -> bool {
        self.has_room() && self.acquirers.is_empty()
    }

    /// Takes a slot for a new acquirer if one is free and nobody is queued before it.
    fn try_take(&mut self) -> bool {
        let available = self.is_available();
        if available {
            self.held += 1;
        }
        available
    }

    /// Hands free slots to queued acquirers in order; if room is left afterwards, tells
    /// every `available()` watcher. Restores invariant 2.
    fn grant(&mut self, wakes: &mut Wakes) {
        while self.has_room() {
            let Some(waker) = self.acquirers.pop_front() else {
                break;
            };
            self.held += 1;
            wakes.push(waker);
        }
        if self.has_room() {
            while let Some(waker) = self.watchers.pop_front() {
                wakes.push(waker);
            }
        }
    }

    fn release(&mut self, wakes: &mut Wakes) {
        debug_assert!(self.held > 0, "a limiter slot was released twice");
        self.held -= 1;
        self.grant(wakes);
    }
}

impl crate::current::waits::DescribeWait for Mutex<State> {
    fn describe_wait(&self, key: u32) -> String {
        let state = self.lock().unwrap_or_else(|e| e.into_inner());
        let (node, watcher) = unpack_wait_key(key);
        let (queue, what) = if watcher {
            (&state.watchers, "room in a limiter")
        } else {
            (&state.acquirers, "a limiter slot")
        };
        match queue.position(node) {
            Some(ahead) => format!("{what} (position {} in its queue)", ahead + 1),
            None => format!("{what} (just served)"),
        }
    }
}

/// A waiter's key in a wait report: its node in the acquirers' or (low bit set) the
/// watchers' queue, packed into a `u32` to keep a task's wait report, which lives in its
/// slot, small.
fn pack_wait_key(node: wait_list::Key, watcher: bool) -> u32 {
    u32::try_from(node << 1 | usize::from(watcher))
        .expect("duet: more than 2^31 waiters are queued on one Limiter")
}

fn unpack_wait_key(key: u32) -> (wait_list::Key, bool) {
    ((key >> 1) as usize, key & 1 == 1)
}

fn wake_all(wakes: Wakes) {
    crate::wakers::wake_all(wakes);
}

#[track_caller]
fn check_capacity(capacity: Option<usize>) {
    if capacity == Some(0) {
        panic!(
            "duet: a Limiter needs a capacity of at least 1, got 0: a limiter without slots \
             would make every acquire wait forever. Use Limiter::unlimited() (or \
             set_capacity(None)) for no limit."
        );
    }
}

impl Limiter {
    /// A limiter with `capacity` slots.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0: such a limiter could never be acquired. Use
    /// [`Limiter::unlimited`] for no limit.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = duet::Limiter::new(3);
    /// assert_eq!(limiter.capacity(), Some(3));
    /// ```
    ///
    /// ```should_panic
    /// let _ = duet::Limiter::new(0); // duet: a Limiter needs a capacity of at least 1, ...
    /// ```
    #[track_caller]
    pub fn new(capacity: usize) -> Self {
        Limiter::with_capacity(Some(capacity))
    }

    /// A limiter without a limit: every acquire succeeds at once. Its capacity can be
    /// limited later with [`set_capacity`](Limiter::set_capacity).
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = duet::Limiter::unlimited();
    /// let slots: Vec<_> = (0..1000).map(|_| limiter.try_acquire().unwrap()).collect();
    /// assert_eq!((limiter.capacity(), limiter.held()), (None, 1000));
    /// drop(slots);
    /// assert_eq!(limiter.held(), 0);
    /// ```
    pub fn unlimited() -> Self {
        Limiter::with_capacity(None)
    }

    /// A limiter with `Some(n)` slots, or unlimited for `None`.
    ///
    /// # Panics
    ///
    /// On `Some(0)`, as [`Limiter::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// let configured: Option<usize> = None;
    /// assert_eq!(duet::Limiter::with_capacity(configured).capacity(), None);
    /// ```
    #[track_caller]
    pub fn with_capacity(capacity: Option<usize>) -> Self {
        check_capacity(capacity);
        Limiter {
            shared: Arc::new(Mutex::new(State {
                capacity,
                held: 0,
                acquirers: WaitList::default(),
                watchers: WaitList::default(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code that can panic runs under the lock, but stay usable if it ever did.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The number of slots, or `None` if unlimited.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(duet::Limiter::new(4).capacity(), Some(4));
    /// assert_eq!(duet::Limiter::unlimited().capacity(), None);
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.lock().capacity
    }

    /// Changes the number of slots (`None`: unlimited), with immediate effect.
    ///
    /// Growing hands the new slots to as many queued waiters as now fit, in FIFO order,
    /// and wakes them. Shrinking below the number of slots held does not take slots away:
    /// holders keep theirs, and new acquirers wait until enough have been released that
    /// the count is below the new capacity.
    ///
    /// # Panics
    ///
    /// On `Some(0)`: a limiter without slots would make every acquire wait forever.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = duet::Limiter::new(2);
    /// let a = limiter.try_acquire().unwrap();
    /// let b = limiter.try_acquire().unwrap();
    /// limiter.set_capacity(Some(1)); // shrink below the two held slots
    /// drop(a);
    /// assert!(!limiter.is_available()); // still one held, capacity 1
    /// drop(b);
    /// assert!(limiter.is_available());
    /// limiter.set_capacity(None);
    /// assert_eq!(limiter.capacity(), None);
    /// ```
    #[track_caller]
    pub fn set_capacity(&self, capacity: Option<usize>) {
        check_capacity(capacity);
        let mut wakes = Wakes::new();
        {
            let mut state = self.lock();
            state.capacity = capacity;
            state.grant(&mut wakes);
        }
        wake_all(wakes);
    }

    /// The number of slots held right now. After the capacity shrank it may exceed the
    /// capacity until enough slots are released.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = duet::Limiter::new(2);
    /// let slot = limiter.try_acquire();
    /// assert_eq!(limiter.held(), 1);
    /// drop(slot);
    /// assert_eq!(limiter.held(), 0);
    /// ```
    pub fn held(&self) -> usize {
        self.lock().held
    }

    /// The number of acquirers queued for a slot.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = duet::Limiter::new(1);
    /// assert_eq!(limiter.waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.lock().acquirers.len()
    }

    /// True if an [`acquire`](Limiter::acquire) would get a slot at once: a slot is free
    /// and nobody is queued for it.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = duet::Limiter::new(1);
    /// assert!(limiter.is_available());
    /// let slot = limiter.try_acquire().unwrap();
    /// assert!(!limiter.is_available());
    /// drop(slot);
    /// assert!(limiter.is_available());
    /// ```
    pub fn is_available(&self) -> bool {
        self.lock().is_available()
    }

    /// Waits for a slot; the [`Slot`] releases it when dropped.
    ///
    /// Returns at once (without yielding) if a slot is free and nobody is queued;
    /// otherwise queues behind the waiters already there.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, and fair to the others: dropping the future while it is queued
    /// removes it from the queue; dropping it after a slot was handed to it, but before
    /// it returned the slot, passes that slot to the next waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = duet::Limiter::new(1);
    /// duet::run(async {
    ///     let slot = limiter.acquire().await;
    ///     assert!(!limiter.is_available());
    ///     drop(slot);
    ///     assert!(limiter.is_available());
    /// });
    /// ```
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire::new(self)
    }

    /// Takes a slot if one is available right now (see
    /// [`is_available`](Limiter::is_available)), without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = duet::Limiter::new(1);
    /// let slot = limiter.try_acquire().expect("free");
    /// assert!(limiter.try_acquire().is_none());
    /// drop(slot);
    /// assert!(limiter.try_acquire().is_some());
    /// ```
    pub fn try_acquire(&self) -> Option<Slot> {
        let taken = self.lock().try_take();
        taken.then(|| Slot::taken(self.clone()))
    }

    /// Runs `future` while holding a slot: waits for the slot (FIFO), then awaits the
    /// future, then releases the slot (also if the future panics or is cancelled).
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future while it waits for a slot is as for
    /// [`acquire`](Limiter::acquire); dropping it while `future` runs drops `future` and
    /// releases the slot.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = duet::Limiter::new(8);
    /// let sum = duet::run_scope(duet::infallible(async |s| {
    ///     let handles: Vec<_> = (1..=4)
    ///         .map(|i| {
    ///             let limiter = &limiter;
    ///             s.spawn(async move { Ok(limiter.run(async { i * 10 }).await) })
    ///         })
    ///         .collect();
    ///     let mut sum = 0;
    ///     for h in handles {
    ///         sum += h.await.unwrap();
    ///     }
    ///     sum
    /// }));
    /// assert_eq!(sum.unwrap(), 100);
    /// ```
    pub async fn run<F: IntoFuture>(&self, future: F) -> F::Output {
        let _slot = self.acquire().await;
        future.await
    }

    /// Waits until the limiter [is available](Limiter::is_available), and always yields
    /// to the loop at least once, even when it already is.
    ///
    /// The yield is the point: a producer that checks `available()` before creating work
    /// lets the work it just created take its slot first, so it cannot race ahead and
    /// create work that would only queue. Availability is checked again after the yield.
    /// It takes no slot: between its return and a later `acquire`, another task may take
    /// the slot.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future loses nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = duet::Limiter::new(1);
    /// duet::run(async {
    ///     let slot = limiter.acquire().await;
    ///     assert!(futures::poll!(limiter.available()).is_pending());
    ///     drop(slot);
    ///     limiter.available().await; // returns after one yield
    /// });
    /// ```
    pub fn available(&self) -> Available<'_> {
        Available::new(self)
    }

    /// Throttles a stream: before pulling each item, waits for
    /// [`available`](Limiter::available) (so it always yields once per item).
    ///
    /// The adapter takes no slots itself; it keeps a producer from pulling items while
    /// the work they feed is already at capacity. The returned stream holds a clone of
    /// the limiter.
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as `stream`: dropping a pending `next()` while it waits for the
    /// limiter pulls nothing from `stream` and loses nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    ///
    /// let limiter = duet::Limiter::new(2);
    /// let items: Vec<i32> = duet::run(limiter.throttle(futures::stream::iter(1..=3)).collect());
    /// assert_eq!(items, [1, 2, 3]);
    /// ```
    pub fn throttle<S: Stream>(&self, stream: S) -> Throttle<S> {
        Throttle::new(self.clone(), stream)
    }

    /// The shared state, for describing a wait on it in a dump.
    pub(crate) fn describer(&self) -> Arc<dyn crate::current::waits::DescribeWait> {
        self.shared.clone()
    }
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Limiter")
            .field("capacity", &state.capacity)
            .field("held", &state.held)
            .field("waiting", &state.acquirers.len())
            .finish()
    }
}

/// A slot of a [`Limiter`], released when dropped.
///
/// Returned by [`Limiter::acquire`] and [`Limiter::try_acquire`]. A slot cannot be
/// released twice: it is not `Clone`, and [`release`](Slot::release) consumes it. It holds
/// a clone of its limiter, so it may outlive the borrow it was acquired through and be
/// moved into another task (or thread: it is `Send`).
///
/// # Examples
///
/// ```
/// let limiter = duet::Limiter::new(1);
/// let slot = limiter.try_acquire().unwrap();
/// assert_eq!(slot.limiter().held(), 1);
/// slot.release(); // the same as drop(slot)
/// assert_eq!(limiter.held(), 0);
/// ```
///
/// ```compile_fail,E0382
/// let limiter = duet::Limiter::new(1);
/// let slot = limiter.try_acquire().unwrap();
/// slot.release();
/// slot.release(); // a slot cannot be released twice
/// ```
#[must_use = "a slot is released when dropped; bind it (`let _slot = ..`) to hold it"]
pub struct Slot {
    limiter: Limiter,
}

impl Slot {
    /// A slot just taken (counted in `state.held`).
    fn taken(limiter: Limiter) -> Self {
        Slot { limiter }
    }

    /// The limiter this slot belongs to.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = duet::Limiter::new(2);
    /// let slot = limiter.try_acquire().unwrap();
    /// assert_eq!(slot.limiter().held(), 1);
    /// ```
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// Releases the slot now; the same as dropping it, spelled out.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = duet::Limiter::new(1);
    /// let slot = limiter.try_acquire().unwrap();
    /// slot.release();
    /// assert!(limiter.is_available());
    /// ```
    pub fn release(self) {
        drop(self);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut wakes = Wakes::new();
        {
            self.limiter.lock().release(&mut wakes);
        }
        wake_all(wakes);
    }
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("limiter", &self.limiter)
            .finish()
    }
}
