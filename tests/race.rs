//! `race` and `first_ok`: the first wins, the losers are cancelled and torn down before
//! the call returns.

mod common;

use std::cell::Cell;
use std::future::pending;
use std::pin::Pin;
use std::time::Duration;

use common::{Probe, panic_message};
use duet::Config;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

#[test]
fn race_returns_the_first_to_complete_after_the_losers_were_torn_down() {
    let probe = Probe::new();
    let cleaned = Cell::new(false);
    let (winner, elapsed) = duet::run_with(Config::new().virtual_clock(), async {
        let start = duet::now();
        let cleaned = &cleaned;
        let loser_with_cleanup: Boxed<'_, u32> = Box::pin(async move {
            duet::shield(async {
                duet::sleep(ms(50)).await; // still cleaning up when the winner finishes
                cleaned.set(true);
            })
            .await;
            duet::sleep(ms(1_000)).await;
            1
        });
        let winner = duet::race([
            loser_with_cleanup,
            Box::pin(probe.track(async {
                duet::sleep(ms(500)).await;
                2
            })),
            Box::pin(async {
                duet::sleep(ms(10)).await;
                3
            }),
        ])
        .await;
        (winner, duet::now() - start)
    });
    assert_eq!(winner, 3);
    assert!(
        cleaned.get(),
        "race returned before a loser's teardown ended"
    );
    assert_eq!(
        elapsed,
        ms(50),
        "the race waited for the shielded cleanup, no longer"
    );
    assert_eq!(probe.cancelled(), 1);
}

#[test]
fn race_of_nothing_is_refused_with_a_message() {
    let msg = panic_message(|| {
        duet::run(duet::race(Vec::<std::future::Ready<()>>::new()));
    });
    assert!(msg.contains("duet::race"), "{msg}");
    assert!(msg.contains("no futures to race"), "{msg}");
}

#[test]
fn first_ok_skips_failures_and_cancels_the_rest_on_the_first_success() {
    let probe = Probe::new();
    let r = duet::run_with(Config::new().virtual_clock(), async {
        let attempts: Vec<Boxed<'_, Result<&str, &str>>> = vec![
            Box::pin(async { Err("refused") }),
            Box::pin(async {
                duet::sleep(ms(20)).await;
                Ok("second")
            }),
            Box::pin(probe.track(async {
                duet::sleep(ms(1_000)).await;
                Ok("too late")
            })),
        ];
        duet::first_ok(attempts).await
    });
    assert_eq!(r, Ok("second"));
    assert_eq!(probe.cancelled(), 1);
}

#[test]
fn when_every_attempt_fails_first_ok_returns_the_errors_in_input_order() {
    let r = duet::run_with(
        Config::new().virtual_clock(),
        duet::first_ok([30u64, 10, 20].map(|delay| async move {
            duet::sleep(ms(delay)).await;
            Err::<(), _>(delay)
        })),
    );
    assert_eq!(r, Err(vec![30, 10, 20]));
}

#[test]
fn first_ok_of_nothing_has_no_errors() {
    let r = duet::run(duet::first_ok(
        Vec::<std::future::Ready<Result<(), ()>>>::new(),
    ));
    assert_eq!(r, Err(vec![]));
}

#[test]
fn attempts_may_borrow_from_the_caller() {
    let replicas = [String::from("a"), String::from("bb"), String::from("ccc")];
    let r = duet::run(duet::first_ok(replicas.iter().map(|name| async move {
        if name.len() == 2 {
            Ok(name.as_str())
        } else {
            Err(name.len())
        }
    })));
    assert_eq!(r, Ok("bb"));
}

#[test]
fn a_panicking_contender_is_re_raised_after_the_others_are_dropped() {
    let probe = Probe::new();
    let msg = panic_message(|| {
        duet::run(duet::race([
            Box::pin(probe.track(pending::<()>())) as Boxed<'_, ()>,
            Box::pin(async {
                duet::yield_now().await;
                panic!("contender panicked");
            }),
        ]));
    });
    assert_eq!(msg, "contender panicked");
    assert_eq!(probe.cancelled(), 1);
}

#[test]
fn dropping_a_race_drops_every_contender() {
    let probe = Probe::new();
    let r = duet::run_with(
        Config::new().virtual_clock(),
        duet::timeout(
            ms(100),
            duet::first_ok((0..3).map(|_| {
                probe.track(async {
                    duet::sleep(ms(1_000)).await;
                    Ok::<_, ()>(())
                })
            })),
        ),
    );
    assert!(r.is_err(), "timed out");
    assert_eq!(probe.created(), 3);
    assert_eq!(probe.cancelled(), 3);
}

#[test]
fn a_race_inside_a_cancelled_scope_is_cancelled_with_it() {
    let probe = Probe::new();
    let r = duet::run_scope(async |s| {
        let probe = &probe;
        s.spawn(async move {
            duet::race([probe.track(pending::<()>()), probe.track(pending::<()>())]).await;
        });
        duet::yield_now().await;
        s.cancel();
        Ok::<_, std::convert::Infallible>(())
    });
    assert!(r.unwrap_err().is_cancelled());
    assert_eq!(probe.cancelled(), 2);
}

/// The race's own scope sits in the cancellation tree: a soft cancellation of the scope
/// around it reaches its members (they see `cancelled()`), and the race still returns a
/// winner or is dropped with its task; it never reports its own scope's end as an
/// internal error.
#[test]
fn a_race_under_a_soft_cancellation_returns_a_winner_or_is_dropped() {
    let winner = std::cell::Cell::new(None);
    let r = duet::run_with(
        duet::Config::new().virtual_clock(),
        duet::scope(async |s| {
            let winner = &winner;
            s.spawn(async move {
                let won = duet::race([
                    Box::pin(async {
                        duet::cancelled().await;
                        "saw the soft cancellation"
                    }) as std::pin::Pin<Box<dyn Future<Output = &str>>>,
                    Box::pin(std::future::pending()),
                ])
                .await;
                winner.set(Some(won));
            });
            duet::yield_now().await;
            s.cancel_with_grace(std::time::Duration::from_secs(1));
            Ok::<_, std::convert::Infallible>(())
        }),
    );
    assert!(r.unwrap_err().is_cancelled());
    assert_eq!(winner.get(), Some("saw the soft cancellation"));
}

#[test]
fn first_ok_under_a_hard_cancellation_is_dropped_with_its_task() {
    let r = duet::run_scope(async |s| {
        s.spawn(async {
            let _ =
                duet::first_ok([async { std::future::pending::<Result<(), ()>>().await }]).await;
            unreachable!("nothing completes the only attempt");
        });
        duet::yield_now().await;
        s.cancel();
        Ok::<_, std::convert::Infallible>(())
    });
    assert!(r.unwrap_err().is_cancelled());
}
