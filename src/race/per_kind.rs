//! [`race`] and [`first_ok`] for one kind of scope: compiled once with local scopes
//! (`race/local.rs`, the crate root's `duet::race`) and once with Send scopes
//! (`race/send.rs`, `duet::send::race`), as the scope code itself is (`scope/per_kind/`).

use std::convert::Infallible;

use super::{Spawnable, TaskSet, internal_scope, lost_member, own_scope_ended};

/// Runs every future concurrently and returns the output of the first to complete; the
/// others are cancelled, and their teardown has finished when `race` returns.
///
/// Futures that complete in the same poll of the loop are taken in the order they
/// completed. For "the first to *succeed*", see [`first_ok`].
///
/// # Panics
///
/// If `futures` is empty (there would be no winner), or if one of them panics (the
/// panic is re-raised after the others were dropped).
///
/// # Cancel safety
///
/// Dropping the future drops every future of the race.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let winner = duet::run_with(duet::Config::new().virtual_clock(), duet::race([
///     Box::pin(async { duet::sleep(Duration::from_millis(30)).await; "slow" })
///         as std::pin::Pin<Box<dyn Future<Output = &str>>>,
///     Box::pin(async { duet::sleep(Duration::from_millis(10)).await; "fast" }),
/// ]));
/// assert_eq!(winner, "fast");
/// ```
#[track_caller]
pub fn race<I>(futures: I) -> impl Future<Output = <I::Item as Future>::Output>
where
    I: IntoIterator + Spawnable,
    I::Item: Future + Spawnable,
    <I::Item as Future>::Output: Spawnable,
{
    let location = std::panic::Location::caller();
    async move {
        let outcome = internal_scope(async |s| {
            let mut set = TaskSet::new(&s);
            for future in futures {
                set.spawn(async move { Ok(future.await) });
            }
            if set.is_empty() {
                panic!("duet::race (called at {location}): no futures to race, so no winner");
            }
            let winner = set.join_next().await;
            Ok::<_, Infallible>(winner.map(|w| w.unwrap_or_else(|e| lost_member("race", e))))
        })
        .await;
        match outcome {
            Ok(Some(winner)) => winner,
            Ok(None) => unreachable!("a non-empty set yields an outcome"),
            Err(error) => own_scope_ended("race", error),
        }
    }
}

/// Runs every fallible future concurrently and returns the first `Ok`; the others are
/// cancelled, and their teardown has finished when `first_ok` returns. If every future
/// fails, returns all the errors, in the order of `futures`.
///
/// An empty `futures` returns `Err` with no errors.
///
/// # Panics
///
/// If one of the futures panics (the panic is re-raised after the others were dropped).
///
/// # Cancel safety
///
/// Dropping the future drops every future of the race.
///
/// # Examples
///
/// Staggered attempts against replicas (the second starts 50 ms after the first, the
/// third 50 ms after that), the first to answer wins:
///
/// ```
/// use std::time::Duration;
///
/// async fn attempt(replica: u64) -> Result<String, String> {
///     duet::sleep(Duration::from_millis(50 * replica)).await; // staggered start
///     match replica {
///         0 => Err("replica 0: connection refused".to_string()),
///         1 => { duet::sleep(Duration::from_millis(500)).await; Ok("replica 1".to_string()) }
///         _ => { duet::sleep(Duration::from_millis(20)).await; Ok(format!("replica {replica}")) }
///     }
/// }
///
/// let r = duet::run_with(duet::Config::new().virtual_clock(), duet::first_ok((0..3).map(attempt)));
/// assert_eq!(r.unwrap(), "replica 2");
///
/// let all_failed = duet::run(duet::first_ok(["a", "b"].map(|e| async move { Err::<(), _>(e) })));
/// assert_eq!(all_failed.unwrap_err(), ["a", "b"]);
/// ```
pub async fn first_ok<I, T, E>(futures: I) -> Result<T, Vec<E>>
where
    I: IntoIterator + Spawnable,
    I::Item: Future<Output = Result<T, E>> + Spawnable,
    T: Spawnable,
    E: Spawnable,
{
    {
        let outcome = internal_scope(async |s| {
            let mut set = TaskSet::new(&s);
            let mut count = 0;
            for (index, future) in futures.into_iter().enumerate() {
                set.spawn(async move { Ok((index, future.await)) });
                count += 1;
            }
            let mut errors: Vec<Option<E>> = (0..count).map(|_| None).collect();
            while let Some(outcome) = set.join_next().await {
                match outcome.unwrap_or_else(|e| lost_member("first_ok", e)) {
                    (_, Ok(value)) => return Ok::<_, Infallible>(Ok(value)),
                    (index, Err(error)) => errors[index] = Some(error),
                }
            }
            Ok(Err(errors.into_iter().flatten().collect()))
        })
        .await;
        outcome.unwrap_or_else(|error| own_scope_ended("first_ok", error))
    }
}
