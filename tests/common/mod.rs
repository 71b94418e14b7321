//! Counting harness shared by the integration tests.
//!
//! [`Probe`] counts, for the futures it wraps, how often they were polled, how many
//! completed and how many were dropped; drop counts prove that cancellation dropped every
//! task exactly once and that nothing leaked.

#![allow(dead_code)]

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake};

use pin_project_lite::pin_project;

pub mod tokio_threads;

#[derive(Default)]
struct Counts {
    created: Cell<usize>,
    polls: Cell<usize>,
    completed: Cell<usize>,
    dropped: Cell<usize>,
}

/// Counts polls, completions and drops of the futures it tracks.
#[derive(Clone, Default)]
pub struct Probe(Rc<Counts>);

impl Probe {
    pub fn new() -> Self {
        Probe::default()
    }

    /// Wraps `future` so that its polls, completion and drop are counted.
    pub fn track<F: Future>(&self, future: F) -> Tracked<F> {
        self.0.created.set(self.0.created.get() + 1);
        Tracked {
            inner: future,
            probe: self.clone(),
            done: false,
        }
    }

    pub fn created(&self) -> usize {
        self.0.created.get()
    }
    pub fn polls(&self) -> usize {
        self.0.polls.get()
    }
    pub fn completed(&self) -> usize {
        self.0.completed.get()
    }
    pub fn dropped(&self) -> usize {
        self.0.dropped.get()
    }
    /// Tracked futures that were dropped without completing.
    pub fn cancelled(&self) -> usize {
        self.dropped() - self.completed()
    }
}

pin_project! {
    pub struct Tracked<F> {
        #[pin]
        inner: F,
        probe: Probe,
        done: bool,
    }

    impl<F> PinnedDrop for Tracked<F> {
        fn drop(this: Pin<&mut Self>) {
            let counts = &this.probe.0;
            counts.dropped.set(counts.dropped.get() + 1);
        }
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let counts = &this.probe.0;
        assert!(!*this.done, "tracked future polled after completion");
        counts.polls.set(counts.polls.get() + 1);
        let poll = this.inner.poll(cx);
        if poll.is_ready() {
            *this.done = true;
            counts.completed.set(counts.completed.get() + 1);
        }
        poll
    }
}

/// Sets a flag when dropped: put one in a task to observe where it is dropped.
pub struct DropFlag(pub Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// A waker that counts its wakes, for driving futures by hand.
#[derive(Default)]
pub struct CountingWaker {
    wakes: AtomicUsize,
}

impl CountingWaker {
    pub fn new() -> Arc<Self> {
        Arc::new(CountingWaker::default())
    }
    pub fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future that is pending until it has been polled `n` times, waking itself each
/// time: a task that "keeps waking itself".
pub fn spin(n: usize) -> impl Future<Output = ()> {
    let mut left = n;
    std::future::poll_fn(move |cx| {
        if left == 0 {
            return Poll::Ready(());
        }
        left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

/// Runs `f`, expecting it to panic; returns the panic message.
pub fn panic_message(f: impl FnOnce()) -> String {
    let payload =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("expected a panic");
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}

/// Ends the test process with a message if it is still alive after `limit`: a bound for
/// tests that would otherwise hang on a lost wake-up. Disarmed when dropped.
pub struct Watchdog(Option<std::sync::mpsc::Sender<()>>);

pub fn watchdog(what: &'static str, limit: std::time::Duration) -> Watchdog {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
            eprintln!("watchdog: {what} did not finish within {limit:?} (a lost wake-up?)");
            std::process::exit(101);
        }
    });
    Watchdog(Some(tx))
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// Yields until `done` holds (a bounded number of times, so a bug fails instead of
/// hanging).
pub async fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        duet::yield_now().await;
    }
    panic!("condition not reached after 1000 yields");
}

/// Yields `n` times.
pub async fn yields(n: usize) {
    for _ in 0..n {
        duet::yield_now().await;
    }
}

/// A waker that panics when woken (a foreign executor with a bug), counting its wakes.
#[derive(Default)]
pub struct PanickingWaker {
    wakes: AtomicUsize,
}

impl PanickingWaker {
    pub fn new() -> Arc<Self> {
        Arc::new(PanickingWaker::default())
    }
    pub fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }
}

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        panic!("the foreign waker panicked");
    }
}

/// Replaces `FILE:LINE:COL` (`file`: the test's `file!()`) with `<here>` and numbers
/// scopes in order of first appearance, so that dumps can be compared as text.
pub fn normalize_dump(dump: &str, file: &str) -> String {
    let mut out = String::new();
    let mut ids: Vec<String> = Vec::new();
    let mut rest = dump;
    while !rest.is_empty() {
        if let Some(mut after) = rest.strip_prefix(file) {
            // Skip ":LINE:COL" (but not the ':' that follows a location).
            while let Some(digits) = after.strip_prefix(':') {
                let end = digits
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(digits.len());
                if end == 0 {
                    break;
                }
                after = &digits[end..];
            }
            out.push_str("<here>");
            rest = after;
        } else if let Some(after) = rest.strip_prefix("scope #") {
            let end = after
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after.len());
            let id = after[..end].to_string();
            let n = ids.iter().position(|i| *i == id).unwrap_or_else(|| {
                ids.push(id);
                ids.len() - 1
            });
            out.push_str(&format!("scope #{}", n + 1));
            rest = &after[end..];
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// A oneshot that another thread answers with `value` after `delay` (well past a loop's
/// 50 ms deadlock check, for the tests that nothing is taken for a deadlock).
pub fn answered_later<T: Send + 'static>(
    delay: std::time::Duration,
    value: T,
) -> futures::channel::oneshot::Receiver<T> {
    let (tx, rx) = futures::channel::oneshot::channel();
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        let _ = tx.send(value);
    });
    rx
}
