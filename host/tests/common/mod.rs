//! Runs guest test programs (tests/programs) under the real host, one case per call.
//!
//! A guest program holds many cases and runs the one named by its first argument; each
//! `#[test]` here runs one case and asserts on its exit status and output. One `Runtime` per
//! test binary compiles each program once.

#![allow(dead_code)]

use std::sync::OnceLock;

use sandloop_host::{ExitStatus, RunOptions, Runtime};

/// What a guest case did.
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// Panics, showing everything the guest printed, unless it exited with code 0.
    #[track_caller]
    pub fn assert_ok(&self) -> &Outcome {
        assert!(
            self.status.success(),
            "guest case failed: {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// The stdout lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Asserts that stdout is exactly `expected`, line by line.
    #[track_caller]
    pub fn assert_lines(&self, expected: &[&str]) -> &Outcome {
        assert_eq!(self.lines(), expected, "stderr:\n{}", self.stderr);
        self
    }
}

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new().expect("create the sandloop runtime"))
}

/// Runs `case` of guest program `program` with `env`, capturing its output.
pub fn run_case_with_env(program: &str, case: &str, env: &[(&str, &str)]) -> Outcome {
    let path = test_programs_artifacts::program(program);
    let workload = runtime()
        .load(path)
        .unwrap_or_else(|e| panic!("load {}: {e:?}", path.display()));
    let out = workload
        .run(RunOptions {
            args: vec![case.to_string()],
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            capture_output: true,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("run {program} {case}: {e:?}"));
    Outcome {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `case` of guest program `program`, capturing its output.
pub fn run_case(program: &str, case: &str) -> Outcome {
    run_case_with_env(program, case, &[])
}

/// Declares one `#[test]` per guest case: the case must exit 0 and log nothing (an error
/// that reached the default exception handler, e.g. a spurious "exception was never
/// retrieved", fails the test). The guest asserts the behaviour itself (a failed assertion
/// traps with its message). Used through `test_programs_artifacts::for_each_quiet_case!`,
/// which lists a program's cases.
#[macro_export]
macro_rules! guest_cases {
    ($program:literal: $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                let out = common::run_case($program, stringify!($case));
                out.assert_ok();
                assert!(out.stderr.is_empty(), "unexpected log:\n{}", out.stderr);
            }
        )+
    };
}
