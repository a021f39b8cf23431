//! Pipes (guest program `pipes`): `os::pipe()`, `connect_read_pipe`/`connect_write_pipe`
//! and `add_reader` on pipe ends under the real host, and the workload's own stdio as
//! pipes with the `sandloop` CLI as a child process whose stdio this test holds.
//!
//! Every quiet case runs twice: on the default loop (the host does the pipes' I/O,
//! completion mode) and on a `SelectorEventLoop` (readiness mode).

mod common;

use std::io::{Read as _, Write as _};
use std::process::{Command, Output, Stdio};

use test_programs_artifacts::program;

test_programs_artifacts::for_each_quiet_case!("pipes", guest_cases);

mod selector_loop {
    use super::common;
    use crate::guest_cases_on_selector_loop;

    test_programs_artifacts::for_each_quiet_case!("pipes", guest_cases_on_selector_loop);
}

/// Runs `case` of `pipes` with the CLI, `stdin` as the child's stdin, on the loop
/// `TEST_LOOP` names ("" for the default one).
fn cli(case: &str, test_loop: &str, stdin: Stdio, input: Option<&[u8]>) -> Output {
    let wasm = program("pipes").to_str().expect("UTF-8 test paths");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sandloop"))
        .args([
            "run",
            "--env",
            &format!("TEST_LOOP={test_loop}"),
            wasm,
            case,
        ])
        .env_remove("SANDLOOP_LOG")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sandloop");
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("piped stdin");
        // A writer thread: the child's stdout could fill while we write.
        let input = input.to_vec();
        std::thread::spawn(move || {
            stdin.write_all(&input).expect("feed the child");
        });
    }
    child.wait_with_output().expect("wait for sandloop")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn uppercase_round_trip(test_loop: &str) {
    // Over a megabyte, so that the pipes fill and flow control and buffering take part.
    let line = b"the quick brown fox jumps over the lazy dog 0123456789\n";
    let input: Vec<u8> = line
        .iter()
        .copied()
        .cycle()
        .take(line.len() * 20_000)
        .collect();

    let out = cli(
        "uppercase_stdin_to_stdout",
        test_loop,
        Stdio::piped(),
        Some(&input),
    );

    assert!(
        out.status.success(),
        "{:?}\nstderr: {}",
        out.status,
        text(&out.stderr)
    );
    assert_eq!(
        out.stdout.len(),
        input.len(),
        "stderr: {}",
        text(&out.stderr)
    );
    assert!(
        out.stdout == input.to_ascii_uppercase(),
        "byte-exact upper case; stderr: {}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stderr), format!("copied {} bytes\n", input.len()));
}

#[test]
fn stdio_as_pipes_copies_stdin_to_stdout_on_the_default_loop() {
    uppercase_round_trip("");
}

#[test]
fn stdio_as_pipes_copies_stdin_to_stdout_on_the_selector_loop() {
    uppercase_round_trip("selector");
}

#[test]
fn stdin_from_a_pipe_is_a_read_end() {
    let out = cli("stdin_as_a_pipe", "", Stdio::piped(), Some(b""));
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "stdin is a pipe end: Read\n");
}

#[test]
fn stdin_from_a_regular_file_is_unsupported() {
    let path = std::env::temp_dir().join(format!("sandloop-pipes-{}.txt", std::process::id()));
    std::fs::write(&path, b"not a pipe").unwrap();
    let file = std::fs::File::open(&path).unwrap();

    let out = cli("stdin_as_a_pipe", "", Stdio::from(file), None);
    std::fs::remove_file(&path).unwrap();

    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "Unsupported: stdin as a pipe: it is a regular file; only pipes, sockets and \
         character devices can be pipe ends\n"
    );
}

/// The `pipe_cat` example with the CLI as a child: a CPython-free, shell-free client of
/// the workload's stdio, byte-exact both ways.
#[test]
fn pipe_cat_example_upper_cases_stdin_and_counts_lines() {
    let input: Vec<u8> = (0..50_000)
        .flat_map(|i| format!("line {i} of the pipe_cat example\n").into_bytes())
        .collect();
    let wasm = program("pipe_cat").to_str().expect("UTF-8 test paths");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sandloop"))
        .args(["run", wasm])
        .env_remove("SANDLOOP_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sandloop");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let feed = input.clone();
    let feeder = std::thread::spawn(move || stdin.write_all(&feed).expect("feed the child"));
    let out = child.wait_with_output().expect("wait for sandloop");
    feeder.join().expect("the feeder thread");

    assert!(
        out.status.success(),
        "{:?}\nstderr: {}",
        out.status,
        text(&out.stderr)
    );
    assert!(
        out.stdout == input.to_ascii_uppercase(),
        "byte-exact upper case: {} of {} bytes; stderr: {}",
        out.stdout.len(),
        input.len(),
        text(&out.stderr)
    );
    assert_eq!(text(&out.stderr), "pipe_cat: 50000 lines\n");
}

/// `pipe_cat` run by the CLI with its stdio piped to this test.
fn start_pipe_cat() -> common::Cli {
    common::Cli::spawn(
        Command::new(env!("CARGO_BIN_EXE_sandloop"))
            .args([
                "run",
                program("pipe_cat").to_str().expect("UTF-8 test paths"),
            ])
            .env_remove("SANDLOOP_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
}

/// Waits for `pipe_cat` to end and returns its stderr, asserting that it failed.
fn pipe_cat_failure(mut cli: common::Cli) -> String {
    let status = cli.wait_within();
    let mut stderr = String::new();
    cli.child()
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    stderr
}

/// `cat big.txt | sandloop run pipe_cat.wasm | head -c 100`: the reader of stdout goes
/// away while the copy is paused behind a full pipe. The example must end (it waited for
/// ever for a `resume_writing` before), saying why.
#[test]
fn pipe_cat_example_ends_when_its_reader_goes_away_mid_copy() {
    let mut cli = start_pipe_cat();
    let mut stdin = cli.child().stdin.take().expect("piped stdin");
    // Far more than the pipes and the host's buffers hold; the writes fail once the
    // child is gone.
    std::thread::spawn(move || {
        let chunk = b"the quick brown fox jumps over the lazy dog\n".repeat(1 << 10);
        for _ in 0..(64 << 20) / chunk.len() {
            if stdin.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let mut stdout = cli.child().stdout.take().expect("piped stdout");
    let mut first = [0; 100];
    stdout.read_exact(&mut first).expect("the first 100 bytes");
    assert!(first.starts_with(b"THE QUICK BROWN FOX"));
    drop(stdout);

    let stderr = pipe_cat_failure(cli);
    assert!(
        stderr.starts_with("pipe_cat: stdout: broken pipe ("),
        "{stderr}"
    );
}

/// The reader of stdout goes away while the example writes nothing, waiting for stdin:
/// the host watches the write end, so the example learns it at once, not at its next
/// write (which would never come: stdin stays open).
#[test]
fn pipe_cat_example_ends_when_its_reader_goes_away_while_it_waits_for_input() {
    let mut cli = start_pipe_cat();
    let mut stdin = cli.child().stdin.take().expect("piped stdin");
    stdin.write_all(b"one line\n").expect("feed the child");
    let mut stdout = cli.child().stdout.take().expect("piped stdout");
    let mut line = [0; 9];
    stdout.read_exact(&mut line).expect("the line");
    assert_eq!(&line, b"ONE LINE\n");
    drop(stdout);

    let stderr = pipe_cat_failure(cli);
    assert_eq!(stderr, "pipe_cat: stdout: broken pipe (1 lines read)\n");
    // stdin was still open all along.
    drop(stdin);
}

#[test]
fn stdin_from_a_socket_is_read_to_its_end() {
    use std::os::unix::net::UnixStream;

    let (ours, theirs) = UnixStream::pair().unwrap();
    let feeder = std::thread::spawn(move || {
        let mut ours = ours;
        ours.write_all(b"over a socket\n").unwrap();
        ours.shutdown(std::net::Shutdown::Write).unwrap();
        ours
    });

    let out = cli(
        "uppercase_stdin_to_stdout",
        "",
        Stdio::from(std::os::fd::OwnedFd::from(theirs)),
        None,
    );
    drop(feeder.join().unwrap());

    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "OVER A SOCKET\n");
    assert_eq!(text(&out.stderr), "copied 14 bytes\n");
}

#[test]
fn stdin_from_a_character_device_without_readiness_is_a_clear_error() {
    // /dev/null is a character device, so it is a pipe end; epoll cannot watch it, so
    // turning it into a transport fails with the operating system's refusal (asyncio
    // fails the same way), never a panic.
    let out = cli("stdin_as_a_pipe", "", Stdio::null(), None);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "stdin is a pipe end: Read\n");

    let out = cli("uppercase_stdin_to_stdout", "", Stdio::null(), None);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("open-stream of stdin: register with the reactor"),
        "stderr: {}",
        text(&out.stderr)
    );
}
