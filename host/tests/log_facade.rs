//! The loop's diagnostics through the `log` facade: guest program
//! tests/programs/src/bin/log_facade.rs (its quiet cases install a logger and check the
//! records they get; stderr must stay empty).

mod common;

use common::{run_case, run_case_with_env};

test_programs_artifacts::for_each_quiet_case!("log_facade", guest_cases);

#[test]
fn without_a_logger_records_are_stderr_lines() {
    let out = run_case("log_facade", "without_a_logger_records_are_stderr_lines");
    out.assert_ok();
    for line in [
        "sandloop WARNING: Executing <Handle created at ",
        "sandloop ERROR: Exception in callback <Handle created at ",
        "sandloop DEBUG: Close ",
    ] {
        assert!(
            out.stderr.contains(line),
            "want {line:?} in:\n{}",
            out.stderr
        );
    }
    assert!(out.stderr.contains("disk on fire"), "{}", out.stderr);
}

#[test]
fn sandloop_debug_reaches_the_logger() {
    let out = run_case_with_env(
        "log_facade",
        "sandloop_debug_reaches_the_logger",
        &[("SANDLOOP_DEBUG", "1")],
    );
    out.assert_ok();
    assert!(
        out.stderr.is_empty(),
        "nothing on stderr with a logger:\n{}",
        out.stderr
    );
    let lines = out.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("DEBUG sandloop: Using selector: ")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("DEBUG sandloop: Close ")),
        "{lines:?}"
    );
}
