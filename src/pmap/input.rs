//! What a pmap takes: its input ([`AnyIterable`]) and its limits ([`PmapLimit`]).

use futures::Stream;

/// Anything a pmap can take its items from: an [`IntoIterator`] or a [`Stream`].
///
/// You never implement or name this trait: pass a `Vec`, a range, an iterator or a
/// stream, and the `Marker` parameter ([`ViaIterator`] or [`ViaStream`]) is inferred.
/// Either way the items are pulled lazily, one at a time, when a call can start.
///
/// # Functions of several arguments (`pstarmap`)
///
/// duet-py's `pstarmap(f, [(a, b), ..])` calls `f(a, b)`. In Rust, pass tuples and
/// destructure them in the closure's parameter:
///
/// ```
/// async fn scale(x: u32, factor: u32) -> u32 {
///     x * factor
/// }
///
/// let pairs = vec![(1, 10), (2, 100)];
/// let out = duet::pmap(pairs, Some(2), async |(x, factor)| scale(x, factor).await);
/// assert_eq!(out, [10, 200]);
/// ```
///
/// # Async iterator helpers (`aiter`, `aenumerate`, `azip`)
///
/// duet-py's helpers over "any iterable" are [`futures::StreamExt`] methods on a stream
/// made with [`futures::stream::iter`] (what this trait does for iterators):
///
/// | duet-py | Rust |
/// |---|---|
/// | `aiter(xs)` | `futures::stream::iter(xs)` (or the stream itself) |
/// | `aenumerate(xs)` | `stream.enumerate()` |
/// | `azip(xs, ys)` | `stream.zip(other)` |
/// | `[x async for x in xs]` | `stream.collect::<Vec<_>>().await` |
///
/// ```
/// use futures::{StreamExt, stream};
///
/// let pairs: Vec<(usize, (char, i32))> = duet::run(
///     stream::iter(['a', 'b', 'c']).zip(stream::iter([1, 2])).enumerate().collect(),
/// );
/// assert_eq!(pairs, [(0, ('a', 1)), (1, ('b', 2))]);
/// ```
pub trait AnyIterable<Marker> {
    /// The items.
    type Item;
    /// The stream the items are pulled from.
    type Stream: Stream<Item = Self::Item>;

    /// Turns the input into a stream of items.
    ///
    /// # Examples
    ///
    /// ```
    /// use duet::AnyIterable;
    /// use futures::StreamExt;
    ///
    /// let items: Vec<i32> = duet::run(vec![1, 2].into_item_stream().collect());
    /// assert_eq!(items, [1, 2]);
    /// ```
    fn into_item_stream(self) -> Self::Stream;
}

/// [`AnyIterable`]'s marker for inputs that are [`IntoIterator`]s; inferred, never named
/// (see [`AnyIterable`] for examples).
#[derive(Debug)]
pub enum ViaIterator {}

/// [`AnyIterable`]'s marker for inputs that are [`Stream`]s; inferred, never named (see
/// [`AnyIterable`] for examples).
#[derive(Debug)]
pub enum ViaStream {}

impl<I: IntoIterator> AnyIterable<ViaIterator> for I {
    type Item = I::Item;
    type Stream = futures::stream::Iter<I::IntoIter>;

    fn into_item_stream(self) -> Self::Stream {
        futures::stream::iter(self)
    }
}

impl<S: Stream> AnyIterable<ViaStream> for S {
    type Item = S::Item;
    type Stream = S;

    fn into_item_stream(self) -> S {
        self
    }
}

/// How many calls a pmap runs at once, and how far ahead of its consumer it may get.
///
/// Every pmap function takes `impl Into<PmapLimit>`, so the common case is an
/// `Option<usize>`: `Some(n)` runs at most `n` calls at once, `None` is unlimited.
///
/// # The window
///
/// Results come in input order, so a call that finished has to wait for the earlier
/// ones. The *window* bounds how many items may be started and not yet delivered
/// (running, or finished and waiting): it bounds the memory the waiting results take,
/// and how far the input is pulled ahead of the consumer. Once it is full, a slow call
/// at its front holds every later call back even though fewer than `limit` run.
///
/// It defaults to [`DEFAULT_WINDOW_FACTOR`](Self::DEFAULT_WINDOW_FACTOR) (24) times the
/// limit: at most `24 * limit` results are held. Filling that many places takes 24 mean
/// call latencies at the full rate of `limit` calls at once, so only a call slower than
/// about 23 times the mean makes the pmap wait; in `benches/pmap/` that keeps the
/// makespan within 10 % of a fan-out that spawns every call at once behind a
/// [`Limiter`](crate::Limiter), for uniform and log-normal latencies
/// (`design/performance.md`). A window equal to the limit, as `buffered(n)` has, was 1.7x
/// slower than that fan-out with latencies uniform in 0–50 ms. Set a smaller
/// [`window`](Self::window) to hold fewer results, or a larger one for heavier tails.
/// A window smaller than the limit also caps the calls in flight. An unlimited pmap
/// without a window pulls its whole input at once.
///
/// # Examples
///
/// ```
/// use duet::PmapLimit;
///
/// assert_eq!(PmapLimit::from(Some(4)).window_size(), Some(4 * 24));
/// let narrow = PmapLimit::new(Some(4)).window(8); // 4 calls, at most 8 results held
/// assert_eq!((narrow.limit(), narrow.window_size()), (Some(4), Some(8)));
/// let out = duet::pmap(0..10, narrow, async |x| x * 2);
/// assert_eq!(out, (0..10).map(|x| x * 2).collect::<Vec<_>>());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PmapLimit {
    calls: Option<usize>,
    window: Option<usize>,
}

impl PmapLimit {
    /// The default window is this many times the limit (see [the window](Self#the-window)).
    ///
    /// Chosen by measurement (`benches/pmap/`, 1,000 and 10,000 calls, limit 32, on the
    /// virtual clock): the smallest factor tried whose makespan stayed within 10 % of a
    /// `Limiter`-bounded fan-out for latencies uniform in 0–50 ms (3 is enough there) and
    /// log-normal with a median of 10 ms and sigma 1 (16 was not). No fixed factor is
    /// enough for every tail: with Pareto latencies of alpha 1.5 even 64 times the limit
    /// stayed 1.4x slower, since the slowest call grows with the number of calls.
    ///
    /// # Examples
    ///
    /// ```
    /// use duet::PmapLimit;
    ///
    /// let limit = PmapLimit::new(Some(32));
    /// assert_eq!(limit.window_size(), Some(32 * PmapLimit::DEFAULT_WINDOW_FACTOR));
    /// ```
    pub const DEFAULT_WINDOW_FACTOR: usize = 24;

    /// At most `calls` calls at once (`None`: unlimited), with the default window.
    ///
    /// `Some(0)` is rejected (with a panic) by the pmap function it is passed to.
    ///
    /// # Examples
    ///
    /// ```
    /// let limit = duet::PmapLimit::new(Some(8));
    /// assert_eq!(limit, Some(8).into());
    /// assert_eq!((limit.limit(), limit.window_size()), (Some(8), Some(8 * 24)));
    /// ```
    pub const fn new(calls: Option<usize>) -> Self {
        PmapLimit {
            calls,
            window: None,
        }
    }

    /// No limit on calls or on the window: the whole input is pulled at once.
    ///
    /// # Examples
    ///
    /// ```
    /// let limit = duet::PmapLimit::unlimited();
    /// assert_eq!((limit.limit(), limit.window_size()), (None, None));
    /// assert_eq!(limit, None.into());
    /// ```
    pub const fn unlimited() -> Self {
        PmapLimit::new(None)
    }

    /// Sets the window: at most `window` items started but not yet delivered, so at most
    /// `window` results held while they wait for an earlier one. The default is
    /// [`DEFAULT_WINDOW_FACTOR`](Self::DEFAULT_WINDOW_FACTOR) (24) times the limit, which
    /// keeps up with a fan-out that starts the next call whenever a slot frees unless a
    /// call takes more than about 23 times the mean latency
    /// ([the window](Self#the-window) explains the trade-off).
    ///
    /// # Panics
    ///
    /// If `window` is 0: no item could ever start.
    ///
    /// # Examples
    ///
    /// ```
    /// // Unlimited calls, but at most 100 results held in memory at once.
    /// let limit = duet::PmapLimit::unlimited().window(100);
    /// assert_eq!((limit.limit(), limit.window_size()), (None, Some(100)));
    /// ```
    #[track_caller]
    pub fn window(mut self, window: usize) -> Self {
        assert!(
            window > 0,
            "duet: a pmap window must be at least 1 item, got 0: no call could ever start"
        );
        self.window = Some(window);
        self
    }

    /// The limit on calls in flight (`None`: unlimited).
    ///
    /// # Examples
    ///
    /// ```
    /// use duet::PmapLimit;
    ///
    /// assert_eq!(PmapLimit::new(Some(4)).limit(), Some(4));
    /// assert_eq!(PmapLimit::unlimited().limit(), None);
    /// ```
    pub fn limit(&self) -> Option<usize> {
        self.calls
    }

    /// The window in effect: the one set, else
    /// [`DEFAULT_WINDOW_FACTOR`](Self::DEFAULT_WINDOW_FACTOR) times the limit (`None`:
    /// unbounded).
    ///
    /// # Examples
    ///
    /// ```
    /// use duet::PmapLimit;
    ///
    /// assert_eq!(PmapLimit::new(Some(4)).window_size(), Some(96)); // 24 times the limit
    /// assert_eq!(PmapLimit::new(Some(4)).window(8).window_size(), Some(8));
    /// assert_eq!(PmapLimit::unlimited().window_size(), None);
    /// ```
    pub fn window_size(&self) -> Option<usize> {
        self.window.or(default_window(self.calls))
    }

    #[track_caller]
    pub(super) fn check(self, function: &str) -> Self {
        if self.calls == Some(0) {
            panic!(
                "duet::{function}: the limit must be at least 1 call, got Some(0): no call \
                 could ever start. Pass Some(n) with n >= 1, or None for no limit."
            );
        }
        self
    }
}

/// The default window for a limit of `calls` (also a `LimitedScope` pmap's, for its
/// limiter's capacity).
pub(crate) fn default_window(calls: Option<usize>) -> Option<usize> {
    calls.map(|calls| calls.saturating_mul(PmapLimit::DEFAULT_WINDOW_FACTOR))
}

impl From<Option<usize>> for PmapLimit {
    fn from(calls: Option<usize>) -> Self {
        PmapLimit::new(calls)
    }
}
