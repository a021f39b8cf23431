//! The limit on host-buffered bytes under the real host: guest program
//! tests/programs/src/bin/buffer_limit.rs, a guest writing to a peer that never reads.

mod common;

use common::{loopback_policy, run_case_with_policy};
use sandloop_host::Policy;

/// The limit the cases run under: far below the 32 MiB they write, and below what a
/// loopback connection's kernel buffers take, so the host is full for a while.
const LIMIT: u64 = 1 << 20;

fn limited() -> Policy {
    let mut policy = loopback_policy();
    policy.limits.buffered_bytes = Some(LIMIT);
    policy
}

/// Each quiet case of the program, run under the limit: the guest asserts that the full
/// host paused its protocol and that every byte arrived, in order.
macro_rules! limited_cases {
    ($program:literal: $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                let out = run_case_with_policy($program, stringify!($case), limited());
                out.assert_ok();
                assert!(out.stderr.is_empty(), "unexpected log:\n{}", out.stderr);
            }
        )+
    };
}

test_programs_artifacts::for_each_quiet_case!("buffer_limit", limited_cases);

/// The same flood with and without the limit: under it the protocol is paused (the host
/// holds at most the limit, the guest keeps the rest); without it nothing pauses, as the
/// host takes everything the high-water mark lets through.
#[test]
fn a_peer_that_never_reads_turns_the_limit_into_pause_writing() {
    let received = "received 33554432 bytes in order";
    run_case_with_policy("buffer_limit", "count_pauses", limited())
        .assert_ok()
        .assert_lines(&["paused 1", received]);
    run_case_with_policy("buffer_limit", "count_pauses", loopback_policy())
        .assert_ok()
        .assert_lines(&["paused 0", received]);
}

/// Without the limit too, a write larger than one host call may copy goes over in parts.
#[test]
fn one_write_larger_than_a_host_call_carries_without_the_limit() {
    run_case_with_policy(
        "buffer_limit",
        "one_write_larger_than_a_host_call_carries",
        loopback_policy(),
    )
    .assert_ok();
}

/// The CLI's flag sets the same limit: `sandloop run --max-buffered 1M`.
#[test]
fn the_max_buffered_flag_sets_the_limit() {
    use std::process::{Command, Stdio};
    let output = common::output_within(
        Command::new(env!("CARGO_BIN_EXE_sandloop"))
            .args(["run", "--allow-listen", "127.0.0.1:*", "--allow-connect"])
            .args(["127.0.0.1:*", "--max-buffered", "1M"])
            .arg(test_programs_artifacts::program("buffer_limit"))
            .args(["--", "count_pauses"])
            .stdin(Stdio::null()),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["paused 1", "received 33554432 bytes in order"]
    );
}
