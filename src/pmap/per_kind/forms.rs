//! The bodies of the pmap forms for one kind of scope, behind the public functions of
//! `pmap/mod.rs` (local) and `pmap/send.rs` (Send), which differ only in how they bound
//! the per-item function (an `AsyncFn`, or an `Fn` returning a `Send` future) and check
//! the limit.

use std::convert::Infallible;

use futures::{StreamExt, TryStreamExt};

use super::engine::{Bounds, Order, PmapStream, TryPmapStream, start, start_with};
use super::{
    AnyIterable, PmapFn, PmapLimit, Scope, Spawnable, default_window, identity, internal_scope,
    own_scope_ended,
};
use crate::Limiter;

/// `pmap_async`: the calls in a scope of their own, their results collected in input
/// order. `form` names the public function in the message of a panic that cannot happen.
pub(crate) async fn collect<I, M, F, U>(
    form: &'static str,
    items: I,
    limit: PmapLimit,
    f: F,
) -> Vec<U>
where
    I: AnyIterable<M> + Spawnable,
    I::Stream: Spawnable,
    I::Item: Spawnable,
    F: PmapFn<I::Item, U> + Spawnable,
    U: Spawnable,
{
    {
        let out = internal_scope(async |s| {
            let stream = start(
                &s,
                items.into_item_stream(),
                limit,
                Order::Input,
                f,
                Ok::<U, Infallible>,
            );
            Ok::<_, Infallible>(PmapStream { engine: stream }.collect::<Vec<U>>().await)
        })
        .await;
        out.unwrap_or_else(|e| own_scope_ended(form, e))
    }
}

/// `try_pmap_async`: as [`collect`], up to the first error.
pub(crate) async fn try_collect<I, M, F, U, E>(
    form: &'static str,
    items: I,
    limit: PmapLimit,
    f: F,
) -> Result<Vec<U>, E>
where
    I: AnyIterable<M> + Spawnable,
    I::Stream: Spawnable,
    I::Item: Spawnable,
    F: PmapFn<I::Item, Result<U, E>> + Spawnable,
    U: Spawnable,
    E: Spawnable,
{
    {
        let out = internal_scope(async |s| {
            let stream = start(
                &s,
                items.into_item_stream(),
                limit,
                Order::Input,
                f,
                identity,
            );
            Ok::<_, Infallible>(TryPmapStream { engine: stream }.try_collect().await)
        })
        .await;
        out.unwrap_or_else(|e| own_scope_ended(form, e))
    }
}

/// `pmap_stream` (`Order::Input`) and `pmap_stream_unordered` (`Order::Completion`).
pub(crate) fn stream<'s, 'env, SE, I, M, F, U>(
    scope: &'s Scope<'env, SE>,
    items: I,
    limit: PmapLimit,
    order: Order,
    f: F,
) -> PmapStream<'s, U>
where
    SE: Spawnable + 'env,
    I: AnyIterable<M>,
    I::Stream: Spawnable + 'env,
    I::Item: Spawnable + 'env,
    F: PmapFn<I::Item, U> + 'env,
    U: Spawnable + 'env,
{
    PmapStream {
        engine: start(
            scope,
            items.into_item_stream(),
            limit,
            order,
            f,
            Ok::<U, Infallible>,
        ),
    }
}

/// `try_pmap_stream` and `try_pmap_stream_unordered`.
pub(crate) fn try_stream<'s, 'env, SE, I, M, F, U, E>(
    scope: &'s Scope<'env, SE>,
    items: I,
    limit: PmapLimit,
    order: Order,
    f: F,
) -> TryPmapStream<'s, U, E>
where
    SE: Spawnable + 'env,
    I: AnyIterable<M>,
    I::Stream: Spawnable + 'env,
    I::Item: Spawnable + 'env,
    F: PmapFn<I::Item, Result<U, E>> + 'env,
    U: Spawnable + 'env,
    E: Spawnable + 'env,
{
    TryPmapStream {
        engine: start(scope, items.into_item_stream(), limit, order, f, identity),
    }
}

/// The bounds of a pmap whose calls take slots of a shared `limiter` (for a
/// `LimitedScope`); the window is the default for the limiter's capacity now.
fn limited(limiter: &Limiter) -> Bounds {
    Bounds {
        limit: None,
        limiter: Some(limiter.clone()),
        window: default_window(limiter.capacity()),
    }
}

/// `pmap_stream` whose calls take slots of a shared `limiter` (`LimitedScope`).
pub(crate) fn limited_stream<'s, 'env, SE, I, M, F, U>(
    scope: &'s Scope<'env, SE>,
    limiter: &Limiter,
    items: I,
    f: F,
) -> PmapStream<'s, U>
where
    SE: Spawnable + 'env,
    I: AnyIterable<M>,
    I::Stream: Spawnable + 'env,
    I::Item: Spawnable + 'env,
    F: PmapFn<I::Item, U> + 'env,
    U: Spawnable + 'env,
{
    PmapStream {
        engine: start_with(
            scope,
            items.into_item_stream(),
            limited(limiter),
            Order::Input,
            f,
            Ok::<U, Infallible>,
        ),
    }
}

/// `try_pmap_stream` whose calls take slots of a shared `limiter`.
pub(crate) fn try_limited_stream<'s, 'env, SE, I, M, F, U, E>(
    scope: &'s Scope<'env, SE>,
    limiter: &Limiter,
    items: I,
    f: F,
) -> TryPmapStream<'s, U, E>
where
    SE: Spawnable + 'env,
    I: AnyIterable<M>,
    I::Stream: Spawnable + 'env,
    I::Item: Spawnable + 'env,
    F: PmapFn<I::Item, Result<U, E>> + 'env,
    U: Spawnable + 'env,
    E: Spawnable + 'env,
{
    TryPmapStream {
        engine: start_with(
            scope,
            items.into_item_stream(),
            limited(limiter),
            Order::Input,
            f,
            identity,
        ),
    }
}
