//! The protocol-level subprocess API (asyncio's `loop.subprocess_exec`,
//! `loop.subprocess_shell`, `SubprocessTransport` and `SubprocessProtocol`).
//!
//! The child's pipes are ordinary pipe transports ([`WritePipeTransport`] for stdin,
//! [`ReadPipeTransport`] for stdout and stderr), each with a small protocol that forwards
//! to the [`SubprocessProtocol`] with the stream's number. The exit is watched by a task
//! waiting on the child's pidfd. The order of the callbacks is asyncio's:
//! `connection_made`, then `pipe_data_received`/`pipe_connection_lost` as the pipes
//! deliver, `process_exited` when the child exits, and `connection_lost(None)` once the
//! child has exited and every pipe is closed.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::{Rc, Weak};

use super::{Exit, SIGKILL, SIGTERM, SubprocessOptions};
use crate::error::{Error, Result};
use crate::events::EventLoop;
use crate::os::PipeInfo;
use crate::pipe_transports::{ReadPipeTransport, WritePipeTransport};
use crate::protocols::Protocol;
use crate::sys::process::HostChild;
use crate::transports::Transport;

/// The callbacks of a subprocess (asyncio's `SubprocessProtocol`). `fd` is 0, 1 or 2.
///
/// ```no_run
/// use sandloop::{Error, SubprocessProtocol, SubprocessTransport};
///
/// /// Prints what the child writes, tagged by stream.
/// struct Tee;
///
/// impl SubprocessProtocol for Tee {
///     fn connection_made(&mut self, transport: &SubprocessTransport) {
///         println!("started pid {}", transport.get_pid());
///     }
///     fn pipe_data_received(&mut self, fd: i32, data: &[u8]) {
///         let tag = if fd == 1 { "out" } else { "err" };
///         print!("[{tag}] {}", String::from_utf8_lossy(data));
///     }
///     fn process_exited(&mut self) {
///         println!("exited");
///     }
///     fn connection_lost(&mut self, exc: Option<Error>) {
///         println!("all pipes closed ({exc:?})");
///     }
/// }
/// ```
pub trait SubprocessProtocol: 'static {
    /// The transport is ready; called before any other callback.
    fn connection_made(&mut self, transport: &SubprocessTransport) {
        let _ = transport;
    }

    /// The child wrote `data` on stdout (1) or stderr (2).
    fn pipe_data_received(&mut self, fd: i32, data: &[u8]) {
        let _ = (fd, data);
    }

    /// The pipe of stream `fd` closed; `exc` is the failure, if any.
    fn pipe_connection_lost(&mut self, fd: i32, exc: Option<Error>) {
        let _ = (fd, exc);
    }

    /// The child exited ([`SubprocessTransport::get_returncode`] tells how).
    fn process_exited(&mut self) {}

    /// The child has exited and all its pipes are closed.
    fn connection_lost(&mut self, exc: Option<Error>) {
        let _ = exc;
    }
}

/// One of the child's pipes, as [`SubprocessTransport::get_pipe_transport`] returns it.
///
/// ```no_run
/// # fn demo(transport: &sandloop::SubprocessTransport) {
/// use sandloop::subprocess::PipeTransport;
/// if let Some(PipeTransport::Write(stdin)) = transport.get_pipe_transport(0) {
///     stdin.write(b"input for the child\n");
///     stdin.close();
/// }
/// # }
/// ```
#[derive(Clone, Debug)]
pub enum PipeTransport {
    /// The child's stdin.
    Write(WritePipeTransport),
    /// The child's stdout or stderr.
    Read(ReadPipeTransport),
}

/// A running child and its pipes (asyncio's `SubprocessTransport`). Clones share it.
///
/// ```no_run
/// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
/// use std::time::Duration;
/// struct Quiet;
/// impl sandloop::SubprocessProtocol for Quiet {}
/// let opts = sandloop::subprocess::SubprocessOptions::default();
/// let (child, _quiet) = lp.subprocess_exec(|| Quiet, "/bin/sleep", ["30"], opts).await?;
/// sandloop::sleep(Duration::from_secs(1)).await?;
/// if child.get_returncode().is_none() {
///     child.terminate()?; // SIGTERM
/// }
/// child.close();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SubprocessTransport(Rc<Inner>);

struct Inner {
    exit: Exit,
    pid: u32,
    protocol: Rc<RefCell<dyn SubprocessProtocol>>,
    pipes: RefCell<[Option<PipeTransport>; 3]>,
    /// Pipes whose `pipe_connection_lost` has not run yet.
    open_pipes: Cell<usize>,
    exited: Cell<bool>,
    closed: Cell<bool>,
    lost: Cell<bool>,
}

impl EventLoop {
    /// Runs `program` with `args`, its callbacks on a protocol made by `factory`
    /// (asyncio's `loop.subprocess_exec`). asyncio's defaults for this call are pipes
    /// for all three streams: pass [`SubprocessOptions::piped`] for them
    /// ([`SubprocessOptions::default`] inherits, as `asyncio.create_subprocess_exec`).
    ///
    /// asyncio: `transport, protocol = await loop.subprocess_exec(factory, "ls", "-l")`.
    ///
    /// ```no_run
    /// use sandloop::subprocess::SubprocessOptions;
    /// use sandloop::{Error, Event, SubprocessProtocol};
    ///
    /// struct Collect {
    ///     out: Vec<u8>,
    ///     done: Event,
    /// }
    ///
    /// impl SubprocessProtocol for Collect {
    ///     fn pipe_data_received(&mut self, fd: i32, data: &[u8]) {
    ///         if fd == 1 {
    ///             self.out.extend_from_slice(data);
    ///         }
    ///     }
    ///     fn connection_lost(&mut self, _exc: Option<Error>) {
    ///         self.done.set(); // exited, and every pipe is closed
    ///     }
    /// }
    ///
    /// sandloop::run(async {
    ///     let lp = sandloop::get_running_loop()?;
    ///     let done = Event::new();
    ///     let factory = || Collect { out: Vec::new(), done: done.clone() };
    ///     let (transport, collect) =
    ///         lp.subprocess_exec(factory, "/bin/ls", ["-l"], SubprocessOptions::piped()).await?;
    ///     done.wait().await?;
    ///     println!("pid {} exited with {:?}", transport.get_pid(), transport.get_returncode());
    ///     println!("{}", String::from_utf8_lossy(&collect.borrow().out));
    ///     Ok::<_, sandloop::Error>(())
    /// })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub async fn subprocess_exec<P, F, I, S>(
        &self,
        factory: F,
        program: &str,
        args: I,
        opts: SubprocessOptions,
    ) -> Result<(SubprocessTransport, Rc<RefCell<P>>)>
    where
        P: SubprocessProtocol,
        F: FnOnce() -> P,
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.check_closed()?;
        let args: Vec<String> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let (spawn, _) = opts.into_spawn();
        let child = HostChild::spawn(program, &args, spawn)?;
        self.start_subprocess(child, factory).await
    }

    /// Runs `cmd` with `/bin/sh -c` (asyncio's `loop.subprocess_shell`); needs the
    /// policy's `--allow-shell`. Options as for [`EventLoop::subprocess_exec`].
    ///
    /// ```no_run
    /// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
    /// struct Quiet;
    /// impl sandloop::SubprocessProtocol for Quiet {
    ///     fn process_exited(&mut self) {
    ///         println!("done");
    ///     }
    /// }
    /// let opts = sandloop::subprocess::SubprocessOptions::piped();
    /// let (transport, _quiet) = lp.subprocess_shell(|| Quiet, "sort < /etc/hosts", opts).await?;
    /// # let _ = transport;
    /// # Ok(()) }
    /// ```
    pub async fn subprocess_shell<P, F>(
        &self,
        factory: F,
        cmd: &str,
        opts: SubprocessOptions,
    ) -> Result<(SubprocessTransport, Rc<RefCell<P>>)>
    where
        P: SubprocessProtocol,
        F: FnOnce() -> P,
    {
        self.check_closed()?;
        let (spawn, _) = opts.into_spawn();
        let child = HostChild::spawn_shell(cmd, spawn)?;
        self.start_subprocess(child, factory).await
    }

    async fn start_subprocess<P, F>(
        &self,
        child: HostChild,
        factory: F,
    ) -> Result<(SubprocessTransport, Rc<RefCell<P>>)>
    where
        P: SubprocessProtocol,
        F: FnOnce() -> P,
    {
        let protocol = Rc::new(RefCell::new(factory()));
        let pid = child.pid();
        let ends = child.take_pipes();
        let inner = Rc::new(Inner {
            exit: Exit::new(child),
            pid,
            protocol: protocol.clone(),
            pipes: RefCell::new([None, None, None]),
            open_pipes: Cell::new(0),
            exited: Cell::new(false),
            closed: Cell::new(false),
            lost: Cell::new(false),
        });
        let transport = SubprocessTransport(inner.clone());
        protocol.borrow_mut().connection_made(&transport);
        for (fd, end) in ends.into_iter().enumerate() {
            let Some(pipe) = end else { continue };
            let info = PipeInfo {
                name: pipe.name(),
                end: pipe.end(),
            };
            let forward = Rc::new(RefCell::new(Forward {
                fd: fd as i32,
                owner: Rc::downgrade(&inner),
            }));
            let pipe_transport = Transport::open_pipe(self, pipe, info, forward)?;
            inner.open_pipes.set(inner.open_pipes.get() + 1);
            inner.pipes.borrow_mut()[fd] = Some(if fd == 0 {
                PipeTransport::Write(WritePipeTransport::from_transport(pipe_transport))
            } else {
                PipeTransport::Read(ReadPipeTransport::from_transport(pipe_transport))
            });
        }
        // The exit watcher holds the transport until the child has exited.
        let watched = inner.clone();
        self.create_task(async move {
            let result = watched.exit.wait().await;
            watched.exited.set(true);
            watched.protocol.borrow_mut().process_exited();
            watched.try_finish();
            result.map(drop)
        });
        crate::sleep(std::time::Duration::ZERO).await?;
        Ok((transport, protocol))
    }
}

impl Inner {
    /// `connection_lost(None)` once the child has exited and every pipe is closed.
    fn try_finish(&self) {
        if self.exited.get() && self.open_pipes.get() == 0 && !self.lost.replace(true) {
            self.protocol.borrow_mut().connection_lost(None);
        }
    }
}

impl SubprocessTransport {
    /// The child's process id.
    pub fn get_pid(&self) -> u32 {
        self.0.pid
    }

    /// The exit code once the child has exited, minus the signal number if a signal
    /// killed it; `None` while it runs.
    pub fn get_returncode(&self) -> Option<i32> {
        self.0.exit.returncode()
    }

    /// The transport of the child's stream `fd`: 0 is stdin (a write pipe), 1 and 2
    /// stdout and stderr (read pipes); `None` when that stream is not a pipe.
    ///
    /// See [`PipeTransport`] for an example.
    pub fn get_pipe_transport(&self, fd: i32) -> Option<PipeTransport> {
        let fd = usize::try_from(fd).ok().filter(|fd| *fd < 3)?;
        self.0.pipes.borrow()[fd].clone()
    }

    /// Sends signal `sig` to the child; nothing once it has exited.
    pub fn send_signal(&self, sig: i32) -> Result<()> {
        self.0.exit.send_signal(sig)
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) -> Result<()> {
        self.send_signal(SIGTERM)
    }

    /// Sends SIGKILL.
    pub fn kill(&self) -> Result<()> {
        self.send_signal(SIGKILL)
    }

    /// Closes the pipes and kills the child if it still runs (as asyncio);
    /// `connection_lost` follows once it has exited and the pipes are closed.
    pub fn close(&self) {
        if self.0.closed.replace(true) {
            return;
        }
        let pipes: Vec<PipeTransport> = self.0.pipes.borrow().iter().flatten().cloned().collect();
        for pipe in pipes {
            match pipe {
                PipeTransport::Write(t) => t.close(),
                PipeTransport::Read(t) => t.close(),
            }
        }
        if self.get_returncode().is_none() {
            let _ = self.kill();
        }
    }

    /// `true` once [`close`](SubprocessTransport::close) was called.
    pub fn is_closing(&self) -> bool {
        self.0.closed.get()
    }
}

impl fmt::Debug for SubprocessTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<SubprocessTransport pid={}>", self.0.pid)
    }
}

/// The protocol of one pipe: forwards to the subprocess protocol with the stream's number.
struct Forward {
    fd: i32,
    owner: Weak<Inner>,
}

impl Protocol for Forward {
    fn data_received(&mut self, data: &[u8]) {
        if let Some(owner) = self.owner.upgrade() {
            owner
                .protocol
                .borrow_mut()
                .pipe_data_received(self.fd, data);
        }
    }

    fn connection_lost(&mut self, exc: Option<Error>) {
        if let Some(owner) = self.owner.upgrade() {
            owner
                .protocol
                .borrow_mut()
                .pipe_connection_lost(self.fd, exc);
            owner
                .open_pipes
                .set(owner.open_pipes.get().saturating_sub(1));
            owner.try_finish();
        }
    }
}
