//! Subprocesses through the trait methods the guest calls: spawn under the policy, pipes,
//! the exit as a reactor event, signals, and killing on drop.

use std::time::Duration;

use wasmtime::component::Resource;

use super::Child;
use crate::bindings::fs::{Host as _, HostPipe as _};
use crate::bindings::process::{ExitStatus, Host as _, HostChild as _, SpawnOptions, Stdio};
use crate::bindings::reactor::{Host as _, HostSource as _, Interest};
use crate::bindings::types::ErrorKind;
use crate::fs::{Pipe, StdioAccess};
use crate::policy::Policy;
use crate::testing::{Fixture, borrow};

/// The exit event's token, plus the child's table index (each child its own token).
const EXIT: u64 = 1000;

fn options(stdin: Stdio, stdout: Stdio, stderr: Stdio) -> SpawnOptions {
    SpawnOptions {
        env: Vec::new(),
        cwd: None,
        stdin,
        stdout,
        stderr,
    }
}

fn piped() -> SpawnOptions {
    options(Stdio::Pipe, Stdio::Pipe, Stdio::Pipe)
}

fn fixture() -> Fixture {
    let mut policy = Policy::new().allow_exec("/usr/bin/").expect("rule");
    policy.allow_shell = true;
    policy.child_env = vec!["GREETING".into()];
    Fixture::new(policy)
}

impl Fixture {
    fn spawn(&mut self, program: &str, args: &[&str], opts: SpawnOptions) -> Resource<Child> {
        let args = args.iter().map(|a| a.to_string()).collect();
        self.process()
            .spawn(program.into(), args, opts)
            .expect("no trap")
            .expect("spawn")
    }

    /// Waits for the child's exit event, then reaps it.
    fn wait_exit(&mut self, child: &Resource<Child>) -> ExitStatus {
        let source = self
            .process()
            .exit_source(borrow(child))
            .expect("no trap")
            .expect("exit source");
        self.reactor()
            .register(
                borrow(&source),
                EXIT + u64::from(child.rep()),
                Interest::READABLE,
            )
            .expect("no trap")
            .expect("register");
        let event = self.next_event(EXIT + u64::from(child.rep()));
        assert!(event.readiness.contains(Interest::READABLE));
        let status = self
            .process()
            .exit_status(borrow(child))
            .expect("no trap")
            .expect("exited after the event");
        // A reaped child's pidfd stays ready: drop the source, as the guest does.
        self.reactor().drop(source).expect("drop the exit source");
        status
    }

    /// Reads `end` until its end of stream (polling: the tests are small).
    fn read_all(&mut self, end: &Resource<Pipe>) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            match self
                .fs(StdioAccess::default())
                .read(borrow(end), 1 << 16)
                .expect("no trap")
            {
                Ok(data) if data.is_empty() => return out,
                Ok(data) => out.extend(data),
                Err(err) if err.kind == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(err) => panic!("read: {}", err.message),
            }
        }
    }

    fn take(&mut self, child: &Resource<Child>, fd: usize) -> Resource<Pipe> {
        let mut view = self.process();
        match fd {
            0 => view.take_stdin(borrow(child)),
            1 => view.take_stdout(borrow(child)),
            _ => view.take_stderr(borrow(child)),
        }
        .expect("no trap")
        .expect("a pipe")
    }
}

/// The status as `(code, signal)`, for comparing.
fn status(status: ExitStatus) -> (Option<i32>, Option<u32>) {
    match status {
        ExitStatus::Code(code) => (Some(code), None),
        ExitStatus::Signal(sig) => (None, Some(sig)),
    }
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn exit_codes_arrive_as_reactor_events() {
    let mut fx = fixture();
    let ok = fx.spawn("/usr/bin/true", &[], piped());
    let bad = fx.spawn("false", &[], piped());
    assert_eq!(status(fx.wait_exit(&ok)), status(ExitStatus::Code(0)));
    assert_eq!(status(fx.wait_exit(&bad)), status(ExitStatus::Code(1)));
}

#[test]
fn stdin_and_stdout_pipes_carry_bytes_and_eof() {
    let mut fx = fixture();
    let child = fx.spawn("/usr/bin/cat", &[], piped());
    let stdin = fx.take(&child, 0);
    let stdout = fx.take(&child, 1);
    let n = fx
        .fs(StdioAccess::default())
        .write(borrow(&stdin), b"hello\n".to_vec())
        .expect("no trap")
        .expect("write");
    assert_eq!(n, 6);
    // Dropping our end of stdin is the child's EOF: cat then exits.
    fx.fs(StdioAccess::default()).drop(stdin).expect("drop");
    assert_eq!(fx.read_all(&stdout), b"hello\n");
    assert_eq!(status(fx.wait_exit(&child)), status(ExitStatus::Code(0)));
    assert!(
        fx.process()
            .take_stdin(borrow(&child))
            .expect("no trap")
            .is_none()
    );
}

#[test]
fn the_environment_is_exactly_what_the_policy_lets_through() {
    let mut fx = fixture();
    let mut opts = piped();
    opts.env = vec![("GREETING".into(), "hi".into())];
    let child = fx.spawn("/usr/bin/env", &[], opts);
    let stdout = fx.take(&child, 1);
    assert_eq!(fx.read_all(&stdout), b"GREETING=hi\n");

    let mut opts = piped();
    opts.env = vec![("HOME".into(), "/root".into())];
    let err = fx
        .process()
        .spawn("/usr/bin/env".into(), Vec::new(), opts)
        .expect("no trap")
        .expect_err("denied");
    assert_eq!(err.kind, ErrorKind::Denied);
    assert_eq!(
        err.message,
        "policy denies the child environment variable HOME"
    );
}

#[test]
fn denied_programs_and_shells_name_the_target() {
    let mut fx = Fixture::new(Policy::new().allow_exec("/usr/bin/true").expect("rule"));
    let err = fx
        .process()
        .spawn("/usr/bin/cat".into(), Vec::new(), piped())
        .expect("no trap")
        .expect_err("denied");
    assert_eq!(err.kind, ErrorKind::Denied);
    assert_eq!(err.message, "policy denies exec of /usr/bin/cat");
    let err = fx
        .process()
        .spawn_shell("true".into(), piped())
        .expect("no trap")
        .expect_err("denied");
    assert_eq!(err.message, "policy denies the shell");
}

#[test]
fn the_shell_runs_commands_and_merges_stderr_into_stdout() {
    let mut fx = fixture();
    let child = fx
        .process()
        .spawn_shell(
            "echo out; echo err >&2; exit 7".into(),
            options(Stdio::Null, Stdio::Pipe, Stdio::Stdout),
        )
        .expect("no trap")
        .expect("spawn");
    assert!(
        fx.process()
            .take_stderr(borrow(&child))
            .expect("no trap")
            .is_none()
    );
    let stdout = fx.take(&child, 1);
    assert_eq!(fx.read_all(&stdout), b"out\nerr\n");
    assert_eq!(status(fx.wait_exit(&child)), status(ExitStatus::Code(7)));
}

#[test]
fn signals_reach_only_a_running_child() {
    let mut fx = fixture();
    let child = fx.spawn("/usr/bin/sleep", &["1000"], piped());
    fx.process()
        .send_signal(borrow(&child), libc::SIGTERM as u32)
        .expect("no trap")
        .expect("signal");
    assert_eq!(
        status(fx.wait_exit(&child)),
        status(ExitStatus::Signal(libc::SIGTERM as u32))
    );
    let err = fx
        .process()
        .send_signal(borrow(&child), libc::SIGKILL as u32)
        .expect("no trap")
        .expect_err("reaped");
    assert_eq!(err.kind, ErrorKind::NotFound);
}

#[test]
fn dropping_a_running_child_kills_and_reaps_it() {
    let mut fx = fixture();
    let child = fx.spawn("/usr/bin/sleep", &["1000"], piped());
    let pid = fx.process().pid(borrow(&child)).expect("no trap");
    assert!(alive(pid));
    fx.process().drop(child).expect("drop");
    assert!(!alive(pid), "the child {pid} survived (or is a zombie)");

    let child = fx.spawn("/usr/bin/sleep", &["1000"], piped());
    let pid = fx.process().pid(borrow(&child)).expect("no trap");
    drop(fx);
    assert!(!alive(pid), "the child {pid} survived the instance");
}

#[test]
fn a_wrong_way_handle_is_refused() {
    let mut fx = fixture();
    let (read, write) = fx
        .fs(StdioAccess::default())
        .create_pipe()
        .expect("no trap")
        .expect("pipe");
    let err = fx
        .process()
        .spawn(
            "/usr/bin/true".into(),
            Vec::new(),
            options(Stdio::Handle(write), Stdio::Null, Stdio::Null),
        )
        .expect("no trap")
        .expect_err("wrong end");
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    fx.fs(StdioAccess::default()).drop(read).expect("drop");
    let (read, write) = fx
        .fs(StdioAccess::default())
        .create_pipe()
        .expect("no trap")
        .expect("pipe");
    let child = fx.spawn(
        "/usr/bin/sh",
        &["-c", "echo handed"],
        options(Stdio::Null, Stdio::Handle(write), Stdio::Null),
    );
    assert_eq!(status(fx.wait_exit(&child)), status(ExitStatus::Code(0)));
    assert_eq!(fx.read_all(&read), b"handed\n");
}

#[test]
fn a_missing_directory_or_program_is_a_clear_error() {
    let mut fx = fixture();
    let mut opts = piped();
    opts.cwd = Some("/no/such/dir".into());
    let err = fx
        .process()
        .spawn("/usr/bin/true".into(), Vec::new(), opts)
        .expect("no trap")
        .expect_err("no such directory");
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(
        err.message
            .starts_with("spawn /usr/bin/true (in /no/such/dir): "),
        "{}",
        err.message
    );
    let err = fx
        .process()
        .spawn("/usr/bin/no-such-program".into(), Vec::new(), piped())
        .expect("no trap")
        .expect_err("no such program");
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(
        err.message.starts_with("spawn /usr/bin/no-such-program: "),
        "{}",
        err.message
    );
}

#[test]
fn the_child_runs_in_the_directory_asked_for() {
    let mut fx = fixture();
    let mut opts = piped();
    opts.cwd = Some("/tmp".into());
    let child = fx.spawn("/usr/bin/pwd", &[], opts);
    let stdout = fx.take(&child, 1);
    assert_eq!(fx.read_all(&stdout), b"/tmp\n");
}

#[test]
fn a_child_whose_spawning_thread_ends_without_the_host_reaping_it_is_killed_by_the_kernel() {
    // The thread spawns the child and leaks its handle, so nothing of the host ever kills
    // it: as when the host process dies (SIGKILL, a crash) before its teardown runs. The
    // parent-death signal is then all that ends the child.
    let pid = std::thread::spawn(|| {
        let mut fx = fixture();
        let child = fx.spawn("/usr/bin/sleep", &["1000"], piped());
        let pid = fx.process().pid(borrow(&child)).expect("no trap");
        let handle = fx.table.delete(child).expect("the child's handle");
        std::mem::forget(handle);
        pid
    })
    .join()
    .expect("the spawning thread");
    let pid = libc::pid_t::try_from(pid).expect("a pid");
    // This process is the child's parent: it reaps it here, by pid.
    let mut status = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let reaped = loop {
        // SAFETY: waitpid on our own child, whose handle was leaked above.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if rc == pid || std::time::Instant::now() > deadline {
            break rc == pid;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if !reaped {
        // SAFETY: kill and reap our own child, which the test expected dead.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, &mut status, 0);
        }
    }
    assert!(reaped, "child {pid} outlived the thread that spawned it");
    assert!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL,
        "status {status:#x}"
    );
}
