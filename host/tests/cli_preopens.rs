//! `sandloop run --dir HOST_DIR[::GUEST_DIR]`: read-only preopened directories.

mod common;

use common::{TempDir, sandloop};
use test_programs_artifacts::program;

fn program_path(name: &str) -> &'static str {
    program(name).to_str().expect("test paths are UTF-8")
}

#[test]
fn dir_flag_lets_the_workload_read_the_directory() {
    let dir = TempDir::new("read");
    std::fs::write(dir.0.join("small.bin"), vec![7u8; 10_000]).unwrap();
    let preopen = format!("{}::/data", dir.0.display());
    let out = sandloop(&[
        "run",
        "--dir",
        &preopen,
        program_path("sendfile"),
        "--",
        "std_fs_reads_the_preopen",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "10000 bytes, len 10000\n"
    );
}

#[test]
fn without_the_dir_flag_nothing_is_readable() {
    let out = sandloop(&[
        "run",
        program_path("sendfile"),
        "--",
        "std_fs_reads_the_preopen",
    ]);
    assert_eq!(out.status.code(), Some(1), "the case fails: no /data");
}

#[test]
fn a_missing_directory_exits_2_naming_it() {
    let out = sandloop(&[
        "run",
        "--dir",
        "/nonexistent/sandloop-www::/www",
        program_path("hello_world"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("/nonexistent/sandloop-www"), "{stderr}");
}

#[test]
fn a_malformed_dir_flag_exits_2_saying_what_is_wrong() {
    for (flag, expected) in [("::/www", "HOST_DIR[::GUEST_DIR]"), ("./x::", "guest path")] {
        let out = sandloop(&["run", "--dir", flag, program_path("hello_world")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag}: {stderr}");
        assert!(stderr.contains(expected), "{flag}: {stderr}");
    }
}
