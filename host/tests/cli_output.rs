//! What `sandloop` prints for the person reading it: its help, the warning about a host
//! flag that went to the workload, a workload's error as one line, and log lines in colour
//! only on a terminal without NO_COLOR.

mod common;

use std::ffi::CStr;
use std::fs::{File, OpenOptions};
use std::io::Read as _;
use std::net::TcpListener;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::os::unix::fs::OpenOptionsExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, path_str, sandloop, stderr_of};
use test_programs_artifacts::program;

/// The ANSI escape that starts a colour.
const ESCAPE: &str = "\x1b[";

#[test]
fn run_help_describes_max_buffered_as_the_limit_it_is() {
    let help = sandloop(&["run", "--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert_eq!(help.status.code(), Some(0), "{}", stderr_of(&help));
    assert!(text.contains("--max-buffered <BYTES>"), "{text}");
    assert!(!text.contains("Not supported yet"), "{text}");
}

#[test]
fn a_host_flag_after_the_component_is_named_when_the_workload_fails() {
    let to = format!("127.0.0.1:{}", free_port());
    // The grant went to the workload: its connect is denied, and it fails.
    let out = sandloop(&[
        "run",
        path_str(program("echo_client")),
        &to,
        "hello",
        "--allow-connect",
        &to,
    ]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let warning = stderr
        .lines()
        .find(|line| line.starts_with("warning: "))
        .unwrap_or_else(|| panic!("no warning in:\n{stderr}"));
    assert!(warning.contains("`--allow-connect`"), "{warning}");
    assert!(
        warning.contains("put host flags before the component"),
        "{warning}"
    );
}

#[test]
fn a_host_flag_meant_for_the_workload_draws_no_warning() {
    // After a `--`: the user said these are the workload's.
    let to = format!("127.0.0.1:{}", free_port());
    let echo = path_str(program("echo_client"));
    let separated = sandloop(&["run", echo, "--", &to, "hi", "--allow-connect", &to]);
    assert_eq!(separated.status.code(), Some(1));
    assert!(
        !stderr_of(&separated).contains("warning: "),
        "{}",
        stderr_of(&separated)
    );
    // A workload that succeeds took its arguments as it meant to.
    let fine = sandloop(&[
        "run",
        path_str(program("exit_code")),
        "0",
        "--max-memory",
        "1M",
    ]);
    assert_eq!(fine.status.code(), Some(0));
    assert!(
        !stderr_of(&fine).contains("warning: "),
        "{}",
        stderr_of(&fine)
    );
}

#[test]
fn an_error_returned_by_main_prints_as_one_line_with_its_message() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let addr = taken.local_addr().expect("its address").to_string();
    let out = sandloop(&[
        "run",
        "--allow-listen",
        &addr,
        path_str(program("echo_server")),
        &addr,
    ]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("Error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains(&addr), "{stderr}");
    assert!(errors[0].contains("in use"), "{stderr}");
    for debug_form in ["Os(", "Custom {", "kind:"] {
        assert!(!stderr.contains(debug_form), "{stderr}");
    }
}

#[test]
fn a_denial_prints_the_message_the_workload_got() {
    let to = format!("127.0.0.1:{}", free_port());
    let out = sandloop(&["run", path_str(program("echo_client")), &to]);
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains(&format!(
            "\nError: permission denied: policy denies connect to {to}\n"
        )),
        "{stderr}"
    );
}

/// Runs `echo_client` into a denial (an audit line at warn level) with `stderr`, and
/// `NO_COLOR` as given; returns what reached stderr, read from `output`.
fn audit_line_through(
    stderr: Stdio,
    output: impl FnOnce() -> String,
    no_color: Option<&str>,
) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sandloop"));
    command
        .args(["run", path_str(program("echo_client"))])
        .arg(format!("127.0.0.1:{}", free_port()))
        .env_remove("SANDLOOP_LOG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    if let Some(value) = no_color {
        command.env("NO_COLOR", value);
    }
    let mut cli = command.spawn().expect("start the CLI");
    // `command` holds the parent's copy of the stderr end: closing it lets `output` see
    // the end once the CLI has exited.
    drop(command);
    let deadline = Instant::now() + common::PATIENCE;
    while cli.try_wait().expect("wait for the CLI").is_none() {
        if Instant::now() > deadline {
            let _ = cli.kill();
            let _ = cli.wait();
            panic!("the CLI did not end within {:?}", common::PATIENCE);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let text = output();
    assert!(
        text.contains("sandloop::audit"),
        "no audit line in: {text:?}"
    );
    text
}

/// A new pseudo-terminal: its controlling side, and the terminal a child writes to.
fn pty() -> (File, File) {
    // SAFETY: posix_openpt returns a new descriptor or -1.
    let raw = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    assert!(
        raw >= 0,
        "posix_openpt: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: the descriptor is fresh and ours.
    let control = File::from(unsafe { OwnedFd::from_raw_fd(raw) });
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: grantpt, unlockpt and ptsname_r on our own pty, into a buffer of its length.
    unsafe {
        assert_eq!(libc::grantpt(control.as_raw_fd()), 0);
        assert_eq!(libc::unlockpt(control.as_raw_fd()), 0);
        assert_eq!(
            libc::ptsname_r(control.as_raw_fd(), name.as_mut_ptr(), name.len()),
            0
        );
    }
    // SAFETY: ptsname_r wrote a NUL-terminated path into `name`.
    let path = unsafe { CStr::from_ptr(name.as_ptr()) };
    let terminal = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(path.to_str().expect("a UTF-8 pty name"))
        .expect("open the pty's terminal side");
    (control, terminal)
}

/// Everything the terminal side of `control` received, once nobody holds it open
/// (Linux then answers EIO).
fn drain(mut control: File) -> String {
    let mut bytes = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        match control.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn on_a_terminal(no_color: Option<&str>) -> String {
    let (control, terminal) = pty();
    audit_line_through(Stdio::from(terminal), move || drain(control), no_color)
}

#[test]
fn log_lines_are_plain_text_in_a_pipe() {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    let mut reader = Some(reader);
    let text = audit_line_through(
        Stdio::from(writer),
        || {
            let mut text = String::new();
            let _ = reader.take().expect("once").read_to_string(&mut text);
            text
        },
        None,
    );
    assert!(!text.contains(ESCAPE), "{text:?}");
}

#[test]
fn log_lines_are_in_colour_on_a_terminal_unless_no_color_is_set() {
    assert!(on_a_terminal(None).contains(ESCAPE));
    // no-color.org: an empty NO_COLOR is as good as none.
    assert!(on_a_terminal(Some("")).contains(ESCAPE));
    let plain = on_a_terminal(Some("1"));
    assert!(!plain.contains(ESCAPE), "{plain:?}");
}
