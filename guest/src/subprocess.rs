//! Subprocesses (asyncio's `asyncio.subprocess`): [`create_subprocess_exec`],
//! [`create_subprocess_shell`] and [`Process`], whose pipes are
//! [`StreamWriter`]/[`StreamReader`]s.
//!
//! ```no_run
//! use sandloop::subprocess::{self, Stdio, SubprocessOptions};
//!
//! sandloop::run(async {
//!     let opts = SubprocessOptions { stdin: Stdio::Pipe, stdout: Stdio::Pipe, ..Default::default() };
//!     let mut sort = subprocess::create_subprocess_exec("/usr/bin/sort", ["-r"], opts).await?;
//!     let (out, _) = sort.communicate(Some(b"a\nc\nb\n")).await?;
//!     assert_eq!(out, b"c\nb\na\n");
//!     assert_eq!(sort.wait().await?, 0);
//!     Ok::<_, sandloop::Error>(())
//! })
//! .unwrap();
//! ```
//!
//! The host's policy decides what may run: `--allow-exec PATH` (a file, or a directory of
//! executables; a bare program name is looked up only there, never in the host's `PATH`),
//! `--allow-shell` for [`create_subprocess_shell`], and `--child-env NAME` for each
//! environment variable the workload passes. A refusal is [`Error::PermissionDenied`]
//! naming the program, the shell or the variable.
//!
//! Differences from asyncio, each for a sandbox or Rust reason:
//! - a child's environment is exactly [`SubprocessOptions::env`] (empty by default),
//!   never the workload's or the host's;
//! - dropping a [`Process`] whose child still runs kills (SIGKILL) and reaps the child,
//!   and a workload that ends or traps takes its children with it;
//! - [`Process::returncode`] asks the host (it never blocks), so it is set as soon as the
//!   child has exited, not one loop iteration later.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use crate::EventLoop;

mod transport;

use crate::error::{Error, Result};
use crate::events::get_running_loop;
use crate::net::Socket;
use crate::os::{PipeInfo, PipeReader, PipeWriter};
use crate::readiness::Direction;
use crate::streams::{DEFAULT_LIMIT, StreamReader, StreamReaderProtocol, StreamWriter};
use crate::sys::fs::HostPipe;
use crate::sys::process::{ChildStdio, HostChild, Spawn};
use crate::transports::Transport;
pub use transport::{PipeTransport, SubprocessProtocol, SubprocessTransport};

/// SIGTERM and SIGKILL, what [`Process::terminate`] and [`Process::kill`] send: the
/// constants of [`crate::signal`], re-exported where subprocess code looks for them.
pub use crate::signal::{SIGKILL, SIGTERM};

/// Where one of the child's standard streams goes (asyncio's `stdin=`/`stdout=`/`stderr=`).
///
/// A pipeline, `echo | sort`, through a pipe of the workload:
///
/// ```no_run
/// use sandloop::subprocess::{Stdio, SubprocessOptions, create_subprocess_exec};
/// sandloop::run(async {
///     let (read_end, write_end) = sandloop::os::pipe()?;
///     let echo_opts = SubprocessOptions { stdout: write_end.into(), ..Default::default() };
///     let echo = create_subprocess_exec("/bin/echo", ["b\na"], echo_opts).await?;
///     let sort_opts =
///         SubprocessOptions { stdin: read_end.into(), stdout: Stdio::Pipe, ..Default::default() };
///     let mut sort = create_subprocess_exec("/usr/bin/sort", [] as [&str; 0], sort_opts).await?;
///     let (out, _) = sort.communicate(None).await?;
///     assert_eq!(out, b"a\nb\n");
///     echo.wait().await?;
///     Ok::<_, sandloop::Error>(())
/// })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
#[derive(Debug, Default)]
pub enum Stdio {
    /// The host process's own stream (asyncio's `None`, the default).
    #[default]
    Inherit,
    /// A new pipe to the workload (`asyncio.subprocess.PIPE`).
    Pipe,
    /// `/dev/null` (`asyncio.subprocess.DEVNULL`).
    Null,
    /// One end of a pipe of the workload, given to the child (a file descriptor).
    Handle(ChildHandle),
    /// For stderr only: wherever stdout goes (`asyncio.subprocess.STDOUT`).
    Stdout,
}

/// A pipe end handed to a child as one of its streams: a read end for stdin, a write end
/// for stdout or stderr.
///
/// ```no_run
/// use sandloop::subprocess::{ChildHandle, Stdio};
/// let (read_end, _write_end) = sandloop::os::pipe()?;
/// let stdin = Stdio::Handle(ChildHandle::Read(read_end)); // what `read_end.into()` gives
/// # let _ = stdin;
/// # Ok::<_, sandloop::Error>(())
/// ```
#[derive(Debug)]
pub enum ChildHandle {
    /// A read end (for the child's stdin).
    Read(PipeReader),
    /// A write end (for the child's stdout or stderr).
    Write(PipeWriter),
}

impl From<PipeReader> for Stdio {
    fn from(pipe: PipeReader) -> Stdio {
        Stdio::Handle(ChildHandle::Read(pipe))
    }
}

impl From<PipeWriter> for Stdio {
    fn from(pipe: PipeWriter) -> Stdio {
        Stdio::Handle(ChildHandle::Write(pipe))
    }
}

impl Stdio {
    fn into_host(self) -> ChildStdio {
        match self {
            Stdio::Inherit => ChildStdio::Inherit,
            Stdio::Pipe => ChildStdio::Pipe,
            Stdio::Null => ChildStdio::Null,
            Stdio::Handle(ChildHandle::Read(pipe)) => ChildStdio::Handle(pipe.into_host()),
            Stdio::Handle(ChildHandle::Write(pipe)) => ChildStdio::Handle(pipe.into_host()),
            Stdio::Stdout => ChildStdio::Stdout,
        }
    }
}

/// How a child is started (asyncio's keyword arguments).
///
/// ```no_run
/// use sandloop::subprocess::{Stdio, SubprocessOptions};
/// let opts = SubprocessOptions {
///     stdout: Stdio::Pipe,
///     stderr: Stdio::Stdout, // asyncio's stderr=STDOUT
///     env: vec![("LANG".into(), "C".into())], // needs --child-env LANG
///     cwd: Some("/tmp".into()),
///     ..Default::default()
/// };
/// # let _ = opts;
/// let all_piped = SubprocessOptions::piped();
/// # let _ = all_piped;
/// ```
#[derive(Debug, Default)]
pub struct SubprocessOptions {
    /// The child's stdin.
    pub stdin: Stdio,
    /// The child's stdout.
    pub stdout: Stdio,
    /// The child's stderr ([`Stdio::Stdout`] merges it into stdout).
    pub stderr: Stdio,
    /// The child's whole environment (empty by default; each name needs `--child-env`).
    pub env: Vec<(String, String)>,
    /// The child's working directory (the host's current one by default).
    pub cwd: Option<String>,
    /// The read limit of the stdout and stderr readers; [`DEFAULT_LIMIT`] when `None`.
    pub limit: Option<usize>,
}

impl SubprocessOptions {
    /// Pipes for all three streams (what most tests and pipelines want).
    pub fn piped() -> SubprocessOptions {
        SubprocessOptions {
            stdin: Stdio::Pipe,
            stdout: Stdio::Pipe,
            stderr: Stdio::Pipe,
            ..SubprocessOptions::default()
        }
    }

    fn into_spawn(self) -> (Spawn, usize) {
        let spawn = Spawn {
            env: self.env,
            cwd: self.cwd,
            stdio: [
                self.stdin.into_host(),
                self.stdout.into_host(),
                self.stderr.into_host(),
            ],
        };
        (spawn, self.limit.unwrap_or(DEFAULT_LIMIT))
    }
}

/// Runs `program` with `args` (asyncio's `create_subprocess_exec`), on the running loop.
///
/// asyncio: `await asyncio.create_subprocess_exec("ls", "-l", stdout=PIPE)`.
///
/// ```no_run
/// use sandloop::subprocess::{Stdio, SubprocessOptions, create_subprocess_exec};
/// sandloop::run(async {
///     let opts = SubprocessOptions { stdout: Stdio::Pipe, ..Default::default() };
///     let mut ls = create_subprocess_exec("/bin/ls", ["-l", "/tmp"], opts).await?;
///     let (out, _) = ls.communicate(None).await?;
///     println!("{}", String::from_utf8_lossy(&out));
///     assert_eq!(ls.returncode(), Some(0));
///     Ok::<_, sandloop::Error>(())
/// })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
pub async fn create_subprocess_exec<I, S>(
    program: &str,
    args: I,
    opts: SubprocessOptions,
) -> Result<Process>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let lp = get_running_loop()?;
    lp.check_closed()?;
    let args: Vec<String> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let (spawn, limit) = opts.into_spawn();
    let child = HostChild::spawn(program, &args, spawn)?;
    Process::start(&lp, child, limit).await
}

/// Runs `cmd` with `/bin/sh -c` (asyncio's `create_subprocess_shell`), on the running
/// loop; needs the policy's `--allow-shell`.
///
/// ```no_run
/// # async fn demo() -> sandloop::Result<()> {
/// use sandloop::subprocess::{Stdio, SubprocessOptions, create_subprocess_shell};
/// let opts = SubprocessOptions { stdout: Stdio::Pipe, ..Default::default() };
/// let mut count = create_subprocess_shell("ls /tmp | wc -l", opts).await?;
/// let (out, _) = count.communicate(None).await?;
/// println!("{} entries", String::from_utf8_lossy(&out).trim());
/// # Ok(()) }
/// ```
pub async fn create_subprocess_shell(cmd: &str, opts: SubprocessOptions) -> Result<Process> {
    let lp = get_running_loop()?;
    lp.check_closed()?;
    let (spawn, limit) = opts.into_spawn();
    let child = HostChild::spawn_shell(cmd, spawn)?;
    Process::start(&lp, child, limit).await
}

/// A child process with its pipes as streams (asyncio's `asyncio.subprocess.Process`).
///
/// ```no_run
/// # async fn demo() -> sandloop::Result<()> {
/// use std::time::Duration;
/// use sandloop::subprocess::{SubprocessOptions, create_subprocess_exec};
/// let child = create_subprocess_exec("/bin/sleep", ["60"], SubprocessOptions::default()).await?;
/// println!("started pid {}", child.pid);
/// // asyncio: await asyncio.wait_for(proc.wait(), 1), then proc.terminate()
/// if sandloop::timeout(Duration::from_secs(1), child.wait()).await.is_err() {
///     child.terminate()?;
/// }
/// let code = child.wait().await?;
/// println!("exited with {code}");
/// # Ok(()) }
/// ```
pub struct Process {
    /// The child's stdin, when it is [`Stdio::Pipe`].
    pub stdin: Option<StreamWriter>,
    /// The child's stdout, when it is [`Stdio::Pipe`].
    pub stdout: Option<StreamReader>,
    /// The child's stderr, when it is [`Stdio::Pipe`].
    pub stderr: Option<StreamReader>,
    /// The child's process id.
    pub pid: u32,
    exit: Exit,
}

impl Process {
    async fn start(lp: &EventLoop, child: HostChild, limit: usize) -> Result<Process> {
        let pid = child.pid();
        let [stdin, stdout, stderr] = child.take_pipes();
        let exit = Exit::new(child);
        let stdin = stdin.map(|pipe| open_writer(lp, pipe)).transpose()?;
        let stdout = stdout
            .map(|pipe| open_reader(lp, pipe, limit))
            .transpose()?;
        let stderr = stderr
            .map(|pipe| open_reader(lp, pipe, limit))
            .transpose()?;
        // The pipe transports' connection_made were scheduled before this task's next step.
        crate::sleep(Duration::ZERO).await?;
        Ok(Process {
            stdin,
            stdout,
            stderr,
            pid,
            exit,
        })
    }

    /// The exit code once the child has exited, minus the signal number if a signal
    /// killed it; `None` while it runs.
    pub fn returncode(&self) -> Option<i32> {
        self.exit.returncode()
    }

    /// Waits for the child to exit and returns its [`returncode`](Process::returncode).
    /// Like asyncio's, it can deadlock when the child fills a pipe nobody reads: use
    /// [`communicate`](Process::communicate) then.
    ///
    /// ```no_run
    /// # async fn demo() -> sandloop::Result<()> {
    /// use sandloop::subprocess::{SubprocessOptions, create_subprocess_exec};
    /// let no_args: [&str; 0] = [];
    /// let opts = SubprocessOptions::default();
    /// let child = create_subprocess_exec("/bin/true", no_args, opts).await?;
    /// assert_eq!(child.wait().await?, 0); // asyncio: await proc.wait()
    /// # Ok(()) }
    /// ```
    pub async fn wait(&self) -> Result<i32> {
        self.exit.wait().await
    }

    /// Sends `input` (if any) to stdin and closes it, reads stdout and stderr to their
    /// end at the same time, then waits for the child; returns `(stdout, stderr)` (empty
    /// for a stream that is not a pipe). A child that exits without reading all of
    /// `input` is not an error (asyncio ignores the broken pipe too).
    ///
    /// asyncio: `out, err = await proc.communicate(input)`.
    ///
    /// ```no_run
    /// # async fn demo() -> sandloop::Result<()> {
    /// use sandloop::subprocess::{SubprocessOptions, create_subprocess_exec};
    /// let opts = SubprocessOptions::piped();
    /// let mut wc = create_subprocess_exec("/usr/bin/wc", ["-c"], opts).await?;
    /// let (out, err) = wc.communicate(Some(b"12345")).await?;
    /// assert_eq!(String::from_utf8_lossy(&out).trim(), "5");
    /// assert!(err.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn communicate(&mut self, input: Option<&[u8]>) -> Result<(Vec<u8>, Vec<u8>)> {
        let lp = get_running_loop()?;
        let read = |reader: Option<StreamReader>| {
            reader.map(|r| lp.create_task(async move { r.read_to_end().await }))
        };
        let out = read(self.stdout.clone());
        let err = read(self.stderr.clone());
        if let Some(stdin) = self.stdin.take() {
            if let Some(data) = input {
                stdin.write(data);
                match stdin.drain().await {
                    Ok(()) => {}
                    Err(Error::Os(e))
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                        ) => {}
                    Err(e) => return Err(e),
                }
            }
            stdin.close();
        }
        let out = match out {
            Some(task) => task.await?,
            None => Vec::new(),
        };
        let err = match err {
            Some(task) => task.await?,
            None => Vec::new(),
        };
        self.wait().await?;
        Ok((out, err))
    }

    /// Sends signal `sig` to the child; nothing once it has exited (as asyncio's
    /// `Popen.send_signal`).
    pub fn send_signal(&self, sig: i32) -> Result<()> {
        self.exit.send_signal(sig)
    }

    /// Sends SIGTERM.
    ///
    /// ```no_run
    /// # async fn demo(child: sandloop::subprocess::Process) -> sandloop::Result<()> {
    /// child.terminate()?; // SIGTERM; kill() sends SIGKILL
    /// let code = child.wait().await?;
    /// println!("exited with {code}"); // -15: ended by SIGTERM, as asyncio reports it
    /// # Ok(()) }
    /// ```
    pub fn terminate(&self) -> Result<()> {
        self.send_signal(SIGTERM)
    }

    /// Sends SIGKILL.
    ///
    /// ```no_run
    /// # async fn demo(child: sandloop::subprocess::Process) -> sandloop::Result<()> {
    /// child.kill()?;
    /// assert_eq!(child.wait().await?, -9); // minus the signal that ended it
    /// # Ok(()) }
    /// ```
    pub fn kill(&self) -> Result<()> {
        self.send_signal(SIGKILL)
    }
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<Process {}>", self.pid)
    }
}

/// The child and what its exit is watched with.
struct Exit {
    child: HostChild,
    returncode: Cell<Option<i32>>,
    /// The watch-only socket around the exit source, made by the first `wait`.
    watch: RefCell<Option<Socket>>,
}

impl Exit {
    fn new(child: HostChild) -> Exit {
        Exit {
            child,
            returncode: Cell::new(None),
            watch: RefCell::new(None),
        }
    }

    /// Waits for the child's exit (its pidfd turning readable) and reaps it.
    async fn wait(&self) -> Result<i32> {
        let lp = get_running_loop()?;
        loop {
            if let Some(code) = self.returncode() {
                // The pidfd stays ready once the child is gone: stop watching it.
                self.watch.borrow_mut().take();
                return Ok(code);
            }
            let watch = {
                let mut slot = self.watch.borrow_mut();
                if slot.is_none() {
                    *slot = Some(Socket::watch_only(Some(self.child.exit_source()?)));
                }
                slot.clone().expect("set above")
            };
            lp.wait_ready(&watch, Direction::Read).await?;
        }
    }

    /// Sends `sig` unless the child has exited already (then nothing, as asyncio).
    fn send_signal(&self, sig: i32) -> Result<()> {
        if self.returncode().is_some() {
            return Ok(());
        }
        let sig = u32::try_from(sig).map_err(|_| {
            Error::Os(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("invalid signal number {sig}"),
            ))
        })?;
        self.child.send_signal(sig)
    }

    fn returncode(&self) -> Option<i32> {
        if self.returncode.get().is_none() {
            self.returncode.set(self.child.returncode());
        }
        self.returncode.get()
    }
}

fn info(pipe: &HostPipe) -> PipeInfo {
    PipeInfo {
        name: pipe.name(),
        end: pipe.end(),
    }
}

/// A reader fed by a read pipe transport on the child's stdout or stderr.
fn open_reader(lp: &EventLoop, pipe: HostPipe, limit: usize) -> Result<StreamReader> {
    let reader = StreamReader::with_limit(limit);
    let protocol = Rc::new(RefCell::new(StreamReaderProtocol::new(reader.clone())));
    let info = info(&pipe);
    Transport::open_pipe(lp, pipe, info, protocol)?;
    Ok(reader)
}

/// A writer on a write pipe transport on the child's stdin.
fn open_writer(lp: &EventLoop, pipe: HostPipe) -> Result<StreamWriter> {
    let protocol = Rc::new(RefCell::new(StreamReaderProtocol::new(StreamReader::new())));
    let info = info(&pipe);
    let transport = Transport::open_pipe(lp, pipe, info, protocol.clone())?;
    Ok(StreamWriter::new(transport, &protocol.borrow(), None))
}
