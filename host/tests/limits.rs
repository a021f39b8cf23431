//! The workload limits under the real host: guest program tests/programs/src/bin/limits.rs.

mod common;

use std::time::{Duration, Instant};

use common::{loopback_policy, run_case_with_policy};
use sandloop_host::{ExitStatus, Limits, Policy, RunOptions, Runtime};

test_programs_artifacts::for_each_quiet_case!("limits", guest_cases);

fn with_limits(limits: Limits) -> Policy {
    let mut policy = loopback_policy();
    policy.limits = limits;
    policy
}

fn trap_message(status: &ExitStatus) -> &str {
    match status {
        ExitStatus::Trapped(message) => message,
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn a_guest_allocating_without_bound_traps_at_the_memory_limit() {
    let limit = 32 << 20;
    let out = run_case_with_policy(
        "limits",
        "allocate_without_bound",
        with_limits(Limits {
            memory_bytes: Some(limit),
            ..Limits::default()
        }),
    );
    let message = trap_message(&out.status);
    assert!(
        message.starts_with(&format!("memory limit of {limit} bytes exceeded")),
        "{message}"
    );
    // It got some way before the limit, and never far past it.
    assert!(!out.stdout.contains("holding 64 MiB"), "{}", out.stdout);
    // The host is fine: the next workload runs.
    run_case_with_policy(
        "limits",
        "waits_are_not_charged_to_the_callback_limit",
        loopback_policy(),
    )
    .assert_ok();
}

#[test]
fn a_guest_spinning_in_a_callback_traps_at_the_callback_limit() {
    let started = Instant::now();
    let out = run_case_with_policy(
        "limits",
        "spin_in_a_callback",
        with_limits(Limits {
            callback_cpu: Some(Duration::from_millis(100)),
            ..Limits::default()
        }),
    );
    let message = trap_message(&out.status);
    assert!(
        message.starts_with("callback ran longer than the limit of 100 ms"),
        "{message}"
    );
    // The 300 ms it slept in the loop's wait were not charged.
    assert_eq!(out.stdout, "slept\n");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn time_blocked_in_the_loop_is_never_charged() {
    run_case_with_policy(
        "limits",
        "waits_are_not_charged_to_the_callback_limit",
        with_limits(Limits {
            callback_cpu: Some(Duration::from_millis(50)),
            ..Limits::default()
        }),
    )
    .assert_ok();
}

/// What a guest opening handles until refused printed: how many it opened (its first
/// line), after checking that it was refused with `QuotaExceeded` and a message containing
/// `refusal`; and the lines that follow.
fn refused_after<'a>(out: &'a common::Outcome, refusal: &str) -> (usize, Vec<&'a str>) {
    out.assert_ok();
    let lines = out.lines();
    let opened: usize = lines[0]
        .strip_prefix("opened ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(lines[1], "kind QuotaExceeded", "{lines:?}");
    assert!(lines[2].contains(refusal), "{lines:?}");
    (opened, lines[3..].to_vec())
}

#[test]
fn a_guest_opening_handles_without_bound_gets_limit_reached() {
    let out = run_case_with_policy(
        "limits",
        "open_sockets_without_bound",
        with_limits(Limits {
            handles: Some(40),
            ..Limits::default()
        }),
    );
    let (opened, lines) = refused_after(&out, "create socket: handle limit of 40 reached");
    // WASI's own resources hold a few of the 40.
    assert!((30..=40).contains(&opened), "{lines:?}");
    assert_eq!(lines, ["closed"]);
}

#[test]
fn a_guest_opening_pipes_without_bound_gets_limit_reached_and_keeps_running() {
    let out = run_case_with_policy(
        "limits",
        "open_pipes_without_bound",
        with_limits(Limits {
            handles: Some(40),
            ..Limits::default()
        }),
    );
    let (opened, lines) = refused_after(&out, "create-pipe: handle limit of 40 reached");
    // Two handles a pipe; WASI's own resources hold a few of the 40.
    assert!((15..=20).contains(&opened), "{lines:?}");
    assert_eq!(lines, ["still serving", "loop ran"]);
}

/// Starts `case` on its own thread, stops it from outside after `after`, and returns how
/// it ended and how long the stop took.
fn stop_after(case: &str, after: Duration) -> (ExitStatus, Duration) {
    let runtime = Runtime::new().expect("runtime");
    let workload = runtime
        .load(test_programs_artifacts::program("limits"))
        .expect("load");
    let running = workload
        .start(RunOptions {
            args: vec![case.into()],
            capture_output: true,
            ..Default::default()
        })
        .expect("start");
    std::thread::sleep(after);
    assert!(!running.is_finished(), "{case} ended by itself");
    let stopped_at = Instant::now();
    running.stop();
    let out = common::join_within(running, case);
    (out.status, stopped_at.elapsed())
}

#[test]
fn a_stop_from_outside_ends_a_guest_waiting_in_its_loop() {
    let (status, took) = stop_after("wait_forever", Duration::from_millis(300));
    assert_eq!(status, ExitStatus::Stopped);
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn a_stop_from_outside_ends_a_guest_spinning_in_a_callback() {
    let (status, took) = stop_after("spin_forever", Duration::from_millis(300));
    assert_eq!(status, ExitStatus::Stopped);
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn a_guest_spawning_children_without_bound_gets_limit_reached() {
    let mut policy = with_limits(Limits {
        children: Some(3),
        ..Limits::default()
    });
    policy = policy
        .allow_exec("/usr/bin/sleep")
        .and_then(|p| p.allow_exec("/usr/bin/true"))
        .expect("rules");
    let out = run_case_with_policy("limits", "spawn_children_without_bound", policy);
    out.assert_ok();
    assert_eq!(
        out.lines(),
        [
            "spawned 3",
            "kind QuotaExceeded",
            "error spawn /usr/bin/sleep: child limit of 3 reached",
            "reaped",
        ]
    );
}

/// `sandloop run --instances 2`: two copies of `http_hello` share one port (each binds it
/// with reuse_port; both say they serve) and every connection is answered.
#[test]
fn instances_share_a_listening_port() {
    use std::io::{Read as _, Write as _};
    use std::process::{Command, Stdio};
    let port = common::free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // Killed on every path out of the test; every read and connect below is bounded.
    let mut cli = common::Cli::spawn(
        Command::new(env!("CARGO_BIN_EXE_sandloop"))
            .args([
                "run",
                "--instances",
                "2",
                "--allow-listen",
                &addr.to_string(),
            ])
            .arg(test_programs_artifacts::program("http_hello"))
            .args(["--", &addr.to_string()])
            .stdout(Stdio::piped()),
    );
    let stdout = cli.stdout_lines();
    // Both copies bound the port: neither failed with "address in use".
    for _ in 0..2 {
        assert_eq!(stdout.next_line(), format!("Serving on http://{addr}/\n"));
    }
    let bound = Duration::from_secs(5);
    let mut answered = 0;
    for _ in 0..16 {
        let mut conn = std::net::TcpStream::connect_timeout(&addr, bound).expect("connect");
        conn.set_read_timeout(Some(bound)).unwrap();
        conn.set_write_timeout(Some(bound)).unwrap();
        conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        let mut buf = [0; 4096];
        while !String::from_utf8_lossy(&answer).contains("Hello, World!") {
            let n = conn.read(&mut buf).expect("read the answer");
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&buf[..n]);
        }
        answered += 1;
    }
    assert_eq!(answered, 16);
}

/// `sandloop run --instances 2` with `HTTP_HELLO_BASE_PORT=B`: each copy of `http_hello`
/// listens alone on B + its `SANDLOOP_INSTANCE`, so each can be reached by itself (what the
/// density benchmark, bench/density.sh, relies on to check that every instance answers).
#[test]
fn instances_listen_on_a_port_each_with_a_base_port() {
    use std::io::{Read as _, Write as _};
    use std::process::{Command, Stdio};
    // Two consecutive free ports: a free one whose successor binds too.
    let base = (0..100)
        .map(|_| common::free_port())
        .find(|&port| {
            port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok()
        })
        .expect("two consecutive free ports");
    let rule = format!("127.0.0.1:{base}-{}", base + 1);
    // Killed on every path out of the test; every read and connect below is bounded.
    let mut cli = common::Cli::spawn(
        Command::new(env!("CARGO_BIN_EXE_sandloop"))
            .args(["run", "--instances", "2", "--allow-listen", &rule])
            .args(["--env", &format!("HTTP_HELLO_BASE_PORT={base}")])
            .arg(test_programs_artifacts::program("http_hello"))
            .args(["--", &format!("127.0.0.1:{base}")])
            .stdout(Stdio::piped()),
    );
    let stdout = cli.stdout_lines();
    let mut serving: Vec<String> = (0..2).map(|_| stdout.next_line()).collect();
    serving.sort();
    assert_eq!(
        serving,
        [base, base + 1].map(|port| format!("Serving on http://127.0.0.1:{port}/\n"))
    );
    let bound = Duration::from_secs(5);
    for port in [base, base + 1] {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut conn = std::net::TcpStream::connect_timeout(&addr, bound).expect("connect");
        conn.set_read_timeout(Some(bound)).unwrap();
        conn.set_write_timeout(Some(bound)).unwrap();
        conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).expect("read the answer");
        assert!(
            answer.starts_with("HTTP/1.1 200 ") && answer.ends_with("Hello, World!"),
            "port {port} answered {answer:?}"
        );
    }
}

#[test]
fn a_runtime_without_epoch_checks_refuses_a_callback_limit_and_runs_the_rest() {
    let runtime = Runtime::with_options(sandloop_host::RuntimeOptions {
        interruptible: false,
        ..Default::default()
    })
    .expect("runtime");
    let workload = runtime
        .load(test_programs_artifacts::program("limits"))
        .expect("load");
    let opts = |limits: Limits| RunOptions {
        args: vec!["waits_are_not_charged_to_the_callback_limit".into()],
        capture_output: true,
        policy: with_limits(limits),
        ..Default::default()
    };
    let err = workload
        .run(opts(Limits {
            callback_cpu: Some(Duration::from_millis(100)),
            ..Limits::default()
        }))
        .expect_err("a callback limit cannot hold without epoch checks");
    assert!(
        format!("{err:#}").contains("needs a runtime built with `RuntimeOptions::interruptible`"),
        "{err:#}"
    );
    let running = workload.start(opts(Limits::default())).expect("start");
    let out = common::join_within(running, "waits_are_not_charged_to_the_callback_limit");
    assert_eq!(
        out.status,
        ExitStatus::Exited(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_policy_that_can_never_work_is_refused_before_the_run() {
    let workload = Runtime::new()
        .expect("runtime")
        .load(test_programs_artifacts::program("hello_world"))
        .expect("load");
    let refused = |policy: Policy| {
        let opts = || RunOptions {
            capture_output: true,
            policy: policy.clone(),
            ..Default::default()
        };
        let run = workload.run(opts()).expect_err("run refuses the policy");
        let start = workload.start(opts()).err().expect("start refuses it");
        assert_eq!(format!("{run:#}"), format!("{start:#}"));
        format!("{run:#}")
    };
    // The builder refuses SIGKILL; the public field takes it, and the run refuses it.
    let mut kill = Policy::new();
    kill.allow_signals.push(libc::SIGKILL);
    let message = refused(kill);
    assert!(
        message.contains("SIGKILL can never be handled"),
        "{message}"
    );
    let message = refused(with_limits(Limits {
        handles: Some(0),
        ..Limits::default()
    }));
    assert!(message.contains("handle limit of 0"), "{message}");
    let message = refused(with_limits(Limits {
        memory_bytes: Some(8 << 30),
        ..Limits::default()
    }));
    assert!(message.contains("more than a wasm32 memory"), "{message}");
}
