//! Helpers of the Send-scope tests (`send_scope.rs`, `send_review.rs`): tokio's
//! multi-thread runtime with two workers, a drop counter whose guards may cross
//! threads, and a yield loop that lets a task move between workers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Counts the guards dropped, to check that cancelled children are dropped.
#[derive(Clone, Default)]
pub struct Drops(Arc<AtomicUsize>);

pub struct Guard(Drops);

impl Drops {
    pub fn guard(&self) -> Guard {
        Guard(self.clone())
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        (self.0).0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Yields to tokio `times` times, so that the task is likely polled on both workers.
pub async fn hop(times: usize) {
    for _ in 0..times {
        tokio::task::yield_now().await;
    }
}
