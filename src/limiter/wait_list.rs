//! A FIFO of wakers with O(1) push, pop and removal from the middle.
//!
//! Waiters of a [`Limiter`](crate::Limiter) must be served in arrival order, and a waiter
//! that is cancelled while queued must leave the queue at once (otherwise a limiter that
//! stays full would accumulate dead entries without bound). A `VecDeque` gives the order
//! but not the removal, so this is a slab of nodes linked by index: each waiting future
//! owns one node, identified by its [`Key`], from the moment it queues until it is done.
//!
//! # Invariants
//!
//! 1. A node is `Queued` iff it is linked between `head` and `tail`; `len` counts them.
//! 2. A node leaves `Queued` only through [`pop_front`](WaitList::pop_front) (it becomes
//!    `Notified` and its waker is handed to the caller) or [`remove`](WaitList::remove).
//! 3. A node is freed only by [`remove`](WaitList::remove), called by the future that owns
//!    the key; so a key never addresses another waiter's node.

use std::task::Waker;

/// Index of a node; owned by exactly one waiting future.
pub(super) type Key = usize;

const NIL: usize = usize::MAX;

/// Where a waiter stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    /// In the queue, waiting to be served.
    Queued,
    /// Taken off the queue by [`WaitList::pop_front`]: served (granted a slot, or told the
    /// limiter became available) but not yet seen by its future.
    Notified,
}

struct Node {
    waker: Option<Waker>,
    status: Status,
    prev: usize,
    next: usize,
}

#[derive(Default)]
pub(super) struct WaitList {
    nodes: Vec<Node>,
    free: Vec<usize>,
    head: Option<usize>,
    tail: Option<usize>,
    len: usize,
}

impl WaitList {
    /// Number of queued (not yet notified) waiters.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues a waiter at the back.
    pub(super) fn push_back(&mut self, waker: Waker) -> Key {
        let node = Node {
            waker: Some(waker),
            status: Status::Queued,
            prev: self.tail.unwrap_or(NIL),
            next: NIL,
        };
        let key = match self.free.pop() {
            Some(key) => {
                self.nodes[key] = node;
                key
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        };
        match self.tail {
            Some(tail) => self.nodes[tail].next = key,
            None => self.head = Some(key),
        }
        self.tail = Some(key);
        self.len += 1;
        key
    }

    pub(super) fn status(&self, key: Key) -> Status {
        self.nodes[key].status
    }

    /// Replaces a queued waiter's waker unless it would wake the same task.
    pub(super) fn update_waker(&mut self, key: Key, waker: &Waker) {
        let slot = &mut self.nodes[key].waker;
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }

    /// Takes the first queued waiter off the queue, marks it notified and returns its
    /// waker (to be woken by the caller, after releasing any lock).
    pub(super) fn pop_front(&mut self) -> Option<Waker> {
        let key = self.head?;
        self.unlink(key);
        let node = &mut self.nodes[key];
        node.status = Status::Notified;
        node.waker.take()
    }

    /// Frees the node of a waiter that is done with it, and returns the status it had:
    /// a `Notified` waiter was served and may have to pass on what it was given.
    pub(super) fn remove(&mut self, key: Key) -> Status {
        let status = self.nodes[key].status;
        if status == Status::Queued {
            self.unlink(key);
        }
        self.nodes[key].waker = None;
        self.free.push(key);
        status
    }

    /// How many queued waiters are ahead of `key`, if it is queued. Walks the queue: for
    /// dumps only, never on a waiter's poll (that made a full queue quadratic).
    pub(super) fn position(&self, key: Key) -> Option<usize> {
        if self.nodes.get(key)?.status != Status::Queued || self.free.contains(&key) {
            return None;
        }
        let mut ahead = 0;
        let mut node = self.nodes[key].prev;
        while node != NIL {
            ahead += 1;
            node = self.nodes[node].prev;
        }
        Some(ahead)
    }

    fn unlink(&mut self, key: Key) {
        let (prev, next) = (self.nodes[key].prev, self.nodes[key].next);
        match prev {
            NIL => self.head = (next != NIL).then_some(next),
            prev => self.nodes[prev].next = next,
        }
        match next {
            NIL => self.tail = (prev != NIL).then_some(prev),
            next => self.nodes[next].prev = prev,
        }
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Id(usize, AtomicUsize);
    impl Wake for Id {
        fn wake(self: Arc<Self>) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker(id: usize) -> (Arc<Id>, Waker) {
        let id = Arc::new(Id(id, AtomicUsize::new(0)));
        (id.clone(), Waker::from(id))
    }

    fn pop_id(list: &mut WaitList, ids: &[Arc<Id>]) -> Option<usize> {
        let w = list.pop_front()?;
        w.wake();
        ids.iter()
            .find(|id| id.1.swap(0, Ordering::SeqCst) == 1)
            .map(|id| id.0)
    }

    #[test]
    fn fifo_with_removal_from_the_middle_and_reuse_of_nodes() {
        let mut list = WaitList::default();
        let (ids, wakers): (Vec<_>, Vec<_>) = (0..5).map(waker).unzip();
        let keys: Vec<_> = wakers.iter().map(|w| list.push_back(w.clone())).collect();
        assert_eq!(list.len(), 5);
        assert_eq!(list.remove(keys[2]), Status::Queued);
        assert_eq!(list.remove(keys[0]), Status::Queued);
        assert_eq!(list.remove(keys[4]), Status::Queued);
        assert_eq!(list.len(), 2);
        let again = list.push_back(wakers[0].clone()); // reuses a freed node
        assert!(keys.contains(&again));
        assert_eq!(pop_id(&mut list, &ids), Some(1));
        assert_eq!(list.status(keys[1]), Status::Notified);
        assert_eq!(list.remove(keys[1]), Status::Notified);
        assert_eq!(pop_id(&mut list, &ids), Some(3));
        assert_eq!(pop_id(&mut list, &ids), Some(0));
        assert_eq!(pop_id(&mut list, &ids), None);
        assert!(list.is_empty());
    }
}
