//! [`TaskRef`]: how duet names a task in cancellation reasons, errors and dumps.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;

/// Identifies a task: where it was spawned, its optional name, and its place in its scope.
///
/// Appears in [`CancelReason::SiblingFailed`](crate::CancelReason::SiblingFailed) and
/// [`CancelReason::SiblingPanicked`](crate::CancelReason::SiblingPanicked) (which sibling)
/// and in the task-tree [`dump`](crate::dump). Its `Display` reads like
/// "task #2 `fetch` spawned at src/main.rs:10:9", or "the body of the scope opened at
/// src/main.rs:8:5" for a scope's body.
///
/// # Examples
///
/// ```
/// use duet::{CancelReason, JoinError};
///
/// let victim = std::cell::RefCell::new(None);
/// let _ = duet::run_scope(async |s| {
///     *victim.borrow_mut() = Some(s.spawn(futures::future::pending::<Result<(), &str>>()));
///     s.spawn_named("loader", async { Err::<(), _>("disk full") });
///     Ok(())
/// });
/// let outcome = duet::run(victim.borrow_mut().take().unwrap());
/// let Err(JoinError::Cancelled(CancelReason::SiblingFailed(culprit))) = outcome else {
///     panic!("unexpected {outcome:?}")
/// };
/// assert_eq!(culprit.name(), Some("loader"));
/// assert!(culprit.to_string().starts_with("task #1 `loader` spawned at"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TaskRef {
    scope: u64,
    /// `None` for a scope's body.
    index: Option<u32>,
    location: &'static Location<'static>,
    name: Option<Arc<str>>,
}

impl TaskRef {
    pub(crate) fn task(
        scope: u64,
        index: u32,
        location: &'static Location<'static>,
        name: Option<Arc<str>>,
    ) -> Self {
        TaskRef {
            scope,
            index: Some(index),
            location,
            name,
        }
    }

    pub(crate) fn body(scope: u64, location: &'static Location<'static>) -> Self {
        TaskRef {
            scope,
            index: None,
            location,
            name: None,
        }
    }

    /// Where the task was spawned (for a body: where its scope was opened).
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// The name given with [`Scope::spawn_named`](crate::Scope::spawn_named), if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// True if this is a scope's body rather than a spawned task.
    pub fn is_body(&self) -> bool {
        self.index.is_none()
    }

    /// The task's number within its scope (its slot; reused after the task ends), or
    /// `None` for a body.
    pub fn index(&self) -> Option<u32> {
        self.index
    }

    /// The number of the task's scope, as shown by [`dump`](crate::dump).
    pub fn scope_id(&self) -> u64 {
        self.scope
    }
}

impl fmt::Display for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.index, &self.name) {
            (None, _) => write!(f, "the body of the scope opened at {}", self.location),
            (Some(index), Some(name)) => {
                write!(f, "task #{index} `{name}` spawned at {}", self.location)
            }
            (Some(index), None) => write!(f, "task #{index} spawned at {}", self.location),
        }
    }
}

impl fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskRef({self})")
    }
}
