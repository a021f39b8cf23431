//! Datagram I/O of a `net.socket`: `recv-from` and `send-to`.
//!
//! A datagram socket is checked against the policy's udp rules rather than the stream
//! rules: its bind against `allow_udp_bind`, its connect and every `send-to` target
//! against `allow_udp_send` (a datagram can go anywhere, so each target is checked, not
//! only the first).

use std::mem::MaybeUninit;
use std::net::SocketAddr;

use socket2::SockAddr;

use super::Socket;
use super::address::{self, Address, Local};
use super::io::retry;
use super::socket::denied;
use super::unix;
use crate::error::{Error, ErrorKind, error, io_error};
use crate::policy::Policy;

/// The largest datagram `recv-from` returns: the largest UDP payload (over IPv6 with
/// jumbograms aside). A guest asking for more gets this much, so a 64 KiB datagram fits
/// and a hostile guest cannot make the host allocate more.
pub const MAX_DATAGRAM: usize = 65535;

/// The error for a datagram call on a stream socket.
fn not_datagram(op: &str) -> Error {
    error(
        ErrorKind::Unsupported,
        format!("{op}: not a datagram socket (use recv/send on a stream socket)"),
    )
}

impl Socket {
    /// `recv-from`: one datagram of at most `max_len` bytes, and its sender.
    pub(crate) fn recv_from(&self, max_len: u32) -> Result<(Vec<u8>, Address), Error> {
        let socket = self;
        if !socket.datagram {
            return Err(not_datagram("recv-from"));
        }
        let max_len = (max_len as usize).min(MAX_DATAGRAM);
        // Received on the stack, then copied at its size: most datagrams are small, and a
        // 64 KiB allocation per datagram would be mostly waste.
        let mut buf = [MaybeUninit::<u8>::uninit(); MAX_DATAGRAM];
        match retry(|| socket.inner.recv_from(&mut buf[..max_len])) {
            Ok((n, from)) => {
                // SAFETY: `recv_from` initialized the first `n` bytes of `buf`.
                let data = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
                Ok((data.to_vec(), address::from_native(&from)))
            }
            // A connected socket reports the ICMP error of an earlier datagram here: name the
            // peer it came from.
            Err(err) => Err(match socket.peer {
                Some(peer) => io_error("recv-from", peer, &err),
                None => io_error("recv-from on", Local(&socket.inner), &err),
            }),
        }
    }

    /// `send-to`: `data` as one datagram to `addr`, if the policy allows sending there.
    pub(crate) fn send_to(
        &self,
        policy: &Policy,
        data: &[u8],
        addr: Address,
    ) -> Result<u32, Error> {
        let socket = self;
        if !socket.datagram {
            return Err(not_datagram("send-to"));
        }
        let addr: SocketAddr = match addr {
            Address::Unix(path) => {
                return unix::send_to(&socket.inner, socket.family, policy, data, &path);
            }
            Address::Inet(text) => address::parse_inet("send-to", &text)?,
        };
        address::check_family("send-to", socket.family, &addr)?;
        policy.check_udp_send(&addr).map_err(denied)?;
        let target = SockAddr::from(addr);
        match retry(|| {
            socket
                .inner
                .send_to_with_flags(data, &target, libc::MSG_NOSIGNAL)
        }) {
            // A wasm32 guest cannot pass more than 4 GiB, so this always fits.
            Ok(n) => Ok(u32::try_from(n).unwrap_or(u32::MAX)),
            Err(err) if err.raw_os_error() == Some(libc::EMSGSIZE) => {
                let len = data.len();
                Err(io_error(
                    "send-to",
                    format_args!(
                        "{addr} (a datagram of {len} bytes is larger than the protocol carries)"
                    ),
                    &err,
                ))
            }
            Err(err) => Err(io_error("send-to", addr, &err)),
        }
    }
}

#[cfg(test)]
mod tests;
