//! Task-local context: [`ContextVar`]s whose values a spawned task inherits.
//!
//! The semantics follow Python's `contextvars`, which Rust runtimes lack:
//!
//! - a task starts with a snapshot of its spawner's values at the moment of `spawn`;
//!   later changes in the spawner are not seen by the task;
//! - changes a task makes are seen by the task and by what it spawns afterwards, never
//!   by its parent or siblings;
//! - a scope body runs in the context of the task that opened the scope (it is part of
//!   that task), so its changes are that task's changes;
//! - values set on a thread before [`run`](crate::run) are visible inside; a nested
//!   `run` starts from the values of the task that called it; changes inside a `run` do
//!   not leak out of it.
//! - a scope awaited outside any duet task (by tokio, `block_on`, any other executor) is
//!   a root, as a `run` is: it starts from the values on the thread at its first poll,
//!   and its changes stay inside it, never reaching other futures of that executor.
//!
//! # How it works
//!
//! A context is an immutable map from variable to value, shared by `Arc`: a snapshot is
//! one atomic reference-count increment, and a `set` copies the map only if it is shared
//! (copy-on-write; maps hold a handful of variables). The current context lives in a
//! thread-local; each spawned task owns its own, and the scope driver swaps it in for the
//! duration of each poll of the task. A second thread-local flag says whether the current
//! context holds any value, so while no variable is in use a spawn and a poll each cost
//! one read of that flag and nothing else.
//!
//! # Invariants
//!
//! 1. While a task is polled, the thread-local holds that task's context, and it holds
//!    the previous one again when the poll returns or unwinds.
//! 2. A map reachable from more than one context is never mutated.
//! 3. `HAS_VALUES` is true exactly when the current context has a map (possibly empty
//!    after removals), so `false` means "no values, nothing to swap".
//! 4. A value is never dropped while the context is borrowed, and the variables' methods
//!    use `try_with`: a value's destructor may read or change variables, also while the
//!    thread exits and its context is being destroyed (it then finds none set).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::ops::DerefMut;
use std::sync::Arc;

/// One context: variable keys (addresses of `'static` [`ContextVar`]s) with their values.
type Map = Vec<(usize, Arc<dyn Any + Send + Sync>)>;

/// A snapshot of a context, owned by a task.
#[derive(Clone, Default)]
pub(crate) struct Values(Option<Arc<Map>>);

thread_local! {
    static CURRENT: RefCell<Values> = const { RefCell::new(Values(None)) };
    static HAS_VALUES: Cell<bool> = const { Cell::new(false) };
}

impl Values {
    /// The current context, shared (cheap: one reference count, or nothing when empty).
    pub(crate) fn snapshot() -> Values {
        if !has_values() {
            return Values(None);
        }
        CURRENT.with(|c| c.borrow().clone())
    }

    /// Runs `f` with `self` as the current context; changes `f` makes are kept in `self`.
    /// The previous context is restored even if `f` unwinds.
    pub(crate) fn enter<R>(&mut self, f: impl FnOnce() -> R) -> R {
        struct Restore<'a>(&'a mut Values);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                self.0.leave();
            }
        }
        self.enter_current();
        let restore = Restore(self);
        let output = f();
        drop(restore);
        output
    }

    /// As [`enter`](Self::enter), for an `f` that never unwinds (a poll wrapped in
    /// `catch_unwind`): no guard, and only two reads of a flag when no value is in use.
    #[inline]
    pub(crate) fn enter_unwind_free<R>(&mut self, f: impl FnOnce() -> R) -> R {
        self.enter_current();
        let output = f();
        self.leave();
        output
    }

    /// As [`enter`](Self::enter), for the length of a scope's poll: the values behind
    /// `cell` (a snapshot of the current ones, taken the first time) are current until
    /// the guard drops (also on unwind), and keep the changes made meanwhile. `cell` is
    /// a borrow of a `RefCell` or a mutex guard, by the kind of the scope.
    pub(crate) fn enter_borrowed<G>(mut cell: G) -> EnteredCell<G>
    where
        G: DerefMut<Target = Option<Values>>,
    {
        cell.get_or_insert_with(Values::snapshot).enter_current();
        EnteredCell(cell)
    }

    #[inline]
    fn enter_current(&mut self) {
        if self.0.is_some() || has_values() {
            swap_current(self);
        }
    }

    /// Undoes `enter_current`. If this context was empty and `f` set a value, the new
    /// map is this context's, and the caller's (empty) context becomes current again.
    #[inline]
    fn leave(&mut self) {
        if self.0.is_some() || has_values() {
            swap_current(self);
        }
    }
}

/// Values entered until dropped (see [`Values::enter_borrowed`]).
pub(crate) struct EnteredCell<G: DerefMut<Target = Option<Values>>>(G);

impl<G: DerefMut<Target = Option<Values>>> Drop for EnteredCell<G> {
    fn drop(&mut self) {
        if let Some(values) = self.0.as_mut() {
            values.leave();
        }
    }
}

#[inline]
fn has_values() -> bool {
    HAS_VALUES.with(Cell::get)
}

#[cold]
fn swap_current(values: &mut Values) {
    CURRENT.with(|c| {
        let mut current = c.borrow_mut();
        std::mem::swap(&mut *current, values);
        HAS_VALUES.with(|h| h.set(current.0.is_some()));
    });
}

/// A task-local variable: each task sees the value it inherited at spawn or set itself.
///
/// Declare it as a `static`, with [`new`](ContextVar::new) or, to give it a value where
/// nothing set one, [`with_default`](ContextVar::with_default); its value type must be
/// `Clone` to be read by value (or use [`with`](ContextVar::with) to borrow it).
///
/// # Examples
///
/// ```
/// use duet::ContextVar;
///
/// static REQUEST: ContextVar<&str> = ContextVar::new("request");
///
/// REQUEST.set("outer"); // visible inside `run`
/// duet::run_scope(async |s| {
///     REQUEST.set("first");
///     let first = s.spawn(async { Ok(REQUEST.get()) }); // snapshot at spawn: "first"
///     REQUEST.set("second");
///     let second = s.spawn(async {
///         REQUEST.set("changed in the task"); // seen by this task only
///         Ok(REQUEST.get())
///     });
///     assert_eq!(first.await.unwrap(), Some("first"));
///     assert_eq!(second.await.unwrap(), Some("changed in the task"));
///     assert_eq!(REQUEST.get(), Some("second"));
/// })
/// .unwrap();
/// assert_eq!(REQUEST.get(), Some("outer")); // changes inside run stay inside
/// ```
///
/// Values must be `Send + Sync`: a task inherits its spawner's values, and tasks of a
/// scope may run on other threads than the task that spawned them (a scope awaited in a
/// tokio task moves with it). Share an `Arc` rather than an `Rc`:
///
/// ```compile_fail,E0277
/// static SHARED: duet::ContextVar<std::rc::Rc<u32>> = duet::ContextVar::new("shared");
/// ```
pub struct ContextVar<T: Send + Sync + 'static> {
    name: &'static str,
    /// What reads give where no value is set. A function rather than a `T`: the default
    /// need not be constructible in a `const`.
    default: Option<fn() -> T>,
}

impl<T: Send + Sync + 'static> ContextVar<T> {
    /// Creates a variable; `name` appears in its `Debug` output.
    ///
    /// Variables are declared as `static`s: their address is their identity.
    ///
    /// # Examples
    ///
    /// ```
    /// static TENANT: duet::ContextVar<String> = duet::ContextVar::new("tenant");
    ///
    /// assert_eq!(TENANT.get(), None); // not set yet
    /// assert_eq!(format!("{TENANT:?}"), r#"ContextVar { name: "tenant" }"#);
    /// ```
    pub const fn new(name: &'static str) -> Self {
        ContextVar {
            name,
            default: None,
        }
    }

    /// Creates a variable whose reads give `default()` wherever no value is set (never
    /// set in this task or inherited, or [removed](ContextVar::remove)), like the
    /// `default` of a Python `ContextVar`. `name` appears in its `Debug` output.
    ///
    /// `default` is a function, so that any value can be the default of a `static`:
    /// a literal in a closure (`|| 3`), or a constructor (`String::new`, `Vec::new`). It is
    /// called on each read that finds no value; the default is not stored in the context,
    /// so tasks and threads that never set the variable all see a fresh default.
    ///
    /// # Examples
    ///
    /// ```
    /// static LOCALE: duet::ContextVar<&str> = duet::ContextVar::with_default("locale", || "en-GB");
    /// static TAGS: duet::ContextVar<Vec<String>> = duet::ContextVar::with_default("tags", Vec::new);
    ///
    /// assert_eq!(LOCALE.get(), Some("en-GB")); // nothing set: the default
    /// duet::run_scope(async |s| {
    ///     let before = s.spawn(async { Ok(LOCALE.get()) });
    ///     LOCALE.set("fr-FR");
    ///     assert_eq!(before.await.unwrap(), Some("en-GB")); // spawned before the set
    ///     assert_eq!(LOCALE.get(), Some("fr-FR"));
    ///     LOCALE.remove();
    ///     assert_eq!(LOCALE.get(), Some("en-GB")); // back to the default
    ///     TAGS.with(|tags| assert_eq!(tags.map(Vec::len), Some(0)));
    ///     Ok::<_, std::convert::Infallible>(())
    /// })
    /// .unwrap();
    /// ```
    pub const fn with_default(name: &'static str, default: fn() -> T) -> Self {
        ContextVar {
            name,
            default: Some(default),
        }
    }

    fn key(&'static self) -> usize {
        self as *const Self as usize
    }

    /// Sets the variable in the current task (or, outside any task, on this thread).
    ///
    /// Tasks spawned afterwards inherit the value; tasks spawned before, the parent and
    /// siblings do not see it.
    ///
    /// # Examples
    ///
    /// ```
    /// static DEPTH: duet::ContextVar<u32> = duet::ContextVar::new("depth");
    ///
    /// DEPTH.set(1);
    /// duet::run_scope(async |s| {
    ///     let child = s.spawn(async {
    ///         DEPTH.set(2); // this task's own value
    ///         Ok(DEPTH.get())
    ///     });
    ///     assert_eq!(child.await.unwrap(), Some(2));
    ///     assert_eq!(DEPTH.get(), Some(1)); // the parent's value is unchanged
    /// })
    /// .unwrap();
    /// ```
    pub fn set(&'static self, value: T) {
        let key = self.key();
        let value: Arc<dyn Any + Send + Sync> = Arc::new(value);
        // The value replaced is dropped after the context is released: its destructor
        // may read the context. (While the thread exits and its context is destroyed,
        // there is nothing to set: the value is dropped.)
        let _replaced = CURRENT.try_with(|c| {
            let mut current = c.borrow_mut();
            let map = Arc::make_mut(current.0.get_or_insert_with(Default::default));
            let _ = HAS_VALUES.try_with(|h| h.set(true));
            match map.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => Some(std::mem::replace(&mut entry.1, value)),
                None => {
                    map.push((key, value));
                    None
                }
            }
        });
    }

    /// Removes the variable from the current task's context; reads then give its
    /// [default](ContextVar::with_default), if it has one, or `None`.
    ///
    /// Like [`set`](ContextVar::set), this changes only the current task's context:
    /// tasks that already inherited the value keep it.
    ///
    /// # Examples
    ///
    /// ```
    /// static TRACE: duet::ContextVar<u64> = duet::ContextVar::new("trace");
    ///
    /// duet::run_scope(async |s| {
    ///     TRACE.set(7);
    ///     let before = s.spawn(async { Ok(TRACE.get()) });
    ///     TRACE.remove();
    ///     assert_eq!(TRACE.get(), None);
    ///     assert_eq!(before.await.unwrap(), Some(7)); // inherited at spawn
    /// })
    /// .unwrap();
    /// ```
    pub fn remove(&'static self) {
        let key = self.key();
        // Dropped after the context is released (see `set`).
        let _removed = CURRENT.try_with(|c| {
            let mut current = c.borrow_mut();
            let shared = current.0.as_mut()?;
            let position = shared.iter().position(|(k, _)| *k == key)?;
            Some(Arc::make_mut(shared).remove(position).1)
        });
    }

    /// Calls `f` with a reference to the current value: the one set, else the
    /// [default](ContextVar::with_default) if the variable has one, else `None`.
    ///
    /// Works for values that are not `Clone`. `f` must not set or remove context
    /// variables (it would panic: the context is borrowed while `f` runs).
    ///
    /// # Examples
    ///
    /// ```
    /// struct Credentials {
    ///     user: String,
    /// }
    /// static CREDENTIALS: duet::ContextVar<Credentials> = duet::ContextVar::new("credentials");
    ///
    /// CREDENTIALS.set(Credentials { user: "ada".into() });
    /// let user = duet::run(async { CREDENTIALS.with(|c| c.map(|c| c.user.len())) });
    /// assert_eq!(user, Some(3));
    /// ```
    pub fn with<R>(&'static self, f: impl FnOnce(Option<&T>) -> R) -> R {
        let key = self.key();
        let value = CURRENT
            .try_with(|c| {
                c.borrow()
                    .0
                    .as_ref()
                    .and_then(|map| map.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()))
            })
            .ok()
            .flatten();
        match value.as_deref().and_then(|v| v.downcast_ref::<T>()) {
            Some(value) => f(Some(value)),
            None => match self.default {
                Some(default) => f(Some(&default())),
                None => f(None),
            },
        }
    }
}

impl<T: Clone + Send + Sync + 'static> ContextVar<T> {
    /// The current value (a clone of it): the one set, else the
    /// [default](ContextVar::with_default) if the variable has one, else `None`. A
    /// variable declared with a default never reads as `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// static LOCALE: duet::ContextVar<&str> = duet::ContextVar::new("locale");
    ///
    /// assert_eq!(LOCALE.get(), None);
    /// LOCALE.set("en-GB");
    /// assert_eq!(duet::run(async { LOCALE.get() }), Some("en-GB")); // visible inside run
    /// ```
    pub fn get(&'static self) -> Option<T> {
        self.with(|v| v.cloned())
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for ContextVar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextVar")
            .field("name", &self.name)
            .finish()
    }
}
