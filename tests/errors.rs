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
fn scope_error_display_shows_the_first_error_so_source_is_none() {
    use std::error::Error;
    let failed: ScopeError<AppError> = ScopeError::Failed {
        error: AppError::NotFound("k"),
        others: vec![AppError::NotFound("j")],
    };
    assert_eq!(
        failed.to_string(),
        "a task failed: not found: k (and 1 more error(s))"
    );
    // The message already has the first error's text; returning it as the source too
    // would make error reporters print it twice. The typed errors are in `errors()`.
    assert!(failed.source().is_none());
    assert_eq!(failed.errors().next(), Some(&AppError::NotFound("k")));
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

/// `?` takes a scope's error into `anyhow::Result`, and a downcast gets the typed
/// errors back.
#[test]
fn question_mark_converts_a_scope_error_into_anyhow_and_keeps_the_typed_errors() {
    fn lookups() -> anyhow::Result<usize> {
        let total = duet::run(duet::scope_with(
            ScopeOptions::new().collect_all(),
            async |s| {
                s.spawn(async { lookup("!a").await.map(drop) });
                s.spawn(async { lookup("!b").await.map(drop) });
                lookup("ok").await
            },
        ))?;
        Ok(total)
    }
    let error = lookups().unwrap_err();
    assert_eq!(
        format!("{error:#}"),
        "a task failed: not found: !a (and 1 more error(s))",
        "the first error is in the message once, not repeated as a source"
    );
    assert_eq!(error.chain().count(), 1);
    let scope_error = error
        .downcast_ref::<ScopeError<AppError>>()
        .expect("the ScopeError is inside the anyhow::Error");
    assert!(scope_error.is_failed());
    assert_eq!(
        scope_error.errors().collect::<Vec<_>>(),
        [&AppError::NotFound("!a"), &AppError::NotFound("!b")]
    );
    let owned = error.downcast::<ScopeError<AppError>>().unwrap();
    assert_eq!(
        owned.into_errors(),
        [AppError::NotFound("!a"), AppError::NotFound("!b")]
    );
}

/// Tasks may fail with `anyhow::Error` itself (which is not a `std::error::Error`), and
/// the scope's error still converts into `anyhow::Result`.
#[test]
fn a_scope_of_anyhow_errors_converts_into_anyhow() {
    fn parse_all(inputs: &[&str]) -> anyhow::Result<u32> {
        let sum = duet::run_scope(async |s| {
            let handles: Vec<_> = inputs
                .iter()
                .map(|&i| s.spawn(async move { Ok::<_, anyhow::Error>(i.parse::<u32>()?) }))
                .collect();
            let mut sum = 0;
            for h in handles {
                sum += h.await?;
            }
            Ok(sum)
        })?;
        Ok(sum)
    }
    assert_eq!(parse_all(&["1", "2"]).unwrap(), 3);
    let error = parse_all(&["1", "x"]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "a task failed: invalid digit found in string"
    );
    let scope_error = error.downcast_ref::<ScopeError<anyhow::Error>>().unwrap();
    let first = scope_error.errors().next().unwrap();
    assert!(first.downcast_ref::<std::num::ParseIntError>().is_some());
}

/// The same with `Box<dyn Error + Send + Sync>`, which is not a `std::error::Error`
/// either; a cancellation converts as well.
#[test]
fn question_mark_converts_a_scope_error_into_a_boxed_error() {
    type BoxError = Box<dyn std::error::Error + Send + Sync>;
    fn failing() -> Result<(), BoxError> {
        duet::run_scope(async |s| {
            s.spawn(async { Err::<(), BoxError>(AppError::NotFound("row").into()) });
            Ok(())
        })?;
        Ok(())
    }
    fn cancelled() -> Result<(), BoxError> {
        duet::run_scope(async |s| {
            s.cancel();
            Ok::<_, BoxError>(())
        })?;
        Ok(())
    }
    let error = failing().unwrap_err();
    assert_eq!(error.to_string(), "a task failed: not found: row");
    let scope_error = error.downcast_ref::<ScopeError<BoxError>>().unwrap();
    let first = scope_error.errors().next().unwrap();
    assert_eq!(
        first.downcast_ref::<AppError>(),
        Some(&AppError::NotFound("row"))
    );
    let error = cancelled().unwrap_err();
    let scope_error = error.downcast_ref::<ScopeError<BoxError>>().unwrap();
    assert_eq!(scope_error.cancel_reason(), Some(&CancelReason::Explicit));
}
