//! [`dump`]: the live task tree of the current loop, as text.
//!
//! Built from snapshots of the loop's registry of scopes, of both kinds (see `registry`
//! and `view`): each scope's lifetime-free task table, and the waits tasks reported at
//! their last poll (see `current::waits`; the scopes they name by id are looked up among
//! the snapshots). Nothing is collected unless a dump is asked for, beyond what scopes
//! keep anyway.

use std::collections::HashMap;
use std::fmt::Write;
use std::time::{Duration, Instant};

use super::registry::snapshots;
use super::status::{BODY, Phase};
use super::view::ScopeSnapshot;
use crate::current::waits::Wait;

/// Renders the live task tree of the innermost `run` loop on this thread; or, called
/// inside a scope that another executor polls (a `tokio` task, `block_on`), that scope's
/// tree.
///
/// Shows every scope, local or [`send`](crate::send) (where it was opened, whether it is running, cancelling or tearing
/// down and why, its deadline), and under it its body and tasks (where each was spawned,
/// its name, whether it is ready to run, running, shielded, or what it waits on where
/// duet can tell: a join handle, a sleep, a nested scope, a limiter slot, a future
/// another thread completes). Scopes opened inside a task appear under that task. Times
/// are relative to the loop's clock ([`now`](crate::now)).
///
/// Costs nothing until called: it reads what scopes keep anyway. Outside both it returns
/// a one-line note.
///
/// # Examples
///
/// ```
/// let text = duet::run_scope(duet::infallible(async |s| {
///     s.spawn_named("ticker", duet::sleep(std::time::Duration::from_secs(60)));
///     duet::yield_now().await; // let the task start (and reach its sleep)
///     let text = duet::dump();
///     s.cancel();
///     text
/// }));
/// # let _ = text;
/// // scope #1 opened at src/main.rs:2:18: running
/// // ├── body: running now
/// // └── task #0 `ticker` spawned at src/main.rs:3:7: waiting on a sleep (due in 60.000s)
/// ```
pub fn dump() -> String {
    match snapshots() {
        None => "duet::dump: not inside duet::run, nor inside a scope that another executor \
                 polls, so there is no task tree to show\n"
            .to_string(),
        Some(scopes) => render(&scopes, crate::time::now()),
    }
}

fn render(scopes: &[ScopeSnapshot], now: Instant) -> String {
    let ids: Ids<'_> = scopes.iter().map(|s| (s.id, s)).collect();
    let mut children: Children<'_> = HashMap::new();
    let mut roots = Vec::new();
    for scope in scopes {
        match scope.parent {
            Some(parent) if ids.contains_key(&parent.0) => {
                children.entry(parent).or_default().push(scope);
            }
            _ => roots.push(scope),
        }
    }
    let mut out = String::new();
    if roots.is_empty() {
        out.push_str("(no scope is open in this loop)\n");
    }
    for root in roots {
        render_scope(&mut out, root, "", "", &children, &ids, now);
    }
    out
}

/// The scopes opened in each task, by `(scope id, task index)`.
type Children<'a> = HashMap<(u64, u32), Vec<&'a ScopeSnapshot>>;

fn render_scope(
    out: &mut String,
    scope: &ScopeSnapshot,
    first: &str,
    rest: &str,
    children: &Children<'_>,
    ids: &Ids<'_>,
    now: Instant,
) {
    let _ = write!(
        out,
        "{first}scope #{} opened at {}: ",
        scope.id, scope.location
    );
    match (scope.phase, scope.cancel_reason.clone()) {
        (Phase::Running, _) => out.push_str("running"),
        (Phase::Cancelling, reason) => {
            let _ = write!(out, "cancelling ({})", describe_reason(reason));
            if let Some(until) = scope.grace_until {
                let _ = write!(out, ", hard {}", relative(until, now));
            }
        }
        (Phase::TearingDown, reason) => {
            let _ = write!(out, "tearing down ({})", describe_reason(reason));
        }
        (Phase::Finished, _) => out.push_str("finished"),
    }
    if let Some(deadline) = scope.deadline {
        let _ = write!(out, ", deadline {}", relative(deadline, now));
    }
    out.push('\n');

    let mut rows: Vec<(u32, String)> = Vec::new();
    if let Some(body) = &scope.body {
        let status = match body.held {
            None => "running now".to_string(),
            Some(held) => status(held.queued, body.shielded, &body.waits, ids, now),
        };
        rows.push((BODY, format!("body: {status}")));
    }
    for view in &scope.tasks {
        let status = match view.held_externally {
            None => "running now".to_string(),
            Some(held) => status(held.queued, view.shielded, &view.waits, ids, now),
        };
        rows.push((view.index, format!("{}: {status}", view.task)));
    }
    let count = rows.len();
    for (i, (index, row)) in rows.into_iter().enumerate() {
        let last = i + 1 == count;
        let (branch, indent) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        let _ = writeln!(out, "{rest}{branch}{row}");
        for child in children.get(&(scope.id, index)).into_iter().flatten() {
            let child_rest = format!("{rest}{indent}");
            render_scope(
                out,
                child,
                &format!("{child_rest}└── "),
                &format!("{child_rest}    "),
                children,
                ids,
                now,
            );
        }
    }
}

/// The scopes of the loop by id, to resolve the ids waits name.
type Ids<'a> = HashMap<u64, &'a ScopeSnapshot>;

fn status(queued: bool, shielded: bool, waits: &[Wait], ids: &Ids<'_>, now: Instant) -> String {
    let mut text = if queued {
        "ready to run".to_string()
    } else if waits.is_empty() {
        "waiting (on something duet cannot see)".to_string()
    } else {
        let parts: Vec<String> = waits.iter().map(|w| describe_wait(w, ids, now)).collect();
        format!("waiting on {}", parts.join(", "))
    };
    if shielded {
        text.push_str(" [shielded]");
    }
    text
}

fn describe_wait(wait: &Wait, ids: &Ids<'_>, now: Instant) -> String {
    match wait {
        Wait::Join { scope, index } => match ids.get(scope) {
            Some(scope) if *index == BODY => {
                format!("the join handle of the body of scope #{}", scope.id)
            }
            Some(scope) => format!("the join handle of task #{index} of scope #{}", scope.id),
            None => "a join handle".to_string(),
        },
        Wait::Scope(scope) => match ids.get(scope) {
            Some(scope) => format!("scope #{}", scope.id),
            None => "a scope".to_string(),
        },
        Wait::Set(set) => match set.upgrade() {
            Some(set) => match ids.get(&set.scope_id()) {
                Some(scope) => format!(
                    "the next of {} tasks of scope #{} to finish (a TaskSet)",
                    set.pending(),
                    scope.id
                ),
                None => "the next task of a TaskSet to finish".to_string(),
            },
            None => "a TaskSet".to_string(),
        },
        Wait::Sleep(until) => format!("a sleep (due {})", relative(*until, now)),
        Wait::Limiter { limiter, key } => limiter.describe_wait(*key),
        Wait::External(what) => what.to_string(),
    }
}

fn describe_reason(reason: Option<crate::CancelReason>) -> String {
    reason.map_or_else(|| "no reason recorded".to_string(), |r| r.to_string())
}

/// "in 1.500s" or "1.500s ago".
fn relative(instant: Instant, now: Instant) -> String {
    if instant >= now {
        format!("in {}", seconds(instant - now))
    } else {
        format!("{} ago", seconds(now - instant))
    }
}

fn seconds(duration: Duration) -> String {
    if duration > Duration::from_secs(365 * 24 * 3600) {
        "more than a year".to_string()
    } else {
        format!("{:.3}s", duration.as_secs_f64())
    }
}
