//! The readiness side of the loop: `add_reader`/`add_writer` and the `sock_*` coroutines
//! (asyncio's `selector_events.py`). Each waits on the host's reactor through a duplicate
//! of the socket's descriptor (a reactor source).

use std::collections::VecDeque;
use std::io;
use std::panic::Location;
use std::rc::{Rc, Weak};

use crate::error::{Error, IntoResult, Result};
use crate::events::EventLoop;
use crate::events::Handle;
use crate::events::Ready;
use crate::io_registry::{EventTarget, IoEntry};
use crate::net::{Address, AsHandle, Socket, SocketInner};
use crate::sys::Event;
use crate::sys::errors::Progress;
use crate::wakeup::Wakeup;

/// The chunk `sock_recv` callers usually ask for; also what the selector reads at once.
const MAX_RECV: usize = 256 * 1024;

/// Which half of a socket's watch.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

/// A watched socket's event queues its reader (readable, or hung up) and its writer
/// (writable, or hung up), as asyncio's `_process_events` does.
impl EventTarget for SocketInner {
    fn take_event(self: Rc<Self>, ev: Event, ready: &mut VecDeque<Ready>) {
        let watch = self.watch.borrow();
        let r = ev.readiness;
        if (r.readable || r.hangup)
            && let Some(reader) = &watch.reader
            && !reader.cancelled()
        {
            ready.push_back(Ready::Handle(reader.clone()));
        }
        if (r.writable || r.hangup)
            && let Some(writer) = &watch.writer
            && !writer.cancelled()
        {
            ready.push_back(Ready::Handle(writer.clone()));
        }
    }
}

impl EventLoop {
    fn check_host_sources(&self) -> Result<()> {
        if self.selector_watches_host_sources() {
            Ok(())
        } else {
            Err(Error::runtime(
                "this loop's selector cannot watch host sockets; use the host's reactor",
            ))
        }
    }

    /// Brings the reactor registration of `sock` in line with its reader and writer.
    fn update_watch(&self, sock: &Socket) -> Result<()> {
        let inner = &sock.inner;
        let mut watch = inner.watch.borrow_mut();
        let readable = watch.reader.is_some();
        let writable = watch.writer.is_some();
        if watch.source.is_none() {
            if !readable && !writable {
                return Ok(());
            }
            watch.source = Some(sock.with(|s| s.source())?);
        }
        let key = match watch.key {
            Some(key) => key,
            None => {
                let key = self.register_io(IoEntry::Watched(
                    Rc::downgrade(inner) as Weak<dyn EventTarget>
                ));
                watch.key = Some(key);
                key
            }
        };
        let registered = watch.registered;
        if let Some(source) = &watch.source {
            source.watch(registered, key as u64, readable, writable)?;
        }
        watch.registered = readable || writable;
        if !watch.registered {
            watch.key = None;
            drop(watch);
            self.deregister_io(key);
        }
        Ok(())
    }

    fn set_watcher(&self, sock: &Socket, dir: Direction, handle: Option<Handle>) -> Result<bool> {
        let previous = {
            let mut watch = sock.inner.watch.borrow_mut();
            let slot = match dir {
                Direction::Read => &mut watch.reader,
                Direction::Write => &mut watch.writer,
            };
            std::mem::replace(slot, handle)
        };
        let had = previous.is_some();
        if let Some(previous) = previous {
            previous.cancel();
        }
        self.update_watch(sock)?;
        Ok(had)
    }

    /// Watches `fd` in `dir` with a callback run on every readiness report.
    fn add_watcher(&self, fd: &impl AsHandle, dir: Direction, handle: Handle) -> Result<()> {
        self.check_closed()?;
        self.check_host_sources()?;
        self.set_watcher(fd.as_socket(), dir, Some(handle))
            .map(drop)
    }

    /// Stops watching `fd` in `dir`; `true` if it was watched.
    fn remove_watcher(&self, fd: &impl AsHandle, dir: Direction) -> bool {
        !self.is_closed() && self.set_watcher(fd.as_socket(), dir, None).unwrap_or(true)
    }

    /// Runs `cb` whenever `fd` is readable (asyncio's `add_reader`); replaces an earlier
    /// reader of the same socket.
    ///
    /// asyncio: `loop.add_reader(sock, cb)`.
    ///
    /// ```no_run
    /// # fn demo(lp: &sandloop::EventLoop) -> sandloop::Result<()> {
    /// let (a, b) = sandloop::net::socketpair()?;
    /// let sock = b.clone();
    /// let watcher = lp.clone();
    /// lp.add_reader(&b, move || match sock.recv(4096) {
    ///     Ok(data) if data.is_empty() => {
    ///         watcher.remove_reader(&sock); // end of stream
    ///     }
    ///     Ok(data) => println!("{} bytes", data.len()),
    ///     Err(e) => eprintln!("{e}"),
    /// })?;
    /// a.send(b"ping")?;
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn add_reader<F, R>(&self, fd: &impl AsHandle, cb: F) -> Result<()>
    where
        F: FnMut() -> R + 'static,
        R: IntoResult<Ok = ()>,
    {
        let handle = Handle::repeating(cb, Location::caller());
        self.add_watcher(fd, Direction::Read, handle)
    }

    /// Stops watching `fd` for reading; `true` if it was watched.
    pub fn remove_reader(&self, fd: &impl AsHandle) -> bool {
        self.remove_watcher(fd, Direction::Read)
    }

    /// Runs `cb` whenever `fd` is writable (asyncio's `add_writer`); replaces an earlier
    /// writer of the same socket.
    ///
    /// asyncio: `loop.add_writer(sock, cb)`.
    ///
    /// ```no_run
    /// # fn demo(lp: &sandloop::EventLoop, sock: sandloop::net::Socket) -> sandloop::Result<()> {
    /// let watcher = lp.clone();
    /// let s = sock.clone();
    /// lp.add_writer(&sock, move || {
    ///     let _ = s.send(b"the socket had room");
    ///     watcher.remove_writer(&s); // once is enough
    /// })?;
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn add_writer<F, R>(&self, fd: &impl AsHandle, cb: F) -> Result<()>
    where
        F: FnMut() -> R + 'static,
        R: IntoResult<Ok = ()>,
    {
        let handle = Handle::repeating(cb, Location::caller());
        self.add_watcher(fd, Direction::Write, handle)
    }

    /// Stops watching `fd` for writing; `true` if it was watched.
    pub fn remove_writer(&self, fd: &impl AsHandle) -> bool {
        self.remove_watcher(fd, Direction::Write)
    }

    /// Waits until `sock` is ready in `dir`; the watch is removed when done or dropped.
    pub(crate) async fn wait_ready(&self, sock: &Socket, dir: Direction) -> Result<()> {
        struct Unwatch<'a>(&'a EventLoop, &'a Socket, Direction);
        impl Drop for Unwatch<'_> {
            fn drop(&mut self) {
                if !self.0.is_closed() && !self.1.is_closed() {
                    let _ = self.0.set_watcher(self.1, self.2, None);
                }
            }
        }
        self.check_host_sources()?;
        let wakeup = Wakeup::new();
        if self.set_watcher(sock, dir, Some(wakeup.handle()))? {
            // asyncio refuses two coroutines waiting on one socket in one direction.
            self.set_watcher(sock, dir, None)?;
            return Err(Error::runtime(
                "another coroutine is already waiting on this socket",
            ));
        }
        let _unwatch = Unwatch(self, sock, dir);
        wakeup.wait().await;
        Ok(())
    }

    /// Receives up to `n` bytes from `sock` (empty at end of stream), waiting for data.
    ///
    /// asyncio: `await loop.sock_recv(sock, n)`; see [`net::Socket`](crate::net::Socket) for a
    /// client.
    ///
    /// ```no_run
    /// # async fn demo(lp: sandloop::EventLoop, sock: sandloop::net::Socket) -> sandloop::Result<()> {
    /// loop {
    ///     let chunk = lp.sock_recv(&sock, 64 * 1024).await?;
    ///     if chunk.is_empty() {
    ///         break; // the peer closed
    ///     }
    ///     println!("{} bytes", chunk.len());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn sock_recv(&self, sock: &Socket, n: usize) -> Result<Vec<u8>> {
        loop {
            match sock.with(|s| s.recv(n.min(MAX_RECV)))? {
                Progress::Done(data) => return Ok(data),
                Progress::Pending => self.wait_ready(sock, Direction::Read).await?,
            }
        }
    }

    /// Receives into `buf`; returns how many bytes were stored (0 at end of stream).
    ///
    /// ```no_run
    /// # async fn demo(lp: sandloop::EventLoop, sock: sandloop::net::Socket) -> sandloop::Result<()> {
    /// let mut buf = [0u8; 4096]; // reused: no allocation per read
    /// let n = lp.sock_recv_into(&sock, &mut buf).await?;
    /// println!("{:?}", &buf[..n]);
    /// # Ok(()) }
    /// ```
    pub async fn sock_recv_into(&self, sock: &Socket, buf: &mut [u8]) -> Result<usize> {
        let data = self.sock_recv(sock, buf.len()).await?;
        buf[..data.len()].copy_from_slice(&data);
        Ok(data.len())
    }

    /// Sends all of `data`, waiting whenever the kernel's buffer is full.
    pub async fn sock_sendall(&self, sock: &Socket, data: &[u8]) -> Result<()> {
        let mut sent = 0;
        while sent < data.len() {
            match sock.with(|s| s.send(&data[sent..]))? {
                Progress::Done(n) => sent += n,
                Progress::Pending => self.wait_ready(sock, Direction::Write).await?,
            }
        }
        Ok(())
    }

    /// Connects `sock` to `addr`, waiting for the connection to complete.
    ///
    /// ```no_run
    /// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
    /// use std::net::SocketAddr;
    /// use sandloop::net::{Family, Socket, SocketType};
    /// let sock = Socket::new(Family::Inet6, SocketType::Stream)?;
    /// lp.sock_connect(&sock, SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 8080))).await?;
    /// lp.sock_sendall(&sock, b"hello").await?;
    /// # Ok(()) }
    /// ```
    pub async fn sock_connect(&self, sock: &Socket, addr: impl Into<Address>) -> Result<()> {
        let addr = addr.into();
        match sock.with(|s| s.connect(&addr))? {
            Progress::Done(()) => Ok(()),
            Progress::Pending => {
                self.wait_ready(sock, Direction::Write).await?;
                sock.with(|s| s.take_error())
            }
        }
    }

    /// Accepts a connection on the listening `sock`: the new socket and the peer address.
    ///
    /// asyncio: `conn, addr = await loop.sock_accept(sock)`; a one-at-a-time echo server:
    ///
    /// ```no_run
    /// use std::net::SocketAddr;
    /// use sandloop::net::{Family, Socket, SocketType};
    /// async fn echo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
    ///     let listener = Socket::new(Family::Inet, SocketType::Stream)?;
    ///     listener.bind(SocketAddr::from(([127, 0, 0, 1], 8080)))?;
    ///     listener.listen(128)?;
    ///     loop {
    ///         let (conn, peer) = lp.sock_accept(&listener).await?;
    ///         println!("{peer}");
    ///         loop {
    ///             let data = lp.sock_recv(&conn, 4096).await?;
    ///             if data.is_empty() {
    ///                 break;
    ///             }
    ///             lp.sock_sendall(&conn, &data).await?;
    ///         }
    ///     }
    /// }
    /// sandloop::run(async { echo(sandloop::get_running_loop()?).await })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub async fn sock_accept(&self, sock: &Socket) -> Result<(Socket, Address)> {
        loop {
            match sock.accept() {
                Err(Error::Os(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait_ready(sock, Direction::Read).await?
                }
                other => return other,
            }
        }
    }
}
