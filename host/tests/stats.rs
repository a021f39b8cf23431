//! `RunningWorkload::stats()`: what a running instance used, read from outside while it
//! runs, on a real echo exchange over loopback.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{PATIENCE, within};
use sandloop_host::{
    ExitStatus, Policy, RunOptions, RunningWorkload, Runtime, RuntimeOptions, Stats,
};
use test_programs_artifacts::program;

/// The bytes of the exchange: more than one small read or write.
const K: usize = 3000;

/// Polls `running`'s stats until `wanted` holds (the instance counts on its own thread,
/// with nothing to signal the test); fails after [`PATIENCE`].
fn stats_when(running: &RunningWorkload, wanted: impl Fn(&Stats) -> bool) -> Stats {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let stats = running.stats();
        if wanted(&stats) {
            return stats;
        }
        assert!(
            Instant::now() < deadline,
            "stats never got there: {stats:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn an_echo_exchange_shows_in_the_clients_bytes_cpu_time_and_handles() {
    echo_exchange_is_counted(RuntimeOptions::default());
}

#[test]
fn an_echo_exchange_on_shared_threads_is_counted_the_same() {
    echo_exchange_is_counted(RuntimeOptions {
        interruptible: true,
        shared_threads: Some(1),
        ..RuntimeOptions::default()
    });
}

/// The echo client under a runtime made with `options` sends K bytes to the test and
/// gets them back: its counters show both, its time, and its handles while it waits.
fn echo_exchange_is_counted(options: RuntimeOptions) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let message = "x".repeat(K);
    let workload = Runtime::with_options(options)
        .unwrap()
        .load(program("echo_client"))
        .unwrap();
    let running = workload
        .start(RunOptions {
            args: vec![addr.to_string(), message.clone()],
            policy: Policy::new().allow_connect(&addr.to_string()).unwrap(),
            capture_output: true,
            ..Default::default()
        })
        .unwrap();

    let (mut conn, _) = within("accept", PATIENCE, move || listener.accept().unwrap());
    conn.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut received = vec![0; K];
    conn.read_exact(&mut received).unwrap();
    // The client waits for its echo, holding its connection (and whatever else).
    let waiting = stats_when(&running, |stats| {
        stats.open_handles > 0 && stats.bytes_out >= K as u64
    });
    assert_eq!(
        waiting.bytes_in, 0,
        "nothing was sent to it yet: {waiting:?}"
    );

    conn.write_all(&received).unwrap();
    let ended = stats_when(&running, |_| running.is_finished());
    let output = running.join().unwrap();
    assert!(output.status.success(), "{output:?}");

    assert!(ended.bytes_in >= K as u64, "{ended:?}");
    assert!(ended.bytes_out >= K as u64, "{ended:?}");
    assert!(ended.cpu_time > Duration::ZERO, "{ended:?}");
    assert!(
        ended.cpu_time >= waiting.cpu_time,
        "{ended:?} after {waiting:?}"
    );
    // Ended: everything released.
    assert_eq!(ended.open_handles, 0, "{ended:?}");
}

#[test]
fn a_guest_spinning_in_a_callback_is_charged_while_it_spins() {
    // The watchdog's ticks (epoch checks) charge a callback that never returns to wait.
    let runtime = Runtime::with_options(RuntimeOptions {
        interruptible: true,
        ..RuntimeOptions::default()
    })
    .unwrap();
    let workload = runtime.load(program("limits")).unwrap();
    let running = workload
        .start(RunOptions {
            args: vec!["spin_forever".into()],
            capture_output: true,
            ..Default::default()
        })
        .unwrap();

    let spinning = stats_when(&running, |stats| {
        stats.cpu_time >= Duration::from_millis(100)
    });
    running.stop();
    let ended = stats_when(&running, |_| running.is_finished());
    assert_eq!(running.join().unwrap().status, ExitStatus::Stopped);
    assert!(
        ended.cpu_time >= spinning.cpu_time,
        "{ended:?} after {spinning:?}"
    );
}
