//! Signal handlers (guest program `signal_handlers`, and the example `signals`), after
//! the signal cases of CPython's test_unix_events.py.
//!
//! The quiet cases run in this process under a policy that grants SIGUSR2, SIGWINCH and
//! SIGURG (they send no signal). The rest run the `sandloop` CLI as a child and send
//! signals to that child only (never to this test process): a handler the workload added
//! runs, a removed one leaves the default action (the host dies of SIGTERM).

mod common;

use std::io::{BufRead as _, BufReader, Lines};
use std::os::unix::process::ExitStatusExt as _;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use sandloop_host::Policy;
use test_programs_artifacts::program;

/// Runs a quiet case of `signal_handlers` under a policy granting three harmless signals.
fn run_quiet(case: &str, test_loop: &str) {
    let policy = Policy::new()
        .allow_signal(libc::SIGUSR2)
        .and_then(|p| p.allow_signal(libc::SIGWINCH))
        .and_then(|p| p.allow_signal(libc::SIGURG))
        .expect("signals workloads can handle");
    let opts = sandloop_host::RunOptions {
        policy,
        env: vec![("TEST_LOOP".into(), test_loop.into())],
        ..Default::default()
    };
    let out = common::run_case_with_options("signal_handlers", case, opts);
    out.assert_ok();
    assert!(out.stderr.is_empty(), "unexpected log:\n{}", out.stderr);
}

macro_rules! quiet_cases {
    ($($case:ident),+ $(,)?) => {
        mod default_loop {
            $(#[test] fn $case() { super::run_quiet(stringify!($case), ""); })+
        }
        mod selector_loop {
            $(#[test] fn $case() { super::run_quiet(stringify!($case), "selector"); })+
        }
    };
}

quiet_cases!(
    invalid_signals_are_out_of_range,
    uncatchable_signals_cannot_be_caught,
    a_signal_the_policy_does_not_grant_is_denied,
    add_twice_replaces_and_remove_reports_whether_one_was_there,
    close_removes_the_handlers,
    host_pid_is_not_zero,
);

/// The CLI running a program, its stdout read line by line on a thread (so a read never
/// blocks the test past its deadline); killed when dropped.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(flags: &[&str], program_name: &str, args: &[&str]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sandloop"))
            .arg("run")
            .args(flags)
            .arg(program(program_name))
            .arg("--")
            .args(args)
            .env_remove("SANDLOOP_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the sandloop CLI");
        let stdout: Lines<BufReader<ChildStdout>> =
            BufReader::new(child.stdout.take().expect("stdout")).lines();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in stdout.map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, lines }
    }

    /// The next line of the program's output, within 20 s.
    fn line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(20))
            .expect("a line from the program within 20 s")
    }

    /// Sends `signum` to the CLI process (the host), never to anything else.
    fn signal(&self, signum: i32) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill(2) with our own child's pid; it has not been reaped (we hold it).
        let rc = unsafe { libc::kill(pid, signum) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// Waits (at most 20 s) for the CLI to end; the rest of its output and its status.
    fn finish(mut self) -> (Vec<String>, ExitStatus) {
        for _ in 0..2000 {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let rest = self.lines.iter().collect();
                return (rest, status);
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!("the CLI did not end within 20 s");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The pid in the program's `ready PID` line, checked to be the CLI's: `host_pid` names
/// the host process.
fn expect_ready(running: &Running) {
    let line = running.line();
    let pid = line
        .strip_prefix("ready ")
        .unwrap_or_else(|| panic!("{line}"));
    assert_eq!(pid, running.child.id().to_string());
}

#[test]
fn sigusr1_and_sigterm_sent_to_the_host_run_the_workloads_handlers() {
    let running = Running::start(
        &["--allow-signal", "SIGUSR1", "--allow-signal", "TERM"],
        "signal_handlers",
        &["handle_sigusr1_and_sigterm"],
    );
    expect_ready(&running);
    running.signal(libc::SIGUSR1);
    assert_eq!(running.line(), "got SIGUSR1 in the second handler");
    running.signal(libc::SIGUSR1);
    assert_eq!(running.line(), "got SIGUSR1 in the second handler");
    running.signal(libc::SIGTERM);
    assert_eq!(running.line(), "got SIGTERM");
    let (rest, status) = running.finish();
    assert_eq!(rest, ["stopped"]);
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn removing_the_handler_restores_the_default_action() {
    let running = Running::start(
        &["--allow-signal", "SIGTERM"],
        "signal_handlers",
        &["removed_handler_restores_the_default"],
    );
    expect_ready(&running);
    running.signal(libc::SIGTERM);
    let (rest, status) = running.finish();
    assert!(rest.is_empty(), "{rest:?}");
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
}

#[test]
fn a_signal_the_cli_does_not_grant_is_denied() {
    // The example asks for SIGINT first: without --allow-signal, main ends with the
    // denial, audited in the host's log, and the CLI exits 1.
    let out = Command::new(env!("CARGO_BIN_EXE_sandloop"))
        .args(["run", "--allow-signal", "USR1"])
        .arg(program("signals"))
        .env_remove("SANDLOOP_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run the sandloop CLI");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stdout.lines().next(),
        Some("Event loop running for 1 hour, press Ctrl+C to interrupt.")
    );
    assert!(
        stderr.contains("Error: permission denied: policy denies handling signal SIGINT\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains("sandloop::audit"),
        "an audit line: {stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "{:?}", out.status);
}

#[test]
fn a_malformed_allow_signal_is_a_usage_error() {
    for bad in ["SIGNOPE", "0", "65"] {
        let out = Command::new(env!("CARGO_BIN_EXE_sandloop"))
            .args(["run", "--allow-signal", bad])
            .arg(program("signals"))
            .output()
            .expect("run the sandloop CLI");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("--allow-signal"), "{bad}: {stderr}");
    }
}

fn run_the_example(signum: i32, name: &str) {
    let running = Running::start(
        &["--allow-signal", "SIGINT", "--allow-signal", "SIGTERM"],
        "signals",
        &[],
    );
    assert_eq!(
        running.line(),
        "Event loop running for 1 hour, press Ctrl+C to interrupt."
    );
    assert_eq!(
        running.line(),
        format!(
            "pid {}: send SIGINT or SIGTERM to exit.",
            running.child.id()
        )
    );
    // The handlers are added right after these lines, once the loop runs its first
    // step; give it a generous second (a signal that came first would end the host by
    // its default action, and the test would fail, not pass by chance).
    thread::sleep(Duration::from_secs(1));
    running.signal(signum);
    assert_eq!(running.line(), format!("got signal {name}: exit"));
    let (rest, status) = running.finish();
    assert!(rest.is_empty(), "{rest:?}");
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn the_signals_example_exits_0_on_sigterm() {
    run_the_example(libc::SIGTERM, "SIGTERM");
}

#[test]
fn the_signals_example_exits_0_on_sigint() {
    run_the_example(libc::SIGINT, "SIGINT");
}

/// Runs a checked case that adds a SIGURG handler and ends (`end_with_a_handler`) or traps
/// (`trap_with_a_handler`): the instance's subscriptions go with it. Only these two tests
/// subscribe to SIGURG, and one test at a time holds the lock.
fn leaves_no_subscription(case: &str, trapped: bool) {
    static SIGURG_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = SIGURG_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    let policy = Policy::new()
        .allow_signal(libc::SIGURG)
        .expect("a signal workloads can handle");
    let opts = sandloop_host::RunOptions {
        policy,
        ..Default::default()
    };
    let out = common::run_case_with_options("signal_handlers", case, opts);
    assert_eq!(
        out.status.success(),
        !trapped,
        "{:?}\n{}",
        out.status,
        out.stderr
    );
    if trapped {
        assert!(
            out.stderr
                .contains("trapping with a signal handler installed"),
            "{}",
            out.stderr
        );
    }
    assert_eq!(sandloop_host::signal::subscriptions(libc::SIGURG), 0);
}

#[test]
fn a_trapped_workload_leaves_no_subscription() {
    leaves_no_subscription("trap_with_a_handler", true);
}

#[test]
fn an_ended_workload_leaves_no_subscription() {
    leaves_no_subscription("end_with_a_handler", false);
}
