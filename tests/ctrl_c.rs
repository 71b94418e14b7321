//! Ctrl-C as structured cancellation, with a real signal sent to a real process running
//! `examples/ctrl_c.rs`. Needs the `ctrl-c` feature and the example built:
//! `cargo test --features ctrl-c` builds both (with `--test ctrl_c` alone, cargo does not
//! build examples; run `cargo build --features ctrl-c --example ctrl_c` first).

#![cfg(all(feature = "ctrl-c", unix))]

use std::io::{BufRead, BufReader, Lines};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// `target/<profile>/examples/ctrl_c`, next to this test binary's `deps` directory
/// (cargo builds the examples before it runs the tests).
fn example() -> PathBuf {
    let test_binary = std::env::current_exe().unwrap();
    let profile_dir = test_binary.parent().unwrap().parent().unwrap();
    let path = profile_dir.join("examples").join("ctrl_c");
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/ctrl_c.rs");
    let modified = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    assert!(
        modified(&path) >= modified(&source),
        "{} is missing or older than its source: run `cargo build --features ctrl-c --example ctrl_c`",
        path.display()
    );
    path
}

fn start(args: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = Command::new(example())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> String {
    lines.next().expect("the example ended early").unwrap()
}

/// Waits (up to a generous bound) for the child to exit; kills it on timeout.
fn wait(mut child: Child) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("the example did not exit after Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn ctrl_c_cancels_the_run_runs_destructors_and_reports_interrupted() {
    let (child, mut lines) = start(&[]);
    assert_eq!(next_line(&mut lines), "ready: press Ctrl-C to cancel");
    interrupt(&child);
    let mut rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = wait(child);
    let last = rest.pop().unwrap();
    rest.sort();
    assert_eq!(
        rest,
        [
            "task 0: cleaned up",
            "task 1: cleaned up",
            "task 2: cleaned up"
        ]
    );
    assert_eq!(
        last,
        "run returned: scope cancelled because the program was interrupted (Ctrl-C)"
    );
    assert_eq!(status.code(), Some(130));
}

#[test]
fn a_second_ctrl_c_while_unwinding_kills_the_process() {
    let (child, mut lines) = start(&["--slow-cleanup"]);
    assert_eq!(next_line(&mut lines), "ready: press Ctrl-C to cancel");
    interrupt(&child);
    assert!(next_line(&mut lines).ends_with("cleaning up slowly"));
    interrupt(&child);
    let status = wait(child);
    assert_eq!(
        status.signal(),
        Some(2),
        "killed by SIGINT, not exited: {status:?}"
    );
}

#[test]
fn a_root_that_is_not_a_scope_is_dropped_and_run_panics_with_advice() {
    let (child, mut lines) = start(&["--plain-root"]);
    assert_eq!(next_line(&mut lines), "ready: press Ctrl-C to cancel");
    interrupt(&child);
    assert_eq!(next_line(&mut lines), "task 0: cleaned up");
    expect_the_not_a_scope_panic(child);
}

/// Waits for the child to end with `run`'s panic for an interrupted root that is not a
/// scope, and nothing that looks like an internal error.
fn expect_the_not_a_scope_panic(child: Child) {
    expect_panic(
        child,
        "duet::run: interrupted by Ctrl-C; the root future is dropped",
    );
}

fn expect_panic(mut child: Child, message: &str) {
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let status = wait(child);
    assert!(stderr.contains(message), "{stderr}");
    assert!(!stderr.contains("internal error"), "{stderr}");
    assert_eq!(status.code(), Some(101), "a panic exit");
}

#[test]
fn without_the_option_ctrl_c_keeps_its_default_behaviour() {
    let (child, mut lines) = start(&["--option-off"]);
    assert_eq!(next_line(&mut lines), "ready: press Ctrl-C to cancel");
    interrupt(&child);
    let status = wait(child);
    assert_eq!(status.signal(), Some(2), "killed by SIGINT: {status:?}");
}

#[test]
fn ctrl_c_during_a_nested_run_cancels_it_and_then_the_outer_run() {
    let (child, mut lines) = start(&["--nested-run"]);
    assert_eq!(next_line(&mut lines), "ready: press Ctrl-C to cancel");
    interrupt(&child);
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = wait(child);
    assert_eq!(
        rest,
        [
            "task 9: cleaned up",
            "nested run returned: Err(Cancelled { reason: Interrupted, errors: [] })",
            "run returned: scope cancelled because the program was interrupted (Ctrl-C)",
        ]
    );
    assert_eq!(status.code(), Some(130));
}

#[test]
fn ctrl_c_during_a_root_pmap_drops_its_calls_and_panics_with_advice() {
    let child = interrupt_two_pmap_calls("--pmap");
    expect_the_not_a_scope_panic(child);
}

#[test]
fn ctrl_c_during_a_sync_pmap_in_a_task_panics_naming_the_async_form() {
    let child = interrupt_two_pmap_calls("--sync-pmap");
    expect_panic(
        child,
        "duet::run: interrupted by Ctrl-C inside a nested duet::run whose root is not a scope",
    );
}

/// Starts the example in `mode`, whose two pmap calls print "ready"; interrupts it once
/// both did and checks that both calls were dropped.
fn interrupt_two_pmap_calls(mode: &str) -> Child {
    let (child, mut lines) = start(&[mode]);
    assert_eq!(next_line(&mut lines), "ready: press Ctrl-C to cancel");
    assert_eq!(next_line(&mut lines), "ready: press Ctrl-C to cancel");
    interrupt(&child);
    let mut rest: Vec<String> = lines.map(Result::unwrap).collect();
    rest.sort();
    assert_eq!(rest, ["task 0: cleaned up", "task 1: cleaned up"]);
    child
}
