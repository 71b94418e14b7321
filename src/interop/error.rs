//! [`AwaitError`]: why awaiting an [`AwaitableFuture`](crate::AwaitableFuture) gave no value.

use std::any::Any;
use std::error::Error;
use std::sync::Arc;

/// Why awaiting an [`AwaitableFuture`](crate::AwaitableFuture) did not give a value.
///
/// The producer's own error is kept as it was set, shared (in an [`Arc`]) by everyone
/// who awaits the future; [`downcast_ref`](AwaitError::downcast_ref) gets the concrete
/// type back. The other variants are duet's: the future was cancelled, abandoned by every
/// handle that could have completed it, or the job computing it panicked.
///
/// # Examples
///
/// ```
/// use duet::{AwaitError, AwaitableFuture};
///
/// let f = AwaitableFuture::<u32>::new();
/// f.set_error(std::io::Error::other("disk full"));
/// let error = duet::run(f.clone()).unwrap_err();
/// assert!(error.is_failed());
/// assert_eq!(error.to_string(), "disk full");
/// assert_eq!(error.downcast_ref::<std::io::Error>().unwrap().kind(), std::io::ErrorKind::Other);
///
/// // The only handle is the one being awaited: nobody can ever complete it.
/// let error = duet::run(AwaitableFuture::<u32>::new()).unwrap_err();
/// assert!(matches!(error, AwaitError::Abandoned));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AwaitError {
    /// The producer set an error ([`set_error`](crate::AwaitableFuture::set_error)); it is
    /// shown as itself.
    #[error(transparent)]
    Failed(Arc<dyn Error + Send + Sync + 'static>),
    /// The future was cancelled: through [`cancel`](crate::AwaitableFuture::cancel), or
    /// because the last task awaiting it was cancelled (or stopped awaiting it) first.
    #[error("the AwaitableFuture was cancelled before it completed")]
    Cancelled,
    /// Every handle that could have completed the future was dropped without setting a
    /// result or an error (the producer returned early, or its thread panicked), so
    /// awaiting it could only hang.
    #[error(
        "the AwaitableFuture was abandoned: every handle that could complete it was dropped \
         without setting a result or an error (did the producer return early or panic?)"
    )]
    Abandoned,
    /// The job or flush action that was to complete the future panicked; this is its
    /// panic message.
    #[error("the job completing this AwaitableFuture panicked: {0}")]
    Panicked(String),
}

impl AwaitError {
    /// True if the producer set an error.
    ///
    /// # Examples
    ///
    /// ```
    /// let error = duet::run(duet::failed_future::<u32>("quota exceeded")).unwrap_err();
    /// assert!(error.is_failed() && !error.is_cancelled());
    /// assert_eq!(error.to_string(), "quota exceeded");
    /// ```
    pub fn is_failed(&self) -> bool {
        matches!(self, AwaitError::Failed(_))
    }

    /// True if the future was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = duet::AwaitableFuture::<u32>::new();
    /// f.cancel();
    /// assert!(duet::run(f).unwrap_err().is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, AwaitError::Cancelled)
    }

    /// True if every handle that could complete the future was dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = duet::AwaitableFuture::<u32>::new();
    /// let producer = f.clone();
    /// std::thread::spawn(move || drop(producer)); // returns without setting anything
    /// assert!(duet::run(f).unwrap_err().is_abandoned());
    /// ```
    pub fn is_abandoned(&self) -> bool {
        matches!(self, AwaitError::Abandoned)
    }

    /// True if the job computing the value panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = duet::ThreadPool::new(1);
    /// let error = duet::run(pool.submit(|| -> u32 { panic!("division by zero") })).unwrap_err();
    /// assert!(error.is_panic());
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self, AwaitError::Panicked(_))
    }

    /// The producer's error as its concrete type, if it set one of type `E`.
    ///
    /// # Examples
    ///
    /// ```
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("no such user: {0}")]
    /// struct NoSuchUser(u32);
    ///
    /// let error = duet::run(duet::failed_future::<String>(NoSuchUser(7))).unwrap_err();
    /// assert_eq!(error.downcast_ref::<NoSuchUser>().unwrap().0, 7);
    /// assert!(error.downcast_ref::<std::io::Error>().is_none());
    /// ```
    pub fn downcast_ref<E: Error + 'static>(&self) -> Option<&E> {
        match self {
            AwaitError::Failed(error) => error.downcast_ref::<E>(),
            _ => None,
        }
    }
}

/// The message of a panic payload, for [`AwaitError::Panicked`].
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}
