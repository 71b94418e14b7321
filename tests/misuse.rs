//! Misuse: each gets a clear message (or a defined outcome), never a hang.

mod common;

use std::cell::RefCell;
use std::convert::Infallible;

use common::panic_message;

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
