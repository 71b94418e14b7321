//! The deadline heap: pending timers ordered by deadline, with lazy deletion.
//!
//! A timer is a *slot* (holding the waker to fire) plus one *entry* in a binary min-heap
//! (its deadline). Cancelling a timer only empties its slot, in O(1): its heap entry stays
//! behind as a dead entry and is discarded when it reaches the top (lazy deletion). When
//! dead entries outnumber live ones the heap is rebuilt from the live entries alone
//! (compaction), so dead entries never grow without bound; the rebuild costs O(n) after at
//! least n/2 cancellations, O(1) amortized per cancellation. Inserting and firing are
//! O(log n).
//!
//! Every insertion gets a fresh sequence number, which is both the tie-breaker between
//! equal deadlines (timers with the same deadline fire in the order they were set; under
//! simulation, in a seeded order) and
//! the identity a [`TimerKey`] checks, so a key of a fired or cancelled timer never
//! addresses a later timer that reuses its slot.
//!
//! # Invariants
//!
//! 1. Every occupied slot has exactly one heap entry with the same `seq` (its *live*
//!    entry); every other entry is dead.
//! 2. `live` is the number of occupied slots, so `heap.len() - live` is the number of
//!    dead entries.
//! 3. After any removal, dead entries are at most `2 * live + COMPACT_SLACK`.
//! 4. When the last timer leaves, the heap, the slots and the free list are emptied, so a
//!    heap that served a burst of timers does not keep its peak size while idle.
//! 5. The heap never calls a waker and never drops one: wakers leave through return values
//!    so the caller can wake or drop them outside any lock.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::schedule::Rng;

/// Dead entries tolerated beyond twice the live ones before the heap is compacted.
const COMPACT_SLACK: usize = 64;

/// Capacity kept when the heap empties (larger buffers are released).
const IDLE_CAPACITY: usize = 1024;

/// Identifies one timer in a [`TimerHeap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey {
    index: u32,
    seq: u64,
}

/// A heap entry: 24 bytes, compared as two integers. The deadline is kept in nanoseconds
/// since the heap's `base`, which is no later than any deadline registered (timers only
/// register deadlines that are ahead of the clock, and the base is the clock's reading
/// when the heap was created).
#[derive(Debug)]
struct Entry {
    at: u64,
    seq: u64,
    index: u32,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest deadline first, and
    /// among equal deadlines the timer set first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Debug)]
struct Slot {
    /// `Some` while the slot holds a timer.
    waker: Option<Waker>,
    /// The sequence number of the timer in the slot (meaningless while empty).
    seq: u64,
}

/// What [`TimerHeap::update`] found.
#[derive(Debug)]
pub(crate) enum Update {
    /// The timer is still pending; the waker it replaced (if it changed) is returned to
    /// be dropped outside the lock.
    Pending(Option<Waker>),
    /// The timer is no longer in the heap (it fired, or the heap was cleared).
    Gone,
}

#[derive(Debug)]
pub(crate) struct TimerHeap {
    /// The origin of `Entry::at`.
    base: Instant,
    heap: BinaryHeap<Entry>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    next_seq: u64,
    /// Under simulation, the generator that orders timers with equal deadlines (see
    /// `shuffle_ties`).
    ties: Option<Rng>,
}

impl TimerHeap {
    /// An empty heap for deadlines no earlier than `base`.
    pub(crate) fn new(base: Instant) -> Self {
        TimerHeap {
            base,
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            next_seq: 0,
            ties: None,
        }
    }

    /// From now on, timers with equal deadlines fire in an order drawn from `seed`
    /// instead of the order they were set in (a simulated loop: `sim`). Their sequence
    /// numbers get random high halves; the low halves still count insertions, so they stay
    /// unique (for 2^32 insertions, which no simulated test makes).
    pub(crate) fn shuffle_ties(&mut self, seed: u64) {
        self.ties = Some(Rng::new(seed));
    }

    /// `instant` in nanoseconds since the base (saturating at both ends: an instant before
    /// the base only happens for a clock reading, and counts as "everything before").
    fn ticks(&self, instant: Instant) -> u64 {
        u64::try_from(instant.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    fn instant(&self, ticks: u64) -> Instant {
        self.base + Duration::from_nanos(ticks)
    }

    /// Adds a timer; also returns whether it is now the earliest live timer.
    pub(crate) fn insert(&mut self, deadline: Instant, waker: Waker) -> (TimerKey, bool) {
        let earliest = self.peek_live().is_none_or(|first| deadline < first);
        let at = self.ticks(deadline);
        let seq = match &mut self.ties {
            None => self.next_seq,
            Some(rng) => {
                (rng.next_u64() & !u64::from(u32::MAX)) | (self.next_seq & u64::from(u32::MAX))
            }
        };
        self.next_seq += 1;
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index as usize] = Slot {
                    waker: Some(waker),
                    seq,
                };
                index
            }
            None => {
                let index = u32::try_from(self.slots.len())
                    .expect("duet: more than u32::MAX timers pending on one loop");
                self.slots.push(Slot {
                    waker: Some(waker),
                    seq,
                });
                index
            }
        };
        self.heap.push(Entry { at, seq, index });
        self.live += 1;
        (TimerKey { index, seq }, earliest)
    }

    /// Replaces the waker of a pending timer, unless it would wake the same task.
    pub(crate) fn update(&mut self, key: TimerKey, waker: &Waker) -> Update {
        match self.slot_mut(key) {
            Some(slot) => {
                let current = slot.waker.as_ref().expect("an occupied slot has a waker");
                if current.will_wake(waker) {
                    Update::Pending(None)
                } else {
                    Update::Pending(slot.waker.replace(waker.clone()))
                }
            }
            None => Update::Gone,
        }
    }

    /// Cancels a timer; returns its waker (to drop outside the lock), or `None` if the
    /// timer had already left the heap.
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<Waker> {
        let waker = self.vacate(key)?;
        if self.live == 0 {
            self.reset();
        } else if self.heap.len() - self.live > 2 * self.live + COMPACT_SLACK {
            self.compact();
        }
        Some(waker)
    }

    /// Removes every timer due at `now` (deadline ≤ `now`), pushing their wakers onto
    /// `fired` in deadline order, and returns the earliest deadline still pending.
    pub(crate) fn fire_due(&mut self, now: Instant, fired: &mut Vec<Waker>) -> Option<Instant> {
        let now = self.ticks(now);
        while let Some(top) = self.heap.peek() {
            if top.at > now {
                break;
            }
            let entry = self.heap.pop().expect("peeked");
            if let Some(waker) = self.vacate(TimerKey {
                index: entry.index,
                seq: entry.seq,
            }) {
                fired.push(waker);
            }
        }
        if self.live == 0 {
            self.reset();
        }
        self.peek_live()
    }

    /// The earliest live deadline; dead entries on top are discarded on the way.
    pub(crate) fn peek_live(&mut self) -> Option<Instant> {
        while let Some(top) = self.heap.peek() {
            let slot = &self.slots[top.index as usize];
            if slot.waker.is_some() && slot.seq == top.seq {
                return Some(self.instant(top.at));
            }
            self.heap.pop();
        }
        None
    }

    /// Removes every timer and returns their wakers (to drop outside the lock).
    pub(crate) fn clear(&mut self) -> Vec<Waker> {
        let wakers = self
            .slots
            .iter_mut()
            .filter_map(|s| s.waker.take())
            .collect();
        self.live = 0;
        self.reset();
        wakers
    }

    /// How many pending timers each waker (by data pointer) is registered in.
    pub(crate) fn count_by_waker(&self) -> std::collections::HashMap<usize, usize> {
        let mut counts = std::collections::HashMap::new();
        for waker in self.slots.iter().filter_map(|s| s.waker.as_ref()) {
            *counts.entry(waker.data() as usize).or_insert(0) += 1;
        }
        counts
    }

    /// Pending timers.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Heap entries, dead ones included.
    #[cfg(test)]
    pub(crate) fn entries(&self) -> usize {
        self.heap.len()
    }

    fn slot_mut(&mut self, key: TimerKey) -> Option<&mut Slot> {
        self.slots
            .get_mut(key.index as usize)
            .filter(|slot| slot.waker.is_some() && slot.seq == key.seq)
    }

    /// Empties the slot of a live timer (its heap entry becomes dead).
    fn vacate(&mut self, key: TimerKey) -> Option<Waker> {
        let waker = self.slot_mut(key)?.waker.take();
        self.free.push(key.index);
        self.live -= 1;
        waker
    }

    /// Rebuilds the heap from its live entries.
    fn compact(&mut self) {
        let slots = &self.slots;
        self.heap.retain(|entry| {
            let slot = &slots[entry.index as usize];
            slot.waker.is_some() && slot.seq == entry.seq
        });
    }

    /// Forgets every entry and slot; only valid when no timer is live.
    fn reset(&mut self) {
        debug_assert_eq!(self.live, 0);
        self.heap.clear();
        self.slots.clear();
        self.free.clear();
        self.heap.shrink_to(IDLE_CAPACITY);
        self.slots.shrink_to(IDLE_CAPACITY);
        self.free.shrink_to(IDLE_CAPACITY);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
    use std::task::Wake;
    use std::time::Duration;

    use super::*;

    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, AtomicOrdering::SeqCst);
        }
    }

    fn waker() -> Waker {
        Waker::from(Arc::new(Counter(AtomicUsize::new(0))))
    }

    #[test]
    fn fires_in_deadline_order_then_insertion_order() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::new(t0);
        let at = |ms| t0 + Duration::from_millis(ms);
        let wakers: Vec<_> = (0..4).map(|_| waker()).collect();
        heap.insert(at(30), wakers[0].clone());
        heap.insert(at(10), wakers[1].clone());
        heap.insert(at(30), wakers[2].clone());
        heap.insert(at(20), wakers[3].clone());
        let mut fired = Vec::new();
        assert_eq!(heap.fire_due(at(30), &mut fired), None);
        let order: Vec<_> = fired
            .iter()
            .map(|f| wakers.iter().position(|w| w.will_wake(f)).unwrap())
            .collect();
        assert_eq!(order, [1, 3, 0, 2]);
    }

    #[test]
    fn a_removed_timer_never_fires_and_its_key_stays_dead() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::new(t0);
        let (a, _) = heap.insert(t0, waker());
        let (_b, _) = heap.insert(t0 + Duration::from_secs(1), waker());
        assert!(heap.remove(a).is_some());
        assert!(heap.remove(a).is_none(), "removing twice is a no-op");
        // The slot of `a` is reused; the old key must not address the new timer.
        let (c, _) = heap.insert(t0, waker());
        assert!(matches!(heap.update(a, &waker()), Update::Gone));
        let mut fired = Vec::new();
        assert_eq!(
            heap.fire_due(t0, &mut fired),
            Some(t0 + Duration::from_secs(1))
        );
        assert_eq!(fired.len(), 1);
        assert!(matches!(heap.update(c, &waker()), Update::Gone));
    }

    #[test]
    fn dead_entries_are_compacted_when_they_dominate() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::new(t0);
        let keep = heap.insert(t0 + Duration::from_secs(100), waker()).0;
        let keys: Vec<_> = (0..10_000)
            .map(|i| heap.insert(t0 + Duration::from_millis(i), waker()).0)
            .collect();
        for key in keys {
            heap.remove(key);
            assert!(heap.entries() - heap.len() <= 2 * heap.len() + COMPACT_SLACK);
        }
        assert_eq!(heap.len(), 1);
        assert!(heap.entries() <= 1 + 2 + COMPACT_SLACK);
        heap.remove(keep);
        assert_eq!(heap.entries(), 0, "an empty heap keeps no dead entries");
    }

    #[test]
    fn earliest_flag_reports_a_new_first_deadline() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::new(t0);
        assert!(heap.insert(t0 + Duration::from_secs(2), waker()).1);
        assert!(!heap.insert(t0 + Duration::from_secs(3), waker()).1);
        assert!(heap.insert(t0 + Duration::from_secs(1), waker()).1);
    }

    #[test]
    fn update_keeps_an_equivalent_waker_and_swaps_a_different_one() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::new(t0);
        let first = waker();
        let (key, _) = heap.insert(t0, first.clone());
        assert!(matches!(heap.update(key, &first), Update::Pending(None)));
        let second = waker();
        match heap.update(key, &second) {
            Update::Pending(Some(old)) => assert!(old.will_wake(&first)),
            other => panic!("unexpected {other:?}"),
        }
        let mut fired = Vec::new();
        heap.fire_due(t0, &mut fired);
        assert!(fired[0].will_wake(&second));
    }
}
