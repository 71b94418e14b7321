//! Misuse: each gets a clear message (or a defined outcome), never a silent hang. One
//! test per misuse, asserting exactly what the user sees; the table in
//! `design/reliability.md` lists them all. Misuse that cannot compile is pinned by
//! `compile_fail` doctests, named here where they live.
//!
//! Two misuses hang by design (duet cannot tell them from a long wait); their tests show
//! the hang and the way out: a nested `run` awaiting an `AwaitableFuture` that only an
//! outer task would complete, and two tasks awaiting each other.

mod common;

use std::cell::RefCell;
use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{panic_message, watchdog};
use duet::{AwaitError, AwaitableFuture, Config, Limiter, ThreadPool};

#[test]
fn spawn_on_a_finished_scope_panics_with_advice() {
    let kept: RefCell<Option<duet::Scope<'_, Infallible>>> = RefCell::new(None);
    duet::run_scope(async |s| {
        *kept.borrow_mut() = Some(s.clone());
    })
    .unwrap();
    let scope = kept.borrow_mut().take().unwrap();
    let msg = panic_message(|| drop(scope.spawn(async {})));
    assert_eq!(
        msg,
        "duet: spawn on a scope that has already finished; a scope ends once its body and \
         tasks are done, so nothing would run this task. Spawn while the scope's body or one \
         of its tasks is still running, or open a new scope."
    );
}

#[test]
fn spawn_during_teardown_is_cancelled_on_arrival() {
    struct SpawnOnDrop(
        duet::Scope<'static, Infallible>,
        std::rc::Rc<RefCell<Vec<duet::JoinHandle<()>>>>,
    );
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            self.1.borrow_mut().push(self.0.spawn(async {}));
        }
    }
    let handles = std::rc::Rc::new(RefCell::new(Vec::new()));
    let r = duet::run_scope(async |s| {
        let guard = SpawnOnDrop(s.clone(), handles.clone());
        s.spawn(async move {
            let _guard = guard;
            futures::future::pending::<()>().await;
        });
        duet::yield_now().await;
        s.cancel();
        Ok(())
    });
    assert!(r.unwrap_err().is_cancelled());
    let h = handles.borrow_mut().pop().expect("the destructor spawned");
    assert!(duet::run(h).unwrap_err().is_cancelled());
}

#[test]
fn join_handle_polled_after_completion_panics() {
    let msg = panic_message(|| {
        duet::run_scope(async |s| {
            let mut h = s.spawn(async {});
            (&mut h).await.unwrap();
            let _ = futures::poll!(&mut h);
        })
        .unwrap();
    });
    assert_eq!(
        msg,
        "duet: JoinHandle polled again after it returned its outcome"
    );
}

#[test]
fn scope_polled_after_completion_panics() {
    let mut task = tokio_test::task::spawn(duet::scope(async |_s| {}));
    tokio_test::assert_ready_ok!(task.poll());
    // The async fn wrapper reports this itself, before duet's own check.
    let msg = panic_message(|| {
        let _ = task.poll();
    });
    assert!(
        msg.contains("after completion") || msg.contains("after it completed"),
        "{msg}"
    );
}

#[test]
fn deadlocked_root_panics_with_a_message_and_the_task_tree() {
    let line = line!() + 2;
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            s.spawn(std::future::pending::<()>());
            std::future::pending::<()>().await;
            Ok::<_, Infallible>(())
        });
    });
    let file = file!();
    assert_eq!(
        msg,
        format!(
            "duet::run: deadlock: the root future is waiting, but no waker of it or of any task \
             under it is held by anything that could fire it (no other thread, timer, channel or \
             task), so it can never resume; check for a task awaiting a future that nobody will \
             complete\n\
             scope #{id} opened at {file}:{line}:17: running\n\
             ├── body: waiting (on something duet cannot see)\n\
             └── task #0 spawned at {file}:{spawn}:15: waiting (on something duet cannot see)\n",
            id = scope_id(&msg),
            spawn = line + 1,
        )
    );
}

/// The number duet gave the scope (scope ids are global, so tests cannot know it).
fn scope_id(msg: &str) -> u64 {
    let start = msg.find("scope #").expect("a scope in the dump") + "scope #".len();
    msg[start..].split(' ').next().unwrap().parse().unwrap()
}

/// Is `T: Send`? (Autoref specialization: the inherent method wins when it applies.)
struct SendProbe<T>(PhantomData<T>);
trait NotSendFallback {
    fn is_send(&self) -> bool {
        false
    }
}
impl<T> NotSendFallback for SendProbe<T> {}
impl<T: Send> SendProbe<T> {
    fn is_send(&self) -> bool {
        true
    }
}

/// Using a scope handle from another thread does not compile: `Scope` is `!Send` (the
/// `compile_fail` doctest "A `Scope` stays on the thread that runs it" on
/// `duet::Scope` pins the compiler error). Here the same fact at run time, and the way
/// out it points to: `CancelHandle` is `Send + Sync`.
#[test]
fn a_scope_handle_cannot_be_sent_to_another_thread_but_a_cancel_handle_can() {
    assert!(!SendProbe::<duet::Scope<'static, Infallible>>(PhantomData).is_send());
    assert!(!SendProbe::<duet::JoinHandle<()>>(PhantomData).is_send());
    assert!(SendProbe::<duet::CancelHandle>(PhantomData).is_send());
}

#[test]
fn a_limiter_of_capacity_zero_is_refused_with_advice() {
    let expected = "duet: a Limiter needs a capacity of at least 1, got 0: a limiter without \
                    slots would make every acquire wait forever. Use Limiter::unlimited() (or \
                    set_capacity(None)) for no limit.";
    assert_eq!(panic_message(|| drop(Limiter::new(0))), expected);
    let limiter = Limiter::new(2);
    assert_eq!(panic_message(|| limiter.set_capacity(Some(0))), expected);
    assert_eq!(
        limiter.capacity(),
        Some(2),
        "the refused resize changed nothing"
    );
}

#[test]
fn a_pool_of_zero_threads_is_refused_with_advice() {
    assert_eq!(
        panic_message(|| drop(ThreadPool::new(0))),
        "duet: ThreadPool::new(0): a pool needs at least one thread to run its jobs; pass the \
         number of blocking calls you want in flight at once"
    );
}

#[test]
fn a_panicking_pool_job_reaches_its_awaiter_and_the_pool_keeps_working() {
    let pool = ThreadPool::new(1);
    // submit: the awaiter gets an error carrying the panic message.
    let error = duet::run(pool.submit(|| -> u32 { panic!("job exploded") })).unwrap_err();
    assert!(error.is_panic());
    assert_eq!(
        error.to_string(),
        "the job completing this AwaitableFuture panicked: job exploded"
    );
    // unblock: the original panic is re-raised in the awaiting task.
    let msg = panic_message(|| {
        duet::run(pool.unblock(|| -> u32 { panic!("unblocked job exploded") }));
    });
    assert_eq!(msg, "unblocked job exploded");
    // execute: reported by the panic hook, swallowed; the only worker survives.
    pool.execute(|| panic!("fire-and-forget job exploded"));
    assert_eq!(duet::run(pool.submit(|| 7)).unwrap(), 7);
}

#[test]
fn completing_an_awaitable_future_twice_panics_with_advice() {
    let f = AwaitableFuture::new();
    f.set_result(1);
    assert_eq!(
        panic_message(|| f.set_result(2)),
        "duet: AwaitableFuture::set_result on a future that is already complete (a result or \
         an error was set before); a future completes once. Use try_set_result, which returns \
         false when another producer won, or check is_done() first."
    );
    assert_eq!(
        panic_message(|| f.set_error("late")),
        "duet: AwaitableFuture::set_error on a future that is already complete (a result or \
         an error was set before); a future completes once. Use try_set_error, which returns \
         false when another producer won, or check is_done() first."
    );
    assert_eq!(duet::run(f).unwrap(), 1, "the first value stays");
}

#[test]
fn a_dropped_producer_abandons_the_future_instead_of_hanging() {
    let f = AwaitableFuture::<u32>::new();
    let producer = f.clone();
    thread::spawn(move || drop(producer)).join().unwrap();
    let error = duet::run(f).unwrap_err();
    assert!(error.is_abandoned());
    assert_eq!(
        error.to_string(),
        "the AwaitableFuture was abandoned: every handle that could complete it was dropped \
         without setting a result or an error (did the producer return early or panic?)"
    );
    // Awaiting the only handle: nobody could ever complete it.
    assert!(matches!(
        duet::run(AwaitableFuture::<u32>::new()),
        Err(AwaitError::Abandoned)
    ));
}

#[test]
fn an_overflowing_deadline_saturates_at_thirty_years_instead_of_panicking() {
    const THIRTY_YEARS: Duration = Duration::from_secs(86_400 * 365 * 30);
    let (slept, deadline_in) = duet::run_with(Config::new().virtual_clock(), async {
        let start = duet::now();
        let far = duet::sleep(Duration::MAX);
        let deadline_in = far.deadline() - start;
        far.await;
        (duet::now() - start, deadline_in)
    });
    assert_eq!((slept, deadline_in), (THIRTY_YEARS, THIRTY_YEARS));
    // On the real clock: no overflow in the deadline, the park timeout or the timer.
    assert_eq!(duet::run(duet::timeout(Duration::MAX, async { 1 })), Ok(1));
    let r = duet::run(duet::timeout_scope(Duration::MAX, async |_s| {
        Ok::<_, Infallible>(2)
    }));
    assert_eq!(r.unwrap(), 2);
}

#[test]
fn a_nested_run_awaiting_an_outer_join_handle_panics_instead_of_deadlocking() {
    let msg = panic_message(|| {
        let _ = duet::run_scope(async |s| {
            let sibling = s.spawn(futures::future::pending::<()>());
            s.spawn(async move {
                duet::run(sibling).unwrap();
            });
        });
    });
    assert_eq!(
        msg,
        "duet: deadlock: awaiting a JoinHandle whose task belongs to an outer duet::run, from \
         inside a nested duet::run (or another blocking executor) on the same thread; the \
         outer loop cannot run that task until this call returns. Await the handle in the \
         outer task instead, or spawn the work inside the nested run."
    );
    assert_eq!(duet::run(async { 1 }), 1, "the thread is usable again");
}

/// Documented hang: the future's producer is an outer task, which cannot run while the
/// nested `run` blocks its thread; the producer's handle is alive, so the future is not
/// abandoned, and its cell holds the nested root's waker, so no deadlock is reported.
/// The user sees the nested `run` block until someone else completes the future.
#[test]
fn a_nested_run_awaiting_a_future_only_an_outer_task_completes_hangs_until_completed_elsewhere() {
    let _watchdog = watchdog("the nested-run hang test", Duration::from_secs(60));
    let f = AwaitableFuture::<u32>::new();
    let rescuer = f.clone();
    let (started_tx, started_rx) = mpsc::channel();
    let runner = thread::spawn(move || {
        duet::run_scope(async |s| {
            let producer = f.clone();
            s.spawn(async move {
                duet::yield_now().await;
                producer.set_result(1); // never runs before the nested run returns
            });
            let awaited = f.clone();
            let nested = s.spawn(async move {
                started_tx.send(()).unwrap();
                Ok(duet::run(awaited))
            });
            Ok::<_, Infallible>(nested.await.unwrap())
        })
    });
    started_rx.recv().unwrap();
    thread::sleep(Duration::from_millis(100));
    assert!(!runner.is_finished(), "the nested run is still blocked");
    rescuer.set_result(2); // the way out: complete it from another thread
    // The outer producer then finds the future complete: set_result panics, which fails
    // the outer scope. (A producer that may lose a race uses try_set_result.)
    let outcome = runner.join();
    let payload = outcome.expect_err("the outer producer's set_result panicked");
    assert!(
        payload
            .downcast_ref::<String>()
            .is_some_and(|m| m.contains("already complete")),
    );
}

#[test]
fn awaiting_a_virtual_clock_timer_under_the_real_clock_panics_with_advice() {
    let sleep = duet::run_with(Config::new().virtual_clock(), async {
        Some(duet::sleep(Duration::from_secs(1)))
    })
    .unwrap();
    assert_eq!(
        panic_message(|| duet::run(sleep)),
        "duet: a timer whose deadline was set on a virtual clock (duet::Config::virtual_clock) \
         was awaited under a duet::run that uses the real clock; virtual deadlines only mean \
         something to the clock they were set on. Create the timer (sleep, timeout, deadline \
         or a deadline scope) inside the virtual-clock run that awaits it."
    );
}

#[test]
fn awaiting_a_virtual_clock_timer_under_another_virtual_clock_panics_with_advice() {
    let sleep = duet::run_with(Config::new().virtual_clock(), async {
        Some(duet::sleep(Duration::from_secs(1)))
    })
    .unwrap();
    let msg = panic_message(|| duet::run_with(Config::new().virtual_clock(), sleep));
    assert!(
        msg.contains(
            "was awaited under another virtual clock (a nested \
                      run_with(Config::new().virtual_clock(), ..))"
        ),
        "{msg}"
    );
}

#[test]
fn a_pmap_limit_or_window_of_zero_is_refused_with_advice() {
    assert_eq!(
        panic_message(|| drop(duet::pmap(0..3, Some(0), async |x| x))),
        "duet::pmap: the limit must be at least 1 call, got Some(0): no call could ever start. \
         Pass Some(n) with n >= 1, or None for no limit."
    );
    assert_eq!(
        panic_message(|| {
            let _ = duet::PmapLimit::new(Some(4)).window(0);
        }),
        "duet: a pmap window must be at least 1 item, got 0: no call could ever start"
    );
}

#[test]
fn an_acquire_polled_after_it_returned_its_slot_panics() {
    let limiter = Limiter::new(1);
    let msg = panic_message(|| {
        duet::run(async {
            let mut acquire = limiter.acquire();
            let slot = (&mut acquire).await;
            drop(slot);
            let _ = futures::poll!(&mut acquire);
        });
    });
    assert_eq!(
        msg,
        "duet: a Limiter::acquire future was polled after it returned its slot"
    );
    assert!(limiter.is_available(), "no slot was taken by the misuse");
}

#[test]
fn a_timeout_polled_after_it_completed_panics() {
    let msg = panic_message(|| {
        duet::run(async {
            let mut t = std::pin::pin!(duet::timeout(Duration::from_secs(1), async {}));
            t.as_mut().await.unwrap();
            let _ = futures::poll!(t.as_mut());
        });
    });
    assert_eq!(msg, "duet: a Timeout was polled again after it completed");
}

#[test]
fn an_unblock_polled_after_it_returned_panics() {
    let msg = panic_message(|| {
        duet::run(async {
            let mut job = duet::unblock(|| 1);
            assert_eq!((&mut job).await, 1);
            let _ = futures::poll!(&mut job);
        });
    });
    assert_eq!(
        msg,
        "duet::Unblock polled again after it returned its value"
    );
}

#[test]
fn adding_to_a_finished_collector_gives_the_value_back_with_a_message() {
    let (collector, stream) = duet::AsyncCollector::<u32, ()>::new();
    collector.done().unwrap();
    let rejected = collector.add(1).unwrap_err();
    assert!(rejected.is_finished());
    assert_eq!(
        rejected.to_string(),
        "duet: the AsyncCollector has already finished (done() or error() was called); \
         nothing can be added or reported after that"
    );
    assert_eq!(rejected.into_inner(), 1);
    drop(stream);
}

/// A task holding the only slot waits for another slot of the same limiter: every held
/// slot belongs to a task of the loop, so nothing but that task could release one, and
/// `run` reports the deadlock (with the task tree) instead of hanging. (Duet assumes no
/// other thread raises the capacity to rescue it; see design/cancellation.md.)
/// Two tasks awaiting each other's join handles while a `CancelHandle` of their scope
/// exists on another thread: that handle could end the wait, so this is not provably a
/// deadlock and nothing is reported; cancelling ends it. (Without such a handle the cycle
/// is reported as a deadlock: `tests/deadlock.rs`.)
#[test]
fn two_tasks_awaiting_each_other_wait_until_the_scope_is_cancelled() {
    let _watchdog = watchdog("the join-cycle test", Duration::from_secs(60));
    let (handle_tx, handle_rx) = mpsc::channel();
    let runner = thread::spawn(move || {
        duet::run_scope(async |s| {
            handle_tx.send(s.cancel_handle()).unwrap();
            let (a_tx, a_rx) = futures::channel::oneshot::channel::<duet::JoinHandle<()>>();
            let b = s.spawn(async move {
                let a = a_rx.await.unwrap();
                a.await.unwrap(); // waits for a, which waits for b
            });
            let a = s.spawn(async move {
                b.await.unwrap();
            });
            a_tx.send(a).unwrap();
            Ok::<_, Infallible>(())
        })
    });
    let cancel = handle_rx.recv().unwrap();
    thread::sleep(Duration::from_millis(100));
    assert!(
        !runner.is_finished(),
        "the two tasks still wait for each other"
    );
    cancel.cancel(); // the way out
    assert!(runner.join().unwrap().unwrap_err().is_cancelled());
}

/// A scope future whose body closure panics when called (before it returns its future),
/// polled again after the panic was caught: a message, not an internal error.
#[test]
fn a_scope_future_polled_again_after_its_body_panicked_when_called_says_so() {
    use std::future::Future;
    use std::task::Context;
    let mut scope = Box::pin(duet::scope(
        |_s: duet::Scope<'_>| -> std::future::Ready<()> {
            panic!("the body closure panics before it makes its future")
        },
    ));
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = scope.as_mut().poll(&mut cx);
    }));
    assert!(first.is_err());
    let second = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = scope.as_mut().poll(&mut cx);
    }))
    .expect_err("the second poll panics");
    let message = second
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| second.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(
        message.contains("polled again after its body panicked"),
        "{message}"
    );
}
