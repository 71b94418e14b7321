//! The same failing workload under the two error policies.
//!
//! - fail-fast (the default): the first error cancels everything else and is returned
//!   (the cancelled jobs are dropped at their await points: their destructors run);
//! - collect-all (a supervisor): every task runs to completion and every error is
//!   returned.
//!
//! Run it with `cargo run --example errors`.

use std::cell::RefCell;

use duet::{ScopeError, ScopeOptions};

#[derive(Debug, thiserror::Error)]
enum JobError {
    #[error("job {0} timed out")]
    Timeout(u32),
    #[error("job {0} was refused")]
    Refused(u32),
}

/// Records a job that was dropped before it finished: cancelled at an await point.
struct CancelGuard<'a> {
    job: u32,
    done: bool,
    cancelled: &'a RefCell<Vec<u32>>,
}

impl Drop for CancelGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.cancelled.borrow_mut().push(self.job);
        }
    }
}

/// Job `n` takes `n` yields; jobs 2 and 5 fail.
async fn job(
    n: u32,
    finished: &RefCell<Vec<u32>>,
    cancelled: &RefCell<Vec<u32>>,
) -> Result<(), JobError> {
    let mut guard = CancelGuard {
        job: n,
        done: false,
        cancelled,
    };
    for _ in 0..n {
        duet::yield_now().await;
    }
    guard.done = true;
    match n {
        2 => Err(JobError::Timeout(n)),
        5 => Err(JobError::Refused(n)),
        _ => {
            finished.borrow_mut().push(n);
            Ok(())
        }
    }
}

fn run_under(options: ScopeOptions) {
    let finished = RefCell::new(Vec::new());
    let cancelled = RefCell::new(Vec::new());
    let result = duet::run(duet::scope_with(options, async |s| {
        for n in 1..=6 {
            s.spawn(job(n, &finished, &cancelled));
        }
        Ok(())
    }));
    match result {
        Ok(()) => println!("  no errors"),
        Err(ScopeError::Failed { error, others }) => {
            println!("  first error: {error}");
            for other in others {
                println!("  also: {other}");
            }
        }
        Err(other) => println!("  {other}"),
    }
    println!("  jobs that completed: {:?}", finished.borrow());
    println!(
        "  jobs cancelled at an await point: {:?}",
        cancelled.borrow()
    );
}

fn main() {
    println!("fail-fast:");
    run_under(ScopeOptions::new());
    println!("collect-all:");
    run_under(ScopeOptions::new().collect_all());
}
