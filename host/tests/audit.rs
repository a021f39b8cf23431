//! The host's audit log under a workload that repeats a denial, through the CLI as an
//! operator reads it: the first denial is logged, identical ones are counted into one
//! line, so a workload cannot fill the host's disk by repeating a refused call.

mod common;

use std::process::{Command, Stdio};

/// The audit lines of `sandloop run policy_probe -- ARGS` (no grant at all).
fn audit_lines(args: &[&str]) -> (String, Vec<String>) {
    let out = common::output_within(
        Command::new(env!("CARGO_BIN_EXE_sandloop"))
            .arg("run")
            .arg(test_programs_artifacts::program("policy_probe"))
            .arg("--")
            .args(args)
            .env("SANDLOOP_LOG", "warn")
            .stdin(Stdio::null()),
    );
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines = stderr
        .lines()
        .filter(|line| line.contains("sandloop::audit"))
        .map(str::to_owned)
        .collect();
    (stdout, lines)
}

#[test]
fn a_denial_repeated_a_thousand_times_is_logged_once_then_counted_in_one_line() {
    let (stdout, lines) = audit_lines(&["repeat", "1000", "connect", "127.0.0.1", "9"]);

    assert_eq!(
        stdout,
        "permission denied: policy denies connect to 127.0.0.1:9"
    );
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].contains("policy denies connect to 127.0.0.1:9 ")
            && !lines[0].contains("more times"),
        "{}",
        lines[0]
    );
    // Written when the run ended, in the run's span (naming the workload) as the first.
    assert!(
        lines[1].contains("policy denies connect to 127.0.0.1:9 (999 more times in "),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("policy_probe"), "{}", lines[1]);
}
