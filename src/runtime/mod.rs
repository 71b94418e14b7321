//! The loop: [`run`] blocks the calling thread and drives one root future on it.
//!
//! # How a tick goes
//!
//! 1. The loop polls the root future once, inside a poll frame (see `current::frame`) that
//!    identifies the root task.
//! 2. If the root is ready, `run` returns its output.
//! 3. If a wake arrived during the poll (a task woke itself or a sibling, a scope yielded
//!    its budget), the loop polls again at once: no system call is made. It first fires
//!    the timers that came due, and every `BUSY_FLUSH_TICKS` busy ticks in a row flushes
//!    buffered futures, so a loop that never goes idle still serves both.
//! 4. Otherwise the loop is idle: this is where per-loop idle work runs (see `context`).
//!    Due timers fire first; if any fired, the loop polls again. Then the loop flushes
//!    the buffered futures its tasks are waiting for (see `interop::buffered`), and polls
//!    again if that woke a task. Only then may a virtual clock jump to the next deadline
//!    (firing it), if its gate is open (see `time::gate`). Then, if nothing but stuck
//!    scopes holds the root's waker, no event can ever resume the root and `run` panics
//!    with a deadlock message instead of hanging. Otherwise the thread parks until a
//!    waker, from any thread, notifies it, or until the earliest timer is due, and fires
//!    the timers that came due before it polls again.
//!
//! # Invariants
//!
//! 1. Everything `run` sets on the thread (the loop context, the poll frame) is restored when
//!    it returns or unwinds, so the next `run` on the thread, and an outer `run` that
//!    called this one, carry on normally.
//! 2. The root future is dropped before `run` returns or finishes unwinding, so every task
//!    under it has been dropped by then.
//! 3. A nested `run` has its own notifier: wakes of the outer tree only unpark the thread
//!    and stay pending in the outer loop's flag until the nested `run` returns.
//! 4. A due timer waits at most one poll of the root to fire, busy or idle; a poll of the
//!    root is bounded (`scope::driver`, the round budget).

mod config;
mod context;
mod interrupt;
mod park;
mod tokio_bridge;

use std::future::{Future, IntoFuture};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll};

pub use config::Config;
pub(crate) use park::LoopWaker;

use crate::ScopeError;
use crate::current::poll_in_frame;
use crate::schedule::Simulation;
use crate::scope::{BODY, BodyOutput, BodyValue, Scope, scope};
use crate::time::Idle;

/// Runs a future to completion on the current thread, blocking until it finishes.
///
/// The future is the root of a task tree: open scopes inside it with [`scope`] to run
/// tasks concurrently. Everything runs on this one thread; work finished by other threads
/// wakes the loop through ordinary [`Waker`](std::task::Waker)s. While nothing is ready
/// the thread parks; it does not spin or sleep in a loop.
///
/// `run` is re-entrant: a task may call `run` again, for example through a synchronous
/// function that uses `run` internally. The nested call is a new root with its own,
/// isolated cancellation tree; it returns its value to the task that called it, and the
/// outer tree continues afterwards. While the nested call runs, the outer tree is paused
/// (its thread is busy), so a nested `run` must not wait for a task of the outer tree.
///
/// # Panics
///
/// A panic inside the future propagates out of `run` after every task under it has been
/// dropped; the thread can call `run` again afterwards.
///
/// `run` also panics, instead of hanging, when it detects that the root can never be
/// woken again: it is pending and no waker of it (or of any task under it) is held by
/// anything that could still fire it. Detection is conservative: a waiting task whose
/// waker is held anywhere (another thread, a timer, a channel, a sibling task) is never
/// reported, even if that holder will in fact never wake it.
///
/// # Examples
///
/// ```
/// let answer = duet::run(async { 6 * 7 });
/// assert_eq!(answer, 42);
///
/// // Re-entrant: a task may call a synchronous function that runs its own loop.
/// fn legacy_sync_api() -> u32 {
///     duet::run(async { 1 })
/// }
/// let total = duet::run(async { legacy_sync_api() + 1 });
/// assert_eq!(total, 2);
/// ```
pub fn run<F: IntoFuture>(future: F) -> F::Output {
    run_with(Config::new(), future)
}

/// [`run`] with a [`Config`], for example on a virtual clock.
///
/// Everything said about [`run`] holds; the config only changes how the loop is set up.
///
/// # Panics
///
/// As [`run`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// // An hour of virtual time passes at once, and exactly.
/// let start_and_end = duet::run_with(duet::Config::new().virtual_clock(), async {
///     let start = duet::now();
///     duet::sleep(Duration::from_secs(3600)).await;
///     (start, duet::now())
/// });
/// assert_eq!(start_and_end.1 - start_and_end.0, Duration::from_secs(3600));
/// ```
pub fn run_with<F: IntoFuture>(config: Config, future: F) -> F::Output {
    let simulation = config
        .simulation()
        .map(|settings| Rc::new(Simulation::new(settings, false)));
    run_loop(config, simulation, future)
}

/// Runs `future` on a loop simulated by `simulation` (see `sim`).
pub(crate) fn run_simulated<F: IntoFuture>(simulation: Rc<Simulation>, future: F) -> F::Output {
    run_loop(Config::new(), Some(simulation), future)
}

fn run_loop<F: IntoFuture>(
    config: Config,
    simulation: Option<Rc<Simulation>>,
    future: F,
) -> F::Output {
    // First in, last out: the root is dropped inside the tokio context, if any.
    let _tokio = config.enter_tokio();
    let (notifier, waker) = LoopWaker::new();
    // The loop that starts a simulation finishes the work still offloaded to it.
    let owns_simulation = simulation.is_some();
    let context = context::LoopContext::new(&config, simulation, &notifier, &waker);
    let simulation = context.simulation.clone();
    let _current = context::Enter::new(&context);
    // A new root: scopes opened here have no parent, so nothing outside reaches them.
    let _root = crate::scope::current::enter_root();
    let mut cx = Context::from_waker(&waker);
    let mut root = pin!(future.into_future());
    let root_id = waker.data();
    // The root starts from the caller's task-local values; its changes stay inside.
    let mut values = crate::context::Values::snapshot();
    // Consecutive ticks that found a task ready again at once.
    let mut busy_ticks: u32 = 0;
    loop {
        if let Some(simulation) = &simulation {
            simulation.record_poll(None, BODY);
        }
        let (poll, report) = poll_in_frame(root_id, BODY, || {
            values.enter(|| root.as_mut().poll(&mut cx))
        });
        let root_waits = crate::current::waits::take(report.first_report).unwrap_or_default();
        let stuck_holds = report.stuck_holds;
        if let Poll::Ready(output) = poll {
            if let (true, Some(simulation)) = (owns_simulation, &simulation) {
                // The end of the loop is its last idle point (as for the flush queue):
                // a future that outlives the loop still gets its value.
                simulation.run_all_offloaded(run_job);
            }
            return output;
        }
        if context.interrupted_without_scope() {
            // Unwinding drops the root future (pinned in this frame) and all under it.
            if context.is_nested() {
                panic!(
                    "duet::run: interrupted by Ctrl-C inside a nested duet::run whose root is \
                     not a scope (a synchronous function that runs its own loop, such as \
                     duet::pmap); it cannot return the interruption, so its root is dropped. \
                     Call the async form (pmap_async) in the task instead, or run a scope at \
                     the root of the nested run, to get ScopeError::Cancelled with \
                     CancelReason::Interrupted."
                );
            }
            panic!(
                "duet::run: interrupted by Ctrl-C; the root future is dropped because it is \
                 not a scope. Run a scope at the root (duet::run_scope, or run_with(config, \
                 duet::scope(..))) to get ScopeError::Cancelled with \
                 CancelReason::Interrupted instead."
            );
        }
        if notifier.take_notification() {
            // Busy: a task is ready again at once. Timers that came due and buffered
            // futures still get their turn now and then (see `BUSY_FLUSH_TICKS`), so a
            // task that never stops yielding starves neither.
            busy_ticks = busy_ticks.wrapping_add(1);
            context.timers().fire_due();
            match &simulation {
                None if busy_ticks % BUSY_FLUSH_TICKS == 0 => {
                    context.buffered.flush_all();
                }
                None => {}
                // Any tick is a valid point for offloaded work to return. Buffered futures
                // wait for idle as on the normal loop, which flushes while busy only after
                // `BUSY_FLUSH_TICKS` busy ticks in a row: from then on, any tick may.
                Some(simulation) => {
                    if busy_ticks >= BUSY_FLUSH_TICKS && simulation.flush_now() {
                        context.buffered.flush_all();
                    }
                    simulation.run_offloaded(false, run_job);
                }
            }
            continue;
        }
        busy_ticks = 0;
        // Nothing is ready. Idle work of the loop (due timers, flushing buffered futures)
        // goes here, before the deadlock check and the park. Due timers first: they make
        // tasks ready, so the loop is not idle after all.
        if context.timers().fire_due() {
            notifier.take_notification(); // the next poll covers the wakes they made
            continue;
        }
        // Then buffered futures, flushed only when nothing else is ready; work that woke a
        // task means the loop is not idle after all.
        if context.buffered.flush_all() && notifier.take_notification() {
            continue;
        }
        // Under simulation, work "on another thread" returns when the loop is idle at the
        // latest, before the clock may move (it holds the clock, as real offloaded work
        // does).
        if simulation
            .as_ref()
            .is_some_and(|s| s.run_offloaded(true, run_job))
        {
            notifier.take_notification();
            continue;
        }
        // Only now may a virtual clock jump to the next deadline.
        let park_until = match context.timers().on_idle(&waker, || notifier.is_notified()) {
            Idle::Poll => {
                notifier.take_notification();
                continue;
            }
            Idle::Park(until) => until,
        };
        // Ctrl-C can cancel an interruptible loop: never a deadlock.
        let watched = !context.is_interruptible();
        if watched && notifier.is_unreachable(stuck_holds) {
            panic!(
                "duet::run: deadlock: the root future is waiting, but no waker of it or of any \
                 task under it is held by anything that could fire it (no other thread, timer, \
                 channel or task), so it can never resume; check for a task awaiting a future \
                 that nobody will complete\n{}",
                crate::dump()
            );
        }
        // Spin first, if asked to: a wake-up during the spin costs no scheduler round trip.
        if notifier.spin(config.spin(), park_until) {
            continue;
        }
        if watched && park_until.is_none() {
            // Nothing timed will wake the loop. If nothing else does soon, look closer: a
            // tree whose every wait is on its own tasks (join handles, scopes, limiters
            // they hold) will never be woken.
            if notifier.park_briefly(DEADLOCK_CHECK_DELAY) {
                continue;
            }
            let root = crate::scope::deadlock::RootView {
                held: notifier.held_by(),
                waits: &root_waits,
            };
            let this_loop = crate::scope::deadlock::LoopView {
                id: context.id(),
                frozen_timers: context.timers().frozen_timers(),
            };
            // A wake that arrives while the tree is read (from a Send scope's handle on
            // another thread, which may cancel or spawn and then drop the last handle
            // before its scope's snapshot reads the count) leaves a snapshot that looks
            // stuck: it has notified the loop, so the analysis counts only if nothing did.
            if crate::scope::deadlock::is_deadlocked(&this_loop, root, &context.scope_snapshots())
                && !notifier.is_notified()
            {
                let held_clock = if this_loop.frozen_timers.is_some() {
                    " or on a timer of the virtual clock, which is held (duet::hold_clock) with \
                     nothing advancing it (duet::advance)"
                } else {
                    ""
                };
                panic!(
                    "duet::run: deadlock: every task is waiting, and each waits only on other \
                     tasks of this run (join handles, nested scopes){held_clock}, so none can \
                     ever resume. The task tree:\n{}",
                    crate::dump()
                );
            }
        }
        notifier.park(park_until);
        // Timers that came due while parked fire before the next poll: a loop that wakes
        // late (a busy machine) then serves them in deadline order. A poll first would let
        // a deadline scope, which reads the clock itself, see its own deadline passed
        // before a task's earlier timer had woken the task.
        context.timers().fire_due();
    }
}

/// Runs an offloaded job of a simulation as a pool thread would (see `context`).
fn run_job(simulation: &Rc<Simulation>, job: crate::schedule::Job) {
    context::run_as_pool_job(simulation, job);
}

/// How many consecutive busy ticks (polls of the root after which a task was ready again
/// at once) the loop lets pass before it flushes buffered futures anyway. Flushing waits
/// for idle points so that requests accumulate into batches; a loop that never goes idle
/// must still send them. A tick polls a bounded number of tasks (the scopes' round
/// budgets), so this is some thousands of task polls.
const BUSY_FLUSH_TICKS: u32 = 16;

/// How long a loop with nothing timed to wake it waits before analysing its task tree for
/// a deadlock (only then: the analysis walks every task).
const DEADLOCK_CHECK_DELAY: std::time::Duration = std::time::Duration::from_millis(50);

/// Runs a [`scope`] as the root of a new loop: shorthand for `run(scope(body))`.
///
/// # Examples
///
/// ```
/// let data = vec![1, 2, 3];
/// let sum = duet::run_scope(duet::infallible(async |s| {
///     let halves: Vec<_> = data.iter().map(|x| s.spawn(async move { Ok(x * 10) })).collect();
///     let mut sum = 0;
///     for h in halves {
///         sum += h.await.expect("not cancelled");
///     }
///     sum
/// }));
/// assert_eq!(sum.unwrap(), 60);
/// ```
#[track_caller]
pub fn run_scope<'env, B, Fut, E>(body: B) -> Result<<Fut::Output as BodyValue>::Ok, ScopeError<E>>
where
    B: FnOnce(Scope<'env, E>) -> Fut,
    Fut: Future,
    Fut::Output: BodyOutput<E>,
    E: 'env,
{
    run(scope(body))
}
