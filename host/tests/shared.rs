//! Instances on shared threads (`RuntimeOptions::shared_threads`): many workloads on a
//! few host threads, each still serving while its neighbours spin, trap or end, and all
//! of an instance's descriptors released when it ends.
//!
//! The tests take turns (`SERIAL`): one of them counts the process's descriptors.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use common::{PATIENCE, free_port, join_within, loopback_policy};
use sandloop_host::{
    ExitStatus, Limits, Policy, RunOptions, RunningWorkload, Runtime, RuntimeOptions, Workload,
};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A runtime whose instances share `threads` host threads.
fn shared_runtime(threads: usize) -> Runtime {
    Runtime::with_options(RuntimeOptions {
        shared_threads: Some(threads),
        ..RuntimeOptions::default()
    })
    .expect("a runtime on shared threads")
}

fn load(runtime: &Runtime, program: &str) -> Workload {
    runtime
        .load(test_programs_artifacts::program(program))
        .unwrap_or_else(|err| panic!("load {program}: {err}"))
}

fn start(workload: &Workload, args: &[&str], policy: Policy) -> RunningWorkload {
    workload
        .start(RunOptions {
            args: args.iter().map(|a| a.to_string()).collect(),
            capture_output: true,
            policy,
            ..RunOptions::default()
        })
        .expect("start")
}

/// An echo server on shared threads, on a free port of its own.
fn start_echo(echo: &Workload) -> (RunningWorkload, u16) {
    start_echo_on(echo, free_port())
}

fn start_echo_on(echo: &Workload, port: u16) -> (RunningWorkload, u16) {
    let running = start(echo, &[&format!("127.0.0.1:{port}")], loopback_policy());
    (running, port)
}

/// `n` distinct free ports: held open together while they are picked, so that the
/// kernel cannot hand one out twice.
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("its address").port())
        .collect()
}

/// Connects to the echo server at `port`, retrying while it starts.
fn connect(port: u16) -> TcpStream {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => {
                stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
                return stream;
            }
            Err(err) if Instant::now() > deadline => panic!("connect to {port}: {err}"),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// `rounds` echo round trips of 64 bytes on `stream`.
fn echo_rounds(stream: &mut TcpStream, rounds: usize) {
    let message = [b'x'; 64];
    let mut answer = [0; 64];
    for round in 0..rounds {
        stream.write_all(&message).expect("send");
        stream
            .read_exact(&mut answer)
            .unwrap_or_else(|err| panic!("echo round {round}: {err}"));
        assert_eq!(answer, message);
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

#[test]
fn forty_instances_on_two_threads_all_answer_and_release_everything() {
    let _turn = serial();
    let runtime = shared_runtime(2);
    let echo = load(&runtime, "echo_server");
    // Warm: the runtime's threads and the first instance's one-time set-up are not what
    // the count below is about.
    let (first, port) = start_echo(&echo);
    echo_rounds(&mut connect(port), 1);
    first.stop();
    assert_eq!(
        join_within(first, "the first echo server").status,
        ExitStatus::Stopped
    );
    let before = open_fds();

    let servers: Vec<_> = free_ports(40)
        .into_iter()
        .map(|port| start_echo_on(&echo, port))
        .collect();
    for (_, port) in &servers {
        echo_rounds(&mut connect(*port), 3);
    }
    for (running, _) in &servers {
        running.stop();
    }
    for (running, port) in servers {
        let out = join_within(running, &format!("the echo server on {port}"));
        assert_eq!(
            out.status,
            ExitStatus::Stopped,
            "the echo server on {port}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let deadline = Instant::now() + PATIENCE;
    while open_fds() > before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        open_fds(),
        before,
        "descriptors left behind by 40 ended instances"
    );
}

#[test]
fn a_tenant_spinning_in_a_callback_does_not_keep_the_only_thread() {
    let _turn = serial();
    // One thread for both: the echo server answers only if the spinner yields it.
    let runtime = shared_runtime(1);
    let spinner = start(&load(&runtime, "limits"), &["spin_forever"], Policy::new());
    let (echo, port) = start_echo(&load(&runtime, "echo_server"));
    echo_rounds(&mut connect(port), 20);
    assert!(
        !spinner.is_finished(),
        "the spinner ended: {:?}",
        spinner.join()
    );
    spinner.stop();
    assert_eq!(
        join_within(spinner, "the spinner").status,
        ExitStatus::Stopped
    );
    echo.stop();
    assert_eq!(
        join_within(echo, "the echo server").status,
        ExitStatus::Stopped
    );
}

#[test]
fn a_tenant_that_traps_leaves_its_neighbour_serving() {
    let _turn = serial();
    let runtime = shared_runtime(1);
    let (echo, port) = start_echo(&load(&runtime, "echo_server"));
    let mut stream = connect(port);
    echo_rounds(&mut stream, 3);
    let panics = start(&load(&runtime, "panic"), &[], Policy::new());
    match join_within(panics, "the panicking tenant").status {
        ExitStatus::Trapped(message) => assert!(message.contains("unreachable"), "{message}"),
        other => panic!("the panicking tenant ended {other:?}"),
    }
    echo_rounds(&mut stream, 3);
    echo_rounds(&mut connect(port), 3);
    echo.stop();
    assert_eq!(
        join_within(echo, "the echo server").status,
        ExitStatus::Stopped
    );
}

#[test]
fn the_callback_time_limit_holds_on_shared_threads() {
    let _turn = serial();
    let runtime = shared_runtime(1);
    let (echo, port) = start_echo(&load(&runtime, "echo_server"));
    let mut policy = Policy::new();
    policy.limits = Limits {
        callback_cpu: Some(Duration::from_millis(100)),
        ..Limits::default()
    };
    let spinner = start(&load(&runtime, "limits"), &["spin_in_a_callback"], policy);
    echo_rounds(&mut connect(port), 5);
    match join_within(spinner, "the spinner").status {
        ExitStatus::Trapped(message) => {
            assert!(message.contains("callback ran longer"), "{message}")
        }
        other => panic!("the spinner ended {other:?}"),
    }
    echo_rounds(&mut connect(port), 5);
    echo.stop();
    assert_eq!(
        join_within(echo, "the echo server").status,
        ExitStatus::Stopped
    );
}

#[test]
fn a_run_on_shared_threads_returns_its_output() {
    let _turn = serial();
    let runtime = shared_runtime(2);
    let out = load(&runtime, "hello_world")
        .run(RunOptions {
            capture_output: true,
            ..RunOptions::default()
        })
        .expect("run");
    assert_eq!(out.status, ExitStatus::Exited(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello World\n");
}

#[test]
fn a_run_on_shared_threads_parks_on_their_timers_from_the_calling_thread() {
    let _turn = serial();
    let runtime = shared_runtime(1);
    // The guest's waits with timeouts park its task on the calling thread, timed by the
    // shared threads' timers.
    let out = load(&runtime, "scheduling")
        .run(RunOptions {
            args: vec!["call_later_never_runs_early".into()],
            capture_output: true,
            ..RunOptions::default()
        })
        .expect("run");
    assert_eq!(out.status, ExitStatus::Exited(0), "{out:?}");
}

#[test]
fn a_run_from_a_thread_of_a_tokio_runtime_is_handed_to_the_shared_threads() {
    let _turn = serial();
    let runtime = shared_runtime(2);
    let workload = load(&runtime, "hello_world");
    let embedder = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    // Blocking on a task is not allowed here: the run waits for a shared thread instead.
    let out = embedder
        .block_on(async {
            workload.run(RunOptions {
                capture_output: true,
                ..RunOptions::default()
            })
        })
        .expect("run");
    assert_eq!(out.status, ExitStatus::Exited(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello World\n");
}

#[test]
fn calls_and_their_sleeps_reach_a_parked_instance() {
    let _turn = serial();
    let runtime = shared_runtime(2);
    let running = load(&runtime, "plugin")
        .start(RunOptions {
            args: vec!["serve".into()],
            capture_output: true,
            policy: loopback_policy(),
            ..RunOptions::default()
        })
        .expect("start the plugin");
    let caller = running.caller().with_timeout(PATIENCE);
    // Each call wakes the parked instance through its doorbell; each sleeps 0-4 ms on the
    // shared threads' timers before it answers, out of order.
    let calls: Vec<_> = (0..200u64)
        .map(|i| (i, caller.call::<u64>("sleep_then", &(i % 5, i))))
        .collect();
    for (value, call) in calls {
        assert_eq!(call.wait().expect("an answer"), value);
    }
    let sum: i64 = caller.call("add", &(40, 2)).wait().expect("add");
    assert_eq!(sum, 42);
    let bye: String = caller.call("quit", &()).wait().expect("quit");
    assert_eq!(bye, "bye");
    assert_eq!(
        join_within(running, "the plugin").status,
        ExitStatus::Exited(0)
    );
}
