//! The examples of examples/ run under the host and print what CPython prints.

mod common;

use common::run_case;

/// Parses Python's `str(datetime.datetime.now())`: `YYYY-MM-DD HH:MM:SS.ffffff`, as seconds
/// of the day.
fn seconds_of_day(line: &str) -> f64 {
    let (date, time) = line.split_once(' ').expect("date and time");
    assert_eq!(date.len(), 10, "{line}");
    assert_eq!(date.split('-').count(), 3, "{line}");
    let parts: Vec<f64> = time
        .split(':')
        .map(|p| p.parse().expect("number"))
        .collect();
    assert_eq!(parts.len(), 3, "{line}");
    assert_eq!(time.len(), 15, "microseconds as in Python: {line}");
    parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
}

#[test]
fn hello_world_prints_hello_world() {
    // The example takes no case argument; the harness passes one, which it ignores.
    run_case("hello_world", "-")
        .assert_ok()
        .assert_lines(&["Hello World"]);
}

#[test]
fn display_date_prints_five_dates_one_second_apart() {
    let out = run_case("display_date", "-");
    out.assert_ok();
    let lines = out.lines();
    assert_eq!(lines.len(), 5, "{}", out.stdout);
    let times: Vec<f64> = lines.iter().map(|l| seconds_of_day(l)).collect();
    for pair in times.windows(2) {
        let mut gap = pair[1] - pair[0];
        if gap < 0.0 {
            gap += 86_400.0; // midnight passed
        }
        assert!(gap >= 0.99, "dates {gap:.3} s apart:\n{}", out.stdout);
    }
}

#[test]
fn demo_runs_its_tour() {
    let out = run_case("demo", "-");
    out.assert_ok();
    assert!(
        out.stdout.contains("call_soon runs first"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("all 6 jobs done"), "{}", out.stdout);
    assert!(
        out.stdout.contains("gather -> [1, 4, 9, 16]"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("wait_for: timed out after 20 ms"),
        "{}",
        out.stdout
    );
    let first = out.lines().iter().position(|l| l.contains("timer: 10 ms"));
    let second = out.lines().iter().position(|l| l.contains("timer: 30 ms"));
    assert!(
        first < second,
        "timers in order of their delay:\n{}",
        out.stdout
    );
}

#[test]
fn socketpair_reader_prints_what_arrived() {
    run_case("socketpair_reader", "-")
        .assert_ok()
        .assert_lines(&["Received: abc"]);
}

/// An example server started by the `sandloop` CLI on a free loopback port, the way a user
/// starts it; killed when dropped.
struct Served {
    _cli: common::Cli,
    port: u16,
}

/// Starts `example` listening on 127.0.0.1 and waits for its "Serving on" line.
fn serve(example: &str) -> Served {
    serve_with(example, &[])
}

/// [`serve`] with more arguments for the example after its address.
fn serve_with(example: &str, extra: &[&str]) -> Served {
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let args: Vec<&str> = [addr.as_str()]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let (cli, line) = common::start_cli(&["--allow-listen", &addr], example, &args);
    assert!(line.starts_with("Serving on "), "{example} said {line:?}");
    Served { _cli: cli, port }
}

/// A CPython asyncio client: two messages, each echoed exactly.
const ASYNCIO_ECHO_CLIENT: &str = r#"
import asyncio, sys
async def main(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for message in (b"Hello World!", b"x" * 100000):
        writer.write(message)
        await writer.drain()
        echo = await reader.readexactly(len(message))
        print(len(echo), echo == message)
    writer.close()
    await writer.wait_closed()
asyncio.run(main(int(sys.argv[1])))
"#;

fn assert_asyncio_client_is_echoed(served: &Served) {
    let out = std::process::Command::new("python3")
        .args(["-c", ASYNCIO_ECHO_CLIENT, &served.port.to_string()])
        .output()
        .expect("run python3");
    common::assert_prints(&out, "12 True\n100000 True\n");
}

#[test]
fn echo_server_answers_a_cpython_asyncio_client() {
    assert_asyncio_client_is_echoed(&serve("echo_server"));
}

#[test]
fn echo_server_with_streams_on_a_selector_loop_answers_a_cpython_asyncio_client() {
    assert_asyncio_client_is_echoed(&serve_with("echo_server", &["--streams", "--selector"]));
}

#[test]
fn echo_client_talks_to_the_echo_server() {
    let served = serve("echo_server");
    let addr = format!("127.0.0.1:{}", served.port);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sandloop"))
        .args(["run", "--allow-connect", &addr])
        .arg(test_programs_artifacts::program("echo_client"))
        .args(["--", &addr, "Hello World!"])
        .output()
        .expect("run the echo client");
    common::assert_prints(
        &out,
        "Data sent: \"Hello World!\"\nData received: \"Hello World!\"\nThe connection is closed\n",
    );
}

#[test]
fn http_hello_answers_curl_on_one_kept_alive_connection() {
    let served = serve("http_hello");
    let url = format!("http://127.0.0.1:{}/", served.port);
    // Two URLs in one curl run: the second request reuses the connection (keep-alive).
    let out = std::process::Command::new("curl")
        .args(["-sS", "-v", "--http1.1", &url, &url])
        .output()
        .expect("run curl");
    common::assert_prints(&out, "Hello, World!Hello, World!");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("Re-using existing connection") || log.contains("Reusing existing"),
        "curl did not reuse the connection:\n{log}"
    );
}

#[test]
fn executor_runs_jobs_while_the_loop_serves_timers() {
    run_case("run_in_executor", "-").assert_ok().assert_lines(&[
        "default pool: reading the log done",
        "custom pool: 333333283333335000000",
        "timer callbacks meanwhile: many",
    ]);
}
