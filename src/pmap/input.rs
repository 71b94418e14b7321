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
/// The *window* bounds memory when an early item is slow: at most `window` items are
/// started but not yet delivered (running, or finished and waiting for the earlier ones).
/// It defaults to the limit, so a slow first item lets at most `limit - 1` later results
/// wait; a larger window lets more calls proceed past a slow item, at the cost of holding
/// their results. A window smaller than the limit also caps the calls in flight. An
/// unlimited pmap without a window pulls its whole input at once.
///
/// # Examples
///
/// ```
/// use duet::PmapLimit;
///
/// assert_eq!(PmapLimit::from(Some(4)).window_size(), Some(4));
/// let wide = PmapLimit::new(Some(4)).window(64); // 4 calls, up to 64 results held
/// assert_eq!((wide.limit(), wide.window_size()), (Some(4), Some(64)));
/// let out = duet::pmap(0..10, wide, async |x| x * 2);
/// assert_eq!(out, (0..10).map(|x| x * 2).collect::<Vec<_>>());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PmapLimit {
    calls: Option<usize>,
    window: Option<usize>,
}

impl PmapLimit {
    /// At most `calls` calls at once (`None`: unlimited), with the default window.
    ///
    /// `Some(0)` is rejected (with a panic) by the pmap function it is passed to.
    ///
    /// # Examples
    ///
    /// ```
    /// let limit = duet::PmapLimit::new(Some(8));
    /// assert_eq!(limit, Some(8).into());
    /// assert_eq!((limit.limit(), limit.window_size()), (Some(8), Some(8)));
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

    /// Sets the window: at most `window` items started but not yet delivered.
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

    /// The window in effect: the one set, else the limit (`None`: unbounded).
    ///
    /// # Examples
    ///
    /// ```
    /// use duet::PmapLimit;
    ///
    /// assert_eq!(PmapLimit::new(Some(4)).window_size(), Some(4)); // defaults to the limit
    /// assert_eq!(PmapLimit::new(Some(4)).window(64).window_size(), Some(64));
    /// assert_eq!(PmapLimit::unlimited().window_size(), None);
    /// ```
    pub fn window_size(&self) -> Option<usize> {
        self.window.or(self.calls)
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

impl From<Option<usize>> for PmapLimit {
    fn from(calls: Option<usize>) -> Self {
        PmapLimit::new(calls)
    }
}
