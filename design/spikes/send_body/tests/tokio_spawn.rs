//! The by-value Send scope in the positions a web handler puts it: at the top of a
//! `tokio::spawn`, nested in a task, nested in the body, with borrowing children, with
//! a task moving a handle in; and a local scope with `!Send` tasks beside it.
use std::cell::RefCell;
use std::rc::Rc;

use send_body_spike::{assert_send, assert_sync, scope, send};

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap()
}

async fn backend(name: &str) -> u32 {
    tokio::task::yield_now().await;
    name.len() as u32
}

/// Borrows its request, fans out, nests a scope in a task and spawns a sibling from a task.
async fn handler(request: &[String]) -> u32 {
    send::scope(async |s| {
        let handles: Vec<_> = request.iter().map(|r| s.spawn(backend(r))).collect();
        let spawner = s.clone();
        let first = &request[0];
        let nested = s.spawn(async move {
            let sibling = spawner.spawn(async { 1 });
            let inner = send::scope(async |t| t.spawn(async move { first.len() as u32 }).await).await;
            sibling.await + inner
        });
        let in_body = send::scope(async |t| t.spawn(async { 10 }).await).await;
        let mut total = 0;
        for h in handles {
            total += h.await;
        }
        total + nested.await + in_body
    })
    .await
}

#[test]
fn a_send_scope_runs_inside_tokio_spawn_on_the_multi_thread_runtime() {
    let total = multi_thread().block_on(async {
        tokio::spawn(async move {
            let request = vec!["ab".to_string(), "cde".to_string()];
            handler(&request).await
        })
        .await
        .unwrap()
    });
    assert_eq!(total, 2 + 3 + (1 + 2) + 10);
}

#[test]
fn an_async_move_body_owning_its_captures_is_send() {
    let n = multi_thread().block_on(async {
        tokio::spawn(async move {
            let name = String::from("abcd");
            send::scope(async move |s| {
                tokio::task::yield_now().await;
                name.len() as u32 + s.spawn(async { 1 }).await
            })
            .await
        })
        .await
        .unwrap()
    });
    assert_eq!(n, 5);
}

#[test]
fn handles_of_a_send_scope_are_send_and_sync() {
    multi_thread().block_on(send::scope(async |s| {
        assert_send(&s);
        assert_sync(&s);
        let h = s.spawn(async { 1 });
        assert_send(&h);
        h.await
    }));
}

#[test]
fn a_local_scope_keeps_not_send_tasks() {
    let log = RefCell::new(Vec::new());
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let n = rt.block_on(scope(async |s| {
        let rc = Rc::new(7u32);
        let log = &log;
        let h = s.spawn(async move {
            log.borrow_mut().push(1);
            tokio::task::yield_now().await;
            1
        });
        tokio::task::yield_now().await;
        *rc + h.await
    }));
    assert_eq!(n, 8);
    assert_eq!(log.borrow().len(), 1);
}
