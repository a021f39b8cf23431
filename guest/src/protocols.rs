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
    fn eof_received(&mut self) -> bool {
        false
    }

    /// The connection is gone: `None` after a regular close or end of stream, the error
    /// otherwise. Called exactly once, last.
    fn connection_lost(&mut self, exc: Option<Error>) {
        let _ = exc;
    }

    /// The transport's write buffer went over the high-water mark: stop writing.
    fn pause_writing(&mut self) {}

    /// The transport's write buffer drained to the low-water mark: writing may resume.
    fn resume_writing(&mut self) {}
}

/// A protocol that receives into its own buffer (asyncio's `asyncio.BufferedProtocol`).
///
/// Every `BufferedProtocol` is a [`Protocol`]: received bytes are copied into the buffers
/// `get_buffer` hands out, as many times as they need.
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
/// nothing. `Any` is a supertrait, as for [`Protocol`]: see
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
