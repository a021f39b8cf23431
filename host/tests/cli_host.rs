//! `sandloop host TENANTS.toml`: tenants side by side in one process, a failing one
//! leaving the others serving, the stats lines, and bad files refused (the file's
//! parsing has unit tests in the binary, `cli/tenants/config/tests.rs`).

mod common;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt as _;
use std::process::{Command, Stdio};

use common::{Cli, Lines, PATIENCE, TempDir, free_port, output_within, path_str, stderr_of};
use test_programs_artifacts::program;

/// `[[tenant]] web`: the echo server on 127.0.0.1:`port`, allowed to listen there only.
fn echo_tenant(port: u16) -> String {
    format!(
        r#"
[[tenant]]
name = "web"
component = {component:?}
args = ["127.0.0.1:{port}"]

[tenant.policy.network]
listen = ["127.0.0.1:{port}"]
"#,
        component = path_str(program("echo_server")),
    )
}

/// Starts `sandloop host FILE --stats 0.1` on a file of `tenants` (the echo tenant first,
/// whose "Serving on" is the first line of stdout); returns the host and its stderr lines
/// once the echo server listens.
fn start_host(dir: &TempDir, tenants: &str) -> (Cli, Lines) {
    let file = dir.join("tenants.toml");
    std::fs::write(&file, format!("threads = 1\n{tenants}")).expect("write the tenants file");
    let mut host = Cli::spawn(
        Command::new(env!("CARGO_BIN_EXE_sandloop"))
            .args(["host", path_str(&file), "--stats", "0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let stderr = Lines::new(host.take_stderr());
    let first = host.stdout_lines().next_line();
    assert!(first.starts_with("Serving on "), "stdout: {first:?}");
    (host, stderr)
}

/// One echo round trip of `message` with the server on `port`.
fn echo_once(port: u16, message: &[u8]) {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connect to the echo tenant");
    conn.set_read_timeout(Some(PATIENCE)).unwrap();
    conn.write_all(message).unwrap();
    let mut echo = vec![0; message.len()];
    conn.read_exact(&mut echo).expect("the echo");
    assert_eq!(echo, message);
}

/// The fields of a stats line (`stats tenant=web instances=1/1 ...`), if it is one.
fn stats_fields(line: &str) -> Option<BTreeMap<String, String>> {
    let rest = line.strip_prefix("stats ")?;
    Some(
        rest.split_whitespace()
            .filter_map(|field| field.split_once('='))
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect(),
    )
}

fn number(fields: &BTreeMap<String, String>, key: &str) -> u64 {
    fields[key]
        .parse()
        .unwrap_or_else(|_| panic!("{key} in {fields:?}"))
}

/// Reads stderr until a line satisfies `wanted` (each line waited for within
/// [`PATIENCE`]; stats lines come every 0.1 s); returns it, and what came before.
fn read_until(stderr: &Lines, wanted: impl Fn(&str) -> bool) -> (String, Vec<String>) {
    let mut before = Vec::new();
    loop {
        let line = stderr.next_line();
        if wanted(&line) {
            return (line, before);
        }
        before.push(line);
    }
}

/// A stats line of `tenant` for which `check` holds.
fn stats_of(stderr: &Lines, tenant: &str, check: impl Fn(&BTreeMap<String, String>) -> bool) {
    read_until(stderr, |line| {
        stats_fields(line).is_some_and(|fields| {
            fields.get("tenant").is_some_and(|name| name == tenant) && check(&fields)
        })
    });
}

/// SIGTERM ends the host, which stops every tenant, prints the stats once more and
/// dies of the signal.
fn terminate(mut host: Cli, stderr: &Lines) {
    host.signal(libc::SIGTERM);
    stats_of(stderr, "web", |fields| fields["instances"] == "0/1");
    let status = host.wait_within();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
}

#[test]
fn a_trapping_tenant_is_reported_and_counted_while_the_server_tenant_keeps_serving() {
    let dir = TempDir::new("host-trap");
    let port = free_port();
    let tenants = format!(
        "{}\n[[tenant]]\nname = \"boom\"\ncomponent = {:?}\n",
        echo_tenant(port),
        path_str(program("panic"))
    );
    let (host, stderr) = start_host(&dir, &tenants);

    let (trap, _) = read_until(&stderr, |line| line.starts_with("error: tenant boom"));
    assert!(
        trap.starts_with("error: tenant boom instance 0 trapped: "),
        "{trap}"
    );
    // After the trap, the other tenant answers, and its counters show it.
    echo_once(port, b"hello, tenants");
    stats_of(&stderr, "web", |fields| {
        fields["instances"] == "1/1"
            && number(fields, "bytes_in") >= 14
            && number(fields, "bytes_out") >= 14
            && number(fields, "handles") > 0
            && fields["traps"] == "0"
    });
    stats_of(&stderr, "boom", |fields| {
        fields["instances"] == "0/1" && fields["traps"] == "1" && fields["handles"] == "0"
    });
    echo_once(port, b"still here");
    terminate(host, &stderr);
}

#[test]
fn a_tenant_over_its_memory_limit_ends_while_the_server_tenant_keeps_serving() {
    let dir = TempDir::new("host-limit");
    let port = free_port();
    let limit = 32 << 20;
    let tenants = format!(
        r#"{}
[[tenant]]
name = "greedy"
component = {:?}
args = ["allocate_without_bound"]

[tenant.policy.limits]
memory = "32M"
"#,
        echo_tenant(port),
        path_str(program("limits"))
    );
    let (host, stderr) = start_host(&dir, &tenants);

    let (trap, _) = read_until(&stderr, |line| line.starts_with("error: tenant greedy"));
    assert!(
        trap.starts_with(&format!(
            "error: tenant greedy instance 0 trapped: memory limit of {limit} bytes exceeded"
        )),
        "{trap}"
    );
    echo_once(port, b"after the greedy one");
    stats_of(&stderr, "greedy", |fields| {
        fields["instances"] == "0/1" && fields["traps"] == "1"
    });
    stats_of(&stderr, "web", |fields| number(fields, "bytes_in") >= 20);
    terminate(host, &stderr);
}

#[test]
fn the_host_exits_with_the_first_failure_once_every_tenant_ended() {
    let dir = TempDir::new("host-exit");
    let file = dir.join("tenants.toml");
    let tenants = format!(
        "[[tenant]]\nname = \"ok\"\ncomponent = {exit:?}\nargs = [\"0\"]\ninstances = 2\n\
         [[tenant]]\nname = \"seven\"\ncomponent = {exit:?}\nargs = [\"7\"]\n",
        exit = path_str(program("exit_code")),
    );
    std::fs::write(&file, tenants).unwrap();

    let output = output_within(
        Command::new(env!("CARGO_BIN_EXE_sandloop"))
            .args(["host", path_str(&file), "--stats", "60"])
            .stdin(Stdio::null()),
    );

    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(7), "stderr: {stderr}");
    assert!(
        stderr.contains("error: tenant seven instance 0 exited with code 7"),
        "{stderr}"
    );
    // The stats at the end: every instance ended, none trapped.
    assert!(
        stderr.contains("stats tenant=ok instances=0/2 ") && stderr.contains("traps=0"),
        "{stderr}"
    );
}

/// Runs `sandloop host` on a file of `text` in `dir`; asserts exit code 2 and that no
/// tenant ran (none printed), and returns stderr.
fn refused(dir: &TempDir, text: &str) -> String {
    let file = dir.join("tenants.toml");
    std::fs::write(&file, text).unwrap();
    let output = output_within(
        Command::new(env!("CARGO_BIN_EXE_sandloop"))
            .args(["host", path_str(&file)])
            .stdin(Stdio::null()),
    );
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    stderr
}

#[test]
fn bad_tenants_files_exit_2_with_a_clear_error() {
    let dir = TempDir::new("host-bad");
    let hello = path_str(program("hello_world"));

    let stderr = refused(
        &dir,
        &format!("[[tenant]]\nname = \"web\"\ncomponent = {hello:?}\ninstnces = 2\n"),
    );
    assert!(
        stderr.contains("tenant web") && stderr.contains("unknown field `instnces`"),
        "{stderr}"
    );

    let stderr = refused(
        &dir,
        &format!(
            "[[tenant]]\nname = \"web\"\ncomponent = {hello:?}\n\
             [[tenant]]\nname = \"web\"\ncomponent = {hello:?}\n"
        ),
    );
    assert!(stderr.contains("two tenants are named \"web\""), "{stderr}");

    let stderr = refused(
        &dir,
        "[[tenant]]\nname = \"web\"\ncomponent = \"missing.wasm\"\n",
    );
    assert!(stderr.contains("tenant web"), "{stderr}");
    assert!(
        stderr.contains(path_str(&dir.join("missing.wasm"))),
        "{stderr}"
    );
    assert!(stderr.contains("No such file"), "{stderr}");
    // A good tenant before a bad one does not run: every tenant loads before any starts.
    let stderr = refused(
        &dir,
        &format!(
            "[[tenant]]\nname = \"hello\"\ncomponent = {hello:?}\n\
             [[tenant]]\nname = \"web\"\ncomponent = \"missing.wasm\"\n"
        ),
    );
    assert!(stderr.contains("tenant web"), "{stderr}");
}
