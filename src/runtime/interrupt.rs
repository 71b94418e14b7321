//! Ctrl-C as structured cancellation (cargo feature `ctrl-c`).
//!
//! A loop started with [`Config::cancel_on_ctrl_c`](crate::Config) registers a *target*;
//! nested loops inside it register their own. The scopes a loop polls directly (root
//! scopes) adopt its [`RootScopes`] (`scope::registry`, which also cancels a root scope
//! that arrives once the loop was interrupted). This module owns the rest: signal-hook's
//! installation, the registered targets, the exit flag, and waking the loop. On SIGINT, a signal-hook thread marks every registered target
//! interrupted, cancels their root scopes with
//! [`CancelReason::Interrupted`](crate::CancelReason::Interrupted) and wakes their loops:
//! the innermost loop of a nested stack unwinds at once, the ones it is nested in when
//! control returns to them (their cancellation is pending meanwhile), and loops on other
//! threads at once. Scopes unwind as for any cancellation and each root scope returns
//! `ScopeError::Cancelled`. A loop whose root is not a scope drops the root and panics
//! with a message instead.
//!
//! While a target is unwinding, and while no target is registered, a SIGINT runs the
//! default action (the process exits): signal-hook's `register_conditional_default`
//! checks a flag inside the signal handler. Nothing is installed until a loop opts in.
//!
//! # Invariants
//!
//! 1. `EXIT_ON_SIGINT` is true exactly when no target is registered or some registered
//!    target was already interrupted; it is updated under the registry lock.
//! 2. A target is interrupted at most once (its root scopes: `scope::registry`,
//!    invariant 3).

use std::sync::Arc;

use super::park::LoopWaker;
use crate::scope::registry::RootScopes;

#[cfg(feature = "ctrl-c")]
pub(crate) use enabled::Target;

#[cfg(not(feature = "ctrl-c"))]
pub(crate) use disabled::Target;

#[cfg(feature = "ctrl-c")]
mod enabled {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
    use std::task::Wake;

    use signal_hook::consts::SIGINT;
    use signal_hook::iterator::Signals;

    use super::{LoopWaker, RootScopes};

    /// One loop that Ctrl-C may interrupt.
    pub(crate) struct Target {
        notifier: Arc<LoopWaker>,
        roots: Arc<RootScopes>,
    }

    static TARGETS: Mutex<Vec<Arc<Target>>> = Mutex::new(Vec::new());
    static EXIT_ON_SIGINT: OnceLock<Arc<AtomicBool>> = OnceLock::new();

    fn targets() -> MutexGuard<'static, Vec<Arc<Target>>> {
        TARGETS.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Installs the handlers once per process; returns the "exit on SIGINT" flag.
    fn exit_flag() -> &'static Arc<AtomicBool> {
        EXIT_ON_SIGINT.get_or_init(|| {
            let flag = Arc::new(AtomicBool::new(true));
            let install = || -> std::io::Result<()> {
                signal_hook::flag::register_conditional_default(SIGINT, flag.clone())?;
                let mut signals = Signals::new([SIGINT])?;
                std::thread::Builder::new()
                    .name("duet-ctrl-c".into())
                    .spawn(move || signals.forever().for_each(|_| interrupt_all()))?;
                Ok(())
            };
            if let Err(error) = install() {
                panic!("duet: could not install the Ctrl-C handler ({error}); run without Config::cancel_on_ctrl_c");
            }
            flag
        })
    }

    fn update_exit_flag(targets: &[Arc<Target>]) {
        let exit = targets.is_empty() || targets.iter().any(|t| t.roots.is_interrupted());
        exit_flag().store(exit, Ordering::SeqCst);
    }

    /// Interrupts every opted-in loop that was not interrupted yet. (The first version
    /// interrupted only the innermost one: a Ctrl-C during a nested `run` cancelled the
    /// nested tree and the outer tree, which had opted in too, carried on.)
    fn interrupt_all() {
        let targets = targets();
        for target in targets.iter().filter(|t| !t.roots.is_interrupted()) {
            target.interrupt();
        }
        update_exit_flag(&targets);
    }

    impl Target {
        /// Registers a target for the loop woken by `notifier`, whose root scopes are
        /// `roots`, until [`Target::leave`].
        pub(crate) fn enter(notifier: Arc<LoopWaker>, roots: Arc<RootScopes>) -> Arc<Target> {
            exit_flag();
            let target = Arc::new(Target { notifier, roots });
            let mut targets = targets();
            targets.push(target.clone());
            update_exit_flag(&targets);
            target
        }

        /// Unregisters the target (its loop is returning or unwinding).
        pub(crate) fn leave(self: &Arc<Self>) {
            let mut targets = targets();
            targets.retain(|t| !Arc::ptr_eq(t, self));
            update_exit_flag(&targets);
        }

        fn interrupt(&self) {
            self.roots.interrupt();
            self.notifier.wake_by_ref();
        }
    }
}

#[cfg(not(feature = "ctrl-c"))]
mod disabled {
    use std::sync::Arc;

    use super::{LoopWaker, RootScopes};

    /// Without the `ctrl-c` feature no target is ever created.
    pub(crate) enum Target {}

    impl Target {
        pub(crate) fn enter(_notifier: Arc<LoopWaker>, _roots: Arc<RootScopes>) -> Arc<Target> {
            unreachable!("Config::cancel_on_ctrl_c needs the ctrl-c feature")
        }
        pub(crate) fn leave(self: &Arc<Self>) {
            match **self {}
        }
    }
}

/// Unregisters a loop's target when the loop returns or unwinds.
pub(crate) struct Registration(pub(crate) Option<Arc<Target>>);

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("interruptible", &self.0.is_some())
            .finish()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(target) = &self.0 {
            target.leave();
        }
    }
}
