//! [`Config`]: how [`run_with`](crate::run_with) sets up a loop.

use std::time::Duration;

use crate::schedule::{Settings, Strategy};
use crate::time::DEFAULT_SLACK;

/// Options for a loop started with [`run_with`](crate::run_with).
///
/// [`run`](crate::run) is `run_with(Config::new(), ..)`.
///
/// # Clocks
///
/// By default a loop uses the clock of the loop it is nested in, and the real clock at top
/// level. [`virtual_clock`](Config::virtual_clock) gives the loop a clock that stands still
/// while tasks run and, whenever every task is waiting and a timer is pending, jumps
/// straight to the earliest deadline. Tests that sleep for an hour then finish in
/// microseconds, and [`now`](crate::now) reports exact times.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let elapsed = duet::run_with(duet::Config::new().virtual_clock(), async {
///     let start = duet::now();
///     duet::sleep(Duration::from_secs(3600)).await; // returns at once in real time
///     duet::now() - start
/// });
/// assert_eq!(elapsed, Duration::from_secs(3600));
/// ```
#[derive(Debug, Clone)]
#[must_use = "a Config does nothing until it is passed to duet::run_with"]
pub struct Config {
    virtual_clock: bool,
    simulation: Option<Settings>,
    timer_slack: Duration,
    cancel_on_ctrl_c: bool,
    spin_before_park: Duration,
    /// The tokio runtime whose context the loop runs in (see `tokio_bridge`).
    #[cfg(feature = "tokio")]
    tokio: Option<tokio::runtime::Handle>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            virtual_clock: false,
            simulation: None,
            timer_slack: DEFAULT_SLACK,
            cancel_on_ctrl_c: false,
            spin_before_park: Duration::ZERO,
            #[cfg(feature = "tokio")]
            tokio: None,
        }
    }
}

impl Config {
    /// The defaults: the same loop as [`run`](crate::run).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(duet::run_with(duet::Config::new(), async { 1 }), duet::run(async { 1 }));
    /// ```
    pub fn new() -> Self {
        Config::default()
    }

    /// Runs the loop on a new virtual clock.
    ///
    /// Virtual time starts at the current time of the caller ([`now`](crate::now)) and
    /// moves only when the loop is idle (every task is waiting) and a timer is pending:
    /// then it jumps to the earliest deadline and fires the timers due at it. Time does
    /// not pass while tasks run, however long they take.
    ///
    /// Runs nested inside a virtual-clock run share its clock (with their own timers),
    /// so time stays consistent across them. A timer created under a virtual clock must
    /// be awaited under that same clock: awaiting it elsewhere panics with an explanation.
    ///
    /// The clock jumps as soon as the loop is idle, even if a thread is about to wake a
    /// task: a test that races a timeout against real work on another thread should use
    /// the real clock. Conversely, a task that never waits (it polls in a loop with
    /// [`yield_now`](crate::yield_now())) keeps the loop busy and virtual time standing still.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let result = duet::run_with(duet::Config::new().virtual_clock(), async {
    ///     let start = duet::now();
    ///     let slow = duet::sleep(Duration::from_secs(10));
    ///     let r = duet::timeout(Duration::from_millis(500), slow).await;
    ///     (r.is_err(), duet::now() - start)
    /// });
    /// assert_eq!(result, (true, Duration::from_millis(500)));
    /// ```
    pub fn virtual_clock(mut self) -> Self {
        self.virtual_clock = true;
        self
    }

    /// How late the loop may fire a timer, so that timers due close together are fired
    /// in one wake-up instead of one each. The default is 250 µs.
    ///
    /// When the loop parks, it sets the wake-up for the earliest deadline plus the slack,
    /// and then fires every timer due by then. A timer therefore never fires early, and at
    /// most `slack` late (plus the operating system's own wake-up latency). Zero parks
    /// exactly until the earliest deadline, at the cost of more wake-ups when many
    /// deadlines are close together (see `design/performance.md`). The slack does not
    /// apply on a virtual clock, which jumps exactly to each deadline, nor to nested runs,
    /// which use their own config.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let start = Instant::now();
    /// duet::run_with(
    ///     duet::Config::new().timer_slack(Duration::ZERO),
    ///     duet::sleep(Duration::from_millis(5)),
    /// );
    /// assert!(start.elapsed() >= Duration::from_millis(5));
    /// ```
    pub fn timer_slack(mut self, slack: Duration) -> Self {
        self.timer_slack = slack;
        self
    }

    /// Makes Ctrl-C (SIGINT) cancel the run instead of killing the process (needs the
    /// `ctrl-c` cargo feature).
    ///
    /// The first Ctrl-C cancels the scopes the loop polls directly (its root scopes, such
    /// as the one [`run_scope`](crate::run_scope) opens) with
    /// [`CancelReason::Interrupted`](crate::CancelReason::Interrupted): every task is
    /// dropped at its current await point, destructors run, and the root scope returns
    /// [`ScopeError::Cancelled`](crate::ScopeError::Cancelled). A root future that is
    /// not a scope is dropped and `run_with` panics with a message saying so. A second
    /// Ctrl-C while the run unwinds kills the process as usual.
    ///
    /// With several loops running (nested runs, which inherit the setting, or loops on
    /// other threads), Ctrl-C interrupts every one of them: a nested run unwinds at once
    /// and returns its `Cancelled` error to the task that called it, and the loops it is
    /// nested in unwind when control returns to them. A duet function that cannot return
    /// the interruption (`pmap_async` at the root of a run, or the sync `pmap`, which runs
    /// a loop of its own, anywhere) panics with a message that says so; call
    /// `pmap_async` inside a scope to get the cancellation instead. Runs started after the interrupt (cleanup code that calls
    /// `run`) are not interrupted. No signal handler is installed until a loop with this
    /// option starts; when none is running, Ctrl-C keeps its default behaviour.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// let result = duet::run_with(duet::Config::new().cancel_on_ctrl_c(), duet::scope(async |s| {
    ///     s.spawn(duet::sleep(Duration::from_secs(3600))); // until Ctrl-C
    /// }));
    /// if let Err(e) = result {
    ///     eprintln!("{e}"); // scope cancelled because the program was interrupted (Ctrl-C)
    /// }
    /// ```
    #[cfg(feature = "ctrl-c")]
    pub fn cancel_on_ctrl_c(mut self) -> Self {
        self.cancel_on_ctrl_c = true;
        self
    }

    /// Makes the loop spin for up to `spin` before it parks the thread, checking for a
    /// wake-up (default: zero, park at once).
    ///
    /// Parking and unparking a thread goes through the scheduler: on an idle virtual
    /// machine a wake-up from another thread can take tens of microseconds, far more than
    /// the work it announces. Spinning keeps the thread running, so a completion that
    /// arrives within the spin is seen within nanoseconds. The price is CPU: an idle loop
    /// burns up to `spin` per park. On the 2-core VM of `design/performance.md`, a
    /// cross-thread round trip (a helper thread answers each request) went from 98 µs to
    /// 5.1 µs with 20 µs of spin, using less CPU per round trip (no futex calls); a loop
    /// that mostly sleeps pays up to the spin on every wake-up instead (about 20 % more
    /// CPU in a run with 10,000 timers and a 10 µs spin). Use it for latency-bound loops that wait on other threads (RPC clients,
    /// thread pools), not for loops that mostly sleep. It applies to this run only: a
    /// nested `run` parks at once unless it is given its own `Config`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let config = duet::Config::new().spin_before_park(Duration::from_micros(20));
    /// let answer = duet::run_with(config, async {
    ///     duet::unblock(|| 6 * 7).await // answered by a pool thread, seen while spinning
    /// });
    /// assert_eq!(answer, 42);
    /// ```
    pub fn spin_before_park(mut self, spin: Duration) -> Self {
        self.spin_before_park = spin;
        self
    }

    /// Runs the loop under simulation, with `seed` making every scheduling choice (see
    /// [`sim`](crate::sim)): which ready task runs next, ties between equal deadlines,
    /// where poll budgets end, when offloaded work comes back and when buffered futures
    /// are flushed. Implies [`virtual_clock`](Config::virtual_clock). The same seed and
    /// the same program give the same schedule every run; runs nested in this one are
    /// simulated too, drawing from the same seed.
    ///
    /// Work sent to [`unblock`](crate::unblock) and [`ThreadPool`](crate::ThreadPool)
    /// runs on this thread at a seeded step instead of on a pool thread. Threads the
    /// program starts itself are outside the simulation. To run a test under many seeds
    /// and replay a failure, use [`sim::check`](crate::sim::check).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    ///
    /// let order = |seed| {
    ///     let order = RefCell::new(Vec::new());
    ///     duet::run_with(duet::Config::new().simulated(seed), duet::scope(duet::infallible(
    ///         async |s| {
    ///             for i in 0..4 {
    ///                 let order = &order;
    ///                 s.spawn(async move { order.borrow_mut().push(i) });
    ///             }
    ///         },
    ///     )))
    ///     .unwrap();
    ///     order.into_inner()
    /// };
    /// assert_eq!(order(3), order(3)); // a seed names one schedule
    /// let orders: std::collections::HashSet<_> = (0..32).map(order).collect();
    /// assert!(orders.len() > 1); // and different seeds reorder the tasks
    /// ```
    pub fn simulated(mut self, seed: u64) -> Self {
        self.simulation = Some(Settings {
            seed,
            strategy: Strategy::Random,
        });
        self
    }

    pub(crate) fn simulation(&self) -> Option<Settings> {
        self.simulation
    }

    /// Runs the loop inside the context of a tokio runtime that duet starts and shares
    /// (needs the `tokio` cargo feature), so that tokio-based clients work in its tasks:
    /// reqwest, hyper, tonic, `tokio::net`, `tokio::spawn`.
    ///
    /// The runtime is started the first time a config asks for it and then serves every
    /// loop of the process: a multi-thread runtime with I/O and timers enabled and tokio's
    /// default number of worker threads (one per core), named `duet-tokio`. Its threads
    /// drive tokio's reactor and run what is `tokio::spawn`ed (a reqwest or hyper client
    /// spawns its connections there); readiness reaches duet's tasks as ordinary wake-ups
    /// from those threads. To use a runtime of your own, pass its handle to
    /// [`tokio_handle`](Config::tokio_handle); everything below holds for both.
    ///
    /// - **What runs in the context.** The runtime's handle is entered
    ///   ([`Handle::enter`](tokio::runtime::Handle::enter)) when `run_with` starts and left
    ///   when it returns or unwinds, restoring whatever tokio context the caller had: every
    ///   poll of every task, the flush of buffered futures (a [`Batcher`](crate::Batcher)'s
    ///   `send` may `tokio::spawn`) and the destructors run when the root is dropped.
    /// - **Nested runs inherit it**, like the clock: a `run` called from a task of this
    ///   loop (on this thread) runs in the same context; one given a config with its own
    ///   runtime uses that one.
    /// - **Timers stay duet's.** [`sleep`](crate::sleep), [`timeout`](crate::timeout) and
    ///   deadline scopes awaited in the loop are fired by the loop, on its clock (real or
    ///   [virtual](Config::virtual_clock)); `tokio::time::sleep` in a task uses tokio's
    ///   timer on tokio's clock. On a virtual clock the loop does not wait for tokio: when
    ///   every task waits on a socket and a timer is pending, virtual time jumps to it, so
    ///   a virtual `timeout` around a request fires at once. Use the real clock for
    ///   network I/O.
    ///
    /// The latency a bridged loop adds to a loopback round trip, against plain tokio, is
    /// in `design/performance.md` ("Focused bench: the tokio bridge").
    ///
    /// # Panics
    ///
    /// If the shared runtime cannot be started (the operating system refused its
    /// threads); the message says to pass a runtime of your own.
    ///
    /// # Examples
    ///
    /// A TCP exchange on loopback between two duet tasks, through tokio's sockets:
    ///
    /// ```
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// use tokio::net::{TcpListener, TcpStream};
    ///
    /// let reply = duet::run_with(duet::Config::new().tokio(), duet::scope(async |s| {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     let addr = listener.local_addr()?;
    ///     s.spawn(async move {
    ///         let (mut socket, _) = listener.accept().await?;
    ///         let mut buf = [0; 5];
    ///         socket.read_exact(&mut buf).await?;
    ///         socket.write_all(&buf).await // echoes
    ///     });
    ///     let mut client = TcpStream::connect(addr).await?;
    ///     client.write_all(b"hello").await?;
    ///     let mut reply = [0; 5];
    ///     client.read_exact(&mut reply).await?;
    ///     Ok::<_, std::io::Error>(reply)
    /// }));
    /// assert_eq!(&reply.unwrap(), b"hello");
    /// ```
    #[cfg(feature = "tokio")]
    pub fn tokio(self) -> Self {
        self.tokio_handle(super::tokio_bridge::shared_handle())
    }

    /// Runs the loop inside the context of the tokio runtime of `handle` (needs the
    /// `tokio` cargo feature); as [`tokio`](Config::tokio), with your runtime.
    ///
    /// The runtime must be a multi-thread one, whose worker threads drive its reactor and
    /// timers while duet's loop holds this thread; it needs I/O (and, for tokio's timers,
    /// time) enabled, as for any use of tokio (`enable_all()` on its builder; otherwise
    /// tokio panics at the first socket, saying so). The loop keeps a clone of the handle,
    /// not the runtime: keep the [`Runtime`](tokio::runtime::Runtime) alive while loops
    /// use it.
    ///
    /// # Panics
    ///
    /// If `handle` is of a current-thread runtime ([`Handle::runtime_flavor`] is
    /// [`CurrentThread`](tokio::runtime::RuntimeFlavor::CurrentThread)): nothing would
    /// drive its I/O while the loop runs, and tokio clients would wait forever. The
    /// message says to pass a multi-thread runtime's handle or use
    /// [`tokio`](Config::tokio).
    ///
    /// [`Handle::runtime_flavor`]: tokio::runtime::Handle::runtime_flavor
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = tokio::runtime::Builder::new_multi_thread()
    ///     .worker_threads(1)
    ///     .enable_all()
    ///     .build()?;
    /// let config = duet::Config::new().tokio_handle(rt.handle().clone());
    /// let answer = duet::run_with(config, async {
    ///     tokio::spawn(async { 6 * 7 }).await // runs on `rt`'s worker
    /// })?;
    /// assert_eq!(answer, 42);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// A current-thread runtime is refused:
    ///
    /// ```should_panic
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    /// let config = duet::Config::new().tokio_handle(rt.handle().clone()); // panics
    /// # Ok::<_, std::io::Error>(())
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn tokio_handle(mut self, handle: tokio::runtime::Handle) -> Self {
        super::tokio_bridge::check_flavor(&handle);
        self.tokio = Some(handle);
        self
    }

    /// Enters the loop's tokio runtime, if it has one, until the result is dropped.
    #[cfg(feature = "tokio")]
    pub(crate) fn enter_tokio(&self) -> super::tokio_bridge::TokioContext<'_> {
        super::tokio_bridge::enter(self.tokio.as_ref())
    }

    #[cfg(not(feature = "tokio"))]
    pub(crate) fn enter_tokio(&self) -> super::tokio_bridge::TokioContext {
        super::tokio_bridge::TokioContext
    }

    pub(crate) fn spin(&self) -> Duration {
        self.spin_before_park
    }

    pub(crate) fn cancels_on_ctrl_c(&self) -> bool {
        self.cancel_on_ctrl_c
    }

    pub(crate) fn uses_virtual_clock(&self) -> bool {
        self.virtual_clock
    }

    pub(crate) fn slack(&self) -> Duration {
        self.timer_slack
    }
}
