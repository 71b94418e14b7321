//! `supervise`: a collect-all scope that keeps the body's value next to the errors.

mod common;

use std::convert::Infallible;
use std::future::pending;
use std::time::Duration;

use common::{Probe, panic_message};
use duet::{CancelReason, Config, ErrorPolicy, ScopeOptions, Supervised};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn the_body_gathers_the_successes_and_the_errors_come_alongside_in_order() {
    let outcome = duet::run_with(
        Config::new().virtual_clock(),
        duet::supervise(async |s| {
            let calls: Vec<_> = [30u64, 10, 20, 40]
                .into_iter()
                .map(|delay| {
                    s.spawn(async move {
                        duet::sleep(ms(delay)).await;
                        if delay >= 30 { Err(delay) } else { Ok(delay) }
                    })
                })
                .collect();
            let mut successes = Vec::new();
            for call in calls {
                successes.extend(call.await.ok());
            }
            Ok(successes)
        }),
    );
    assert_eq!(outcome.value, Some(vec![10, 20]));
    assert_eq!(outcome.errors, [30, 40], "in the order they happened");
    assert_eq!(outcome.cancelled, None);
    assert!(!outcome.is_ok());
}

#[test]
fn errors_of_tasks_still_running_when_the_body_returns_are_kept() {
    let outcome = duet::run_with(
        Config::new().virtual_clock(),
        duet::supervise(async |s| {
            s.spawn(async {
                duet::sleep(ms(50)).await;
                Err::<(), _>("late")
            });
            Ok("early value")
        }),
    );
    assert_eq!(outcome.value, Some("early value"));
    assert_eq!(outcome.errors, ["late"]);
}

#[test]
fn a_failing_body_has_no_value_and_its_error_is_reported() {
    let outcome: Supervised<(), &str> = duet::run(duet::supervise(async |s| {
        s.spawn(async { Err::<(), _>("task") });
        duet::yield_now().await;
        Err("body")
    }));
    assert_eq!(outcome.value, None);
    assert_eq!(outcome.errors, ["task", "body"]);
}

#[test]
fn a_timeout_after_the_body_returned_keeps_the_value_and_drops_the_tasks() {
    let probe = Probe::new();
    let outcome = duet::run_with(
        Config::new().virtual_clock(),
        duet::supervise_with(ScopeOptions::new().timeout(ms(100)), async |s| {
            s.spawn(probe.track(duet::sleep(ms(10_000))));
            s.spawn(async {
                duet::sleep(ms(10)).await;
                Err::<(), _>("fast failure")
            });
            Ok("value")
        }),
    );
    assert_eq!(outcome.value, Some("value"));
    assert_eq!(outcome.errors, ["fast failure"]);
    assert_eq!(outcome.cancelled, Some(CancelReason::TimedOut));
    assert_eq!(probe.cancelled(), 1);
    let error = outcome.into_result().unwrap_err();
    assert!(error.is_timeout());
}

#[test]
fn a_scope_cancelled_before_the_body_returned_has_no_value() {
    let outcome = duet::run(duet::supervise(async |s| {
        s.cancel();
        pending::<()>().await;
        Ok::<_, Infallible>(1)
    }));
    assert_eq!(outcome.value, None);
    assert_eq!(outcome.cancelled, Some(CancelReason::Explicit));
}

#[test]
fn into_result_equals_a_collect_all_scope_of_the_same_program() {
    async fn program(s: &duet::Scope<'_, u32>) -> Result<u32, u32> {
        s.spawn(async { Err::<(), _>(1) });
        s.spawn(async { Err::<(), _>(2) });
        Ok(7)
    }
    let supervised = duet::run(duet::supervise(async |s| program(&s).await)).into_result();
    let plain = duet::run(duet::scope_with(
        ScopeOptions::new().collect_all(),
        async |s| program(&s).await,
    ));
    assert_eq!(supervised, plain);
    let clean = duet::run(duet::supervise(async |_| Ok::<_, u32>(3)));
    assert!(clean.is_ok());
    assert_eq!(clean.into_result(), Ok(3));
}

#[test]
fn a_panicking_task_is_re_raised() {
    let msg = panic_message(|| {
        duet::run(duet::supervise(async |s| {
            s.spawn(async {
                if true {
                    panic!("task panicked");
                }
            });
            Ok::<_, Infallible>(())
        }));
    });
    assert_eq!(msg, "task panicked");
}

#[test]
fn supervise_with_a_fail_fast_policy_is_refused_with_a_message() {
    let msg = panic_message(|| {
        // Refused when called, before the future is ever polled.
        drop(duet::supervise_with(
            ScopeOptions::new().error_policy(ErrorPolicy::FailFast),
            async |_: duet::Scope<'_>| {},
        ));
    });
    assert!(
        msg.contains("a supervised scope always collects every error"),
        "{msg}"
    );
    // Asking for what it does anyway is fine.
    let outcome = duet::run(duet::supervise_with(
        ScopeOptions::new().error_policy(ErrorPolicy::CollectAll),
        async |s| {
            s.spawn(async { Err::<(), _>("e") });
            Ok(())
        },
    ));
    assert_eq!(outcome.errors, ["e"]);
}
