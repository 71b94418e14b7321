//! `duet::send`'s `pmap` family: `per_kind/` over Send scopes, with per-item functions
//! that are `Fn`s returning `Send` futures (an `AsyncFn`'s future cannot be bounded
//! `Send` on stable Rust), so that a pmap's future and streams are `Send`.

use std::future::Future;

pub(crate) use crate::scope::send::kind::{RefCell, Shared as Ptr};
pub(crate) use crate::scope::send::{JoinHandle, Scope, Spawnable, internal_scope};

use super::{AnyIterable, PmapLimit, default_window, identity, own_scope_ended};

/// The per-item function of a Send pmap: an `Fn` shared by the calls (so `Send + Sync`)
/// whose futures are `Send`.
pub(crate) trait PmapFn<T, O>: Send + Sync {
    fn call(&self, item: T) -> impl Future<Output = O> + Send;
}

impl<F, Fut, T, O> PmapFn<T, O> for F
where
    F: Fn(T) -> Fut + Send + Sync,
    Fut: Future<Output = O> + Send,
{
    fn call(&self, item: T) -> impl Future<Output = O> + Send {
        self(item)
    }
}

#[path = "per_kind/engine.rs"]
mod engine;
#[path = "per_kind/forms.rs"]
mod forms;

use engine::Order;
pub use engine::{PmapStream, TryPmapStream};
pub(crate) use forms::{limited_stream, try_limited_stream};
use forms::{collect, stream, try_collect, try_stream};
