//! `sendfile` and `sock_sendfile` (guest program `sendfile`), after CPython's
//! test_sendfile.py: the guest sends files of a preopened directory to a native receiver
//! here, which checks what arrived byte for byte.
//!
//! Every case runs on the default loop (the host queues the file behind the stream's
//! buffered bytes: completion mode) and on a `SelectorEventLoop` (the guest calls the
//! host's one-shot `send-file` on writability: readiness mode).

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::Duration;

use common::Outcome;
use sandloop_host::RunOptions;

test_programs_artifacts::for_each_quiet_case!("sendfile", guest_cases);

mod selector_loop {
    use super::common;
    use crate::guest_cases_on_selector_loop;

    test_programs_artifacts::for_each_quiet_case!("sendfile", guest_cases_on_selector_loop);
}

const BIG_LEN: usize = 50 << 20;
const SMALL_LEN: usize = 10_000;

/// The directory preopened as `/data`: `big.bin` (50 MiB), `small.bin`, `empty.bin` and a
/// directory `sub`. Made once per test binary, with deterministic contents, under a fixed
/// name in the temp dir (so that runs reuse it instead of leaving 50 MiB each behind).
fn data_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join("sandloop-sendfile-tests");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for (name, len) in [
            ("big.bin", BIG_LEN),
            ("small.bin", SMALL_LEN),
            ("empty.bin", 0),
        ] {
            let path = dir.join(name);
            let want = if len == BIG_LEN {
                big().to_vec()
            } else {
                contents(len)
            };
            if std::fs::read(&path).is_ok_and(|have| have == want) {
                continue;
            }
            // Written aside and renamed, so a concurrent run never reads half a file.
            let partial = dir.join(format!("{name}.{}", std::process::id()));
            std::fs::write(&partial, &want).unwrap();
            std::fs::rename(&partial, &path).unwrap();
        }
        dir
    })
}

/// Deterministic bytes that differ at every offset a test might get wrong (not a short
/// cycle): an xorshift stream.
fn contents(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

fn big() -> &'static [u8] {
    static BIG: OnceLock<Vec<u8>> = OnceLock::new();
    BIG.get_or_init(|| contents(BIG_LEN))
}

fn small() -> Vec<u8> {
    contents(SMALL_LEN)
}

/// What the native receiver does with its one connection.
#[derive(Clone, Copy)]
enum Receiver {
    /// Reads to the end of the stream.
    ReadAll,
    /// Reads this many bytes, then closes (with unread data: a reset).
    CloseAfter(usize),
}

/// The loop a case runs on.
#[derive(Clone, Copy)]
enum Loop {
    Default,
    Selector,
}

/// Runs `case` on `lp` with `/data` preopened and, if `receiver` is given, a native
/// receiver whose port is the case's argument; returns the outcome and what arrived.
fn run(case: &str, lp: Loop, receiver: Option<Receiver>) -> (Outcome, Vec<u8>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received: Option<JoinHandle<Vec<u8>>> =
        receiver.map(|how| std::thread::spawn(move || receive(listener, how)));
    let mut env = Vec::new();
    if let Loop::Selector = lp {
        env.push(("TEST_LOOP".to_string(), "selector".to_string()));
    }
    let policy = common::loopback_policy().preopen(data_dir(), "/data");
    let out = common::run_case_with_options(
        "sendfile",
        case,
        RunOptions {
            args: vec![port.to_string()],
            env,
            policy,
            ..Default::default()
        },
    );
    let bytes = received
        .map(|r| r.join().expect("the receiver panicked"))
        .unwrap_or_default();
    (out, bytes)
}

fn receive(listener: TcpListener, how: Receiver) -> Vec<u8> {
    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut bytes = Vec::new();
    match how {
        Receiver::ReadAll => {
            conn.read_to_end(&mut bytes).unwrap();
        }
        Receiver::CloseAfter(n) => {
            bytes.resize(n, 0);
            conn.read_exact(&mut bytes).unwrap();
            // Closing with unread data resets the connection: the sender fails.
            drop(conn);
        }
    }
    bytes
}

/// Asserts equal bytes without printing 50 MiB when they differ.
#[track_caller]
fn assert_bytes(got: &[u8], want: &[u8]) {
    assert_eq!(got.len(), want.len(), "received length");
    if let Some(at) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!("the received bytes differ from offset {at}");
    }
}

/// Declares the test `$name` on both loops: `$body` gets the loop.
macro_rules! on_both_loops {
    ($($name:ident($lp:ident) $body:block)+) => {
        mod default_loop {
            use super::*;
            $(#[test] fn $name() { let $lp = Loop::Default; $body })+
        }
        mod on_selector_loop {
            use super::*;
            $(#[test] fn $name() { let $lp = Loop::Selector; $body })+
        }
    };
}

on_both_loops! {
    sendfile_whole_file(lp) {
        let (out, got) = run("sendfile_whole_file", lp, Some(Receiver::ReadAll));
        out.assert_ok().assert_lines(&[&format!("sent {BIG_LEN} pos {BIG_LEN}")]);
        assert_bytes(&got, big());
    }

    sendfile_offset_and_count(lp) {
        let (out, got) = run("sendfile_offset_and_count", lp, Some(Receiver::ReadAll));
        out.assert_ok().assert_lines(&["sent 100000 pos 101000"]);
        assert_bytes(&got, &big()[1000..101_000]);
    }

    sendfile_count_past_eof(lp) {
        let (out, got) = run("sendfile_count_past_eof", lp, Some(Receiver::ReadAll));
        out.assert_ok().assert_lines(&["sent 5000 pos 10000"]);
        assert_bytes(&got, &small()[5000..]);
    }

    sendfile_offset_past_eof(lp) {
        let (out, got) = run("sendfile_offset_past_eof", lp, Some(Receiver::ReadAll));
        out.assert_ok().assert_lines(&["sent 0 pos 20000"]);
        assert!(got.is_empty());
    }

    sendfile_empty_file(lp) {
        let (out, got) = run("sendfile_empty_file", lp, Some(Receiver::ReadAll));
        out.assert_ok().assert_lines(&["sent 0 pos 0"]);
        assert!(got.is_empty());
    }

    sendfile_fallback_is_byte_exact(lp) {
        let (out, got) = run("sendfile_fallback_is_byte_exact", lp, Some(Receiver::ReadAll));
        let sent = BIG_LEN - 3;
        out.assert_ok().assert_lines(&[&format!("sent {sent} pos {BIG_LEN}")]);
        assert_bytes(&got, &big()[3..]);
    }

    sendfile_without_fallback_is_not_available(lp) {
        let (out, got) =
            run("sendfile_without_fallback_is_not_available", lp, Some(Receiver::ReadAll));
        out.assert_ok().assert_lines(&[
            "not available: the file is not a sandloop::fs::File, which the host can send natively",
            "sock: not available",
        ]);
        assert!(got.is_empty());
    }

    sendfile_count_zero_is_invalid(lp) {
        let (out, _) = run("sendfile_count_zero_is_invalid", lp, Some(Receiver::ReadAll));
        out.assert_ok().assert_lines(&["count must be a positive integer (got 0)"]);
    }

    sendfile_on_a_closing_transport_fails(lp) {
        let (out, got) =
            run("sendfile_on_a_closing_transport_fails", lp, Some(Receiver::ReadAll));
        out.assert_ok().assert_lines(&["Transport is closing"]);
        assert!(got.is_empty());
    }

    writes_before_during_and_after_stay_in_order(lp) {
        let (out, got) =
            run("writes_before_during_and_after_stay_in_order", lp, Some(Receiver::ReadAll));
        out.assert_ok().assert_lines(&[&format!("sent {BIG_LEN} pos {BIG_LEN}")]);
        let mut want = b"BEFORE\n".to_vec();
        want.extend_from_slice(big());
        want.extend_from_slice(b"DURING\nAFTER\n");
        assert_bytes(&got, &want);
    }

    peer_closing_mid_transfer_is_an_error(lp) {
        let (out, got) = run(
            "peer_closing_mid_transfer_is_an_error",
            lp,
            Some(Receiver::CloseAfter(1024)),
        );
        out.assert_ok();
        let line = out.lines().join("\n");
        assert!(
            line == "error BrokenPipe" || line == "error ConnectionReset",
            "{line}"
        );
        assert_bytes(&got, &big()[..1024]);
    }

    sock_sendfile_native(lp) {
        let (out, got) = run("sock_sendfile_native", lp, Some(Receiver::ReadAll));
        let sent = BIG_LEN - 7;
        out.assert_ok().assert_lines(&[&format!("sent {sent} pos {BIG_LEN}")]);
        let mut want = b"HEAD".to_vec();
        want.extend_from_slice(&big()[7..]);
        want.extend_from_slice(b"TAIL");
        assert_bytes(&got, &want);
    }

    sock_sendfile_fallback(lp) {
        let (out, got) = run("sock_sendfile_fallback", lp, Some(Receiver::ReadAll));
        out.assert_ok().assert_lines(&["sent 500000 pos 500010"]);
        assert_bytes(&got, &big()[10..500_010]);
    }

    directory_is_refused(lp) {
        let (out, _) = run("directory_is_refused", lp, Some(Receiver::ReadAll));
        out.assert_ok().assert_lines(&[
            "IsADirectory: open /data/sub: is a directory",
            "send-file: the descriptor is a directory, not a file",
        ]);
    }
}

#[test]
fn file_outside_the_preopens_cannot_be_opened() {
    let (out, _) = run(
        "file_outside_the_preopens_cannot_be_opened",
        Loop::Default,
        None,
    );
    out.assert_ok().assert_lines(&[
        "NotFound: open /etc/passwd: not under any preopened directory",
        "PermissionDenied: open /data/../etc/passwd: a path led outside of the filesystem",
        "NotFound: open /data/missing.bin: No such file or directory (os error 2)",
    ]);
}

/// A FIFO without a writer, a unix socket and a device under the preopens: each is
/// refused at once. (Opening the FIFO blocked the whole instance until some writer came:
/// none does here, so the run never ended.)
#[test]
fn special_files_are_refused_without_blocking() {
    let special = common::TempDir::new("special-files");
    common::make_special_files(&special.0);
    std::fs::write(special.0.join("regular.txt"), b"a regular file").unwrap();
    let policy = common::loopback_policy()
        .preopen(&special.0, "/special")
        .preopen("/dev", "/dev");

    // `within`: a run blocked in the host cannot be stopped, so a regression fails here
    // instead of hanging the test.
    let out = common::within("opening special files", common::PATIENCE, move || {
        common::run_case_with_policy(
            "sendfile",
            "special_files_are_refused_without_blocking",
            policy,
        )
    });

    out.assert_ok().assert_lines(&[
        "Unsupported: open /special/fifo: a FIFO, not a regular file",
        "Other: open /special/socket: No such device or address (os error 6)",
        "Unsupported: open /dev/null: a character device, not a regular file",
        "regular: 14 bytes",
    ]);
}

#[test]
fn without_a_preopen_no_file_opens() {
    let out = common::run_case("sendfile", "std_fs_reads_the_preopen");
    assert!(!out.status.success(), "{}", out.stdout);
}

#[test]
fn std_fs_reads_the_preopen() {
    let (out, _) = run("std_fs_reads_the_preopen", Loop::Default, None);
    out.assert_ok().assert_lines(&["10000 bytes, len 10000"]);
}

#[test]
fn a_missing_preopen_directory_fails_the_run_naming_it() {
    let policy = common::loopback_policy().preopen("/nonexistent/sandloop-dir", "/data");
    let path = test_programs_artifacts::program("sendfile");
    let runtime = sandloop_host::Runtime::new().unwrap();
    let workload = runtime.load(path).unwrap();
    let result = workload.run(RunOptions {
        args: vec!["std_fs_reads_the_preopen".into()],
        policy,
        capture_output: true,
        ..Default::default()
    });
    let Err(err) = result else {
        panic!("the run must fail");
    };
    let message = format!("{err:#}");
    assert!(message.contains("/nonexistent/sandloop-dir"), "{message}");
}

/// A writable preopen (`--dir-rw`, `writable = true`) serves `sandloop::fs::File` and
/// `sendfile` as a read-only one does.
#[test]
fn sendfile_works_from_a_writable_preopen() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = std::thread::spawn(move || receive(listener, Receiver::ReadAll));
    let policy = common::loopback_policy().preopen_read_write(data_dir(), "/data");

    let out = common::run_case_with_options(
        "sendfile",
        "sendfile_offset_and_count",
        RunOptions {
            args: vec![port.to_string()],
            policy,
            ..Default::default()
        },
    );

    out.assert_ok().assert_lines(&["sent 100000 pos 101000"]);
    assert_bytes(&received.join().unwrap(), &big()[1000..101_000]);
}
