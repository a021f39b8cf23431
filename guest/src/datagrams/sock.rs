//! `sock_recvfrom`, `sock_recvfrom_into` and `sock_sendto` (asyncio's
//! `selector_events.py`): datagram calls on a non-blocking socket that wait for readiness.

use crate::error::Result;
use crate::events::EventLoop;
use crate::net::{Address, Socket};
use crate::readiness::Direction;
use crate::sys::errors::Progress;

use super::MAX_DATAGRAM;

impl EventLoop {
    /// Receives one datagram of at most `nbytes` bytes from `sock` and its sender,
    /// waiting for one (asyncio's `sock_recvfrom`). The host caps `nbytes` at 65535; a
    /// longer datagram is truncated, as with `recvfrom(2)`.
    ///
    /// asyncio: `data, addr = await loop.sock_recvfrom(sock, n)`; a UDP echo without a transport:
    ///
    /// ```no_run
    /// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
    /// use std::net::SocketAddr;
    /// use sandloop::net::{Family, Socket, SocketType};
    /// let sock = Socket::new(Family::Inet, SocketType::Datagram)?;
    /// sock.bind(SocketAddr::from(([127, 0, 0, 1], 9999)))?;
    /// loop {
    ///     let (data, from) = lp.sock_recvfrom(&sock, 65536).await?;
    ///     lp.sock_sendto(&sock, &data, from).await?;
    /// }
    /// # }
    /// ```
    pub async fn sock_recvfrom(&self, sock: &Socket, nbytes: usize) -> Result<(Vec<u8>, Address)> {
        loop {
            match sock.with(|s| s.recv_from(nbytes.min(MAX_DATAGRAM)))? {
                Progress::Done(received) => return Ok(received),
                Progress::Pending => self.wait_ready(sock, Direction::Read).await?,
            }
        }
    }

    /// Receives one datagram into `buf` (at most `nbytes` bytes of it; 0: all of `buf`);
    /// returns how many bytes were stored and the sender (asyncio's `sock_recvfrom_into`).
    pub async fn sock_recvfrom_into(
        &self,
        sock: &Socket,
        buf: &mut [u8],
        nbytes: usize,
    ) -> Result<(usize, Address)> {
        let max = if nbytes == 0 {
            buf.len()
        } else {
            nbytes.min(buf.len())
        };
        let (data, addr) = self.sock_recvfrom(sock, max).await?;
        buf[..data.len()].copy_from_slice(&data);
        Ok((data.len(), addr))
    }

    /// Sends `data` as one datagram to `addr`, waiting while the kernel has no room
    /// (asyncio's `sock_sendto`); returns the bytes sent. The policy's udp send rules
    /// apply to `addr`.
    pub async fn sock_sendto(
        &self,
        sock: &Socket,
        data: &[u8],
        addr: impl Into<Address>,
    ) -> Result<usize> {
        let addr = addr.into();
        loop {
            match sock.with(|s| s.send_to(data, &addr))? {
                Progress::Done(n) => return Ok(n),
                Progress::Pending => self.wait_ready(sock, Direction::Write).await?,
            }
        }
    }
}
