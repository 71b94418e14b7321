//! Errors: fail-fast and collect-all policies, and `?` with the user's own error type.

mod common;

use std::cell::{Cell, RefCell};

use common::Probe;
use duet::{CancelReason, JoinError, ScopeError, ScopeOptions};
use futures::future::pending;

#[derive(Debug, PartialEq, thiserror::Error)]
enum AppError {
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("join: {0}")]
    Join(#[from] JoinError),
}

async fn lookup(key: &'static str) -> Result<usize, AppError> {
    duet::yield_now().await;
    if key.starts_with('!') {
        Err(AppError::NotFound(key))
    } else {
        Ok(key.len())
    }
}

#[test]
fn question_mark_works_with_the_users_error_type_in_body_and_children() {
    let keys = ["ab", "cde"];
    let total = duet::run_scope(async |s| {
        let handles: Vec<_> = keys
            .iter()
            .map(|&k| s.spawn(async move { Ok::<_, AppError>(lookup(k).await? * 10) }))
            .collect();
        let mut total = lookup("x").await?;
        for h in handles {
            total += h.await?;
        }
        Ok(total)
    });
    assert_eq!(total.unwrap(), 51);
}

#[test]
fn child_failing_before_its_first_await_fails_the_scope_after_the_body_reaches_an_await() {
    let body_progress = RefCell::new(Vec::new());
    let probe = Probe::new();
    let r = duet::run_scope(async |s| {
        s.spawn(async { Err::<(), _>(AppError::NotFound("early")) });
        s.spawn(probe.track(pending::<Result<(), AppError>>()));
        body_progress.borrow_mut().push("ran up to the await");
        duet::yield_now().await;
        body_progress.borrow_mut().push("ran past the await");
        Ok(())
    });
    assert_eq!(
        r,
        Err(ScopeError::Failed {
            error: AppError::NotFound("early"),
            others: vec![]
        })
    );
    assert_eq!(*body_progress.borrow(), ["ran up to the await"]);
    // Tasks run in spawn order: the failing one ends the scope before its later sibling
    // ever runs, and that sibling is still dropped exactly once.
    assert_eq!((probe.polls(), probe.dropped()), (0, 1));
}

#[test]
fn child_failing_after_an_await_cancels_siblings_and_body() {
    let probe = Probe::new();
    let body_done = Cell::new(false);
    let r = duet::run_scope(async |s| {
        for _ in 0..5 {
            s.spawn(probe.track(pending::<Result<(), AppError>>()));
        }
        s.spawn(async {
            lookup("!late").await?;
            Ok(())
        });
        pending::<()>().await;
        body_done.set(true);
        Ok(())
    });
    assert!(matches!(
        r,
        Err(ScopeError::Failed {
            error: AppError::NotFound("!late"),
            ..
        })
    ));
    assert!(!body_done.get());
    assert_eq!(probe.dropped(), 5);
}

#[test]
fn body_failing_synchronously_cancels_children_and_skips_the_rest() {
    let probe = Probe::new();
    let rest = Cell::new(false);
    let r = duet::run_scope(async |s| {
        s.spawn(probe.track(pending::<Result<(), AppError>>()));
        Err::<(), _>(AppError::NotFound("sync"))?;
        rest.set(true);
        Ok(())
    });
    assert!(matches!(
        r,
        Err(ScopeError::Failed {
            error: AppError::NotFound("sync"),
            ..
        })
    ));
    assert!(!rest.get());
    assert_eq!(
        (probe.polls(), probe.dropped()),
        (0, 1),
        "the child was never polled"
    );
}

#[test]
fn body_failing_after_an_await_cancels_children_and_skips_the_rest() {
    let probe = Probe::new();
    let rest = Cell::new(false);
    let r = duet::run_scope(async |s| {
        s.spawn(probe.track(pending::<Result<(), AppError>>()));
        lookup("!body").await?;
        rest.set(true);
        Ok(())
    });
    assert!(matches!(
        r,
        Err(ScopeError::Failed {
            error: AppError::NotFound("!body"),
            ..
        })
    ));
    assert!(!rest.get());
    assert_eq!((probe.polls(), probe.dropped()), (1, 1));
}

#[test]
fn fail_fast_reports_the_first_error() {
    let r = duet::run_scope(async |s| {
        s.spawn(async {
            duet::yield_now().await;
            Err::<(), _>("second")
        });
        s.spawn(async { Err::<(), _>("first") });
        Ok(())
    });
    assert_eq!(
        r,
        Err(ScopeError::Failed {
            error: "first",
            others: vec![]
        })
    );
}

#[test]
fn collect_all_lets_every_task_finish_and_returns_every_error() {
    let finished = Cell::new(0);
    let r = duet::run(duet::scope_with(
        ScopeOptions::new().collect_all(),
        async |s| {
            for i in 0..6 {
                let finished = &finished;
                s.spawn(async move {
                    for _ in 0..i {
                        duet::yield_now().await;
                    }
                    finished.set(finished.get() + 1);
                    if i % 2 == 0 { Err(i) } else { Ok(()) }
                });
            }
            Ok(())
        },
    ));
    assert_eq!(finished.get(), 6);
    assert_eq!(
        r,
        Err(ScopeError::Failed {
            error: 0,
            others: vec![2, 4]
        })
    );
}

#[test]
fn collect_all_join_handle_of_a_failed_task_says_failed() {
    let r = duet::run(duet::scope_with(
        ScopeOptions::new().collect_all(),
        async |s| {
            let h = s.spawn(async { Err::<(), _>("bad") });
            let seen = h.await;
            Ok(seen)
        },
    ));
    assert_eq!(
        r,
        Err(ScopeError::Failed {
            error: "bad",
            others: vec![]
        })
    );
    let seen = RefCell::new(None);
    let _ = duet::run(duet::scope_with(
        ScopeOptions::new().collect_all(),
        async |s| {
            let h = s.spawn(async { Err::<(), _>("bad") });
            *seen.borrow_mut() = Some(h.await);
            Ok(())
        },
    ));
    assert_eq!(seen.into_inner(), Some(Err(JoinError::Failed)));
}

#[test]
fn cancel_after_errors_in_collect_all_keeps_the_errors() {
    let r = duet::run(duet::scope_with(
        ScopeOptions::new().collect_all(),
        async |s| {
            s.spawn(async { Err::<(), _>("kept") });
            s.spawn(pending::<Result<(), &str>>());
            duet::yield_now().await;
            duet::yield_now().await;
            s.cancel();
            Ok(())
        },
    ));
    assert_eq!(
        r,
        Err(ScopeError::Cancelled {
            reason: CancelReason::Explicit,
            errors: vec!["kept"]
        })
    );
}

#[test]
fn infallible_children_need_no_result_noise() {
    let seen = Cell::new(0);
    let r = duet::run_scope(async |s| {
        let seen = &seen;
        s.spawn(async move { seen.set(seen.get() + 1) });
        s.spawn(async move { seen.set(seen.get() + 1) })
            .await
            .unwrap();
    });
    assert_eq!(r, Ok(()));
    assert_eq!(seen.get(), 2);
}

#[test]
fn nested_scope_failure_is_an_ordinary_error_for_its_parent() {
    let r = duet::run_scope(async |s| {
        let h = s.spawn(async {
            let inner = duet::scope(async |inner| {
                inner.spawn(async { Err::<(), _>(AppError::NotFound("deep")) });
                Ok(())
            })
            .await;
            match inner {
                Err(ScopeError::Failed { error, .. }) => Ok(format!("handled {error}")),
                other => panic!("unexpected {other:?}"),
            }
        });
        Ok::<_, AppError>(h.await?)
    });
    assert_eq!(r.unwrap(), "handled not found: deep");
}

#[test]
fn scope_error_display_and_source() {
    use std::error::Error;
    let failed: ScopeError<AppError> = ScopeError::Failed {
        error: AppError::NotFound("k"),
        others: vec![AppError::NotFound("j")],
    };
    assert_eq!(
        failed.to_string(),
        "a task failed: not found: k (and 1 more error(s))"
    );
    assert_eq!(failed.source().unwrap().to_string(), "not found: k");
    let cancelled: ScopeError<AppError> = ScopeError::Cancelled {
        reason: CancelReason::Explicit,
        errors: vec![],
    };
    assert_eq!(cancelled.to_string(), "scope cancelled explicitly");
    assert!(cancelled.source().is_none());
    let victim = std::cell::RefCell::new(None);
    let line = line!() + 3;
    let _ = duet::run_scope(async |s| {
        *victim.borrow_mut() = Some(s.spawn(futures::future::pending::<Result<(), &str>>()));
        s.spawn_named("loader", async { Err::<(), _>("disk full") });
        Ok(())
    });
    let error = duet::run(victim.take().unwrap()).unwrap_err().to_string();
    let expected = format!(
        "task cancelled because a sibling failed: task #1 `loader` spawned at {}:{line}:",
        file!()
    );
    assert!(error.starts_with(&expected), "{error}");
}
