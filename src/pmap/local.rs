//! The pmap engine over local scopes: `per_kind/` with the crate root's scope and cells,
//! behind the crate root's `pmap` family (`pmap/mod.rs`), whose calls are `AsyncFn`s.

use std::future::Future;

pub(crate) use crate::scope::local_kind::{RefCell, Shared as Ptr};
pub(crate) use crate::scope::{LocalSpawnable as Spawnable, internal_scope};
pub(crate) use crate::{JoinHandle, Scope};

use super::{AnyIterable, PmapLimit, default_window, identity, own_scope_ended};

/// The per-item function of a local pmap: any `AsyncFn`, whose future may borrow it and
/// need not be `Send`.
pub(crate) trait PmapFn<T, O> {
    fn call(&self, item: T) -> impl Future<Output = O>;
}

impl<F, T, O> PmapFn<T, O> for F
where
    F: AsyncFn(T) -> O,
{
    fn call(&self, item: T) -> impl Future<Output = O> {
        self(item)
    }
}

#[path = "per_kind/engine.rs"]
mod engine;
#[path = "per_kind/forms.rs"]
mod forms;

pub(crate) use engine::Order;
pub use engine::{PmapStream, TryPmapStream};
pub(crate) use forms::{
    collect, limited_stream, stream, try_collect, try_limited_stream, try_stream,
};
