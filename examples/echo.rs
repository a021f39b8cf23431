//! The echo that `echo_server` and `unix_echo_server` serve, as a `Protocol` and with
//! streams, each with asyncio's flow control.
//!
//! A client may send without ever reading the echo. The bytes written back then pile up:
//! first in the kernel, then in the host's buffer (at most `--max-buffered`, for all the
//! workload's streams together), then in the transport inside the guest, whose memory a
//! WebAssembly instance can grow but never give back; past `--max-memory` the instance
//! traps, every connection with it. So neither kind of echo takes in more while its
//! output waits: the protocol pauses reading while its transport has paused writing, and
//! the streams echo waits in `drain()` before it reads again.

use sandloop::streams::{StreamReader, StreamWriter};
use sandloop::{Error, Protocol, Transport};

/// Writes back whatever arrives, and reads nothing while the peer does not read.
#[derive(Default)]
pub struct EchoServerProtocol {
    transport: Option<Transport>,
}

impl Protocol for EchoServerProtocol {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
    }

    fn data_received(&mut self, data: &[u8]) {
        if let Some(transport) = &self.transport {
            transport.write(data);
        }
    }

    /// The write buffer passed its high-water mark, or the host's buffer is full: stop
    /// taking in what would only be added to it.
    fn pause_writing(&mut self) {
        if let Some(transport) = &self.transport {
            transport.pause_reading();
        }
    }

    /// The write buffer drained below its low-water mark: read again.
    fn resume_writing(&mut self) {
        if let Some(transport) = &self.transport {
            transport.resume_reading();
        }
    }
}

/// The same with streams: read what is there, write it back, and wait while the peer is
/// slow (`drain()`; meanwhile the reader's buffer fills to its limit and the stream stops
/// reading the connection).
pub async fn echo(reader: StreamReader, writer: StreamWriter) -> Result<(), Error> {
    loop {
        let data = reader.read(64 * 1024).await?;
        if data.is_empty() {
            return Ok(());
        }
        writer.write(&data);
        writer.drain().await?;
    }
}
