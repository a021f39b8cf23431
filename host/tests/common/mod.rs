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

use std::io::{BufRead as _, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use sandloop_host::{ExitStatus, Policy, RunOptions, RunOutput, RunningWorkload, Runtime};

/// How long one run, child process or blocking step of a test may take: far more than any
/// needs on a loaded machine, so that a hang fails its test instead of blocking the suite
/// (cargo's harness has no timeout of its own).
pub const PATIENCE: Duration = Duration::from_secs(60);

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
    let running = workload
        .start(opts)
        .unwrap_or_else(|e| panic!("start {program} {case}: {e:?}"));
    let out = join_within(running, &format!("{program} {case}"));
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

/// Joins a running workload; one still running after [`PATIENCE`] is stopped from
/// outside and fails the test.
#[track_caller]
pub fn join_within(running: RunningWorkload, what: &str) -> RunOutput {
    let deadline = Instant::now() + PATIENCE;
    while !running.is_finished() {
        if Instant::now() > deadline {
            running.stop();
            let ended = running.join().map(|out| out.status);
            panic!("{what} did not end within {PATIENCE:?} (stopped: {ended:?})");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    running
        .join()
        .unwrap_or_else(|e| panic!("run {what}: {e:?}"))
}

/// Runs `f` on a thread of its own and returns what it returns; one that has not
/// returned after `bound` fails the test (its thread is left behind, and ends with the
/// test process). A panic of `f` is the test's panic.
#[track_caller]
pub fn within<T: Send + 'static>(
    what: &str,
    bound: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, result) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = done.send(f());
    });
    match result.recv_timeout(bound) {
        Ok(value) => value,
        Err(RecvTimeoutError::Disconnected) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the thread sends before it ends"),
        },
        Err(RecvTimeoutError::Timeout) => panic!("{what} did not end within {bound:?}"),
    }
}

/// A guest program run by the `sandloop` CLI as a child, the way a user runs it; killed
/// (and reaped) when dropped, on every path of the test.
pub struct Cli(Child);

impl Cli {
    /// Starts `command`, killed when the returned guard is dropped.
    pub fn spawn(command: &mut Command) -> Cli {
        Cli(command.spawn().expect("start the sandloop CLI"))
    }

    /// The child's stdout (it must have been piped), line by line.
    pub fn stdout_lines(&mut self) -> Lines {
        Lines::new(self.0.stdout.take().expect("stdout piped"))
    }

    /// The child's stderr (it must have been piped).
    pub fn take_stderr(&mut self) -> std::process::ChildStderr {
        self.0.stderr.take().expect("stderr piped")
    }

    /// The child's process id, to signal it or to read its `/proc` entry.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// The child, for its piped stdio.
    pub fn child(&mut self) -> &mut Child {
        &mut self.0
    }

    /// Sends `signum` to the CLI process, and to nothing else: this guard holds it
    /// unreaped, so its pid cannot have been reused.
    pub fn signal(&self, signum: i32) {
        let pid = libc::pid_t::try_from(self.0.id()).expect("a pid");
        // SAFETY: kill(2) with our own child's pid.
        let rc = unsafe { libc::kill(pid, signum) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// Waits for the child to end; one still running after [`PATIENCE`] fails the test
    /// (and is killed when the guard is dropped).
    #[track_caller]
    pub fn wait_within(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.0.try_wait().expect("wait for the child") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the child did not end within {PATIENCE:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lines of a child's output, read on a thread of their own so that a test waits for
/// each with a bound. The thread ends at the end of the output, or at the first line
/// after this is dropped (closing the pipe, as a reader that stops reading does).
pub struct Lines(mpsc::Receiver<String>);

impl Lines {
    pub fn new(output: impl Read + Send + 'static) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut output = BufReader::new(output);
            loop {
                let mut line = String::new();
                match output.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if tx.send(line).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Lines(rx)
    }

    /// The next line (with its newline), waiting at most [`PATIENCE`]; the end of the
    /// output or the timeout fails the test.
    #[track_caller]
    pub fn next_line(&self) -> String {
        match self.0.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(RecvTimeoutError::Disconnected) => panic!("the output ended"),
            Err(RecvTimeoutError::Timeout) => panic!("no line within {PATIENCE:?}"),
        }
    }
}

/// Runs `command` to its end with its stdout and stderr captured, as `Command::output`
/// does, but killing it (and failing the test) when it has not ended within
/// [`PATIENCE`].
#[track_caller]
pub fn output_within(command: &mut Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the command");
    // Read on threads of their own, each answering on a channel: the output ends when
    // the last holder of the pipe (a grandchild, maybe) closes it.
    let read_all = |mut from: Box<dyn Read + Send>| {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = from.read_to_end(&mut bytes);
            let _ = tx.send(bytes);
        });
        rx
    };
    let stdout = read_all(Box::new(child.stdout.take().expect("stdout")));
    let stderr = read_all(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the command") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            // Not waiting for the readers: a grandchild may still hold the pipes open.
            panic!("{command:?} did not end within {PATIENCE:?} (killed)");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let rest = |output: mpsc::Receiver<Vec<u8>>, name: &str| {
        let left = deadline.saturating_duration_since(Instant::now());
        output.recv_timeout(left).unwrap_or_else(|_| {
            panic!("{command:?} ended, but its {name} stayed open past {PATIENCE:?}")
        })
    };
    let stdout = rest(stdout, "stdout");
    let stderr = rest(stderr, "stderr");
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Starts `sandloop run FLAGS PROGRAM -- ARGS` with stdout piped and returns it once it
/// printed its first line (a server's "Serving on ..."), with that line.
pub fn start_cli(flags: &[&str], program: &str, args: &[&str]) -> (Cli, String) {
    let mut cli = Cli::spawn(
        Command::new(env!("CARGO_BIN_EXE_sandloop"))
            .arg("run")
            .args(flags)
            .arg(test_programs_artifacts::program(program))
            .arg("--")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit()),
    );
    let line = cli.stdout_lines().next_line();
    (cli, line)
}

/// Starts the server `example` on a free port of 127.0.0.1 (`--allow-listen` for it, then
/// `flags` for the host; its address, then `args`, for the example) and returns it once
/// it said "Serving on ...", with the port.
pub fn serve_example(example: &str, flags: &[&str], args: &[&str]) -> (Cli, u16) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let flags: Vec<&str> = ["--allow-listen", addr.as_str()]
        .into_iter()
        .chain(flags.iter().copied())
        .collect();
    let args: Vec<&str> = [addr.as_str()]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    let (cli, line) = start_cli(&flags, example, &args);
    assert!(line.starts_with("Serving on "), "{example} said {line:?}");
    (cli, port)
}

/// Makes files in `dir` that are not regular files: `fifo`, a FIFO nobody writes to (a
/// plain open for reading waits for a writer), and `socket`, a unix socket file (whose
/// listener is gone).
pub fn make_special_files(dir: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt as _;
    let fifo = std::ffi::CString::new(dir.join("fifo").as_os_str().as_bytes())
        .expect("a path without NUL");
    // SAFETY: `fifo` is a NUL-terminated path that outlives the call.
    let made = unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) };
    assert_eq!(made, 0, "mkfifo: {}", std::io::Error::last_os_error());
    drop(std::os::unix::net::UnixListener::bind(dir.join("socket")).expect("bind a socket"));
}

/// A free TCP port of 127.0.0.1 (free when asked; the caller binds it soon after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A fresh directory of one test's own under the system temp dir, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    /// `sandloop-<test>-<pid>` (the pid keeps runs of the suite apart).
    pub fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("sandloop-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// The path of `name` inside the directory.
    pub fn join(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one run of a guest program under the CLI printed (stdout trimmed), and how it
/// ended.
pub struct Probe {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `sandloop run FLAGS PROGRAM -- ARGS` with `env` to its end (bounded: see
/// [`output_within`]), stdin closed, with the host's warnings (the audit lines) on stderr.
pub fn probe(flags: &[&str], program: &str, args: &[&str], env: &[(&str, &str)]) -> Probe {
    let output = output_within(
        Command::new(env!("CARGO_BIN_EXE_sandloop"))
            .arg("run")
            .args(flags)
            .arg(test_programs_artifacts::program(program))
            .arg("--")
            .args(args)
            .env("SANDLOOP_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null()),
    );
    Probe {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `sandloop ARGS` to its end (bounded: see [`output_within`]), without the caller's
/// SANDLOOP_LOG, stdin closed.
pub fn sandloop(args: &[&str]) -> Output {
    output_within(
        Command::new(env!("CARGO_BIN_EXE_sandloop"))
            .args(args)
            .env_remove("SANDLOOP_LOG")
            .stdin(Stdio::null()),
    )
}

/// A path as a CLI argument.
pub fn path_str(path: &std::path::Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// Asserts that a client process succeeded (its stderr the message if not) and printed
/// exactly `expected`.
#[track_caller]
pub fn assert_prints(out: &Output, expected: &str) {
    assert!(out.status.success(), "{}", stderr_of(out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}

/// What a run wrote to stderr.
pub fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
