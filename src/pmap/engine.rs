//! The machinery behind every pmap: the feeder task, the reorder buffer and the
//! consumer's streams.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures::stream::{FusedStream, Stream, StreamExt};

use super::PmapLimit;
use crate::{JoinHandle, Limiter, Scope, scope, yield_now};

/// The ordered stream of results of [`pmap_stream`](crate::pmap_stream) (or
/// [`LimitedScope::pmap_stream`](crate::LimitedScope::pmap_stream)).
///
/// Dropping it cancels the calls still running. It borrows the scope it runs on (`'s`),
/// so it cannot be moved out of that scope's body.
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

/// The ordered stream of results of [`try_pmap_stream`](crate::try_pmap_stream) (or
/// [`LimitedScope::try_pmap_stream`](crate::LimitedScope::try_pmap_stream)).
///
/// Dropping it cancels the calls still running.
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

/// What the feeder, the calls and the consumer share.
struct Shared<U, E> {
    /// Input index of `results[0]`: the next result the consumer takes.
    next: usize,
    /// One entry per item started and not yet delivered, in input order: `None` while its
    /// call runs, `Some` once it finished. Its length is bounded by `window`.
    results: VecDeque<Option<U>>,
    window: Option<usize>,
    /// The feeder pulled the last item.
    exhausted: bool,
    /// The first error, once the calls' scope failed.
    failure: Option<E>,
    /// False once the feeder task ended or was dropped.
    feeder_alive: bool,
    /// The consumer, waiting for `results[0]`.
    consumer: Option<Waker>,
    /// The feeder, waiting for room in the window.
    feeder: Option<Waker>,
}

type SharedRef<U, E> = Rc<RefCell<Shared<U, E>>>;

fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// The consumer's end, shared by [`PmapStream`] and [`TryPmapStream`].
pub(super) struct Engine<'s, U, E> {
    shared: SharedRef<U, E>,
    feeder: JoinHandle<()>,
    /// The stream returned `None` or its error.
    done: bool,
    _scope: PhantomData<&'s ()>,
}

/// Spawns the feeder into `scope`, with a limiter of its own.
pub(super) fn start<'s, 'env, SE, S, F, O, U, E>(
    scope: &'s Scope<'env, SE>,
    input: S,
    limit: PmapLimit,
    f: F,
    split: fn(O) -> Result<U, E>,
) -> Engine<'s, U, E>
where
    SE: 'env,
    S: Stream + 'env,
    F: AsyncFn(S::Item) -> O + 'env,
    O: 'env,
    U: 'env,
    E: 'env,
{
    let limiter = limit.limit().map(Limiter::new);
    start_with(scope, input, limiter, limit.window_size(), f, split)
}

/// Spawns the feeder into `scope`: calls take slots of `limiter` (none if `None`), and at
/// most `window` items are started and not yet delivered.
pub(super) fn start_with<'s, 'env, SE, S, F, O, U, E>(
    scope: &'s Scope<'env, SE>,
    input: S,
    limiter: Option<Limiter>,
    window: Option<usize>,
    f: F,
    split: fn(O) -> Result<U, E>,
) -> Engine<'s, U, E>
where
    SE: 'env,
    S: Stream + 'env,
    F: AsyncFn(S::Item) -> O + 'env,
    O: 'env,
    U: 'env,
    E: 'env,
{
    let shared = Rc::new(RefCell::new(Shared {
        next: 0,
        results: VecDeque::new(),
        window,
        exhausted: false,
        failure: None,
        feeder_alive: true,
        consumer: None,
        feeder: None,
    }));
    let feeder = scope.spawn(feed(input, limiter, f, split, shared.clone()));
    Engine {
        shared,
        feeder,
        done: false,
        _scope: PhantomData,
    }
}

/// The feeder yields to the loop after starting this many calls, in case nothing else
/// made it wait (an unlimited pmap over a long input would otherwise pull all of it in
/// one poll, while nothing else runs).
const FEEDER_BUDGET: usize = 128;

/// Marks the feeder gone when it ends or is dropped, and wakes the consumer.
struct FeederAlive<U, E>(SharedRef<U, E>);

impl<U, E> Drop for FeederAlive<U, E> {
    fn drop(&mut self) {
        let consumer = {
            let mut shared = self.0.borrow_mut();
            shared.feeder_alive = false;
            shared.consumer.take()
        };
        wake(consumer);
    }
}

/// The feeder task: pulls items and spawns their calls, within the window and the limit.
async fn feed<S, F, O, U, E>(
    input: S,
    limiter: Option<Limiter>,
    f: F,
    split: fn(O) -> Result<U, E>,
    shared: SharedRef<U, E>,
) where
    S: Stream,
    F: AsyncFn(S::Item) -> O,
{
    let _alive = FeederAlive(shared.clone());
    let mut input = pin!(input);
    let (f, shared_ref) = (&f, &shared);
    let outcome = scope(async |calls| {
        let mut started = 0usize;
        loop {
            started += 1;
            if started % FEEDER_BUDGET == 0 {
                // Nothing made the loop wait for a while (an unlimited pmap over a long
                // input): let the calls and the rest of the tree run.
                yield_now().await;
            }
            room(shared_ref).await;
            let slot = match &limiter {
                Some(limiter) => Some(limiter.acquire().await),
                None => None,
            };
            let Some(item) = input.next().await else {
                break;
            };
            let index = {
                let mut shared = shared_ref.borrow_mut();
                shared.results.push_back(None);
                shared.next + shared.results.len() - 1
            };
            calls.spawn(async move {
                let value = split(f(item).await)?;
                deliver(shared_ref, index, value);
                drop(slot);
                Ok(())
            });
        }
        let consumer = {
            let mut shared = shared_ref.borrow_mut();
            shared.exhausted = true;
            shared.consumer.take()
        };
        wake(consumer);
        Ok::<(), E>(())
    })
    .await;
    if let Err(error) = outcome {
        // Under fail-fast the first error ends the calls' scope before any other call
        // runs, so there is exactly one; nothing else can end that scope early.
        let consumer = {
            let mut shared = shared.borrow_mut();
            shared.failure = error.into_errors().into_iter().next();
            shared.consumer.take()
        };
        wake(consumer);
    }
}

/// Waits until the window has room for one more item.
fn room<U, E>(shared: &SharedRef<U, E>) -> impl Future<Output = ()> + '_ {
    poll_fn(move |cx| {
        let mut shared = shared.borrow_mut();
        if shared.window.is_none_or(|w| shared.results.len() < w) {
            Poll::Ready(())
        } else {
            shared.feeder = Some(cx.waker().clone());
            Poll::Pending
        }
    })
}

/// Stores the result of item `index`; wakes the consumer if it is the one it waits for.
fn deliver<U, E>(shared: &SharedRef<U, E>, index: usize, value: U) {
    let consumer = {
        let mut shared = shared.borrow_mut();
        let position = index - shared.next;
        shared.results[position] = Some(value);
        if position == 0 {
            shared.consumer.take()
        } else {
            None
        }
    };
    wake(consumer);
}

impl<U, E> Engine<'_, U, E> {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<U, E>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let mut shared = self.shared.borrow_mut();
        if let Some(Some(_)) = shared.results.front() {
            let value = shared.results.pop_front().flatten();
            shared.next += 1;
            let feeder = shared.feeder.take();
            drop(shared);
            wake(feeder);
            return Poll::Ready(value.map(Ok));
        }
        if let Some(error) = shared.failure.take() {
            self.done = true;
            return Poll::Ready(Some(Err(error)));
        }
        if shared.exhausted && shared.results.is_empty() {
            self.done = true;
            return Poll::Ready(None);
        }
        if !shared.feeder_alive {
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
                .field("exhausted", &shared.exhausted);
        }
        d.field("done", &self.done).finish_non_exhaustive()
    }
}

impl<U, E> Drop for Engine<'_, U, E> {
    fn drop(&mut self) {
        self.feeder.cancel();
    }
}
