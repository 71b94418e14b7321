//! The `tracing` feature: every scope and task runs in a span, and the spans form the
//! scope tree (`design/tracing.md`).
//!
//! Each test installs a [`Recorder`] (a `tracing_subscriber::Layer` that keeps every
//! span's name, parent, fields and close, and every event's span) for the duration of one
//! `duet::run` on its thread, and asserts the tree it saw. `Log::check` asserts in every
//! test that each span closed and that no field was recorded twice.

#![cfg(feature = "tracing")]

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use duet::{CancelReason, Config};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber, span};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

#[derive(Debug)]
struct SpanRecord {
    name: &'static str,
    parent: Option<usize>,
    fields: BTreeMap<&'static str, String>,
    closed: bool,
}

#[derive(Debug)]
struct EventRecord {
    message: String,
    /// The span the event was logged in (the current one).
    span: Option<usize>,
}

#[derive(Debug, Default)]
struct Log {
    /// Spans in the order they were created; a span's number is its index here.
    spans: Vec<SpanRecord>,
    events: Vec<EventRecord>,
    /// Span numbers in the order the spans closed.
    closes: Vec<usize>,
    /// Fields recorded on a span that already had a value for them.
    recorded_twice: Vec<(usize, &'static str)>,
}

/// A span's number in the [`Log`], kept in the span's extensions.
struct Serial(usize);

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Log>>);

struct Fields<'a>(&'a mut BTreeMap<&'static str, String>, Vec<&'static str>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.insert(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.insert(field, format!("{value:?}"));
    }
}

impl Fields<'_> {
    fn insert(&mut self, field: &Field, value: String) {
        if self.0.insert(field.name(), value).is_some() {
            self.1.push(field.name());
        }
    }
}

fn serial<S: Subscriber + for<'a> LookupSpan<'a>>(ctx: &Context<'_, S>, id: &span::Id) -> usize {
    let span = ctx.span(id).expect("a span the registry knows");
    let extensions = span.extensions();
    extensions.get::<Serial>().expect("numbered at creation").0
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let span = ctx.span(id).expect("a new span");
        let parent = span.parent().map(|parent| serial(&ctx, &parent.id()));
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields, Vec::new()));
        let mut log = self.0.lock().unwrap();
        let number = log.spans.len();
        log.spans.push(SpanRecord {
            name: attrs.metadata().name(),
            parent,
            fields,
            closed: false,
        });
        drop(log);
        span.extensions_mut().insert(Serial(number));
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        let number = serial(&ctx, id);
        let mut log = self.0.lock().unwrap();
        let mut fields = Fields(&mut log.spans[number].fields, Vec::new());
        values.record(&mut fields);
        let twice: Vec<_> = fields.1.into_iter().map(|name| (number, name)).collect();
        log.recorded_twice.extend(twice);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let span = ctx.event_span(event).map(|span| serial(&ctx, &span.id()));
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields, Vec::new()));
        let message = fields.remove("message").unwrap_or_default();
        self.0
            .lock()
            .unwrap()
            .events
            .push(EventRecord { message, span });
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        let number = serial(&ctx, &id);
        let mut log = self.0.lock().unwrap();
        log.spans[number].closed = true;
        log.closes.push(number);
    }
}

/// Runs `f` with a [`Recorder`] as this thread's subscriber; returns its value and the log.
fn record<R>(f: impl FnOnce() -> R) -> (R, Log) {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    let value = tracing::subscriber::with_default(subscriber, f);
    let log = std::mem::take(&mut *recorder.0.lock().unwrap());
    log.check();
    (value, log)
}

impl Log {
    /// Every span closed once, after all of its children; no field was recorded twice.
    fn check(&self) {
        assert!(
            self.recorded_twice.is_empty(),
            "recorded twice: {:?}",
            self.recorded_twice
        );
        for (number, span) in self.spans.iter().enumerate() {
            assert!(span.closed, "span {number} never closed: {span:?}");
            let closed_at = |n| self.closes.iter().position(|&c| c == n).unwrap();
            if let Some(parent) = span.parent {
                assert!(
                    closed_at(number) < closed_at(parent),
                    "span {number} outlived its parent"
                );
            }
        }
        assert_eq!(self.closes.len(), self.spans.len(), "a span closed twice");
    }

    fn named(&self, name: &str) -> Vec<usize> {
        (0..self.spans.len())
            .filter(|&n| self.spans[n].name == name)
            .collect()
    }

    fn children(&self, parent: usize) -> Vec<usize> {
        (0..self.spans.len())
            .filter(|&n| self.spans[n].parent == Some(parent))
            .collect()
    }

    fn field(&self, span: usize, field: &str) -> &str {
        match self.spans[span].fields.get(field) {
            Some(value) => value,
            None => panic!("span {span} has no {field}: {:?}", self.spans[span]),
        }
    }

    fn has_field(&self, span: usize, field: &str) -> bool {
        self.spans[span].fields.contains_key(field)
    }

    /// The task span whose `name` field is `name`.
    fn task(&self, name: &str) -> usize {
        let found: Vec<usize> = self
            .named("task")
            .into_iter()
            .filter(|&n| self.spans[n].fields.get("name").map(String::as_str) == Some(name))
            .collect();
        assert_eq!(found.len(), 1, "one task named {name}: {:?}", self.spans);
        found[0]
    }

    /// The span the one event with `message` was logged in.
    fn span_of(&self, message: &str) -> Option<usize> {
        let found: Vec<_> = self
            .events
            .iter()
            .filter(|e| e.message == message)
            .collect();
        assert_eq!(found.len(), 1, "one event {message:?}: {:?}", self.events);
        found[0].span
    }
}

/// Logs `message` when dropped.
struct LogsOnDrop(&'static str);

impl Drop for LogsOnDrop {
    fn drop(&mut self) {
        tracing::info!("{}", self.0);
    }
}

/// `tests/tracing.rs:LINE`, the start of a `location` field.
fn at_line(line: u32) -> String {
    format!("{}:{line}:", file!())
}

#[test]
fn task_spans_are_children_of_their_scope_span() {
    let scope_line = line!() + 2; // the line of `run_scope`; the spawns are on the next two
    let ((), log) = record(|| {
        duet::run_scope(async |s| {
            s.spawn(async {});
            s.spawn_named("worker", async { Ok(7) });
        })
        .unwrap()
    });
    let scopes = log.named("scope");
    assert_eq!(scopes.len(), 1);
    let scope = scopes[0];
    assert_eq!(
        log.spans[scope].parent, None,
        "nothing was entered around run"
    );
    assert!(
        log.field(scope, "location")
            .starts_with(&at_line(scope_line))
    );
    assert_eq!(log.field(scope, "outcome"), "done");

    let tasks = log.children(scope);
    assert_eq!(
        tasks,
        log.named("task"),
        "every task span is a child of the scope's"
    );
    assert_eq!(tasks.len(), 2);
    let (unnamed, worker) = (tasks[0], tasks[1]);
    assert_eq!(worker, log.task("worker"));
    assert!(!log.has_field(unnamed, "name"));
    assert_eq!(log.field(unnamed, "index"), "0");
    assert_eq!(log.field(worker, "index"), "1");
    assert!(
        log.field(unnamed, "location")
            .starts_with(&at_line(scope_line + 1))
    );
    assert!(
        log.field(worker, "location")
            .starts_with(&at_line(scope_line + 2))
    );
    for task in tasks {
        assert_eq!(log.field(task, "outcome"), "done");
        assert!(!log.has_field(task, "reason"));
    }
}

#[test]
fn a_scope_opened_in_a_task_nests_under_that_task_and_one_opened_in_the_body_under_the_scope() {
    let ((), log) = record(|| {
        duet::run_scope(async |s| {
            s.spawn_named("outer", async {
                duet::scope(async |inner| {
                    inner.spawn_named("inner", async {});
                })
                .await
                .unwrap();
            });
            duet::scope(async |beside| {
                beside.spawn_named("in the body's scope", async {});
            })
            .await
            .unwrap();
        })
        .unwrap()
    });
    let scopes = log.named("scope");
    assert_eq!(scopes.len(), 3);
    let root = scopes[0];
    let outer = log.task("outer");
    let inner = log.task("inner");
    let beside = log.task("in the body's scope");
    assert_eq!(log.spans[outer].parent, Some(root));

    let in_task = log.spans[inner].parent.unwrap();
    assert_eq!(log.spans[in_task].name, "scope");
    assert_eq!(
        log.spans[in_task].parent,
        Some(outer),
        "the nested scope sits under its task"
    );

    let in_body = log.spans[beside].parent.unwrap();
    assert_eq!(log.spans[in_body].name, "scope");
    assert_eq!(
        log.spans[in_body].parent,
        Some(root),
        "the body runs in its scope's span"
    );
}

#[test]
fn events_of_a_poll_are_inside_the_polled_tasks_span() {
    let ((), log) = record(|| {
        duet::run_scope(async |s| {
            s.spawn_named("a", async {
                tracing::info!("a before");
                duet::yield_now().await;
                tracing::info!("a after");
            });
            s.spawn_named("b", async {
                tracing::info!("b before");
                duet::yield_now().await;
                tracing::info!("b after");
            });
            tracing::info!("in the body");
        })
        .unwrap()
    });
    let scope = log.named("scope")[0];
    let (a, b) = (log.task("a"), log.task("b"));
    assert_eq!(log.span_of("a before"), Some(a));
    assert_eq!(log.span_of("a after"), Some(a));
    assert_eq!(log.span_of("b before"), Some(b));
    assert_eq!(log.span_of("b after"), Some(b));
    assert_eq!(log.span_of("in the body"), Some(scope));
}

#[test]
fn a_nested_run_nests_under_the_task_that_called_it() {
    let ((), log) = record(|| {
        duet::run_scope(async |s| {
            s.spawn_named("caller", async {
                let n = duet::run_scope(async |nested| {
                    let h = nested.spawn_named("nested", async { Ok(1) });
                    Ok::<_, std::convert::Infallible>(h.await.unwrap())
                });
                assert_eq!(n.unwrap(), 1);
            });
        })
        .unwrap()
    });
    let nested_scope = log.spans[log.task("nested")].parent.unwrap();
    assert_eq!(log.spans[nested_scope].parent, Some(log.task("caller")));
}

#[test]
fn a_failure_records_failed_on_the_task_and_the_sibling_failed_reason_on_the_cancelled() {
    let (result, log) = record(|| {
        duet::run_scope(async |s| {
            s.spawn_named("fails", async {
                duet::yield_now().await;
                Err::<(), _>("refused")
            });
            s.spawn_named("waits", futures::future::pending::<()>());
            Ok(())
        })
    });
    assert!(result.unwrap_err().is_failed());
    let (fails, waits) = (log.task("fails"), log.task("waits"));
    assert_eq!(log.field(fails, "outcome"), "failed");
    assert_eq!(log.field(waits, "outcome"), "cancelled");
    let reason = log.field(waits, "reason");
    assert!(
        reason.starts_with("cancelled because a sibling failed: task #0 `fails` spawned at"),
        "{reason}"
    );
    let scope = log.named("scope")[0];
    assert_eq!(log.field(scope, "outcome"), "failed");
    assert_eq!(log.field(scope, "errors"), "1");
    assert!(!log.has_field(scope, "reason"));
}

#[test]
fn each_way_of_cancelling_records_its_reason() {
    // A join handle's cancel, and the scope's own cancel.
    let (result, log) = record(|| {
        duet::run_scope(async |s| {
            let one = s.spawn_named("by its handle", futures::future::pending::<()>());
            s.spawn_named("by the scope", futures::future::pending::<()>());
            duet::yield_now().await;
            one.cancel();
            duet::yield_now().await;
            s.cancel();
        })
    });
    assert!(result.unwrap_err().is_cancelled());
    let by_handle = log.task("by its handle");
    assert_eq!(log.field(by_handle, "outcome"), "cancelled");
    assert_eq!(
        log.field(by_handle, "reason"),
        CancelReason::JoinHandle.to_string()
    );
    let by_scope = log.task("by the scope");
    assert_eq!(
        log.field(by_scope, "reason"),
        CancelReason::Explicit.to_string()
    );
    let scope = log.named("scope")[0];
    assert_eq!(log.field(scope, "outcome"), "cancelled");
    assert_eq!(
        log.field(scope, "reason"),
        CancelReason::Explicit.to_string()
    );

    // A timeout.
    let (result, log) = record(|| {
        duet::run_with(
            Config::new().virtual_clock(),
            duet::timeout_scope(Duration::from_secs(1), async |s| {
                s.spawn_named("slow", duet::sleep(Duration::from_secs(60)));
            }),
        )
    });
    assert!(result.unwrap_err().is_timeout());
    let timed_out = CancelReason::TimedOut.to_string();
    assert_eq!(log.field(log.task("slow"), "reason"), timed_out);
    assert_eq!(log.field(log.named("scope")[0], "reason"), timed_out);

    // `cancel_tasks`: the tasks are cancelled, the scope keeps its value.
    let (result, log) = record(|| {
        duet::run_scope(duet::infallible(async |s| {
            s.spawn_named("stopped", futures::future::pending::<()>());
            duet::yield_now().await;
            s.cancel_tasks();
            5
        }))
    });
    assert_eq!(result.unwrap(), 5);
    let stopped = log.task("stopped");
    assert_eq!(
        log.field(stopped, "reason"),
        CancelReason::TasksCancelled.to_string()
    );
    assert_eq!(log.field(log.named("scope")[0], "outcome"), "done");
}

#[test]
fn a_panic_records_panicked_with_its_message() {
    let (result, log) = record(|| {
        panic::catch_unwind(AssertUnwindSafe(|| {
            duet::run_scope(async |s| {
                s.spawn_named("panics", async {
                    duet::yield_now().await;
                    panic!("boom");
                });
                s.spawn_named("sibling", futures::future::pending::<()>());
            })
        }))
    });
    assert!(result.is_err(), "the scope re-raised the panic");
    let panics = log.task("panics");
    assert_eq!(log.field(panics, "outcome"), "panicked");
    assert_eq!(log.field(panics, "panic"), "boom");
    let sibling = log.task("sibling");
    let reason = log.field(sibling, "reason");
    assert!(
        reason.starts_with("cancelled because a sibling panicked: task #0 `panics`"),
        "{reason}"
    );
    assert_eq!(log.field(log.named("scope")[0], "outcome"), "panicked");
}

#[test]
fn a_cancelled_tasks_destructors_log_inside_its_span() {
    let (result, log) = record(|| {
        duet::run_scope(async |s| {
            s.spawn_named("holds a guard", async {
                let _guard = LogsOnDrop("task guard dropped");
                futures::future::pending::<()>().await;
            });
            s.spawn_named("holds a nested scope", async {
                duet::scope(async |inner| {
                    inner.spawn_named("deep", async {
                        let _guard = LogsOnDrop("deep guard dropped");
                        futures::future::pending::<()>().await;
                    });
                    let _guard = LogsOnDrop("nested body guard dropped");
                    futures::future::pending::<()>().await;
                })
                .await
                .unwrap();
            });
            s.spawn_named("fails", async {
                duet::yield_now().await;
                duet::yield_now().await;
                Err::<(), _>("stop everything")
            });
            let _guard = LogsOnDrop("body guard dropped");
            futures::future::pending::<()>().await;
            Ok(())
        })
    });
    assert!(result.unwrap_err().is_failed());
    assert_eq!(
        log.span_of("task guard dropped"),
        Some(log.task("holds a guard"))
    );
    let deep = log.task("deep");
    assert_eq!(log.span_of("deep guard dropped"), Some(deep));
    let nested_scope = log.spans[deep].parent.unwrap();
    assert_eq!(log.span_of("nested body guard dropped"), Some(nested_scope));
    let root = log.named("scope")[0];
    assert_eq!(log.span_of("body guard dropped"), Some(root));

    // The nested scope and its task were dropped with the task that held them.
    assert_eq!(log.field(nested_scope, "outcome"), "cancelled");
    assert!(
        log.field(nested_scope, "reason")
            .starts_with("cancelled because an enclosing scope was")
    );
    assert_eq!(log.field(deep, "reason"), log.field(nested_scope, "reason"));
}

#[test]
fn a_scope_future_dropped_unfinished_records_why() {
    let ((), log) = record(|| {
        duet::run(async {
            let scope = duet::scope(async |s| {
                s.spawn_named("lost", async {
                    let _guard = LogsOnDrop("lost guard dropped");
                    futures::future::pending::<()>().await;
                });
                futures::future::pending::<()>().await;
            });
            // The scope loses a race against a ready future and is dropped with its task.
            let scope = std::pin::pin!(scope);
            let ready = std::pin::pin!(async {});
            match futures::future::select(scope, ready).await {
                futures::future::Either::Right(((), _scope)) => {}
                futures::future::Either::Left(_) => unreachable!("the scope never finishes"),
            }
        })
    });
    let dropped = CancelReason::Dropped.to_string();
    let scope = log.named("scope")[0];
    assert_eq!(log.field(scope, "outcome"), "cancelled");
    assert_eq!(log.field(scope, "reason"), dropped);
    let lost = log.task("lost");
    assert_eq!(log.field(lost, "reason"), dropped);
    assert_eq!(log.span_of("lost guard dropped"), Some(lost));
}

#[test]
fn spans_filtered_out_cost_nothing_visible_and_tasks_run_as_usual() {
    let recorder = Recorder::default();
    let subscriber =
        tracing_subscriber::registry().with(recorder.clone().with_filter(LevelFilter::WARN));
    let total = tracing::subscriber::with_default(subscriber, || {
        duet::run_scope(duet::infallible(async |s| {
            let handles: Vec<_> = (1..=3)
                .map(|n| {
                    s.spawn(async move {
                        tracing::warn!("task {n}");
                        Ok(n)
                    })
                })
                .collect();
            let mut total = 0;
            for h in handles {
                total += h.await.unwrap();
            }
            total
        }))
    });
    assert_eq!(total.unwrap(), 6);
    let log = recorder.0.lock().unwrap();
    assert!(
        log.spans.is_empty(),
        "duet's spans are at INFO: {:?}",
        log.spans
    );
    assert_eq!(log.events.len(), 3);
    assert!(log.events.iter().all(|e| e.span.is_none()));
}
