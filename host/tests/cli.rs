//! The `sandloop` binary on real guest programs: output, exit codes, traps, errors (the
//! precompiled components have `precompiled.rs`).

mod common;

use std::process::Command;

use common::{TempDir, path_str, sandloop, stderr_of};
use test_programs_artifacts::program;

#[test]
fn hello_world_prints_hello_world_and_exits_0() {
    let output = sandloop(&["run", path_str(program("hello_world"))]);

    assert_eq!(String::from_utf8_lossy(&output.stdout), "Hello World\n");
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        stderr_of(&output)
    );
}

#[test]
fn guest_panic_exits_101_with_message_and_wasm_backtrace() {
    let output = sandloop(&["run", path_str(program("panic"))]);

    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(101), "stderr: {stderr}");
    assert!(stderr.contains("boom"), "stderr: {stderr}");
    assert!(
        stderr.contains("error: workload trapped:"),
        "stderr: {stderr}"
    );
    assert!(stderr.contains("wasm backtrace:"), "stderr: {stderr}");
    assert!(
        stderr
            .lines()
            .any(|line| line.trim_start().starts_with("0:")),
        "no backtrace frame in stderr: {stderr}"
    );
}

#[test]
fn exit_code_is_the_guest_exit_code() {
    let output = sandloop(&["run", path_str(program("exit_code")), "7"]);

    assert_eq!(
        output.status.code(),
        Some(7),
        "stderr: {}",
        stderr_of(&output)
    );
}

#[test]
fn guest_arguments_may_follow_a_double_dash() {
    let output = sandloop(&["run", path_str(program("exit_code")), "--", "7"]);

    assert_eq!(
        output.status.code(),
        Some(7),
        "stderr: {}",
        stderr_of(&output)
    );
}

#[test]
fn missing_component_exits_2_naming_the_file() {
    let output = sandloop(&["run", "/nonexistent/sandloop/missing.wasm"]);

    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "stderr: {stderr}");
    assert!(
        stderr.contains("/nonexistent/sandloop/missing.wasm"),
        "stderr: {stderr}"
    );
    assert!(stderr.contains("No such file"), "stderr: {stderr}");
}

#[test]
fn file_that_is_not_a_component_exits_2() {
    let dir = TempDir::new("not-a-component");
    let file = dir.join("notes.wasm");
    std::fs::write(&file, "not wasm at all").unwrap();

    let output = sandloop(&["run", path_str(&file)]);

    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("not a WebAssembly component"),
        "stderr: {stderr}"
    );
}

/// Runs `errors_and_debug debug_follows_the_environment`, which prints `debug=true|false`.
/// `host_env` is set in the host's environment, `run_flags` go after `sandloop run`.
fn debug_flag_seen_by_guest(host_env: &[(&str, &str)], run_flags: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sandloop"));
    cmd.env_remove("SANDLOOP_LOG").env_remove("SANDLOOP_DEBUG");
    cmd.envs(host_env.iter().copied());
    let output = cmd
        .arg("run")
        .args(run_flags)
        .args([path_str(program("errors_and_debug")), "--"])
        .arg("debug_follows_the_environment")
        .output()
        .expect("failed to start sandloop");
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        stderr_of(&output)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn sandloop_debug_in_the_host_environment_reaches_the_guest() {
    assert_eq!(
        debug_flag_seen_by_guest(&[("SANDLOOP_DEBUG", "1")], &[]),
        "debug=true"
    );
    assert_eq!(debug_flag_seen_by_guest(&[], &[]), "debug=false");
}

#[test]
fn env_flag_sets_a_guest_variable_and_nothing_else_leaks() {
    assert_eq!(
        debug_flag_seen_by_guest(&[], &["--env", "SANDLOOP_DEBUG=yes"]),
        "debug=true"
    );
    // Inheriting another variable passes that one only.
    assert_eq!(
        debug_flag_seen_by_guest(
            &[("OTHER_HOST_VAR", "1")],
            &["--env-inherit", "OTHER_HOST_VAR"]
        ),
        "debug=false"
    );
}

#[test]
fn malformed_policy_flags_exit_2_saying_what_is_wrong() {
    let hello = path_str(program("hello_world"));
    let cases = [
        (
            vec!["run", "--allow-listen", "::1:80", hello],
            "write it in brackets",
        ),
        (
            vec!["run", "--allow-connect", "127.0.0.1:99999", hello],
            "is not a port",
        ),
        (vec!["run", "--resolve", "db.internal", hello], "NAME=ADDR"),
    ];
    for (args, expected) in cases {
        let output = sandloop(&args);
        let stderr = stderr_of(&output);

        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn well_formed_policy_flags_are_accepted() {
    let output = sandloop(&[
        "run",
        "--allow-listen",
        "127.0.0.1:*",
        "--allow-connect",
        "[::1]:8000-8999",
        "--resolve",
        "db.internal=10.0.0.7,::1",
        path_str(program("hello_world")),
    ]);

    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        stderr_of(&output)
    );
}
