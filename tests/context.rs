//! Task-local context: snapshot at spawn, isolation between tasks, inheritance into
//! nested runs.

use std::cell::RefCell;
use std::convert::Infallible;
use std::time::Duration;

use duet::ContextVar;

static OUTER: ContextVar<&'static str> = ContextVar::new("outer");
static PER_CHILD: ContextVar<u32> = ContextVar::new("per_child");
static LOCAL: ContextVar<String> = ContextVar::new("local");

async fn yield_times(n: u32) {
    for _ in 0..n {
        duet::yield_now().await;
    }
}

/// Each child sees: the value set before `run`, the per-child value its spawner set just
/// before spawning it, and the value it set itself — even though the children
/// interleave (each sleeps a different time between setting and reading, on the virtual
/// clock, so they finish in reverse order).
#[test]
fn three_children_each_see_exactly_their_own_values() {
    OUTER.set("set before run");
    let seen = RefCell::new(Vec::new());
    let virtual_clock = duet::Config::new().virtual_clock();
    duet::run_with(
        virtual_clock,
        duet::scope(async |s| {
            let seen = &seen;
            for i in 0..3u32 {
                PER_CHILD.set(i);
                s.spawn(async move {
                    LOCAL.set(format!("child {i}"));
                    duet::sleep(Duration::from_millis(30 - 10 * u64::from(i))).await;
                    seen.borrow_mut()
                        .push((i, OUTER.get(), PER_CHILD.get(), LOCAL.get()));
                });
            }
            PER_CHILD.set(99); // after the spawns: not seen by any child
        }),
    )
    .unwrap();
    assert_eq!(
        seen.borrow()
            .iter()
            .map(|entry| entry.0)
            .collect::<Vec<_>>(),
        [2, 1, 0],
        "the children interleaved"
    );
    let mut seen = seen.into_inner();
    seen.sort_by_key(|entry| entry.0);
    let expected: Vec<_> = (0..3u32)
        .map(|i| {
            (
                i,
                Some("set before run"),
                Some(i),
                Some(format!("child {i}")),
            )
        })
        .collect();
    assert_eq!(seen, expected);
    OUTER.remove();
}

#[test]
fn a_childs_changes_are_invisible_to_its_parent_and_siblings() {
    let observed = duet::run_scope(async |s| {
        LOCAL.set("parent".into());
        let changer = s.spawn(async {
            LOCAL.set("changer".into());
            duet::yield_now().await;
            Ok(LOCAL.get())
        });
        let sibling = s.spawn(async {
            yield_times(3).await;
            Ok(LOCAL.get())
        });
        let from_changer = changer.await.unwrap();
        let from_sibling = sibling.await.unwrap();
        Ok::<_, Infallible>((from_changer, from_sibling, LOCAL.get()))
    });
    assert_eq!(
        observed.unwrap(),
        (
            Some("changer".into()),
            Some("parent".into()),
            Some("parent".into())
        )
    );
}

#[test]
fn grandchildren_inherit_what_their_parent_task_set_before_spawning_them() {
    let got = duet::run_scope(async |s| {
        let h = s.spawn(async {
            PER_CHILD.set(7);
            let inner = duet::scope(async |inner| {
                let g = inner.spawn(async { Ok(PER_CHILD.get()) });
                PER_CHILD.set(8); // the scope body is part of the child task
                Ok::<_, Infallible>((g.await.unwrap(), PER_CHILD.get()))
            })
            .await
            .unwrap();
            Ok(inner)
        });
        Ok::<_, Infallible>((h.await.unwrap(), PER_CHILD.get()))
    });
    assert_eq!(got.unwrap(), ((Some(7), Some(8)), None));
}

#[test]
fn nested_run_inherits_the_calling_tasks_values_and_does_not_leak_back() {
    let got = duet::run_scope(async |s| {
        let h = s.spawn(async {
            LOCAL.set("caller".into());
            let inside = duet::run(async {
                let before = LOCAL.get();
                LOCAL.set("changed inside nested run".into());
                (before, LOCAL.get())
            });
            Ok((inside, LOCAL.get()))
        });
        Ok::<_, Infallible>(h.await.unwrap())
    });
    let ((before, inside), after) = got.unwrap();
    assert_eq!(before.as_deref(), Some("caller"));
    assert_eq!(inside.as_deref(), Some("changed inside nested run"));
    assert_eq!(after.as_deref(), Some("caller"));
}

#[test]
fn values_survive_across_polls_and_removal_is_local() {
    let got = duet::run_scope(async |s| {
        PER_CHILD.set(1);
        let h = s.spawn(async {
            PER_CHILD.remove();
            duet::yield_now().await;
            Ok(PER_CHILD.get())
        });
        duet::yield_now().await;
        Ok::<_, Infallible>((h.await.unwrap(), PER_CHILD.get()))
    });
    assert_eq!(got.unwrap(), (None, Some(1)));
}

#[test]
fn a_panicking_task_does_not_leave_its_values_current() {
    let got = duet::run_scope(async |s| {
        LOCAL.set("body".into());
        let h = s.spawn(async {
            LOCAL.set("inner run".into());
            let _ = std::panic::catch_unwind(|| {
                duet::run(async {
                    LOCAL.set("about to panic".into());
                    panic!("boom")
                })
            });
            Ok(LOCAL.get())
        });
        let from_task = h.await.unwrap();
        Ok::<_, Infallible>((from_task, LOCAL.get()))
    });
    assert_eq!(
        got.unwrap(),
        (Some("inner run".into()), Some("body".into()))
    );
}

#[test]
fn with_borrows_without_cloning() {
    struct NotClone(u8);
    static BORROWED: ContextVar<NotClone> = ContextVar::new("borrowed");
    BORROWED.set(NotClone(5));
    assert_eq!(BORROWED.with(|v| v.map(|v| v.0)), Some(5));
    BORROWED.remove();
    assert_eq!(BORROWED.with(|v| v.map(|v| v.0)), None);
}

static OWNER: ContextVar<&'static str> = ContextVar::new("owner");

/// Records, when dropped, the `OWNER` it sees and the cancellation it observes.
struct Witness<'a>(&'a RefCell<Vec<(Option<&'static str>, Option<duet::CancelReason>)>>);

impl Drop for Witness<'_> {
    fn drop(&mut self) {
        self.0
            .borrow_mut()
            .push((OWNER.get(), duet::cancel_reason()));
    }
}

#[test]
fn a_cancelled_tasks_destructors_see_its_own_context_and_its_own_cancellation() {
    use duet::CancelReason;
    let seen = RefCell::new(Vec::new());
    let seen = &seen;
    // By its join handle, from a body with another value.
    duet::run_scope(async |s| {
        let h = s.spawn(async move {
            OWNER.set("the task");
            let _witness = Witness(seen);
            std::future::pending::<()>().await
        });
        duet::yield_now().await;
        OWNER.set("the canceller");
        h.cancel();
        duet::yield_now().await;
        Ok::<_, Infallible>(())
    })
    .unwrap();
    // By the scope's cancellation.
    let _ = duet::run_scope(async |s| {
        s.spawn(async move {
            OWNER.set("the task");
            let _witness = Witness(seen);
            std::future::pending::<()>().await
        });
        duet::yield_now().await;
        OWNER.set("the canceller");
        s.cancel();
        Ok::<_, Infallible>(())
    });
    // With the scope future itself dropped (by a timeout around it).
    duet::run(async {
        OWNER.set("the canceller");
        let _ = duet::timeout(
            Duration::from_millis(1),
            duet::scope(async |s| {
                s.spawn(async move {
                    OWNER.set("the task");
                    let _witness = Witness(seen);
                    std::future::pending::<()>().await
                });
                Ok::<_, Infallible>(())
            }),
        )
        .await;
    });
    assert_eq!(
        *seen.borrow(),
        [
            (Some("the task"), Some(CancelReason::JoinHandle)),
            (Some("the task"), Some(CancelReason::Explicit)),
            (Some("the task"), Some(CancelReason::Dropped)),
        ]
    );
}

#[test]
fn a_value_whose_drop_reads_the_context_can_be_replaced_and_removed() {
    struct ReadsContext;
    impl Drop for ReadsContext {
        fn drop(&mut self) {
            let _ = OWNER.get(); // would find the context borrowed inside `set`
        }
    }
    static GUARDED: ContextVar<ReadsContext> = ContextVar::new("guarded");
    duet::run(async {
        GUARDED.set(ReadsContext);
        GUARDED.set(ReadsContext); // drops the first
        GUARDED.remove(); // drops the second
        GUARDED.set(ReadsContext);
    });
}

#[test]
fn a_value_whose_drop_reads_the_context_while_its_thread_exits_does_not_abort() {
    // The thread's context is destroyed with the thread; a value's destructor that reads
    // a variable then finds none set (reading it used to abort the process).
    static READ_AT_EXIT: ContextVar<&'static str> = ContextVar::new("read_at_exit");
    struct ReadsAtExit(std::sync::mpsc::Sender<Option<&'static str>>);
    impl Drop for ReadsAtExit {
        fn drop(&mut self) {
            let _ = self.0.send(READ_AT_EXIT.get());
        }
    }
    static HELD: ContextVar<ReadsAtExit> = ContextVar::new("held");
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        READ_AT_EXIT.set("thread");
        HELD.set(ReadsAtExit(tx));
    });
    assert!(thread.join().is_ok());
    let seen = rx.recv().unwrap();
    assert!(seen.is_none() || seen == Some("thread"), "{seen:?}");
}

#[test]
fn grandchildren_dropped_with_a_cancelled_task_see_their_own_context() {
    let seen = RefCell::new(Vec::new());
    let seen = &seen;
    duet::run_scope(async |s| {
        let h = s.spawn(async move {
            OWNER.set("child");
            let _witness = Witness(seen);
            let _ = duet::scope(async |inner| {
                inner.spawn(async move {
                    OWNER.set("grandchild");
                    let _witness = Witness(seen);
                    std::future::pending::<()>().await
                });
                std::future::pending::<()>().await;
                Ok::<_, Infallible>(())
            })
            .await;
        });
        duet::yield_now().await;
        duet::yield_now().await;
        OWNER.set("canceller");
        h.cancel();
        duet::yield_now().await;
        Ok::<_, Infallible>(())
    })
    .unwrap();
    let seen = seen.borrow();
    let owners: Vec<_> = seen.iter().map(|(owner, _)| *owner).collect();
    assert_eq!(
        owners,
        [Some("grandchild"), Some("child")],
        "descendants first"
    );
    assert_eq!(seen[1].1, Some(duet::CancelReason::JoinHandle));
    assert!(
        matches!(seen[0].1, Some(duet::CancelReason::Parent(_))),
        "{:?}",
        seen[0].1
    );
}

static REGION: ContextVar<&'static str> = ContextVar::with_default("region", || "eu-west");

/// A variable declared with a default reads as the default wherever nothing set it:
/// before `run`, in the root, in tasks, in a nested run and on another thread; a value
/// set overrides it for the setter and what it spawns afterwards, and removing the value
/// brings the default back.
#[test]
fn a_declared_default_is_read_wherever_no_value_is_set() {
    assert_eq!(REGION.get(), Some("eu-west"));
    let seen = RefCell::new(Vec::new());
    duet::run_scope(async |s| {
        let seen = &seen;
        assert_eq!(REGION.get(), Some("eu-west"));
        let early = s.spawn(async { Ok(REGION.get()) });
        REGION.set("us-east");
        s.spawn(async move {
            seen.borrow_mut().push(("inherited", REGION.get()));
            REGION.remove(); // this task only
            seen.borrow_mut()
                .push(("removed in the task", REGION.get()));
        });
        s.spawn(async move {
            yield_times(2).await; // after the sibling removed its value
            seen.borrow_mut().push(("sibling", REGION.get()));
        });
        assert_eq!(early.await.unwrap(), Some("eu-west"));
        let nested = duet::run(async { REGION.get() }); // starts from this task's values
        assert_eq!(nested, Some("us-east"));
        let other_thread = std::thread::spawn(|| REGION.get()).join().unwrap();
        assert_eq!(
            other_thread,
            Some("eu-west"),
            "a thread of its own: nothing set"
        );
        REGION.remove();
        assert_eq!(REGION.get(), Some("eu-west"));
        Ok::<_, Infallible>(())
    })
    .unwrap();
    assert_eq!(
        seen.into_inner(),
        [
            ("inherited", Some("us-east")),
            ("removed in the task", Some("eu-west")),
            ("sibling", Some("us-east")),
        ]
    );
    assert_eq!(REGION.get(), Some("eu-west"));
}

/// The default is computed by each read that finds no value, and never stored in the
/// context: a read after a value was set does not call it.
#[test]
fn the_default_is_called_only_by_reads_that_find_no_value() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    static COUNTED: ContextVar<Vec<u32>> = ContextVar::with_default("counted", || {
        CALLS.fetch_add(1, Ordering::SeqCst);
        vec![0]
    });
    duet::run(async {
        assert_eq!(COUNTED.get(), Some(vec![0]));
        assert_eq!(COUNTED.with(|v| v.map(Vec::len)), Some(1));
        assert_eq!(CALLS.load(Ordering::SeqCst), 2);
        COUNTED.set(vec![1, 2]);
        assert_eq!(COUNTED.get(), Some(vec![1, 2]));
        assert_eq!(
            CALLS.load(Ordering::SeqCst),
            2,
            "a set value needs no default"
        );
    });
}

/// `with` lends the default of a value type that is not `Clone`, and a default may be a
/// value no `const` can build (an `Arc`). (`Rc` values are refused at compile time: a
/// `compile_fail` doctest on `ContextVar`.)
#[test]
fn with_lends_the_default_and_any_value_type_may_have_one() {
    struct Config {
        retries: u32,
    }
    static CONFIG: ContextVar<Config> =
        ContextVar::with_default("config", || Config { retries: 3 });
    static SHARED: ContextVar<std::sync::Arc<u32>> =
        ContextVar::with_default("shared", || std::sync::Arc::new(7));
    assert_eq!(CONFIG.with(|c| c.map(|c| c.retries)), Some(3));
    CONFIG.set(Config { retries: 5 });
    assert_eq!(CONFIG.with(|c| c.map(|c| c.retries)), Some(5));
    assert_eq!(SHARED.get().as_deref(), Some(&7));
    assert_eq!(format!("{CONFIG:?}"), r#"ContextVar { name: "config" }"#);
}

/// A scope awaited by a foreign executor (no `duet::run` on the thread, no enclosing
/// scope) is a root of its own: its body's changes stay inside it, as a nested `run`'s
/// do, and never leak into other futures that executor polls on the same thread.
#[test]
fn a_scope_polled_by_a_foreign_executor_keeps_its_values_to_itself() {
    static USER: ContextVar<&'static str> = ContextVar::new("user");
    USER.set("before"); // set on the thread before the executor runs
    let seen_by_neighbour = RefCell::new(Vec::new());
    let (inside, in_task) = futures::executor::block_on(async {
        let handler = async {
            duet::scope(async |s| {
                let before = USER.get();
                USER.set("alice");
                let task = s.spawn(async {
                    duet::yield_now().await;
                    Ok::<_, Infallible>(USER.get())
                });
                duet::yield_now().await; // the neighbour is polled in between
                Ok((before, task.await.unwrap()))
            })
            .await
            .unwrap()
        };
        let neighbour = async {
            for _ in 0..4 {
                seen_by_neighbour.borrow_mut().push(USER.get());
                duet::yield_now().await;
            }
        };
        let ((before, in_task), ()) = futures::join!(handler, neighbour);
        assert_eq!(
            USER.get(),
            Some("before"),
            "the body's change leaked out of the scope"
        );
        (before, in_task)
    });
    assert_eq!(
        inside,
        Some("before"),
        "values set before the scope are visible inside"
    );
    assert_eq!(in_task, Some("alice"), "tasks inherit the body's values");
    assert!(
        seen_by_neighbour
            .borrow()
            .iter()
            .all(|v| *v == Some("before")),
        "another future on the executor's thread saw the scope's values: {:?}",
        seen_by_neighbour.borrow()
    );
}
