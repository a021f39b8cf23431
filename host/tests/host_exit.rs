//! The host's end takes its workloads' children with it, however it ends. On SIGTERM,
//! SIGINT or SIGHUP that no workload handles, the CLI stops its workloads, whose teardown
//! kills and reaps their children, and only then dies of the signal; on SIGKILL, which it
//! cannot catch, the kernel kills each child (its parent-death signal). Children are
//! watched through pidfds, which name the very process even once its pid is reused.

mod common;

use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::os::unix::process::ExitStatusExt as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Cli;

/// A pidfd on a process this test does not own (a child of the CLI's).
struct Pidfd {
    fd: OwnedFd,
    pid: u32,
}

impl Pidfd {
    fn open(pid: u32) -> Pidfd {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        assert!(
            raw >= 0,
            "pidfd_open {pid}: {}",
            std::io::Error::last_os_error()
        );
        let raw = i32::try_from(raw).expect("a descriptor");
        // SAFETY: the descriptor is fresh and ours.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Pidfd { fd, pid }
    }

    /// Whether the process has ended (a zombie has), waiting at most `bound`.
    fn ended_within(&self, bound: Duration) -> bool {
        let mut poll = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let timeout = i32::try_from(bound.as_millis()).expect("a bound in ms");
        // SAFETY: poll on one pollfd of ours; a pidfd turns readable when its process ends.
        let ready = unsafe { libc::poll(&mut poll, 1, timeout) };
        ready == 1
    }

    /// Whether the process is gone altogether: ended and reaped by its parent (a
    /// zombie still takes signals, and answers signal 0).
    fn reaped(&self) -> bool {
        match self.send(0) {
            Ok(()) => false,
            Err(err) => err.raw_os_error() == Some(libc::ESRCH),
        }
    }

    fn send(&self, signum: i32) -> std::io::Result<()> {
        // SAFETY: pidfd_send_signal with our pidfd, a null siginfo and no flags.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                signum,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for Pidfd {
    fn drop(&mut self) {
        // A child the test failed to see killed must not outlive the test.
        let _ = self.send(libc::SIGKILL);
    }
}

/// Starts `sandloop run FLAGS` on the `subprocess` program's `a_sleeper_waited_for` (each
/// copy spawns `sleep 1000`, prints its pid and waits for it) and returns the CLI with a
/// pidfd on each of the `copies` sleepers.
fn start_sleepers(flags: &[&str], copies: usize) -> (Cli, Vec<Pidfd>) {
    let mut cli = Cli::spawn(
        Command::new(env!("CARGO_BIN_EXE_sandloop"))
            .args(["run", "--allow-exec", "/usr/bin/sleep"])
            .args(flags)
            .arg(test_programs_artifacts::program("subprocess"))
            .args(["--", "a_sleeper_waited_for"])
            .env_remove("SANDLOOP_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit()),
    );
    let lines = cli.stdout_lines();
    let sleepers = (0..copies)
        .map(|_| {
            let line = lines.next_line();
            let pid = line
                .trim()
                .parse()
                .unwrap_or_else(|e| panic!("a pid ({e}): {line:?}"));
            Pidfd::open(pid)
        })
        .collect();
    (cli, sleepers)
}

/// Sends `signum` to a CLI running `copies` sleepers: the CLI dies of the signal, and by
/// the time it has, every sleeper is dead and reaped.
fn children_are_reaped_before_the_host_dies_of(signum: i32, flags: &[&str], copies: usize) {
    let (mut cli, sleepers) = start_sleepers(flags, copies);
    cli.signal(signum);
    let status = cli.wait_within();
    assert_eq!(status.signal(), Some(signum), "{status:?}");
    for sleeper in &sleepers {
        assert!(
            sleeper.reaped(),
            "sleeper {} outlived the host, or was left a zombie",
            sleeper.pid
        );
    }
}

#[test]
fn sigterm_to_the_host_kills_and_reaps_the_children_before_it_dies_of_it() {
    children_are_reaped_before_the_host_dies_of(libc::SIGTERM, &[], 1);
}

#[test]
fn sigint_to_the_host_kills_and_reaps_the_children_before_it_dies_of_it() {
    children_are_reaped_before_the_host_dies_of(libc::SIGINT, &[], 1);
}

#[test]
fn sighup_to_the_host_kills_and_reaps_the_children_before_it_dies_of_it() {
    children_are_reaped_before_the_host_dies_of(libc::SIGHUP, &[], 1);
}

#[test]
fn sigterm_kills_and_reaps_the_children_of_every_instance() {
    children_are_reaped_before_the_host_dies_of(libc::SIGTERM, &["--instances", "2"], 2);
}

#[test]
fn sigkill_of_the_host_kills_the_children() {
    let (mut cli, sleepers) = start_sleepers(&[], 1);
    cli.signal(libc::SIGKILL);
    let status = cli.wait_within();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    // Re-parented to init (or a subreaper), which reaps it when it will: ended is what
    // the host answers for.
    for sleeper in &sleepers {
        assert!(
            sleeper.ended_within(common::PATIENCE),
            "sleeper {} outlived the killed host",
            sleeper.pid
        );
    }
}
