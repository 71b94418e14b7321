//! The machinery behind every pmap: the feeder task, the reorder buffer and the
//! consumer's streams. Compiled once per kind of scope (`pmap/local.rs`, `pmap/send.rs`),
//! with that kind's scope, cells ([`Ptr`], [`RefCell`]) and call trait ([`PmapFn`]).
//!
//! With a Send scope, `RefCell::borrow_mut` locks a mutex: no guard of `shared` is held
//! while another borrow of it may be taken, nor while user code runs, a waker is woken,
//! a join handle is cancelled or dropped (see `scope/kind/send.rs`, invariant 1). So the
//! handles to cancel are taken out under the guard and cancelled after it
//! ([`Shared::take_to_cancel`]).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use futures::stream::{FusedStream, Stream, StreamExt};

use super::{JoinHandle, PmapFn, PmapLimit, Ptr, RefCell, Scope, Spawnable};
use crate::{Limiter, yield_now};

/// The ordered stream of results of a `pmap_stream` or `pmap_stream_unordered` (or of
/// `LimitedScope::pmap_stream`): [`duet::pmap_stream`](crate::pmap_stream) over a local
/// scope, [`duet::send::pmap_stream`](crate::send::pmap_stream) over a Send scope.
///
/// Dropping it cancels the calls still running. It borrows the scope it runs on (`'s`),
/// so it cannot be moved out of that scope's body. Over a Send scope it is `Send` when its
/// results are; over a local scope it stays on its thread, like the scope:
///
/// ```
/// use futures::StreamExt;
///
/// let firsts = duet::run_scope(duet::infallible(async |s| {
///     let squares = duet::pmap_stream(&s, 1.., Some(4), async |x: u64| x * x);
///     squares.take(3).collect::<Vec<_>>().await
/// }));
/// assert_eq!(firsts.unwrap(), [1, 4, 9]);
/// ```
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: &T) {}
/// duet::run_scope(async |s| {
///     let results = duet::pmap_stream(&s, 0..3, None, async |x| x);
///     assert_send(&results);
/// });
/// ```
#[must_use = "the results come from the stream; dropping it cancels the calls still running"]
pub struct PmapStream<'s, U> {
    pub(super) engine: Engine<'s, U, Infallible>,
}

impl<U> Stream for PmapStream<'_, U> {
    type Item = U;

    /// # Returns
    ///
    /// - `Poll::Ready(Some(result))` with the next result in input order, once its call
    ///   has finished;
    /// - `Poll::Pending` while that call runs (the task is woken when it finishes);
    /// - `Poll::Ready(None)` when every item's result was yielded.
    ///
    /// # Panics
    ///
    /// When polled from outside its scope after that scope cancelled the calls.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<U>> {
        self.get_mut()
            .engine
            .poll_next(cx)
            .map(|r| r.map(|r| r.unwrap_or_else(|never| match never {})))
    }
}

impl<U> FusedStream for PmapStream<'_, U> {
    fn is_terminated(&self) -> bool {
        self.engine.done
    }
}

impl<U> fmt::Debug for PmapStream<'_, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.engine.fmt("PmapStream", f)
    }
}

/// The stream of results of a `try_pmap_stream` or `try_pmap_stream_unordered` (or of
/// `LimitedScope::try_pmap_stream`): [`duet::try_pmap_stream`](crate::try_pmap_stream)
/// over a local scope, [`duet::send::try_pmap_stream`](crate::send::try_pmap_stream) over
/// a Send scope.
///
/// Dropping it cancels the calls still running.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
///
/// let got = duet::run_scope(duet::infallible(async |s| {
///     let results = duet::try_pmap_stream(&s, [1, 0, 2], None, async |x: u32| {
///         10u32.checked_div(x).ok_or("division by zero")
///     });
///     results.collect::<Vec<_>>().await
/// }));
/// assert_eq!(got.unwrap(), [Ok(10), Err("division by zero")]);
/// ```
#[must_use = "the results come from the stream; dropping it cancels the calls still running"]
pub struct TryPmapStream<'s, U, E> {
    pub(super) engine: Engine<'s, U, E>,
}

impl<U, E> Stream for TryPmapStream<'_, U, E> {
    type Item = Result<U, E>;

    /// # Returns
    ///
    /// - `Poll::Ready(Some(Ok(result)))` with the next result in input order;
    /// - `Poll::Ready(Some(Err(error)))` once, when a call failed and every complete
    ///   result before the gap was yielded; the stream ends after it;
    /// - `Poll::Pending` while the next call runs;
    /// - `Poll::Ready(None)` at the end.
    ///
    /// # Panics
    ///
    /// When polled from outside its scope after that scope cancelled the calls.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<U, E>>> {
        self.get_mut().engine.poll_next(cx)
    }
}

impl<U, E> FusedStream for TryPmapStream<'_, U, E> {
    fn is_terminated(&self) -> bool {
        self.engine.done
    }
}

impl<U, E> fmt::Debug for TryPmapStream<'_, U, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.engine.fmt("TryPmapStream", f)
    }
}

/// One item started and not yet delivered.
enum Entry<U> {
    /// Its call runs; the handle cancels it.
    Running(JoinHandle<()>),
    /// Its call finished with this result.
    Done(U),
    /// Its call runs and was asked to cancel (the pmap failed or its stream was dropped).
    Cancelled,
}

/// The order a pmap delivers its results in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Input order: results wait in `results` for the earlier ones.
    Input,
    /// Completion order: results wait in `finished`; running calls are in `calls`.
    Completion,
}

/// What the feeder, the calls and the consumer share.
struct Shared<U, E> {
    order: Order,
    /// Input index of `results[0]`: the next result the consumer takes.
    next: usize,
    /// One entry per item started and not yet delivered, in input order. Its length is
    /// bounded by `window`.
    results: VecDeque<Entry<U>>,
    window: Option<usize>,
    /// The pmap's own limit on calls in flight (`None`: none, or a shared limiter does it).
    limit: Option<usize>,
    /// Calls spawned and not yet finished.
    running: usize,
    /// The feeder pulled the last item.
    exhausted: bool,
    /// The first error a call returned.
    failure: Option<E>,
    /// The feeder or a call was dropped before it finished: its scope cancelled it.
    lost: bool,
    /// ...by `Scope::cancel_tasks`, for the message.
    lost_to_cancel_tasks: bool,
    /// The feeder task, to cancel it.
    feeder_task: Option<JoinHandle<()>>,
    /// The consumer, waiting for `results[0]`.
    consumer: Option<Waker>,
    /// The feeder, waiting for room in the window or under the limit.
    feeder: Option<Waker>,
    /// `Order::Completion`: finished results not yet taken, in the order they finished.
    finished: VecDeque<U>,
    /// `Order::Completion`: the running calls, by slot (a call's index is its slot).
    calls: Vec<Option<JoinHandle<()>>>,
    free_calls: Vec<usize>,
}

type SharedRef<U, E> = Ptr<RefCell<Shared<U, E>>>;

impl<U, E> Shared<U, E> {
    fn has_room(&self) -> bool {
        let held = match self.order {
            Order::Input => self.results.len(),
            Order::Completion => self.running + self.finished.len(),
        };
        self.window.is_none_or(|w| held < w) && self.limit.is_none_or(|l| self.running < l)
    }

    /// The index of the next call: its place in the input, or in completion order a
    /// free slot of `calls`.
    fn next_index(&mut self) -> usize {
        match self.order {
            Order::Input => self.next + self.results.len(),
            Order::Completion => self.free_calls.pop().unwrap_or_else(|| {
                self.calls.push(None);
                self.calls.len() - 1
            }),
        }
    }

    fn add_call(&mut self, index: usize, handle: JoinHandle<()>) {
        match self.order {
            Order::Input => self.results.push_back(Entry::Running(handle)),
            Order::Completion => self.calls[index] = Some(handle),
        }
        self.running += 1;
    }

    /// Takes out the handles of the feeder and of every call still running, to be
    /// cancelled with [`cancel`] once the guard on `self` is released (their drops happen
    /// when the scope next applies cancellations, before it polls any other task). A
    /// call's entry stays in `results`, as [`Entry::Cancelled`], until its call finishes
    /// or is dropped.
    fn take_to_cancel(&mut self) -> Vec<JoinHandle<()>> {
        let mut handles: Vec<_> = self.calls.iter_mut().filter_map(Option::take).collect();
        handles.extend(self.feeder_task.take());
        for entry in &mut self.results {
            if let Entry::Running(_) = entry {
                if let Entry::Running(call) = std::mem::replace(entry, Entry::Cancelled) {
                    handles.push(call);
                }
            }
        }
        handles
    }
}

/// Cancels the tasks of `handles` (taken out by [`Shared::take_to_cancel`]) and drops
/// their handles, with no guard of the pmap's state held.
fn cancel(handles: Vec<JoinHandle<()>>) {
    for handle in handles {
        handle.cancel();
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// The consumer's end, shared by [`PmapStream`] and [`TryPmapStream`].
pub(super) struct Engine<'s, U, E> {
    shared: SharedRef<U, E>,
    /// The stream returned `None` or its error.
    done: bool,
    _scope: PhantomData<&'s ()>,
}

/// Spawns the feeder into `scope`, with a limit of its own.
pub(super) fn start<'s, 'env, SE, S, F, O, U, E>(
    scope: &'s Scope<'env, SE>,
    input: S,
    limit: PmapLimit,
    order: Order,
    f: F,
    split: fn(O) -> Result<U, E>,
) -> Engine<'s, U, E>
where
    SE: Spawnable + 'env,
    S: Stream + Spawnable + 'env,
    S::Item: Spawnable + 'env,
    F: PmapFn<S::Item, O> + 'env,
    O: Spawnable + 'env,
    U: Spawnable + 'env,
    E: Spawnable + 'env,
{
    let bounds = Bounds {
        limit: limit.limit(),
        limiter: None,
        window: limit.window_size(),
    };
    start_with(scope, input, bounds, order, f, split)
}

/// How much of the input a pmap may have in flight.
pub(super) struct Bounds {
    /// At most this many calls run at once.
    pub(super) limit: Option<usize>,
    /// Each call holds a slot of this limiter until it has its result.
    pub(super) limiter: Option<Limiter>,
    /// At most this many items are started and not yet delivered.
    pub(super) window: Option<usize>,
}

/// Spawns the feeder into `scope`, within `bounds`, delivering in `order`.
pub(super) fn start_with<'s, 'env, SE, S, F, O, U, E>(
    scope: &'s Scope<'env, SE>,
    input: S,
    bounds: Bounds,
    order: Order,
    f: F,
    split: fn(O) -> Result<U, E>,
) -> Engine<'s, U, E>
where
    SE: Spawnable + 'env,
    S: Stream + Spawnable + 'env,
    S::Item: Spawnable + 'env,
    F: PmapFn<S::Item, O> + 'env,
    O: Spawnable + 'env,
    U: Spawnable + 'env,
    E: Spawnable + 'env,
{
    let Bounds {
        limit,
        limiter,
        window,
    } = bounds;
    let shared = Ptr::new(RefCell::new(Shared {
        order,
        next: 0,
        results: VecDeque::new(),
        window,
        limit,
        running: 0,
        exhausted: false,
        failure: None,
        lost: false,
        lost_to_cancel_tasks: false,
        feeder_task: None,
        consumer: None,
        feeder: None,
        finished: VecDeque::new(),
        calls: Vec::new(),
        free_calls: Vec::new(),
    }));
    let feeder = Feeder {
        scope: scope.clone(),
        limiter,
        f: Ptr::new(f),
        split,
        shared: shared.clone(),
    };
    let task = scope.spawn(feeder.run(input));
    shared.borrow_mut().feeder_task = Some(task);
    Engine {
        shared,
        done: false,
        _scope: PhantomData,
    }
}

/// The feeder task's state: what it needs to spawn calls.
struct Feeder<'env, SE, F, O, U, E> {
    scope: Scope<'env, SE>,
    limiter: Option<Limiter>,
    f: Ptr<F>,
    split: fn(O) -> Result<U, E>,
    shared: SharedRef<U, E>,
}

/// The feeder yields to the loop after starting this many calls, in case nothing else
/// made it wait (an unlimited pmap over a long input would otherwise pull all of it in
/// one poll, while nothing else runs).
const FEEDER_BUDGET: usize = 128;

/// Marks the pmap as lost if a task of it (the feeder or a call) is dropped before it
/// finished, and wakes the consumer.
struct Finish<U, E> {
    shared: SharedRef<U, E>,
    finished: bool,
}

impl<U, E> Drop for Finish<U, E> {
    fn drop(&mut self) {
        if !self.finished {
            let consumer = {
                let mut shared = self.shared.borrow_mut();
                shared.lost = true;
                if crate::cancel_reason() == Some(crate::CancelReason::TasksCancelled) {
                    shared.lost_to_cancel_tasks = true;
                }
                shared.consumer.take()
            };
            wake(consumer);
        }
    }
}

impl<'env, SE: 'env, F, O, U, E> Feeder<'env, SE, F, O, U, E> {
    /// The feeder task: pulls items and spawns their calls, within the window and the
    /// limits.
    async fn run<S>(self, input: S)
    where
        S: Stream + Spawnable,
        S::Item: Spawnable + 'env,
        F: PmapFn<S::Item, O> + 'env,
        O: Spawnable + 'env,
        U: Spawnable + 'env,
        E: Spawnable + 'env,
    {
        let mut guard = Finish {
            shared: self.shared.clone(),
            finished: false,
        };
        let mut input = pin!(input);
        let mut started = 0usize;
        loop {
            started += 1;
            if started % FEEDER_BUDGET == 0 {
                // Nothing made the loop wait for a while (an unlimited pmap over a long
                // input): let the calls and the rest of the tree run.
                yield_now().await;
            }
            room(&self.shared).await;
            let slot = match &self.limiter {
                Some(limiter) => Some(limiter.acquire().await),
                None => None,
            };
            let Some(item) = input.next().await else {
                break;
            };
            let index = self.shared.borrow_mut().next_index();
            let call = Call {
                index,
                split: self.split,
                guard: Finish {
                    shared: self.shared.clone(),
                    finished: false,
                },
            };
            let f = self.f.clone();
            let handle = self.scope.spawn(async move {
                let output = f.call(item).await;
                call.finish(output);
                drop(slot);
            });
            self.shared.borrow_mut().add_call(index, handle);
        }
        let consumer = {
            let mut shared = self.shared.borrow_mut();
            shared.exhausted = true;
            shared.consumer.take()
        };
        wake(consumer);
        guard.finished = true;
    }
}

/// A call's link to the pmap: where its result goes (through its guard's shared state).
struct Call<U, E, O> {
    index: usize,
    split: fn(O) -> Result<U, E>,
    guard: Finish<U, E>,
}

impl<U, E, O> Call<U, E, O> {
    /// Stores the call's result (waking the consumer if it is the one it waits for), or
    /// records the first error and cancels everything else.
    fn finish(mut self, output: O) {
        self.guard.finished = true;
        // The handle of this call, and those of the calls cancelled by its error, are
        // dropped (or cancelled) after the guard, not under it.
        let mut own_handle = None;
        // Only the first error cancels anything: `None` keeps the common path to a move.
        let mut to_cancel = None;
        let (consumer, feeder) = {
            let mut shared = self.guard.shared.borrow_mut();
            shared.running -= 1;
            if shared.order == Order::Completion {
                own_handle = shared.calls[self.index].take();
                shared.free_calls.push(self.index);
            }
            match (self.split)(output) {
                Ok(value) if shared.order == Order::Completion => {
                    shared.finished.push_back(value);
                    (shared.consumer.take(), shared.feeder.take())
                }
                Ok(value) => {
                    let position = self.index - shared.next;
                    if let Entry::Running(handle) =
                        std::mem::replace(&mut shared.results[position], Entry::Done(value))
                    {
                        own_handle = Some(handle);
                    }
                    let consumer = if position == 0 {
                        shared.consumer.take()
                    } else {
                        None
                    };
                    (consumer, shared.feeder.take())
                }
                Err(error) => {
                    if shared.failure.is_none() {
                        shared.failure = Some(error);
                        to_cancel = Some(shared.take_to_cancel());
                    }
                    (shared.consumer.take(), None)
                }
            }
        };
        drop(own_handle);
        if let Some(handles) = to_cancel {
            cancel(handles);
        }
        wake(consumer);
        wake(feeder);
    }
}

/// Waits until the window has room for one more item and the limit allows one more call.
fn room<U, E>(shared: &SharedRef<U, E>) -> impl Future<Output = ()> + '_ {
    poll_fn(move |cx| {
        let mut shared = shared.borrow_mut();
        if shared.has_room() {
            Poll::Ready(())
        } else {
            shared.feeder = Some(cx.waker().clone());
            Poll::Pending
        }
    })
}

impl<U, E> Engine<'_, U, E> {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<U, E>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let mut shared = self.shared.borrow_mut();
        let ready = match shared.order {
            Order::Input => match shared.results.front() {
                Some(Entry::Done(_)) => {
                    let Some(Entry::Done(value)) = shared.results.pop_front() else {
                        unreachable!("the front entry was just seen to be done")
                    };
                    shared.next += 1;
                    Some(value)
                }
                _ => None,
            },
            Order::Completion => shared.finished.pop_front(),
        };
        if let Some(value) = ready {
            let feeder = shared.feeder.take();
            drop(shared);
            wake(feeder);
            return Poll::Ready(Some(Ok(value)));
        }
        if let Some(error) = shared.failure.take() {
            self.done = true;
            return Poll::Ready(Some(Err(error)));
        }
        let drained = match shared.order {
            Order::Input => shared.results.is_empty(),
            Order::Completion => shared.running == 0 && shared.finished.is_empty(),
        };
        if shared.exhausted && drained {
            self.done = true;
            return Poll::Ready(None);
        }
        if shared.lost_to_cancel_tasks {
            panic!(
                "duet: a pmap stream was polled after Scope::cancel_tasks cancelled its calls \
                 (cancel_tasks stops every task of the scope, a pmap's included); drop the \
                 stream before calling cancel_tasks, or start the pmap after it"
            );
        }
        if shared.lost {
            panic!(
                "duet: a pmap stream was polled after the scope running its calls cancelled \
                 them; consume a pmap stream inside the scope it was started on (from its \
                 body or one of its tasks)"
            );
        }
        match &mut shared.consumer {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    fn fmt(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = self.shared.try_borrow();
        let mut d = f.debug_struct(name);
        if let Ok(shared) = shared {
            d.field("next", &shared.next)
                .field("in_window", &shared.results.len())
                .field("running", &shared.running)
                .field("exhausted", &shared.exhausted);
        }
        d.field("done", &self.done).finish_non_exhaustive()
    }
}

impl<U, E> Drop for Engine<'_, U, E> {
    fn drop(&mut self) {
        // A plain borrow, not `try_borrow`: with a Send scope another thread may hold the
        // lock for a moment (and no guard of it is ever held across a drop of the stream).
        let to_cancel = self.shared.borrow_mut().take_to_cancel();
        cancel(to_cancel);
    }
}
