//! Subprocesses (guest program `subprocess`) under the real host: children are real
//! programs of this machine, run under a policy that grants `/usr/bin/`, the shell and
//! the child variable GREETING. Every quiet case runs on the default loop (the host does
//! the pipes' I/O) and on a `SelectorEventLoop` (readiness mode).

mod common;

use std::time::{Duration, Instant};

use sandloop_host::{ExitStatus, Policy, RunOptions};

/// The policy of the quiet cases.
fn granting() -> Policy {
    let mut policy = Policy::new().allow_exec("/usr/bin/").expect("rule");
    policy.allow_shell = true;
    policy.child_env = vec!["GREETING".into()];
    policy
}

fn run_subprocess_case(case: &str, env: &[(&str, &str)], policy: Policy) -> common::Outcome {
    common::run_case_with_options(
        "subprocess",
        case,
        RunOptions {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            policy,
            ..Default::default()
        },
    )
}

/// One `#[test]` per quiet case on the default loop: exits 0, logs nothing.
macro_rules! subprocess_cases {
    ($program:literal: $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                let out = run_subprocess_case(stringify!($case), &[], granting());
                out.assert_ok();
                assert!(out.stderr.is_empty(), "unexpected log:\n{}", out.stderr);
            }
        )+
    };
}

/// The same cases on a `SelectorEventLoop`.
macro_rules! subprocess_cases_on_selector_loop {
    ($program:literal: $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                let out = super::run_subprocess_case(
                    stringify!($case),
                    &[("TEST_LOOP", "selector")],
                    super::granting(),
                );
                out.assert_ok();
                assert!(out.stderr.is_empty(), "unexpected log:\n{}", out.stderr);
            }
        )+
    };
}

test_programs_artifacts::for_each_quiet_case!("subprocess", subprocess_cases);

mod selector_loop {
    test_programs_artifacts::for_each_quiet_case!("subprocess", subprocess_cases_on_selector_loop);
}

#[test]
fn denied_executable() {
    let policy = Policy::new().allow_exec("/usr/bin/true").expect("rule");
    let out = run_subprocess_case("denied_executable", &[], policy);
    out.assert_ok().assert_lines(&[
        "permission denied: policy denies exec of /usr/bin/cat",
        "permission denied: policy denies exec of cat",
        "permission denied: policy denies exec of /usr/bin/../bin/true",
    ]);
}

#[test]
fn denied_shell() {
    // `/bin/sh` as an executable does not grant the shell.
    let policy = Policy::new().allow_exec("/bin/sh").expect("rule");
    let out = run_subprocess_case("denied_shell", &[], policy);
    out.assert_ok()
        .assert_lines(&["permission denied: policy denies the shell"]);
}

#[test]
fn denied_environment_variable() {
    let out = run_subprocess_case("denied_environment_variable", &[], granting());
    out.assert_ok()
        .assert_lines(&["permission denied: policy denies the child environment variable HOME"]);
}

/// Whether process `pid` exists at all (a zombie does too).
fn exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn trapped_workload_leaves_no_child() {
    let out = run_subprocess_case("trapped_workload_leaves_no_child", &[], granting());
    assert!(
        matches!(out.status, ExitStatus::Trapped(_)),
        "expected a trap: {:?}\n{}",
        out.status,
        out.stderr
    );
    let pid: u32 = out
        .stdout
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("a pid on stdout ({e}): {:?}", out.stdout));
    // The run returned after the store was dropped, which killed and reaped the child:
    // it is gone at once, neither running nor a zombie.
    let deadline = Instant::now() + Duration::from_secs(2);
    while exists(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!exists(pid), "child {pid} survived the trapped workload");
}

/// The `sort_pipeline` example through the CLI: 2000 scrambled lines come back sorted.
#[test]
fn sort_pipeline_example_sorts_what_it_streams() {
    let wasm = test_programs_artifacts::program("sort_pipeline")
        .to_str()
        .expect("UTF-8 test paths");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sandloop"))
        .args(["run", "--allow-exec", "/usr/bin/sort", wasm, "2000"])
        .env_remove("SANDLOOP_LOG")
        .output()
        .expect("run sandloop");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let expected: Vec<String> = (0..2000).map(|i| format!("line {i:04}")).collect();
    assert_eq!(lines[..2000], expected[..]);
    assert_eq!(lines[2000..], ["sort exited with 0 (2000 lines)"]);
}

/// Without the grant the example is refused, says so, and the host logs an audit line.
#[test]
fn sort_pipeline_example_without_the_grant_is_denied() {
    let wasm = test_programs_artifacts::program("sort_pipeline")
        .to_str()
        .expect("UTF-8 test paths");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sandloop"))
        .args(["run", wasm])
        .env("SANDLOOP_LOG", "warn")
        .output()
        .expect("run sandloop");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("policy denies exec of /usr/bin/sort"),
        "stderr: {stderr}"
    );
    assert!(
        stderr.contains("sandloop::audit"),
        "an audit line:\n{stderr}"
    );
}

#[test]
fn dropping_a_process_kills_its_child() {
    let out = run_subprocess_case("dropping_a_process_kills_its_child", &[], granting());
    out.assert_ok();
    let pid: u32 = out.stdout.trim().parse().expect("a pid on stdout");
    // Killed and reaped by the drop itself, before the workload even ended; checked after
    // the run, which is later still.
    assert!(!exists(pid), "child {pid} survived its dropped Process");
}
