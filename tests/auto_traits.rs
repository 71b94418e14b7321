//! The auto-trait contract of the public types (`design/send-scopes.md`, section 7):
//! what may cross threads, what may not, and what changes with the type parameters.
//!
//! "Always" and "when" rows are compile-time checks: a regression fails to build this
//! file. "Never" rows are run-time probes (autoref specialization), so a type that
//! became `Send` by accident fails a test instead of slipping through; the `compile_fail`
//! doctests on `Scope` and `ContextVar` pin the compiler's refusal itself.

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::rc::Rc;

use duet::{
    AsyncCollector, AwaitableFuture, Batcher, CancelHandle, CancelReason, ContextVar, JoinError,
    JoinHandle, Limiter, Scope, ScopeError, Shield, Sleep, Slot, TaskRef, TaskSet, ThreadPool,
    Timeout,
};

fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}
fn assert_send_sync<T: Send + Sync>() {}
fn future_is_send<F: Future + Send>(_: &F) {}

/// Is `T: Send`? The inherent method wins when it applies.
struct SendProbe<T>(PhantomData<T>);
trait NotSend {
    fn is_send(&self) -> bool {
        false
    }
}
impl<T> NotSend for SendProbe<T> {}
impl<T: Send> SendProbe<T> {
    fn is_send(&self) -> bool {
        true
    }
}

/// Is `T: Sync`?
struct SyncProbe<T>(PhantomData<T>);
trait NotSync {
    fn is_sync(&self) -> bool {
        false
    }
}
impl<T> NotSync for SyncProbe<T> {}
impl<T: Sync> SyncProbe<T> {
    fn is_sync(&self) -> bool {
        true
    }
}

// Macros, not functions: the probe must see the concrete type (inside a generic
// function `T: Send` is unknown and the fallback always wins).
macro_rules! is_send {
    ($t:ty) => {
        SendProbe::<$t>(PhantomData).is_send()
    };
}

macro_rules! is_sync {
    ($t:ty) => {
        SyncProbe::<$t>(PhantomData).is_sync()
    };
}

/// The probe for a value whose type cannot be named (a future).
fn probe_of<T>(_: &T) -> SendProbe<T> {
    SendProbe(PhantomData)
}

/// The probes can say yes: the "never" rows below are not vacuous.
#[test]
fn the_probes_tell_send_and_sync_types_apart() {
    assert!(is_send!(CancelHandle) && is_sync!(CancelHandle));
    assert!(!is_send!(Rc<u8>) && !is_sync!(Rc<u8>));
    assert!(is_send!(std::cell::Cell<u8>) && !is_sync!(std::cell::Cell<u8>));
    assert!(probe_of(&duet::cancelled()).is_send());
    assert!(!probe_of(&std::future::ready(Rc::new(1))).is_send());
}

#[test]
fn cross_thread_handles_and_values_are_send_and_sync() {
    assert_send_sync::<CancelHandle>();
    assert_send_sync::<CancelReason>();
    assert_send_sync::<TaskRef>();
    assert_send_sync::<JoinError>();
    assert_send_sync::<Sleep>();
    assert_send_sync::<Limiter>();
    assert_send_sync::<Slot>();
    assert_send_sync::<ThreadPool>();
    assert_send_sync::<AwaitableFuture<String>>();
    assert_send_sync::<AsyncCollector<String>>();
    assert_send_sync::<Batcher<u32, u32>>();
    assert_sync::<ContextVar<String>>();
}

#[test]
fn errors_are_send_and_sync_when_their_error_type_is() {
    assert_send_sync::<ScopeError<String>>();
    assert_send_sync::<ScopeError<Infallible>>();
    assert!(!is_send!(ScopeError<Rc<u8>>));
    assert!(!is_sync!(ScopeError<std::cell::Cell<u8>>));
    assert_send::<ScopeError<std::cell::Cell<u8>>>();
}

#[test]
fn wrappers_are_send_when_what_they_wrap_is() {
    assert_send::<Timeout<std::future::Ready<u8>>>();
    assert_send::<Shield<std::future::Ready<u8>>>();
    assert!(!is_send!(Timeout<std::future::Ready<Rc<u8>>>));
    assert!(!is_send!(Shield<std::future::Ready<Rc<u8>>>));
}

/// `duet::cancelled()` holds nothing tied to the thread: it may be awaited in a future
/// that must be `Send` (it resolves only inside a scope).
#[test]
fn the_future_of_cancelled_is_send() {
    future_is_send(&duet::cancelled());
    future_is_send(&duet::sleep(std::time::Duration::from_millis(1)));
}

/// Local scopes hold `!Send` tasks: their handles and futures stay on their thread.
/// (`CancelHandle` is the way to reach them from elsewhere.)
#[test]
fn local_scopes_their_handles_and_their_futures_are_neither_send_nor_sync() {
    assert!(!is_send!(Scope<'static, Infallible>));
    assert!(!is_sync!(Scope<'static, Infallible>));
    assert!(!is_send!(JoinHandle<u32>));
    assert!(!is_sync!(JoinHandle<u32>));
    assert!(!is_send!(TaskSet<'static, u32>));
    assert!(!is_sync!(TaskSet<'static, u32>));
    let scope = duet::scope(async |_| {});
    assert!(!probe_of(&scope).is_send());
    drop(scope);
}
