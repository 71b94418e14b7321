//! The shape of duet's scope reduced to what decides `Send`: a handle generic over a
//! *kind* (`Local`: `Rc` + `RefCell`; `Sendable`: `Arc` + `Mutex`), type-erased task
//! boxes, a driver that polls the tasks and the body, and two ways to call the body:
//!
//! - [`by_ref::scope`]: `AsyncFnOnce(&Scope<'env, K>) -> O`, duet's signature today (an
//!   `async fn` owns the handle and lends it to the body);
//! - [`send::scope`] / [`scope`]: `FnOnce(Scope<'env, K>) -> Fut`, the body gets its own
//!   clone of the handle, the scope future is a plain struct.
//!
//! Users write `async |s| { .. }` for both. Only the second gives a future that
//! `tokio::spawn` accepts (rustc 1.95, stable). The first fails with "implementation of
//! `AsyncFnOnce` is not general enough", rust-lang/rust#110338 (auto traits of coroutines
//! with higher-ranked lifetimes), reported for async closures as #126350 and #151398:
//!
//! ```compile_fail
//! use send_body_spike::{assert_send, by_ref, Sendable};
//! let f = async {
//!     by_ref::scope::<Sendable, _, _>(async |s| s.spawn(async { 1 }).await).await
//! };
//! assert_send(&f); // error: implementation of `AsyncFnOnce` is not general enough
//! ```
//!
//! The by-value form, in the same position:
//!
//! ```
//! use send_body_spike::{assert_send, send};
//! let f = async { send::scope(async |s| s.spawn(async { 1 }).await).await };
//! assert_send(&f);
//! ```
//!
//! A task of a Send scope must be `Send` (the error names the value, as rustc does for
//! `tokio::spawn`):
//!
//! ```compile_fail
//! use send_body_spike::send;
//! let rc = std::rc::Rc::new(1);
//! let _ = send::scope(async |s| s.spawn(async move { *rc }).await);
//! ```
//!
//! A local scope's future is not `Send` (its error names `Rc<Inner<'_, Local>>`):
//!
//! ```compile_fail
//! use send_body_spike::{assert_send, scope};
//! let f = async { scope(async |s| s.spawn(async { 1 }).await).await };
//! assert_send(&f);
//! ```
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// The cell vocabulary a kind chooses (`RefCell` or `Mutex`), used through closures so
/// that no guard can be held across user code.
pub trait Lock<T> {
    fn new(value: T) -> Self;
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R;
}
impl<T> Lock<T> for RefCell<T> {
    fn new(value: T) -> Self {
        RefCell::new(value)
    }
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.borrow_mut())
    }
}
impl<T> Lock<T> for Mutex<T> {
    fn new(value: T) -> Self {
        Mutex::new(value)
    }
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.lock().unwrap())
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Local {}
    impl Sealed for super::Sendable {}
}

pub trait Kind: sealed::Sealed + Sized + 'static {
    type Shared<T: ?Sized>: Clone + Deref<Target = T> + Unpin;
    type Lock<T>: Lock<T>;
    type Task<'env>;
    fn share<T>(value: T) -> Self::Shared<T>;
    fn poll_task(task: &mut Self::Task<'_>, cx: &mut Context<'_>) -> Poll<()>;
}

#[derive(Debug)]
pub struct Local;
#[derive(Debug)]
pub struct Sendable;

impl Kind for Local {
    type Shared<T: ?Sized> = Rc<T>;
    type Lock<T> = RefCell<T>;
    type Task<'env> = Pin<Box<dyn Future<Output = ()> + 'env>>;
    fn share<T>(value: T) -> Rc<T> {
        Rc::new(value)
    }
    fn poll_task(task: &mut Self::Task<'_>, cx: &mut Context<'_>) -> Poll<()> {
        task.as_mut().poll(cx)
    }
}

impl Kind for Sendable {
    type Shared<T: ?Sized> = Arc<T>;
    type Lock<T> = Mutex<T>;
    type Task<'env> = Pin<Box<dyn Future<Output = ()> + Send + 'env>>;
    fn share<T>(value: T) -> Arc<T> {
        Arc::new(value)
    }
    fn poll_task(task: &mut Self::Task<'_>, cx: &mut Context<'_>) -> Poll<()> {
        task.as_mut().poll(cx)
    }
}

type Done<K> = <K as Kind>::Shared<<K as Kind>::Lock<Option<u32>>>;

/// What a future must be to be a task of a scope of kind `K`: the one place where the
/// two kinds' `spawn` bounds differ.
pub trait Spawn<'env, K: Kind> {
    fn into_task(self, done: Done<K>) -> K::Task<'env>;
}
impl<'env, F: Future<Output = u32> + 'env> Spawn<'env, Local> for F {
    fn into_task(self, done: Done<Local>) -> <Local as Kind>::Task<'env> {
        Box::pin(async move {
            let v = self.await;
            *done.borrow_mut() = Some(v);
        })
    }
}
impl<'env, F: Future<Output = u32> + Send + 'env> Spawn<'env, Sendable> for F {
    fn into_task(self, done: Done<Sendable>) -> <Sendable as Kind>::Task<'env> {
        Box::pin(async move {
            let v = self.await;
            *done.lock().unwrap() = Some(v);
        })
    }
}

pub struct Inner<'env, K: Kind> {
    tasks: K::Lock<Vec<Option<K::Task<'env>>>>,
}

pub struct Scope<'env, K: Kind = Local> {
    inner: K::Shared<Inner<'env, K>>,
    _env: PhantomData<&'env ()>,
}

impl<K: Kind> Clone for Scope<'_, K> {
    fn clone(&self) -> Self {
        Scope {
            inner: self.inner.clone(),
            _env: PhantomData,
        }
    }
}

pub struct JoinHandle<K: Kind = Local> {
    done: Done<K>,
}

impl<K: Kind> Future for JoinHandle<K> {
    type Output = u32;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        match self.done.with(Option::take) {
            Some(v) => Poll::Ready(v),
            None => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }
}

impl<'env, K: Kind> Scope<'env, K> {
    fn new() -> Self {
        Scope {
            inner: K::share(Inner {
                tasks: <K::Lock<_> as Lock<_>>::new(Vec::new()),
            }),
            _env: PhantomData,
        }
    }

    pub fn spawn<F: Spawn<'env, K>>(&self, future: F) -> JoinHandle<K> {
        let done = K::share(<K::Lock<_> as Lock<_>>::new(None));
        let task = future.into_task(done.clone());
        self.inner.tasks.with(|t| t.push(Some(task)));
        JoinHandle { done }
    }

    fn poll_tasks(&self, cx: &mut Context<'_>) {
        let n = self.inner.tasks.with(|t| t.len());
        for i in 0..n {
            // No lock is held while a task runs: it may spawn.
            if let Some(mut task) = self.inner.tasks.with(|t| t[i].take()) {
                if K::poll_task(&mut task, cx).is_pending() {
                    self.inner.tasks.with(|t| t[i] = Some(task));
                }
            }
        }
    }
}

/// The by-value scope future: a plain struct, no self-reference. (A real driver creates
/// the handle and calls the body at its first poll; the spike calls it at once.)
pub struct Driver<'env, K: Kind, Fut> {
    scope: Scope<'env, K>,
    body: Pin<Box<Fut>>,
}

impl<K: Kind, Fut: Future> Future for Driver<'_, K, Fut> {
    type Output = Fut::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Fut::Output> {
        let this = self.get_mut();
        this.scope.poll_tasks(cx);
        let out = this.body.as_mut().poll(cx);
        if out.is_pending() {
            cx.waker().wake_by_ref();
        }
        out
    }
}

/// `duet::scope`, by value.
pub fn scope<'env, B, Fut>(body: B) -> Driver<'env, Local, Fut>
where
    B: FnOnce(Scope<'env, Local>) -> Fut,
    Fut: Future,
{
    let scope = Scope::new();
    let body = Box::pin(body(scope.clone()));
    Driver { scope, body }
}

pub mod send {
    use super::*;

    pub type Scope<'env> = super::Scope<'env, Sendable>;

    /// `duet::send::scope`: the body's future is bounded `Send`, so a non-Send body is
    /// refused here rather than at the `tokio::spawn` that needs it, and the returned
    /// future says `+ Send` in its signature (no auto-trait leakage needed).
    pub fn scope<'env, B, Fut>(body: B) -> impl Future<Output = Fut::Output> + Send + 'env
    where
        Fut: 'env,
        B: FnOnce(Scope<'env>) -> Fut + Send,
        Fut: Future + Send,
    {
        let scope = super::Scope::new();
        let body = Box::pin(body(scope.clone()));
        Driver { scope, body }
    }
}

/// duet's opener today: an `async fn` owns the handle and lends it to the body.
pub mod by_ref {
    use super::*;

    struct RefDriver<'s, 'env, K: Kind, B> {
        scope: &'s Scope<'env, K>,
        body: Pin<Box<B>>,
    }

    impl<K: Kind, B: Future> Future for RefDriver<'_, '_, K, B> {
        type Output = B::Output;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<B::Output> {
            let this = self.get_mut();
            this.scope.poll_tasks(cx);
            let out = this.body.as_mut().poll(cx);
            if out.is_pending() {
                cx.waker().wake_by_ref();
            }
            out
        }
    }

    pub async fn scope<'env, K: Kind, B, O>(body: B) -> O
    where
        B: AsyncFnOnce(&Scope<'env, K>) -> O,
    {
        let scope = Scope::<K>::new();
        let body = body(&scope);
        RefDriver {
            scope: &scope,
            body: Box::pin(body),
        }
        .await
    }
}

pub fn assert_send<T: Send>(_: &T) {}
pub fn assert_sync<T: Sync>(_: &T) {}
