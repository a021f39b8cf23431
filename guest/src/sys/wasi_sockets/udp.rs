//! UDP over `wasi:sockets/udp`: a bound socket sends and receives through the pair of
//! datagram streams `stream` hands out, to any peer or, once connected, to one. WASI asks
//! for an explicit bind where POSIX binds implicitly: the first send, receive or connect
//! of an unbound socket binds it to the wildcard address and a free port, as the kernel
//! would. `HostSocket` (`net.rs`) wraps it.

use std::cell::{Cell, RefCell};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;

use super::bindings::network::{ErrorCode, IpAddressFamily};
use super::bindings::poll::Pollable;
use super::bindings::udp::{
    IncomingDatagramStream, OutgoingDatagram, OutgoingDatagramStream, UdpSocket,
};
use super::bindings::udp_create_socket;
use super::errors::{Progress, error_from_code, progress, unsupported};
use super::network::{from_wasi, inet, socket_address, to_wasi, with_network};
use super::poll::{self, Slot, Watched};
use crate::addresses::{Address, Family, SockOpt, SockOptName};
use crate::error::Result;

/// A UDP socket and, once it has them, its datagram streams.
pub(super) struct Udp {
    /// Declared before `socket`: a resource's children go first.
    streams: RefCell<Option<(IncomingDatagramStream, OutgoingDatagramStream)>>,
    socket: UdpSocket,
    pub(super) family: Family,
    bound: Cell<bool>,
}

impl Watched for Udp {
    fn slot(&self, readable: bool) -> Slot {
        match (self.streams.borrow().is_some(), readable) {
            (false, _) => Slot::Own,
            (true, true) => Slot::Input,
            (true, false) => Slot::Output,
        }
    }

    fn subscribe(&self, slot: Slot) -> Pollable {
        match (slot, &*self.streams.borrow()) {
            (Slot::Input, Some((incoming, _))) => incoming.subscribe(),
            (Slot::Output, Some((_, outgoing))) => outgoing.subscribe(),
            _ => self.socket.subscribe(),
        }
    }
}

impl Udp {
    pub(super) fn create(family: Family, wasi_family: IpAddressFamily) -> Result<Rc<Udp>> {
        let socket = udp_create_socket::create_udp_socket(wasi_family)
            .map_err(|code| error_from_code("socket(SOCK_DGRAM)", code))?;
        Ok(Rc::new(Udp {
            streams: RefCell::new(None),
            socket,
            family,
            bound: Cell::new(false),
        }))
    }

    pub(super) fn bind(&self, addr: &Address) -> Result<()> {
        let sa = inet("bind", addr)?;
        let op = || format!("bind {sa}");
        with_network(|net| self.socket.start_bind(net, to_wasi(sa)))
            .map_err(|code| error_from_code(&op(), code))?;
        loop {
            match progress(op, self.socket.finish_bind())? {
                Progress::Done(()) => break,
                Progress::Pending => self.socket.subscribe().block(),
            }
        }
        self.bound.set(true);
        Ok(())
    }

    /// Binds to the wildcard address and a free port unless bound (POSIX's implicit bind).
    fn ensure_bound(&self) -> Result<()> {
        if self.bound.get() {
            return Ok(());
        }
        let any = match self.family {
            Family::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        };
        self.bind(&Address::Inet(SocketAddr::new(any, 0)))
    }

    /// The streams, made (to any peer) on first use.
    fn ensure_streams(&self) -> Result<()> {
        if self.streams.borrow().is_some() {
            return Ok(());
        }
        self.ensure_bound()?;
        let streams = self
            .socket
            .stream(None)
            .map_err(|code| error_from_code("udp streams", code))?;
        *self.streams.borrow_mut() = Some(streams);
        Ok(())
    }

    /// Makes the streams before the loop watches the socket: their pollables are what
    /// says a datagram arrived or there is room to send one.
    pub(super) fn prepare_watch(&self) -> Result<()> {
        self.ensure_streams()
    }

    /// Connects to `addr` (only its datagrams are received, sends go to it): new streams,
    /// after the old ones and every pollable made from them are gone, as WASI requires.
    pub(super) fn connect(&self, addr: &Address) -> Result<Progress<()>> {
        let sa = inet("connect", addr)?;
        self.ensure_bound()?;
        if self.streams.borrow().is_some() {
            poll::drop_pollables_of(self);
            self.streams.borrow_mut().take();
        }
        let streams = self
            .socket
            .stream(Some(to_wasi(sa)))
            .map_err(|code| error_from_code(&format!("connect {sa}"), code))?;
        *self.streams.borrow_mut() = Some(streams);
        Ok(Progress::Done(()))
    }

    /// One datagram of at most `max` bytes (a longer one is truncated) and its sender.
    pub(super) fn recv_from(&self, max: usize) -> Result<Progress<(Vec<u8>, Address)>> {
        self.ensure_streams()?;
        let streams = self.streams.borrow();
        let Some((incoming, _)) = &*streams else {
            return Ok(Progress::Pending);
        };
        match progress(|| "recvfrom".to_string(), incoming.receive(1))? {
            Progress::Done(mut datagrams) => match datagrams.pop() {
                Some(mut datagram) => {
                    datagram.data.truncate(max);
                    let from = Address::Inet(from_wasi(datagram.remote_address));
                    Ok(Progress::Done((datagram.data, from)))
                }
                None => Ok(Progress::Pending),
            },
            Progress::Pending => Ok(Progress::Pending),
        }
    }

    /// Sends one datagram, to `to` or (connected) to the peer; `Pending` while the host
    /// has no room.
    pub(super) fn send_to(&self, data: &[u8], to: Option<&Address>) -> Result<Progress<usize>> {
        let to = to.map(|a| inet("sendto", a)).transpose()?;
        self.ensure_streams()?;
        let op = || match to {
            Some(sa) => format!("sendto {sa}"),
            None => "send".to_string(),
        };
        let streams = self.streams.borrow();
        let Some((_, outgoing)) = &*streams else {
            return Ok(Progress::Pending);
        };
        match progress(op, outgoing.check_send())? {
            Progress::Done(0) | Progress::Pending => return Ok(Progress::Pending),
            Progress::Done(_) => {}
        }
        let datagram = OutgoingDatagram {
            data: data.to_vec(),
            remote_address: to.map(to_wasi),
        };
        match progress(op, outgoing.send(&[datagram]))? {
            Progress::Done(0) | Progress::Pending => Ok(Progress::Pending),
            Progress::Done(_) => Ok(Progress::Done(data.len())),
        }
    }

    /// WASI 0.2 has no `SO_BROADCAST` or `SO_REUSEPORT` for UDP: those are `Unsupported`.
    pub(super) fn set_option(&self, opt: SockOpt) -> Result<()> {
        let r = match opt {
            SockOpt::RecvBufferSize(v) => self.socket.set_receive_buffer_size(u64::from(v)),
            SockOpt::SendBufferSize(v) => self.socket.set_send_buffer_size(u64::from(v)),
            other => {
                return Err(unsupported(
                    &format!("setsockopt {other:?}"),
                    "WASI 0.2 has no such UDP option",
                ));
            }
        };
        r.map_err(|code: ErrorCode| error_from_code(&format!("setsockopt {opt:?}"), code))
    }

    pub(super) fn get_option(&self, name: SockOptName) -> Result<SockOpt> {
        let op = || format!("getsockopt {name:?}");
        let r = match name {
            SockOptName::RecvBufferSize => self
                .socket
                .receive_buffer_size()
                .map(|v| SockOpt::RecvBufferSize(u32::try_from(v).unwrap_or(u32::MAX))),
            SockOptName::SendBufferSize => self
                .socket
                .send_buffer_size()
                .map(|v| SockOpt::SendBufferSize(u32::try_from(v).unwrap_or(u32::MAX))),
            _ => return Err(unsupported(&op(), "WASI 0.2 has no such UDP option")),
        };
        r.map_err(|code| error_from_code(&op(), code))
    }

    pub(super) fn local_address(&self) -> Result<Address> {
        socket_address(self.socket.local_address(), "getsockname")
    }

    pub(super) fn peer_address(&self) -> Result<Address> {
        socket_address(self.socket.remote_address(), "getpeername")
    }
}
