//! Runs guest test programs (tests/programs) under the real host, one case per call.
//!
//! A guest program holds many cases and runs the one named by its first argument; each
//! `#[test]` here runs one case and asserts on its exit status and output. One `Runtime` per
//! test binary compiles each program once.
//!
//! Cases run with [`loopback_policy`] (listen and connect on 127.0.0.1 and ::1, any port)
//! unless they pass their own [`RunOptions`] through [`run_case_with_options`], e.g. to run
//! with a deny-all policy or with `--resolve`-style names ([`policy_with_resolve`]).

#![allow(dead_code)]

use std::sync::OnceLock;

use sandloop_host::{ExitStatus, Policy, RunOptions, Runtime};

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

/// Listen and connect on loopback, IPv4 and IPv6, any port: what cases get by default.
pub fn loopback_policy() -> Policy {
    Policy::new()
        .allow_listen("127.0.0.1:*")
        .and_then(|p| p.allow_listen("[::1]:*"))
        .and_then(|p| p.allow_connect("127.0.0.1:*"))
        .and_then(|p| p.allow_connect("[::1]:*"))
        .expect("valid loopback rules")
}

/// [`loopback_policy`] plus fixed names, as `--resolve NAME=ADDR,...` gives them, e.g.
/// `&[("localhost-multi", &["::1", "127.0.0.1"])]`.
pub fn policy_with_resolve(names: &[(&str, &[&str])]) -> Policy {
    names
        .iter()
        .fold(loopback_policy(), |policy, (name, addrs)| {
            let addrs = addrs
                .iter()
                .map(|a| a.parse().unwrap_or_else(|e| panic!("{a}: {e}")));
            policy.resolve_name(*name, addrs)
        })
}

/// Runs `case` of guest program `program` with `opts` (whose `args` get the case name
/// first and whose output is always captured).
pub fn run_case_with_options(program: &str, case: &str, mut opts: RunOptions) -> Outcome {
    let path = test_programs_artifacts::program(program);
    let workload = runtime()
        .load(path)
        .unwrap_or_else(|e| panic!("load {}: {e:?}", path.display()));
    opts.args.insert(0, case.to_string());
    opts.capture_output = true;
    let out = workload
        .run(opts)
        .unwrap_or_else(|e| panic!("run {program} {case}: {e:?}"));
    Outcome {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `case` of guest program `program` under `policy`, capturing its output.
pub fn run_case_with_policy(program: &str, case: &str, policy: Policy) -> Outcome {
    run_case_with_options(
        program,
        case,
        RunOptions {
            policy,
            ..Default::default()
        },
    )
}

/// Runs `case` of guest program `program` with `env` and the loopback policy, capturing
/// its output.
pub fn run_case_with_env(program: &str, case: &str, env: &[(&str, &str)]) -> Outcome {
    run_case_with_options(
        program,
        case,
        RunOptions {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            policy: loopback_policy(),
            ..Default::default()
        },
    )
}

/// Runs `case` of guest program `program` with the loopback policy, capturing its output.
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

/// [`guest_cases!`] with every loop a `SelectorEventLoop` (`TEST_LOOP=selector`): the same
/// cases, with stream transports in the readiness model instead of the host's completion
/// mode.
#[macro_export]
macro_rules! guest_cases_on_selector_loop {
    ($program:literal: $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                let out = common::run_case_with_env(
                    $program,
                    stringify!($case),
                    &[("TEST_LOOP", "selector")],
                );
                out.assert_ok();
                assert!(out.stderr.is_empty(), "unexpected log:\n{}", out.stderr);
            }
        )+
    };
}

/// A guest program run by the `sandloop` CLI as a child, the way a user runs it; killed
/// when dropped.
pub struct Cli(std::process::Child);

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `sandloop run FLAGS PROGRAM -- ARGS` with stdout piped and returns it once it
/// printed its first line (a server's "Serving on ..."), with that line.
pub fn start_cli(flags: &[&str], program: &str, args: &[&str]) -> (Cli, String) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_sandloop"))
        .arg("run")
        .args(flags)
        .arg(test_programs_artifacts::program(program))
        .arg("--")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the sandloop CLI");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the program's first line");
    (Cli(child), line)
}

/// A free TCP port of 127.0.0.1 (free when asked; the caller binds it soon after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}
