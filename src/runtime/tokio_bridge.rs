//! The tokio bridge (feature `tokio`): a loop that runs inside a tokio runtime's context.
//!
//! tokio's resources (sockets, `tokio::spawn`, its timers, and the clients built on them:
//! reqwest, hyper, tonic) look for "the current runtime" in a thread-local that
//! [`Handle::enter`] sets. A loop configured with [`Config::tokio`](crate::Config::tokio)
//! or [`Config::tokio_handle`](crate::Config::tokio_handle) enters its runtime's handle
//! when `run_with` starts and leaves it when `run_with` returns or unwinds: every poll of
//! the root, the idle flush of buffered futures and the drop of the root (destructors that
//! `tokio::spawn` their cleanup) happen inside it. tokio's own threads drive its reactor
//! and timers, and wake duet's tasks through ordinary wakers, like any other thread.
//!
//! Only a runtime whose reactor is driven by threads of its own can serve a duet loop: a
//! current-thread runtime drives I/O only inside its `block_on`, which cannot run while
//! duet's loop holds the thread, so its sockets would never become ready. Such a handle
//! is refused with a message ([`check_flavor`]).
//!
//! # Invariants
//!
//! 1. The context entered by a loop is the one that was current before it, restored when
//!    `run_with` returns or unwinds (tokio's `EnterGuard`, dropped last in `run_with`).
//! 2. A loop with no tokio configuration changes nothing: a nested run finds the context
//!    of the loop it is nested in still entered, and so inherits it.
//! 3. Every handle a loop enters is of a multi-thread runtime.

#[cfg(feature = "tokio")]
pub(crate) use enabled::*;

#[cfg(feature = "tokio")]
mod enabled {
    use std::sync::OnceLock;

    use tokio::runtime::{Builder, EnterGuard, Handle, Runtime, RuntimeFlavor};

    /// The runtime behind [`Config::tokio`](crate::Config::tokio), started on first use
    /// and kept for the life of the process.
    static SHARED: OnceLock<Runtime> = OnceLock::new();

    /// A handle of the shared runtime, starting it on first use.
    pub(crate) fn shared_handle() -> Handle {
        SHARED
            .get_or_init(|| {
                Builder::new_multi_thread()
                    .enable_all()
                    .thread_name("duet-tokio")
                    .build()
                    .unwrap_or_else(|error| {
                        panic!(
                            "duet::Config::tokio: could not start the shared tokio runtime \
                             ({error}); build a multi-thread runtime yourself and pass its \
                             handle to Config::tokio_handle"
                        )
                    })
            })
            .handle()
            .clone()
    }

    /// Refuses a handle whose runtime cannot drive I/O while a duet loop holds the thread.
    #[track_caller]
    pub(crate) fn check_flavor(handle: &Handle) {
        if handle.runtime_flavor() == RuntimeFlavor::CurrentThread {
            panic!(
                "duet::Config::tokio_handle: this is the handle of a current-thread tokio \
                 runtime (Handle::runtime_flavor() is CurrentThread). Its I/O and timers are \
                 driven only inside its block_on, which cannot run while duet::run holds the \
                 thread, so tokio sockets (reqwest, hyper, tonic) would wait forever. Pass the \
                 handle of a multi-thread runtime \
                 (tokio::runtime::Builder::new_multi_thread().enable_all().build()), or use \
                 Config::tokio(), which runs a shared one."
            );
        }
    }

    /// The tokio context of a running loop: entered while this lives.
    pub(crate) type TokioContext<'a> = Option<EnterGuard<'a>>;

    /// Enters `handle`'s runtime, if any, until the result is dropped.
    pub(crate) fn enter(handle: Option<&Handle>) -> TokioContext<'_> {
        handle.map(Handle::enter)
    }
}

/// Without the `tokio` feature there is no context to enter.
#[cfg(not(feature = "tokio"))]
pub(crate) struct TokioContext;
