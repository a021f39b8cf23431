//! Subprocesses, after CPython's test_subprocess.py and test_asyncio/test_subprocess.py, in
//! our own code: exit codes, a large output without deadlock, EOF on stdin, kill and
//! terminate, returncode, communicate, the environment the policy lets through, `/dev/null`
//! and stderr merged into stdout, and the policy's refusals. Children are real programs
//! of the host (`/usr/bin/...`, `/bin/sh`); the host test grants `/usr/bin/`, the shell
//! and the variable GREETING.

use std::io;

use sandloop::subprocess::{
    Process, SIGKILL, SIGTERM, Stdio, SubprocessOptions, create_subprocess_exec,
    create_subprocess_shell,
};
use std::cell::RefCell;
use std::rc::Rc;

use sandloop::subprocess::PipeTransport;
use sandloop::{Error, Result, SubprocessProtocol, SubprocessTransport, get_running_loop, run};
use test_programs::{cases, until};

cases!(
    exit_codes,
    ten_mebibytes_on_stdout_without_deadlock,
    closing_stdin_gives_the_child_eof,
    kill_and_terminate,
    returncode_after_exit,
    communicate_with_input,
    environment_is_only_what_was_passed,
    null_and_stderr_to_stdout,
    signals_after_exit_are_ignored,
    a_bare_name_is_found_in_granted_directories,
    protocol_callbacks_come_in_asyncio_order,
    transport_kill_and_returncode,
    transport_close_kills_a_running_child,
    pipe_transports_by_stream_number;
    checked:
    denied_executable,
    denied_shell,
    denied_environment_variable,
    trapped_workload_leaves_no_child,
    dropping_a_process_kills_its_child,
    a_sleeper_waited_for,
);

const NO_ARGS: [&str; 0] = [];

async fn exec(program: &str, args: &[&str], opts: SubprocessOptions) -> Result<Process> {
    create_subprocess_exec(program, args, opts).await
}

fn exit_codes() -> Result<()> {
    run(async {
        let ok = exec("/usr/bin/true", &[], SubprocessOptions::default()).await?;
        assert_eq!(ok.wait().await?, 0);
        let bad = exec("/usr/bin/false", &[], SubprocessOptions::default()).await?;
        assert_eq!(bad.wait().await?, 1);
        let seven = create_subprocess_shell("exit 7", SubprocessOptions::default()).await?;
        assert_eq!(seven.wait().await?, 7);
        Ok::<_, Error>(())
    })
}

fn ten_mebibytes_on_stdout_without_deadlock() -> Result<()> {
    run(async {
        const SIZE: usize = 10 << 20;
        let opts = SubprocessOptions {
            stdout: Stdio::Pipe,
            ..Default::default()
        };
        let size = SIZE.to_string();
        let mut head = exec("/usr/bin/head", &["-c", &size, "/dev/zero"], opts).await?;
        let (out, err) = head.communicate(None).await?;
        assert_eq!(out.len(), SIZE);
        assert!(out.iter().all(|&b| b == 0));
        assert!(err.is_empty());
        assert_eq!(head.returncode(), Some(0));
        Ok::<_, Error>(())
    })
}

fn closing_stdin_gives_the_child_eof() -> Result<()> {
    run(async {
        let cat = exec("/usr/bin/cat", &[], SubprocessOptions::piped()).await?;
        let stdin = cat.stdin.as_ref().expect("piped stdin");
        stdin.write(b"line one\nline two\n");
        stdin.drain().await?;
        let stdout = cat.stdout.as_ref().expect("piped stdout");
        assert_eq!(stdout.readline().await?, b"line one\n");
        // cat only ends when its stdin does.
        assert_eq!(cat.returncode(), None);
        stdin.close();
        assert_eq!(stdout.read_to_end().await?, b"line two\n");
        assert_eq!(cat.wait().await?, 0);
        Ok::<_, Error>(())
    })
}

fn kill_and_terminate() -> Result<()> {
    run(async {
        let sleeper = exec("/usr/bin/sleep", &["1000"], SubprocessOptions::default()).await?;
        sleeper.kill()?;
        assert_eq!(sleeper.wait().await?, -SIGKILL);
        let sleeper = exec("/usr/bin/sleep", &["1000"], SubprocessOptions::default()).await?;
        sleeper.terminate()?;
        assert_eq!(sleeper.wait().await?, -SIGTERM);
        let sleeper = exec("/usr/bin/sleep", &["1000"], SubprocessOptions::default()).await?;
        sleeper.send_signal(SIGTERM)?;
        assert_eq!(sleeper.wait().await?, -SIGTERM);
        Ok::<_, Error>(())
    })
}

fn returncode_after_exit() -> Result<()> {
    run(async {
        let sleeper = exec("/usr/bin/sleep", &["0.2"], SubprocessOptions::default()).await?;
        assert!(sleeper.pid > 0);
        assert_eq!(sleeper.returncode(), None);
        assert_eq!(sleeper.wait().await?, 0);
        assert_eq!(sleeper.returncode(), Some(0));
        // Waiting again answers at once.
        assert_eq!(sleeper.wait().await?, 0);
        Ok::<_, Error>(())
    })
}

fn communicate_with_input() -> Result<()> {
    run(async {
        let mut sort = exec("/usr/bin/sort", &[], SubprocessOptions::piped()).await?;
        let (out, err) = sort.communicate(Some(b"pear\napple\nfig\n")).await?;
        assert_eq!(out, b"apple\nfig\npear\n");
        assert!(err.is_empty());
        assert_eq!(sort.returncode(), Some(0));
        assert!(sort.stdin.is_none(), "communicate closes stdin");
        Ok::<_, Error>(())
    })
}

fn environment_is_only_what_was_passed() -> Result<()> {
    run(async {
        let opts = SubprocessOptions {
            stdout: Stdio::Pipe,
            env: vec![("GREETING".into(), "hello".into())],
            ..Default::default()
        };
        let mut env = exec("/usr/bin/env", &[], opts).await?;
        let (out, _) = env.communicate(None).await?;
        assert_eq!(out, b"GREETING=hello\n");
        let opts = SubprocessOptions {
            stdout: Stdio::Pipe,
            ..Default::default()
        };
        let mut env = exec("/usr/bin/env", &[], opts).await?;
        let (out, _) = env.communicate(None).await?;
        assert_eq!(out, b"", "a child gets nothing of the host's environment");
        Ok::<_, Error>(())
    })
}

fn null_and_stderr_to_stdout() -> Result<()> {
    run(async {
        let opts = SubprocessOptions {
            stdin: Stdio::Null,
            stdout: Stdio::Pipe,
            stderr: Stdio::Stdout,
            ..Default::default()
        };
        let mut sh = create_subprocess_shell("cat; echo out; echo err >&2", opts).await?;
        assert!(sh.stdin.is_none() && sh.stderr.is_none());
        let (out, err) = sh.communicate(None).await?;
        assert_eq!(out, b"out\nerr\n");
        assert!(err.is_empty());
        // stdout to /dev/null: nothing comes back, the child still runs to its end.
        let opts = SubprocessOptions {
            stdout: Stdio::Null,
            stderr: Stdio::Pipe,
            ..Default::default()
        };
        let mut sh = create_subprocess_shell("echo gone; echo kept >&2", opts).await?;
        assert!(sh.stdout.is_none());
        assert_eq!(
            sh.communicate(None).await?,
            (Vec::new(), b"kept\n".to_vec())
        );
        // A pipe end of the workload as the child's stdout.
        let (reader, writer) = sandloop::os::pipe()?;
        let opts = SubprocessOptions {
            stdout: writer.into(),
            ..Default::default()
        };
        let echo = exec("/usr/bin/echo", &["handed over"], opts).await?;
        assert_eq!(echo.wait().await?, 0);
        let lp = sandloop::get_running_loop()?;
        let mut got = Vec::new();
        while !got.ends_with(b"\n") {
            match reader.read(64) {
                Ok(data) => got.extend(data),
                Err(Error::Os(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    sandloop::sleep(std::time::Duration::from_millis(1)).await?;
                }
                Err(e) => return Err(e),
            }
        }
        let _ = lp;
        assert_eq!(got, b"handed over\n");
        Ok::<_, Error>(())
    })
}

fn signals_after_exit_are_ignored() -> Result<()> {
    run(async {
        let done = exec("/usr/bin/true", &[], SubprocessOptions::default()).await?;
        assert_eq!(done.wait().await?, 0);
        done.kill()?;
        done.terminate()?;
        assert_eq!(done.returncode(), Some(0));
        let err = done.send_signal(-1);
        assert!(err.is_ok(), "after exit nothing is sent: {err:?}");
        Ok::<_, Error>(())
    })
}

fn a_bare_name_is_found_in_granted_directories() -> Result<()> {
    run(async {
        let mut echo = exec(
            "echo",
            &["found"],
            SubprocessOptions {
                stdout: Stdio::Pipe,
                ..Default::default()
            },
        )
        .await?;
        assert_eq!(echo.communicate(None).await?.0, b"found\n");
        Ok::<_, Error>(())
    })
}

/// Prints what the guest sees when the policy refuses.
fn print_denial(result: Result<Process>) {
    match result {
        Err(err @ Error::PermissionDenied(_)) => println!("{err}"),
        other => panic!("expected a denial, got {other:?}"),
    }
}

fn denied_executable() -> Result<()> {
    run(async {
        print_denial(exec("/usr/bin/cat", &[], SubprocessOptions::default()).await);
        print_denial(create_subprocess_exec("cat", NO_ARGS, SubprocessOptions::default()).await);
        print_denial(exec("/usr/bin/../bin/true", &[], SubprocessOptions::default()).await);
        Ok::<_, Error>(())
    })
}

fn denied_shell() -> Result<()> {
    run(async {
        print_denial(create_subprocess_shell("true", SubprocessOptions::default()).await);
        Ok::<_, Error>(())
    })
}

fn denied_environment_variable() -> Result<()> {
    run(async {
        let opts = SubprocessOptions {
            env: vec![("HOME".into(), "/root".into())],
            ..Default::default()
        };
        print_denial(exec("/usr/bin/true", &[], opts).await);
        Ok::<_, Error>(())
    })
}

fn trapped_workload_leaves_no_child() -> Result<()> {
    run(async {
        let sleeper = exec("/usr/bin/sleep", &["1000"], SubprocessOptions::default()).await?;
        println!("{}", sleeper.pid);
        let sleeper_pid_printed = || true;
        // Keep the Process alive: the host, not the guest's drop, must end the child.
        std::mem::forget(sleeper);
        if sleeper_pid_printed() {
            panic!("the workload traps with a child running");
        }
        Ok::<_, Error>(())
    })
}

/// What a subprocess protocol saw, in order.
#[derive(Default)]
struct Record {
    events: Vec<String>,
    out: Vec<u8>,
}

impl SubprocessProtocol for Record {
    fn connection_made(&mut self, transport: &SubprocessTransport) {
        assert!(transport.get_pid() > 0);
        self.events.push("made".into());
    }

    fn pipe_data_received(&mut self, fd: i32, data: &[u8]) {
        if fd == 1 {
            self.out.extend_from_slice(data);
        }
        self.events
            .push(format!("data {fd} {}", String::from_utf8_lossy(data)));
    }

    fn pipe_connection_lost(&mut self, fd: i32, exc: Option<Error>) {
        let how = exc.as_ref().map(Error::kind);
        self.events.push(format!("pipe lost {fd} {how:?}"));
    }

    fn process_exited(&mut self) {
        self.events.push("exited".into());
    }

    fn connection_lost(&mut self, exc: Option<Error>) {
        assert!(exc.is_none());
        self.events.push("lost".into());
    }
}

fn lost(record: &Rc<RefCell<Record>>) -> bool {
    record.borrow().events.last().map(String::as_str) == Some("lost")
}

fn protocol_callbacks_come_in_asyncio_order() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let opts = SubprocessOptions {
            stdin: Stdio::Null,
            ..SubprocessOptions::piped()
        };
        let (transport, record) = lp
            .subprocess_shell(Record::default, "echo out; echo err >&2; exit 3", opts)
            .await?;
        until(10, || lost(&record)).await?;
        let events = record.borrow().events.clone();
        assert_eq!(events.first().map(String::as_str), Some("made"));
        assert_eq!(events.last().map(String::as_str), Some("lost"));
        for expected in [
            "data 1 out\n",
            "data 2 err\n",
            "pipe lost 1 None",
            "pipe lost 2 None",
            "exited",
        ] {
            assert!(
                events.iter().any(|e| e == expected),
                "{expected:?} in {events:?}"
            );
        }
        assert_eq!(events.len(), 7, "{events:?}");
        assert_eq!(transport.get_returncode(), Some(3));
        assert!(transport.get_pipe_transport(0).is_none());
        Ok::<_, Error>(())
    })
}

fn transport_kill_and_returncode() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (transport, record) = lp
            .subprocess_exec(
                Record::default,
                "/usr/bin/sleep",
                ["1000"],
                SubprocessOptions::default(),
            )
            .await?;
        assert_eq!(transport.get_returncode(), None);
        transport.terminate()?;
        until(10, || lost(&record)).await?;
        assert_eq!(transport.get_returncode(), Some(-SIGTERM));
        assert_eq!(record.borrow().events, ["made", "exited", "lost"]);
        let (transport, record) = lp
            .subprocess_exec(
                Record::default,
                "/usr/bin/sleep",
                ["1000"],
                SubprocessOptions::default(),
            )
            .await?;
        transport.kill()?;
        until(10, || lost(&record)).await?;
        assert_eq!(transport.get_returncode(), Some(-SIGKILL));
        Ok::<_, Error>(())
    })
}

fn transport_close_kills_a_running_child() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (transport, record) = lp
            .subprocess_exec(
                Record::default,
                "/usr/bin/sleep",
                ["1000"],
                SubprocessOptions::piped(),
            )
            .await?;
        transport.close();
        assert!(transport.is_closing());
        until(10, || lost(&record)).await?;
        assert_eq!(transport.get_returncode(), Some(-SIGKILL));
        Ok::<_, Error>(())
    })
}

fn pipe_transports_by_stream_number() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (transport, record) = lp
            .subprocess_exec(
                Record::default,
                "/usr/bin/cat",
                NO_ARGS,
                SubprocessOptions::piped(),
            )
            .await?;
        let Some(PipeTransport::Write(stdin)) = transport.get_pipe_transport(0) else {
            panic!("stdin is a write pipe");
        };
        assert!(matches!(
            transport.get_pipe_transport(1),
            Some(PipeTransport::Read(_))
        ));
        assert!(matches!(
            transport.get_pipe_transport(2),
            Some(PipeTransport::Read(_))
        ));
        assert!(transport.get_pipe_transport(3).is_none());
        stdin.write(b"through cat\n");
        stdin.write_eof();
        until(10, || lost(&record)).await?;
        assert_eq!(record.borrow().out, b"through cat\n");
        assert_eq!(transport.get_returncode(), Some(0));
        Ok::<_, Error>(())
    })
}

fn dropping_a_process_kills_its_child() -> Result<()> {
    run(async {
        let sleeper = exec("/usr/bin/sleep", &["1000"], SubprocessOptions::piped()).await?;
        let pid = sleeper.pid;
        drop(sleeper);
        // Printed after the drop: the host test checks the child is gone by then.
        println!("{pid}");
        Ok::<_, Error>(())
    })
}

/// Spawns `sleep 1000` (its stdio on /dev/null), prints its pid and waits for it: the host
/// test ends the host under it and checks the child went with it.
fn a_sleeper_waited_for() -> Result<()> {
    run(async {
        let quiet = SubprocessOptions {
            stdin: Stdio::Null,
            stdout: Stdio::Null,
            stderr: Stdio::Null,
            ..SubprocessOptions::default()
        };
        let sleeper = exec("/usr/bin/sleep", &["1000"], quiet).await?;
        println!("{}", sleeper.pid);
        sleeper.wait().await?;
        Ok::<_, Error>(())
    })
}
