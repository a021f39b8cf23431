//! Protocols: the callbacks a transport makes (asyncio's `protocols.py`).
//!
//! A transport calls its protocol only from the loop, never from inside one of its own
//! methods: `write` that crosses the high-water mark schedules `pause_writing`, `close`
//! schedules `connection_lost`. So a protocol may call its transport freely from any
//! callback, and its `RefCell` is never borrowed twice.

use crate::error::Error;
use crate::transports::Transport;

/// A stream protocol (asyncio's `asyncio.Protocol`). Every method has a default that does
/// nothing, so a protocol implements only what it needs.
///
/// A protocol that counts what it receives and reports at the end:
///
/// ```no_run
/// use sandloop::{Error, Protocol, Transport};
///
/// #[derive(Default)]
/// struct Counter {
///     bytes: usize,
/// }
///
/// impl Protocol for Counter {
///     fn connection_made(&mut self, transport: &Transport) {
///         println!("connected to {:?}", transport.peername());
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         self.bytes += data.len();
///     }
///     fn connection_lost(&mut self, exc: Option<Error>) {
///         println!("{} bytes, ended by {:?}", self.bytes, exc);
///     }
/// }
/// ```
///
/// `Any` is a supertrait so that the protocol behind a transport can be reached as its own
/// type: [`Transport::with_protocol`], or `(&*p.borrow() as &dyn Any).downcast_ref::<P>()`
/// on what `get_protocol()` returns. Every `'static` type is `Any`: nothing to implement.
pub trait Protocol: std::any::Any {
    /// The connection is up; keep `transport` (a cheap handle) to write and close.
    fn connection_made(&mut self, transport: &Transport) {
        let _ = transport;
    }

    /// Bytes arrived.
    fn data_received(&mut self, data: &[u8]) {
        let _ = data;
    }

    /// The peer closed its side. Return `true` to keep the connection open for writing
    /// (half-close); `false` (the default) closes the transport.
    ///
    /// Return `true` to answer after the peer's end of stream (a half-closed connection):
    ///
    /// ```no_run
    /// use sandloop::{Protocol, Transport};
    ///
    /// #[derive(Default)]
    /// struct WordCount {
    ///     transport: Option<Transport>,
    ///     words: usize,
    /// }
    ///
    /// impl Protocol for WordCount {
    ///     fn connection_made(&mut self, transport: &Transport) {
    ///         self.transport = Some(transport.clone());
    ///     }
    ///     fn data_received(&mut self, data: &[u8]) {
    ///         let words = data.split(|b| b.is_ascii_whitespace()).filter(|w| !w.is_empty());
    ///         self.words += words.count();
    ///     }
    ///     fn eof_received(&mut self) -> bool {
    ///         let t = self.transport.as_ref().expect("connected");
    ///         t.write(format!("{}\n", self.words).as_bytes());
    ///         t.close();
    ///         true // keep the transport open: close() above ends it after the answer
    ///     }
    /// }
    /// ```
    fn eof_received(&mut self) -> bool {
        false
    }

    /// The connection is gone: `None` after a regular close or end of stream, the error
    /// otherwise. Called exactly once, last.
    fn connection_lost(&mut self, exc: Option<Error>) {
        let _ = exc;
    }

    /// The transport's write buffer went over the high-water mark: stop writing.
    ///
    /// A producer that stops while the peer is slow (asyncio's flow control):
    ///
    /// ```no_run
    /// use sandloop::{Protocol, Transport};
    ///
    /// #[derive(Default)]
    /// struct Firehose {
    ///     transport: Option<Transport>,
    ///     paused: bool,
    /// }
    ///
    /// impl Firehose {
    ///     fn pump(&mut self) {
    ///         let t = self.transport.clone().expect("connected");
    ///         let (_low, high) = t.get_write_buffer_limits();
    ///         // Crossing the high-water mark schedules pause_writing; resume_writing follows
    ///         // once the loop has drained the buffer to the low-water mark.
    ///         while !self.paused && t.get_write_buffer_size() <= high {
    ///             t.write(&[b'x'; 64 * 1024]);
    ///         }
    ///     }
    /// }
    ///
    /// impl Protocol for Firehose {
    ///     fn connection_made(&mut self, transport: &Transport) {
    ///         self.transport = Some(transport.clone());
    ///         self.pump();
    ///     }
    ///     fn pause_writing(&mut self) {
    ///         self.paused = true;
    ///     }
    ///     fn resume_writing(&mut self) {
    ///         self.paused = false;
    ///         self.pump();
    ///     }
    /// }
    /// ```
    fn pause_writing(&mut self) {}

    /// The transport's write buffer drained to the low-water mark: writing may resume.
    fn resume_writing(&mut self) {}
}

/// A protocol that receives into its own buffer (asyncio's `asyncio.BufferedProtocol`).
///
/// Every `BufferedProtocol` is a [`Protocol`]: received bytes are copied into the buffers
/// `get_buffer` hands out, as many times as they need.
///
/// A protocol that fills one fixed buffer and never allocates per read:
///
/// ```no_run
/// use sandloop::BufferedProtocol;
///
/// struct Frames {
///     buf: [u8; 4096],
///     filled: usize,
/// }
///
/// impl BufferedProtocol for Frames {
///     fn get_buffer(&mut self, _size_hint: usize) -> &mut [u8] {
///         if self.filled == self.buf.len() {
///             self.filled = 0; // a real protocol would parse the frame here
///         }
///         &mut self.buf[self.filled..]
///     }
///     fn buffer_updated(&mut self, nbytes: usize) {
///         self.filled += nbytes;
///     }
/// }
/// ```
pub trait BufferedProtocol: 'static {
    /// As [`Protocol::connection_made`].
    fn connection_made(&mut self, transport: &Transport) {
        let _ = transport;
    }

    /// A buffer to receive into; `size_hint` is the number of bytes waiting. It must not be
    /// empty.
    fn get_buffer(&mut self, size_hint: usize) -> &mut [u8];

    /// `nbytes` bytes were written into the buffer last returned by `get_buffer`.
    fn buffer_updated(&mut self, nbytes: usize);

    /// As [`Protocol::eof_received`].
    fn eof_received(&mut self) -> bool {
        false
    }

    /// As [`Protocol::connection_lost`].
    fn connection_lost(&mut self, exc: Option<Error>) {
        let _ = exc;
    }

    /// As [`Protocol::pause_writing`].
    fn pause_writing(&mut self) {}

    /// As [`Protocol::resume_writing`].
    fn resume_writing(&mut self) {}
}

impl<T: BufferedProtocol> Protocol for T {
    fn connection_made(&mut self, transport: &Transport) {
        BufferedProtocol::connection_made(self, transport)
    }

    fn data_received(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let buf = self.get_buffer(data.len());
            assert!(
                !buf.is_empty(),
                "BufferedProtocol::get_buffer returned an empty buffer"
            );
            let n = buf.len().min(data.len());
            buf[..n].copy_from_slice(&data[..n]);
            self.buffer_updated(n);
            data = &data[n..];
        }
    }

    fn eof_received(&mut self) -> bool {
        BufferedProtocol::eof_received(self)
    }

    fn connection_lost(&mut self, exc: Option<Error>) {
        BufferedProtocol::connection_lost(self, exc)
    }

    fn pause_writing(&mut self) {
        BufferedProtocol::pause_writing(self)
    }

    fn resume_writing(&mut self) {
        BufferedProtocol::resume_writing(self)
    }
}

/// A datagram protocol (asyncio's `asyncio.DatagramProtocol`), run by a
/// [`DatagramTransport`](crate::DatagramTransport). Every method has a default that does
/// nothing.
///
/// See [`DatagramTransport`](crate::DatagramTransport) for an echo server.
///
/// ```no_run
/// use sandloop::net::Address;
///
/// struct Log;
///
/// impl sandloop::DatagramProtocol for Log {
///     fn datagram_received(&mut self, data: &[u8], addr: &Address) {
///         println!("{addr}: {} bytes", data.len());
///     }
///     fn error_received(&mut self, exc: sandloop::Error) {
///         eprintln!("send failed: {exc}");
///     }
/// }
/// ```
///
/// `Any` is a supertrait, as for [`Protocol`]: see
/// [`DatagramTransport::with_protocol`](crate::DatagramTransport::with_protocol).
pub trait DatagramProtocol: std::any::Any {
    /// The endpoint is ready; keep `transport` (a cheap handle) to send and close.
    fn connection_made(&mut self, transport: &crate::DatagramTransport) {
        let _ = transport;
    }

    /// A datagram arrived from `addr`.
    fn datagram_received(&mut self, data: &[u8], addr: &crate::net::Address) {
        let _ = (data, addr);
    }

    /// A send or a receive failed with an OS error (or a policy denial), e.g.
    /// `ConnectionRefused` when a connected endpoint's peer answered with ICMP "port
    /// unreachable". The endpoint stays open.
    fn error_received(&mut self, exc: Error) {
        let _ = exc;
    }

    /// The endpoint is closed: `None` after `close` or `abort`, the error that ended it
    /// otherwise. Called exactly once, last.
    fn connection_lost(&mut self, exc: Option<Error>) {
        let _ = exc;
    }

    /// The transport's queue of datagrams went over the high-water mark: stop sending.
    fn pause_writing(&mut self) {}

    /// The queue drained to the low-water mark: sending may resume.
    fn resume_writing(&mut self) {}
}
