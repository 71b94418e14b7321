//! What a `duet::sim` failure report says about the task that failed.

use duet::sim::Explorer;

#[test]
fn a_failure_report_names_the_task_that_panicked() {
    let failure = Explorer::new()
        .runs(1)
        .explore(|| {
            duet::scope(async |s| {
                s.spawn_named("waiter", duet::yield_now());
                s.spawn_named("checker", async { assert_eq!(1 + 1, 3, "arithmetic") });
            })
        })
        .unwrap_err();
    let task = failure.task().expect("a task panicked");
    assert!(task.starts_with("task #1 `checker` spawned at"), "{task}");
    // The tree is the one the panic found: the task that panicked is in it, shown
    // running, and so is the other one (it is cancelled after the snapshot).
    let dump = failure.dump().expect("a task panicked");
    assert!(
        dump.contains("`checker` spawned at")
            && dump.contains("running now")
            && dump.contains("`waiter`"),
        "{dump}"
    );
    let report = failure.to_string();
    assert!(
        report.contains(&format!("The task that panicked: {task}")),
        "{report}"
    );
}

#[test]
fn a_failure_without_a_task_panic_names_no_task() {
    let failure = Explorer::new()
        .runs(1)
        .explore(|| async { Err::<(), _>("no") })
        .unwrap_err();
    assert_eq!((failure.task(), failure.dump()), (None, None));
    assert!(!failure.to_string().contains("The task that panicked"));
}
