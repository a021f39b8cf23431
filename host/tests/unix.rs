//! Unix stream sockets (guest program `unix`, and the `unix_echo_server` example): paths
//! in a temporary directory this test makes and grants, abstract names under it,
//! `create_unix_server` cleanup semantics, every denial, and CPython clients talking to the
//! example.
//!
//! Every quiet case runs twice: on the default loop (stream transports in the host's
//! completion mode) and on a `SelectorEventLoop` (readiness mode). Each run gets a fresh
//! directory holding a regular file, `regular`, which no case may touch.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use sandloop_host::{Policy, RunOptions};

/// What `regular` holds; checked after every case.
const REGULAR_CONTENT: &[u8] = b"keep me";

/// A fresh directory with a short path (unix socket paths have a 107-byte limit), removed
/// when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = PathBuf::from(format!("/tmp/slu-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the test directory");
        std::fs::write(dir.join("regular"), REGULAR_CONTENT).expect("write `regular`");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn display(&self) -> String {
        self.0.display().to_string()
    }

    /// Grants the directory and the abstract names under its path.
    fn policy(&self) -> Policy {
        Policy::new()
            .allow_unix(&format!("{}/", self.display()))
            .and_then(|p| p.allow_unix(&format!("@{}/*", self.display())))
            .expect("valid unix rules")
    }

    #[track_caller]
    fn assert_regular_untouched(&self) {
        assert_eq!(
            std::fs::read(self.0.join("regular")).expect("`regular` is still there"),
            REGULAR_CONTENT
        );
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `case` of the `unix` program with `dir` granted, on the loop `TEST_LOOP` says.
fn run_unix_case(case: &str, selector: bool) -> common::Outcome {
    let dir = TempDir::new();
    let env = if selector {
        vec![("TEST_LOOP".to_string(), "selector".to_string())]
    } else {
        Vec::new()
    };
    let out = common::run_case_with_options(
        "unix",
        case,
        RunOptions {
            args: vec![dir.display()],
            env,
            policy: dir.policy(),
            ..Default::default()
        },
    );
    dir.assert_regular_untouched();
    out
}

macro_rules! unix_cases {
    ($program:literal: $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                let out = crate::run_unix_case(stringify!($case), false);
                out.assert_ok();
                assert!(out.stderr.is_empty(), "unexpected log:\n{}", out.stderr);
            }
        )+
    };
}

macro_rules! unix_cases_on_selector_loop {
    ($program:literal: $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                let out = crate::run_unix_case(stringify!($case), true);
                out.assert_ok();
                assert!(out.stderr.is_empty(), "unexpected log:\n{}", out.stderr);
            }
        )+
    };
}

test_programs_artifacts::for_each_quiet_case!("unix", unix_cases);

mod selector_loop {
    test_programs_artifacts::for_each_quiet_case!("unix", unix_cases_on_selector_loop);
}

#[test]
fn every_unix_denial_reaches_the_guest_naming_operation_and_path() {
    let dir = TempDir::new();
    let d = dir.display();
    std::fs::create_dir(dir.path().join("granted")).unwrap();
    let policy = Policy::new().allow_unix(&format!("{d}/granted/")).unwrap();
    let out = common::run_case_with_options(
        "unix",
        "denials",
        RunOptions {
            args: vec![d.clone()],
            policy,
            ..Default::default()
        },
    );
    out.assert_ok().assert_lines(&[
        &format!("permission denied: policy denies bind to unix path {d}/x.sock"),
        &format!("permission denied: policy denies bind to unix path {d}/y.sock"),
        &format!("permission denied: policy denies connect to unix path {d}/x.sock"),
        &format!(
            "permission denied: policy denies connect to unix path {d}/granted/../x.sock (a path with `..` is never granted)"
        ),
        "permission denied: policy denies bind to abstract unix name @not-granted",
        "permission denied: policy denies listen on an unnamed unix socket (bind it to a granted path first)",
        "granted ok",
    ]);
    assert!(!dir.path().join("x.sock").exists());
    assert!(
        !dir.path().join("granted/ok.sock").exists(),
        "cleaned up on close"
    );
}

// ---- The unix_echo_server example with clients nobody here wrote ------------------------

/// Starts `unix_echo_server` on `at` (a path or `@NAME`) granted by `grant`, and waits for
/// its "Serving on" line; the server is killed when the returned value is dropped.
fn serve_unix(grant: &str, at: &str, extra: &[&str]) -> common::Cli {
    let args: Vec<&str> = [at].into_iter().chain(extra.iter().copied()).collect();
    let (cli, line) = common::start_cli(&["--allow-unix", grant], "unix_echo_server", &args);
    assert_eq!(line.trim_end(), format!("Serving on {at}"));
    cli
}

/// A CPython client with plain blocking sockets, then one with asyncio's
/// `open_unix_connection`: each message comes back exactly.
const PYTHON_UNIX_CLIENTS: &str = r#"
import asyncio, socket, sys
target = sys.argv[1]
address = "\0" + target[1:] if target.startswith("@") else target

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(address)
for message in (b"Hello World!", b"y" * 200000):
    s.sendall(message)
    echo = b""
    while len(echo) < len(message):
        chunk = s.recv(65536)
        if not chunk:
            break
        echo += chunk
    print("socket", len(echo), echo == message)
s.close()

async def main():
    reader, writer = await asyncio.open_unix_connection(address)
    for message in (b"Hello asyncio", b"z" * 100000):
        writer.write(message)
        await writer.drain()
        echo = await reader.readexactly(len(message))
        print("asyncio", len(echo), echo == message)
    writer.close()
    await writer.wait_closed()
asyncio.run(main())
"#;

#[track_caller]
fn assert_python_clients_are_echoed(at: &str) {
    let out = Command::new("python3")
        .args(["-c", PYTHON_UNIX_CLIENTS, at])
        .output()
        .expect("run python3");
    common::assert_prints(
        &out,
        "socket 12 True\nsocket 200000 True\nasyncio 13 True\nasyncio 100000 True\n",
    );
}

#[test]
fn unix_echo_server_answers_cpython_clients() {
    let dir = TempDir::new();
    let at = format!("{}/echo.sock", dir.display());
    let served = serve_unix(&at, &at, &[]);
    assert_python_clients_are_echoed(&at);
    drop(served);
}

#[test]
fn unix_echo_server_with_streams_on_a_selector_loop_answers_cpython_clients() {
    let dir = TempDir::new();
    let at = format!("{}/echo.sock", dir.display());
    let served = serve_unix(
        &format!("{}/", dir.display()),
        &at,
        &["--streams", "--selector"],
    );
    assert_python_clients_are_echoed(&at);
    drop(served);
}

#[test]
fn unix_echo_server_on_an_abstract_name_answers_cpython_clients() {
    let name = format!("@sandloop-echo-{}", std::process::id());
    let served = serve_unix(&name, &name, &[]);
    assert_python_clients_are_echoed(&name);
    drop(served);
}

#[test]
fn unix_echo_client_talks_to_the_unix_echo_server() {
    let dir = TempDir::new();
    let at = format!("{}/echo.sock", dir.display());
    let served = serve_unix(&at, &at, &[]);
    let out = Command::new(env!("CARGO_BIN_EXE_sandloop"))
        .args(["run", "--allow-unix", &at])
        .arg(test_programs_artifacts::program("unix_echo_client"))
        .args(["--", &at, "Hello World!"])
        .output()
        .expect("run the unix echo client");
    common::assert_prints(
        &out,
        "Data sent: \"Hello World!\"\nData received: \"Hello World!\"\nThe connection is closed\n",
    );
    drop(served);
}

#[test]
fn unix_echo_server_without_a_grant_is_denied_and_says_so() {
    let dir = TempDir::new();
    let at = format!("{}/echo.sock", dir.display());
    let out = Command::new(env!("CARGO_BIN_EXE_sandloop"))
        .arg("run")
        .arg(test_programs_artifacts::program("unix_echo_server"))
        .args(["--", &at])
        .env("SANDLOOP_LOG", "warn")
        .output()
        .expect("run the server");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let denial = format!("policy denies bind to unix path {at}");
    assert!(stderr.contains(&denial), "{stderr}");
    assert!(
        stderr.contains("sandloop::audit"),
        "an audit line:\n{stderr}"
    );
    assert!(!Path::new(&at).exists());
}

#[test]
fn allow_unix_refuses_bad_rules_on_the_command_line() {
    for (rule, words) in [
        ("/run/../etc/", "a path with `..` is never granted"),
        ("@", "an empty abstract name"),
        ("/", "granting the whole file system"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sandloop"))
            .args(["run", "--allow-unix", rule])
            .arg(test_programs_artifacts::program("unix_echo_server"))
            .output()
            .expect("run sandloop");
        assert_eq!(out.status.code(), Some(2), "{rule}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--allow-unix"), "{rule}: {stderr}");
        assert!(stderr.contains(words), "{rule}: {stderr}");
    }
}
