//! Runs release everything they held. Alone in its test binary, so that no other test's
//! descriptors are counted.

use sandloop_host::{RunOptions, Runtime};
use test_programs_artifacts::program;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .count()
}

#[test]
fn runs_leave_no_descriptors_behind() {
    let runtime = Runtime::new().unwrap();
    let workload = runtime.load(program("hello_world")).unwrap();
    let opts = || RunOptions {
        capture_output: true,
        ..RunOptions::default()
    };
    // The first run starts process-wide helpers (wasmtime-wasi's I/O runtime) once.
    workload.run(opts()).unwrap();
    let before = open_fds();

    for _ in 0..10 {
        workload.run(opts()).unwrap();
        workload.start(opts()).unwrap().join().unwrap();
    }

    assert_eq!(open_fds(), before);
}
