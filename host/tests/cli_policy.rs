//! `sandloop run --policy FILE`: the CLI as a child, a policy file in a temp dir, and the
//! guest program `policy_probe` trying one thing per run (connect, listen, resolve, write,
//! read, env) and printing the outcome. Each grant works, each thing not granted is a
//! `PermissionDenied` naming the operation and the target (and an audit line in the host's
//! log), flags add to the file, and bad files exit 2 naming the problem.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Probe, TempDir};
use test_programs_artifacts::program;

/// Writes the policy file `policy.toml` into `dir` and returns its path.
fn write_policy(dir: &TempDir, text: &str) -> PathBuf {
    let path = dir.join("policy.toml");
    std::fs::write(&path, text).expect("write the policy file");
    path
}

/// Runs `sandloop run FLAGS policy_probe -- ARGS` to its end (a child still running after
/// [`common::PATIENCE`] is killed and fails the test; every probe does one bounded thing).
fn probe(flags: &[&str], args: &[&str]) -> Probe {
    common::probe(
        flags,
        "policy_probe",
        args,
        &[("PROBE_HOST_VALUE", "from-the-host")],
    )
}

impl Probe {
    fn assert_ok(&self) -> &Probe {
        assert_eq!(
            self.code,
            Some(0),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// A denial: the guest's `PermissionDenied` with exactly `words`, and the audit line.
    fn assert_denied(&self, words: &str) {
        assert_eq!(
            self.code,
            Some(3),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        assert_eq!(self.stdout, format!("permission denied: {words}"));
        assert!(
            self.stderr.contains("sandloop::audit") && self.stderr.contains(words),
            "no audit line for {words:?}:\n{}",
            self.stderr
        );
    }

    /// The host refused to run: exit 2, every one of `words` in its message.
    fn assert_host_error(&self, words: &[&str]) {
        assert_eq!(
            self.code,
            Some(2),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        for word in words {
            assert!(
                self.stderr.contains(word),
                "{word:?} missing in:\n{}",
                self.stderr
            );
        }
    }
}

fn arg(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp paths")
}

#[test]
fn connect_granted_by_the_file_works_and_other_ports_are_denied() {
    let tmp = TempDir::new("connect");
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let other = common::free_port();
    let file = write_policy(
        &tmp,
        &format!("[network]\n# only this port\nconnect = [\"127.0.0.1:{port}\"]\n"),
    );

    let granted = probe(
        &["--policy", arg(&file)],
        &["connect", "127.0.0.1", &port.to_string()],
    );
    let denied = probe(
        &["--policy", arg(&file)],
        &["connect", "127.0.0.1", &other.to_string()],
    );

    granted.assert_ok();
    denied.assert_denied(&format!("policy denies connect to 127.0.0.1:{other}"));
}

#[test]
fn listen_granted_by_the_file_works_and_other_addresses_are_denied() {
    let tmp = TempDir::new("listen");
    let file = write_policy(&tmp, "[network]\nlisten = [\"127.0.0.1:*\"]\n");

    let granted = probe(&["--policy", arg(&file)], &["listen", "127.0.0.1", "0"]);
    let denied = probe(&["--policy", arg(&file)], &["listen", "::1", "0"]);

    granted.assert_ok();
    denied.assert_denied("policy denies bind to [::1]:0");
}

#[test]
fn flags_add_to_the_file() {
    let tmp = TempDir::new("flags-add");
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port().to_string();
    let file = write_policy(
        &tmp,
        &format!("[network]\nconnect = [\"127.0.0.1:{port}\"]\n"),
    );
    let flags = ["--policy", arg(&file), "--allow-listen", "127.0.0.1:*"];

    probe(&flags, &["listen", "127.0.0.1", "0"]).assert_ok();
    probe(&flags, &["connect", "127.0.0.1", &port]).assert_ok();
    // Without the flag the file alone does not grant listening.
    probe(&flags[..2], &["listen", "127.0.0.1", "0"])
        .assert_denied("policy denies bind to 127.0.0.1:0");
}

#[test]
fn dns_off_in_the_file_denies_lookups_but_fixed_names_answer() {
    let tmp = TempDir::new("dns-off");
    let file = write_policy(
        &tmp,
        "[network]\ndns = false\n[network.resolve]\n\"db.internal\" = [\"10.0.0.7\"]\n",
    );

    let denied = probe(&["--policy", arg(&file)], &["resolve", "example.com"]);
    let fixed = probe(&["--policy", arg(&file)], &["resolve", "db.internal"]);
    let literal = probe(&["--policy", arg(&file)], &["resolve", "127.0.0.1"]);

    denied.assert_denied("policy denies DNS lookup of example.com");
    assert_eq!(fixed.assert_ok().stdout, "ok: 10.0.0.7:80");
    assert_eq!(literal.assert_ok().stdout, "ok: 127.0.0.1:80");
}

#[test]
fn no_dns_flag_denies_lookups_and_dns_stays_on_by_default() {
    let denied = probe(&["--no-dns"], &["resolve", "localhost"]);
    let allowed = probe(&[], &["resolve", "localhost"]);

    denied.assert_denied("policy denies DNS lookup of localhost");
    allowed.assert_ok();
}

#[test]
fn a_writable_dir_takes_the_guests_file_and_a_read_only_one_refuses() {
    let tmp = TempDir::new("dirs");
    let (out, www) = (tmp.0.join("out"), tmp.0.join("www"));
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello from the host").unwrap();
    let file = write_policy(
        &tmp,
        &format!(
            "[[dirs]]\nhost = {:?}\nguest = \"/out\"\nwritable = true\n\n\
         [[dirs]]\nhost = {:?}\nguest = \"/www\"\n",
            arg(&out),
            arg(&www),
        ),
    );
    let flags = ["--policy", arg(&file)];

    probe(
        &flags,
        &["write", "/out/result.txt", "written by the guest"],
    )
    .assert_ok();
    let read = probe(&flags, &["read", "/www/index.html"]);
    let refused = probe(&flags, &["write", "/www/index.html", "defaced"]);

    assert_eq!(
        std::fs::read_to_string(out.join("result.txt")).unwrap(),
        "written by the guest"
    );
    assert_eq!(read.assert_ok().stdout, "ok: hello from the host");
    assert_eq!(refused.code, Some(3), "{}", refused.stdout);
    assert!(
        refused.stdout.starts_with("write /www/index.html: "),
        "{}",
        refused.stdout
    );
    assert_eq!(
        std::fs::read_to_string(www.join("index.html")).unwrap(),
        "hello from the host"
    );
}

#[test]
fn dir_rw_flag_grants_writing_and_dir_stays_read_only() {
    let tmp = TempDir::new("dir-rw");
    let rw = format!("{}::/data", arg(&tmp.0));

    probe(
        &["--dir-rw", &rw],
        &["write", "/data/a.txt", "via --dir-rw"],
    )
    .assert_ok();
    let refused = probe(&["--dir", &rw], &["write", "/data/b.txt", "via --dir"]);

    assert_eq!(
        std::fs::read_to_string(tmp.0.join("a.txt")).unwrap(),
        "via --dir-rw"
    );
    assert_eq!(refused.code, Some(3), "{}", refused.stdout);
    assert!(!tmp.0.join("b.txt").exists());
}

#[test]
fn the_files_environment_reaches_the_workload_and_env_flags_override_it() {
    let tmp = TempDir::new("env");
    let file = write_policy(
        &tmp,
        "[env]\nset = { MODE = \"from-file\", KEPT = \"yes\" }\ninherit = [\"PROBE_HOST_VALUE\"]\n",
    );
    let flags = ["--policy", arg(&file)];

    let kept = probe(&flags, &["env", "KEPT"]);
    let inherited = probe(&flags, &["env", "PROBE_HOST_VALUE"]);
    let overridden = probe(
        &["--policy", arg(&file), "--env", "MODE=from-flag"],
        &["env", "MODE"],
    );

    assert_eq!(kept.assert_ok().stdout, "ok: yes");
    assert_eq!(inherited.assert_ok().stdout, "ok: from-the-host");
    assert_eq!(overridden.assert_ok().stdout, "ok: from-flag");
    // Nothing of the host's environment reaches a workload unless granted.
    let not_granted = probe(&[], &["env", "PROBE_HOST_VALUE"]);
    assert_eq!(not_granted.assert_ok().stdout, "ok: unset");
}

#[test]
fn bad_files_exit_2_naming_the_problem() {
    let tmp = TempDir::new("bad");
    let unknown = tmp.0.join("unknown.toml");
    std::fs::write(
        &unknown,
        "[network]\nconnect = []\nconect = [\"127.0.0.1:80\"]\n",
    )
    .unwrap();
    let bad_rule = tmp.0.join("bad-rule.toml");
    std::fs::write(&bad_rule, "[network]\nlisten = [\"127.0.0.1:http\"]\n").unwrap();
    let missing = tmp.0.join("missing.toml");

    probe(&["--policy", arg(&unknown)], &["env", "X"]).assert_host_error(&[
        arg(&unknown),
        "line 3",
        "unknown field `conect`",
    ]);
    probe(&["--policy", arg(&bad_rule)], &["env", "X"]).assert_host_error(&[
        arg(&bad_rule),
        "line 2",
        "\"127.0.0.1:http\"",
        "not a port",
    ]);
    probe(&["--policy", arg(&missing)], &["env", "X"])
        .assert_host_error(&["cannot read the policy file", arg(&missing)]);
}

#[test]
fn grants_and_limits_that_can_never_work_exit_2_naming_the_flag_or_the_file() {
    let never_handled = "can never be handled";
    let unset = "leave the limit unset for no limit";
    for (flags, words) in [
        (
            ["--allow-signal", "SIGKILL"],
            ["--allow-signal", never_handled],
        ),
        (["--allow-signal", "19"], ["--allow-signal", "SIGSTOP"]),
        (["--max-handles", "0"], ["--max-handles", unset]),
        (["--max-callback-time", "0"], ["--max-callback-time", unset]),
        (["--max-memory", "0"], ["--max-memory", unset]),
        (
            ["--max-memory", "5G"],
            ["--max-memory", "more than a wasm32 memory"],
        ),
    ] {
        probe(&flags, &["env", "X"]).assert_host_error(&words);
    }
    let tmp = TempDir::new("never");
    let file = write_policy(&tmp, "[signals]\nallow = [\"SIGTERM\", \"SIGKILL\"]\n");
    probe(&["--policy", arg(&file)], &["env", "X"]).assert_host_error(&[
        arg(&file),
        "line 2",
        never_handled,
    ]);
    let file = write_policy(&tmp, "[limits]\nhandles = 0\n");
    probe(&["--policy", arg(&file)], &["env", "X"]).assert_host_error(&[
        arg(&file),
        "[limits]",
        "handle limit of 0",
    ]);
    // The largest memory a wasm32 workload can have is a limit that works.
    probe(&["--max-memory", "4G"], &["env", "X"]).assert_ok();
}

#[test]
fn process_signal_and_udp_grants_of_the_file_work_and_the_rest_is_denied() {
    let tmp = TempDir::new("process");
    let file = write_policy(
        &tmp,
        "[process]\nexec = [\"/usr/bin/true\"]\nshell = true\n\
         [signals]\nallow = [\"SIGUSR1\"]\n\
         [network]\nudp_bind = [\"127.0.0.1:*\"]\n",
    );
    let flags = ["--policy", arg(&file)];

    assert_eq!(
        probe(&flags, &["exec", "/usr/bin/true"]).assert_ok().stdout,
        "ok: exit 0"
    );
    assert_eq!(
        probe(&flags, &["shell", "exit 7"]).assert_ok().stdout,
        "ok: exit 7"
    );
    probe(&flags, &["signal", "10"]).assert_ok();
    probe(&flags, &["udp-bind", "127.0.0.1:0"]).assert_ok();

    probe(&flags, &["exec", "/usr/bin/false"])
        .assert_denied("policy denies exec of /usr/bin/false");
    probe(&[], &["shell", "exit 7"]).assert_denied("policy denies the shell");
    probe(&flags, &["signal", "12"]).assert_denied("policy denies handling signal SIGUSR2");
    probe(&flags, &["udp-bind", "[::1]:0"]).assert_denied("policy denies udp bind to [::1]:0");
}

#[test]
fn udp_send_and_child_env_grants_of_the_file_work_and_the_rest_is_denied() {
    let tmp = TempDir::new("udp-send");
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let to = receiver.local_addr().unwrap().to_string();
    let file = write_policy(
        &tmp,
        &format!(
            "[network]\nudp_send = [\"{to}\"]\n\
         [process]\nexec = [\"/usr/bin/printenv\"]\nchild_env = [\"GREETING\"]\n"
        ),
    );
    let flags = ["--policy", arg(&file)];

    assert_eq!(
        probe(&flags, &["udp-send", &to, "hello"])
            .assert_ok()
            .stdout,
        "ok: sent 5"
    );
    let mut buf = [0; 16];
    let (n, _) = receiver.recv_from(&mut buf).expect("the datagram arrives");
    assert_eq!(&buf[..n], b"hello");
    assert_eq!(
        probe(&flags, &["exec-env", "GREETING", "hi"])
            .assert_ok()
            .stdout,
        "ok: exit 0"
    );

    probe(&flags, &["udp-send", "127.0.0.1:9", "hello"])
        .assert_denied("policy denies udp send to 127.0.0.1:9");
    probe(&flags, &["exec-env", "HOME", "/root"])
        .assert_denied("policy denies the child environment variable HOME");
}

#[test]
fn unix_rules_of_the_file_grant_their_paths_and_names_only() {
    let tmp = TempDir::new("unix");
    let name = format!("sandloop-policy-{}", std::process::id());
    let file = write_policy(
        &tmp,
        &format!(
            "[network]\nunix = [{:?}, \"@{name}*\"]\n",
            format!("{}/", arg(&tmp.0))
        ),
    );
    let flags = ["--policy", arg(&file)];
    let socket = tmp.0.join("app.sock");

    probe(&flags, &["unix-listen", arg(&socket)]).assert_ok();
    probe(&flags, &["unix-listen", &format!("@{name}-1")]).assert_ok();
    probe(&flags, &["unix-listen", "@elsewhere"])
        .assert_denied("policy denies bind to abstract unix name @elsewhere");
}

#[test]
fn limits_of_the_file_hold_and_a_flag_replaces_one() {
    let dir = TempDir::new("limits");
    let policy = write_policy(
        &dir,
        "[limits]\nmemory = \"16M\"\ncallback_time_ms = 60000\n",
    );
    let run = |flags: &[&str]| {
        common::output_within(
            Command::new(env!("CARGO_BIN_EXE_sandloop"))
                .arg("run")
                .args(flags)
                .arg(program("limits"))
                .args(["--", "allocate_without_bound"])
                .env("SANDLOOP_LOG", "warn")
                .stdin(Stdio::null()),
        )
    };
    let out = run(&["--policy", arg(&policy)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("memory limit of {} bytes exceeded", 16 << 20)),
        "{stderr}"
    );
    let out = run(&["--policy", arg(&policy), "--max-memory", "32M"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("memory limit of {} bytes exceeded", 32 << 20)),
        "{stderr}"
    );
}
