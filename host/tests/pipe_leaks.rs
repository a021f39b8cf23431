//! Pipe ends, their reactor sources and the streams made of them are released when the
//! workload ends, however it left them. Alone in its test binary (as `leaks.rs`), so that
//! no other test's descriptors are counted.

use sandloop_host::{RunOptions, Runtime};
use test_programs_artifacts::program;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .count()
}

#[test]
fn pipes_left_open_are_closed_when_the_run_ends() {
    let runtime = Runtime::new().unwrap();
    let workload = runtime.load(program("pipes")).unwrap();
    let opts = || RunOptions {
        // Each of these cases ends with pipe ends, sources or pipe streams still held.
        args: vec!["add_reader_and_add_writer_on_pipe_ends".into()],
        capture_output: true,
        ..RunOptions::default()
    };
    let leaky = || RunOptions {
        args: vec!["leave_pipes_open".into()],
        capture_output: true,
        ..RunOptions::default()
    };
    // The first runs start process-wide helpers (wasmtime-wasi's I/O runtime) once.
    assert!(workload.run(opts()).unwrap().status.success());
    assert!(workload.run(leaky()).unwrap().status.success());
    let before = open_fds();

    for _ in 0..5 {
        assert!(workload.run(opts()).unwrap().status.success());
        let out = workload.run(leaky()).unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "left 4 pipes open\n");
    }

    assert_eq!(open_fds(), before);
}
