//! The errors duet reports: how a scope ended badly, and how a joined task did.

use std::error::Error;
use std::fmt;

use crate::CancelReason;

/// Why a scope did not produce its body's value.
///
/// Failures and cancellations are told apart: [`Failed`](ScopeError::Failed) carries the
/// errors tasks returned; [`Cancelled`](ScopeError::Cancelled) says why the scope was
/// cancelled. No error is ever dropped: every error a task or the body returned is in
/// here. (A panic is not an error: the scope re-raises it.)
///
/// # Examples
///
/// ```
/// use duet::ScopeError;
///
/// let r = duet::run_scope(async |s| {
///     s.spawn(async { Err::<(), _>("disk full") });
///     Ok(())
/// });
/// match r {
///     Err(ScopeError::Failed { error, others }) => {
///         assert_eq!(error, "disk full");
///         assert!(others.is_empty());
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeError<E> {
    /// A task or the body returned an error.
    Failed {
        /// The first error; under the fail-fast policy, the one that cancelled the rest.
        error: E,
        /// Further errors, in the order they surfaced: with the collect-all policy, the
        /// other tasks' errors; with fail-fast, errors that surfaced before cancellation
        /// completed.
        others: Vec<E>,
    },
    /// The scope was cancelled before it could finish.
    Cancelled {
        /// What cancelled it.
        reason: CancelReason,
        /// Errors tasks returned before the cancellation took effect (collect-all scopes
        /// keep running after errors, so a later cancellation keeps them here).
        errors: Vec<E>,
    },
}

impl<E> ScopeError<E> {
    /// True if a task or the body failed with an error.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = duet::run_scope(async |_s| Err::<(), _>("bad input"));
    /// assert!(r.unwrap_err().is_failed());
    /// ```
    pub fn is_failed(&self) -> bool {
        matches!(self, ScopeError::Failed { .. })
    }

    /// True if the scope was cancelled (for any [`CancelReason`], a timeout included).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = duet::run_scope(async |s| s.cancel());
    /// assert!(r.unwrap_err().is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, ScopeError::Cancelled { .. })
    }

    /// True if the scope was cancelled because its timeout or deadline passed
    /// ([`CancelReason::TimedOut`]); false for failures and for other cancellations.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let r = duet::run(duet::timeout_scope(Duration::from_millis(1), async |_s| {
    ///     duet::sleep(Duration::from_secs(60)).await;
    /// }));
    /// let error = r.unwrap_err();
    /// assert!(error.is_timeout() && error.is_cancelled() && !error.is_failed());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            ScopeError::Cancelled {
                reason: CancelReason::TimedOut,
                ..
            }
        )
    }

    /// The reason, if the scope was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = duet::run_scope(async |s| s.cancel());
    /// assert_eq!(r.unwrap_err().cancel_reason(), Some(&duet::CancelReason::Explicit));
    /// ```
    pub fn cancel_reason(&self) -> Option<&CancelReason> {
        match self {
            ScopeError::Cancelled { reason, .. } => Some(reason),
            ScopeError::Failed { .. } => None,
        }
    }

    /// Every error, first one first, by reference.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = duet::run(duet::scope_with(duet::ScopeOptions::new().collect_all(), async |s| {
    ///     s.spawn(async { Err::<(), _>("a") });
    ///     s.spawn(async { Err::<(), _>("b") });
    ///     Ok(())
    /// }));
    /// assert_eq!(r.unwrap_err().errors().count(), 2);
    /// ```
    pub fn errors(&self) -> impl Iterator<Item = &E> {
        let (first, rest) = match self {
            ScopeError::Failed { error, others } => (Some(error), others),
            ScopeError::Cancelled { errors, .. } => (None, errors),
        };
        first.into_iter().chain(rest)
    }

    /// Every error, first one first.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = duet::run_scope(async |s| {
    ///     s.spawn(async { Err::<(), _>(1) });
    ///     Ok(())
    /// });
    /// assert_eq!(r.unwrap_err().into_errors(), vec![1]);
    /// ```
    pub fn into_errors(self) -> Vec<E> {
        match self {
            ScopeError::Failed { error, mut others } => {
                others.insert(0, error);
                others
            }
            ScopeError::Cancelled { errors, .. } => errors,
        }
    }

    /// Applies `f` to every error, keeping the shape (for example to convert into the
    /// caller's error type).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = duet::run_scope(async |_s| Err::<(), _>("404"));
    /// let r = r.map_err(|e| e.map_err(|code| code.parse::<u16>().unwrap()));
    /// assert_eq!(r.unwrap_err().into_errors(), [404]);
    /// ```
    pub fn map_err<F, G: FnMut(E) -> F>(self, mut f: G) -> ScopeError<F> {
        match self {
            ScopeError::Failed { error, others } => ScopeError::Failed {
                error: f(error),
                others: others.into_iter().map(f).collect(),
            },
            ScopeError::Cancelled { reason, errors } => ScopeError::Cancelled {
                reason,
                errors: errors.into_iter().map(f).collect(),
            },
        }
    }
}

impl<E: fmt::Display> fmt::Display for ScopeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeError::Failed { error, others } => {
                write!(f, "a task failed: {error}")?;
                if !others.is_empty() {
                    write!(f, " (and {} more error(s))", others.len())?;
                }
                Ok(())
            }
            ScopeError::Cancelled { reason, errors } => {
                write!(f, "scope {reason}")?;
                if !errors.is_empty() {
                    write!(f, " (after {} error(s))", errors.len())?;
                }
                Ok(())
            }
        }
    }
}

/// A `ScopeError` is an [`Error`] whenever its tasks' errors can be shown, so `?` takes it
/// into the usual catch-all error types: `anyhow::Error`, `Box<dyn Error + Send + Sync>`,
/// or any type with a `From<ScopeError<E>>`. This includes error types that are not
/// themselves [`Error`]s, such as `anyhow::Error`, `Box<dyn Error>` and `&str`.
///
/// # No `source()`
///
/// [`source`](Error::source) returns `None`. The [`Display`](fmt::Display) text already
/// contains the first error's message, and an error that shows its cause in its message
/// should not also return it as its source, or error reporters (anyhow's `{:#}` and
/// `{:?}`, `eyre`, logging crates) print it twice. (Returning it would also need
/// `E: Error`, which `anyhow::Error` and `Box<dyn Error>` are not, so `?` into them would
/// not compile.) The errors themselves, with their own types and sources, stay
/// reachable: downcast back to `ScopeError<E>` and use [`errors`](ScopeError::errors) or
/// [`into_errors`](ScopeError::into_errors).
///
/// # Examples
///
/// `?` into `anyhow::Result`, and back to the typed errors:
///
/// ```
/// use duet::ScopeError;
///
/// #[derive(Debug, PartialEq)]
/// struct Refused(u16);
/// impl std::fmt::Display for Refused {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "port {} refused", self.0)
///     }
/// }
/// impl std::error::Error for Refused {}
///
/// fn connect_all() -> anyhow::Result<()> {
///     duet::run_scope(async |s| {
///         s.spawn(async { Err::<(), _>(Refused(80)) });
///         s.spawn(async { Err::<(), _>(Refused(443)) });
///         Ok(())
///     })?;
///     Ok(())
/// }
///
/// let error = connect_all().unwrap_err();
/// assert_eq!(format!("{error:#}"), "a task failed: port 80 refused"); // said once
/// let scope_error = error.downcast_ref::<ScopeError<Refused>>().unwrap();
/// assert_eq!(scope_error.errors().next(), Some(&Refused(80)));
/// ```
///
/// With `anyhow::Error` as the tasks' error type, and into `Box<dyn Error + Send + Sync>`:
///
/// ```
/// use std::error::Error;
///
/// fn with_anyhow() -> anyhow::Result<u32> {
///     let n = duet::run_scope(async |s| {
///         let parsed = s.spawn(async { Ok::<_, anyhow::Error>("42".parse::<u32>()?) });
///         Ok(parsed.await?)
///     })?;
///     Ok(n)
/// }
/// assert_eq!(with_anyhow().unwrap(), 42);
///
/// fn with_box() -> Result<(), Box<dyn Error + Send + Sync>> {
///     duet::run_scope(async |_s| Err::<(), Box<dyn Error + Send + Sync>>("no quorum".into()))?;
///     Ok(())
/// }
/// assert_eq!(with_box().unwrap_err().to_string(), "a task failed: no quorum");
/// ```
impl<E: fmt::Debug + fmt::Display> Error for ScopeError<E> {}

/// Why awaiting a [`JoinHandle`](crate::JoinHandle) did not give the task's value.
///
/// # Examples
///
/// ```
/// use duet::{CancelReason, JoinError};
///
/// duet::run_scope(async |s| {
///     let h = s.spawn(futures::future::pending::<()>());
///     h.cancel();
///     assert_eq!(h.await, Err(JoinError::Cancelled(CancelReason::JoinHandle)));
/// })
/// .unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The task was dropped before it finished.
    #[error("task {0}")]
    Cancelled(CancelReason),
    /// The task returned an error; the error itself went to the scope's result.
    #[error("task failed; its error is reported by its scope")]
    Failed,
    /// The task panicked; the scope re-raises the panic.
    #[error("task panicked; its scope re-raises the panic")]
    Panicked,
}

impl JoinError {
    /// True if the task was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// duet::run_scope(async |s| {
    ///     let h = s.spawn(futures::future::pending::<()>());
    ///     h.cancel();
    ///     assert!(h.await.unwrap_err().is_cancelled());
    /// })
    /// .unwrap();
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled(_))
    }

    /// True if the task returned an error (the error itself is in the scope's result).
    ///
    /// # Examples
    ///
    /// ```
    /// let handle = std::cell::RefCell::new(None);
    /// let r = duet::run_scope(async |s| {
    ///     *handle.borrow_mut() = Some(s.spawn(async { Err::<(), _>("oops") }));
    ///     Ok(())
    /// });
    /// assert_eq!(r.unwrap_err().into_errors(), ["oops"]);
    /// assert!(duet::run(handle.take().unwrap()).unwrap_err().is_failed());
    /// ```
    pub fn is_failed(&self) -> bool {
        matches!(self, JoinError::Failed)
    }

    /// True if the task was dropped because its scope's timeout or deadline passed
    /// ([`CancelReason::TimedOut`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let handle = std::cell::RefCell::new(None);
    /// let r = duet::run(duet::timeout_scope(Duration::from_millis(1), async |s| {
    ///     *handle.borrow_mut() = Some(s.spawn(duet::sleep(Duration::from_secs(60))));
    /// }));
    /// assert!(r.unwrap_err().is_timeout());
    /// let outcome = duet::run(handle.take().unwrap());
    /// assert!(outcome.unwrap_err().is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, JoinError::Cancelled(CancelReason::TimedOut))
    }

    /// True if the task panicked (the scope re-raises the panic, so a handle sees this
    /// only from outside the scope, after catching the panic).
    ///
    /// # Examples
    ///
    /// ```
    /// let handle = std::cell::RefCell::new(None);
    /// let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    ///     duet::run_scope(async |s| {
    ///         *handle.borrow_mut() = Some(s.spawn(async { panic!("boom") }));
    ///     })
    /// }));
    /// assert!(panicked.is_err());
    /// assert!(duet::run(handle.take().unwrap()).unwrap_err().is_panic());
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panicked)
    }

    /// The reason, if the task was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// duet::run_scope(async |s| {
    ///     let h = s.spawn(futures::future::pending::<()>());
    ///     h.cancel();
    ///     assert_eq!(h.await.unwrap_err().cancel_reason(), Some(&duet::CancelReason::JoinHandle));
    /// })
    /// .unwrap();
    /// ```
    pub fn cancel_reason(&self) -> Option<&CancelReason> {
        match self {
            JoinError::Cancelled(reason) => Some(reason),
            _ => None,
        }
    }
}
