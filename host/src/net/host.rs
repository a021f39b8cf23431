//! The WIT interface `sandloop:host/net` over a [`NetView`]: sockets, and completion-mode
//! streams.

use std::borrow::Cow;

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource, WasmList};
use wasmtime_wasi::filesystem::Descriptor;

use super::{Socket, Stream};
use crate::bindings::net::{
    self as wit, OptionName, ShutdownHow, SocketOption, SocketType, Written,
};
use crate::bindings::types::{Address, AddressFamily, Error};
use crate::guest_bytes::guest_bytes;
use crate::reactor::Source;
use crate::state::{HasNet, NetView, State};

impl From<wit::SocketType> for super::SocketType {
    fn from(type_: wit::SocketType) -> super::SocketType {
        match type_ {
            wit::SocketType::Stream => super::SocketType::Stream,
            wit::SocketType::Datagram => super::SocketType::Datagram,
        }
    }
}

impl From<super::SocketType> for wit::SocketType {
    fn from(type_: super::SocketType) -> wit::SocketType {
        match type_ {
            super::SocketType::Stream => wit::SocketType::Stream,
            super::SocketType::Datagram => wit::SocketType::Datagram,
        }
    }
}

impl From<wit::OptionName> for super::OptionName {
    fn from(name: wit::OptionName) -> super::OptionName {
        use super::OptionName as Name;
        match name {
            wit::OptionName::NoDelay => Name::NoDelay,
            wit::OptionName::KeepAlive => Name::KeepAlive,
            wit::OptionName::ReuseAddress => Name::ReuseAddress,
            wit::OptionName::ReusePort => Name::ReusePort,
            wit::OptionName::RecvBufferSize => Name::RecvBufferSize,
            wit::OptionName::SendBufferSize => Name::SendBufferSize,
            wit::OptionName::Broadcast => Name::Broadcast,
        }
    }
}

impl From<wit::SocketOption> for super::SocketOption {
    fn from(opt: wit::SocketOption) -> super::SocketOption {
        use super::SocketOption as Opt;
        match opt {
            wit::SocketOption::NoDelay(on) => Opt::NoDelay(on),
            wit::SocketOption::KeepAlive(on) => Opt::KeepAlive(on),
            wit::SocketOption::ReuseAddress(on) => Opt::ReuseAddress(on),
            wit::SocketOption::ReusePort(on) => Opt::ReusePort(on),
            wit::SocketOption::RecvBufferSize(size) => Opt::RecvBufferSize(size),
            wit::SocketOption::SendBufferSize(size) => Opt::SendBufferSize(size),
            wit::SocketOption::Broadcast(on) => Opt::Broadcast(on),
        }
    }
}

impl From<super::SocketOption> for wit::SocketOption {
    fn from(opt: super::SocketOption) -> wit::SocketOption {
        use super::SocketOption as Opt;
        match opt {
            Opt::NoDelay(on) => wit::SocketOption::NoDelay(on),
            Opt::KeepAlive(on) => wit::SocketOption::KeepAlive(on),
            Opt::ReuseAddress(on) => wit::SocketOption::ReuseAddress(on),
            Opt::ReusePort(on) => wit::SocketOption::ReusePort(on),
            Opt::RecvBufferSize(size) => wit::SocketOption::RecvBufferSize(size),
            Opt::SendBufferSize(size) => wit::SocketOption::SendBufferSize(size),
            Opt::Broadcast(on) => wit::SocketOption::Broadcast(on),
        }
    }
}

/// A domain call's outcome as the WIT's: the value and the error converted.
fn answer<T, U: From<T>>(result: Result<T, crate::error::Error>) -> Result<U, Error> {
    result.map(U::from).map_err(Into::into)
}

impl From<super::stream::Written> for Written {
    fn from(written: super::stream::Written) -> Written {
        Written {
            taken: written.taken,
            buffered: written.buffered,
        }
    }
}

impl wit::Host for NetView<'_> {
    fn socketpair(
        &mut self,
    ) -> wasmtime::Result<Result<(Resource<Socket>, Resource<Socket>), Error>> {
        // Room for both ends before making either.
        if let Err(err) =
            crate::limits::check_room(self.table, &self.policy.limits, "socketpair", 2)
        {
            return Ok(Err(err.into()));
        }
        let (a, b) = match Socket::pair() {
            Ok(pair) => pair,
            Err(err) => return Ok(Err(err.into())),
        };
        let a = self.table.push(a)?;
        let b = self.table.push(b)?;
        Ok(Ok((a, b)))
    }

    fn remove_stale_socket_file(&mut self, path: Vec<u8>) -> wasmtime::Result<Result<bool, Error>> {
        Ok(super::remove_stale_socket_file(self.policy, &path).map_err(Into::into))
    }
}

impl wit::HostSocket for NetView<'_> {
    fn create(
        &mut self,
        family: AddressFamily,
        type_: SocketType,
    ) -> wasmtime::Result<Result<Resource<Socket>, Error>> {
        if let Err(err) =
            crate::limits::check_room(self.table, &self.policy.limits, "create socket", 1)
        {
            return Ok(Err(err.into()));
        }
        match Socket::create(family.into(), type_.into()) {
            Ok(socket) => Ok(Ok(self.table.push(socket)?)),
            Err(err) => Ok(Err(err.into())),
        }
    }

    fn family(&mut self, self_: Resource<Socket>) -> wasmtime::Result<AddressFamily> {
        Ok(self.table.get(&self_)?.family().into())
    }

    fn socket_type(&mut self, self_: Resource<Socket>) -> wasmtime::Result<SocketType> {
        Ok(self.table.get(&self_)?.socket_type().into())
    }

    fn bind(
        &mut self,
        self_: Resource<Socket>,
        addr: Address,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self
            .table
            .get_mut(&self_)?
            .bind(self.policy, addr.into())
            .map_err(Into::into))
    }

    fn listen(
        &mut self,
        self_: Resource<Socket>,
        backlog: u32,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self
            .table
            .get(&self_)?
            .listen(self.policy, backlog)
            .map_err(Into::into))
    }

    fn accept(
        &mut self,
        self_: Resource<Socket>,
    ) -> wasmtime::Result<Result<(Resource<Socket>, Address), Error>> {
        // Checked before accepting: at the limit the connection stays in the backlog,
        // for an accept once the guest has closed something.
        if let Err(err) = crate::limits::check_room(self.table, &self.policy.limits, "accept", 1) {
            return Ok(Err(err.into()));
        }
        match self.table.get(&self_)?.accept() {
            Ok((conn, peer)) => Ok(Ok((self.table.push(conn)?, peer.into()))),
            Err(err) => Ok(Err(err.into())),
        }
    }

    fn connect(
        &mut self,
        self_: Resource<Socket>,
        addr: Address,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self
            .table
            .get_mut(&self_)?
            .connect(self.policy, addr.into())
            .map_err(Into::into))
    }

    fn take_error(&mut self, self_: Resource<Socket>) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.table.get(&self_)?.take_error().map_err(Into::into))
    }

    fn recv(
        &mut self,
        self_: Resource<Socket>,
        max_len: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, Error>> {
        let received = self.table.get(&self_)?.recv(max_len);
        if let Ok(data) = &received {
            self.stats.received(data.len());
        }
        Ok(received.map_err(Into::into))
    }

    fn send(
        &mut self,
        self_: Resource<Socket>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let sent = self.table.get(&self_)?.send(&data);
        if let Ok(n) = sent {
            self.stats.sent(n as usize);
        }
        Ok(sent.map_err(Into::into))
    }

    fn recv_from(
        &mut self,
        self_: Resource<Socket>,
        max_len: u32,
    ) -> wasmtime::Result<Result<(Vec<u8>, Address), Error>> {
        let received = self.table.get(&self_)?.recv_from(max_len);
        if let Ok((data, _)) = &received {
            self.stats.received(data.len());
        }
        Ok(received
            .map(|(data, from)| (data, from.into()))
            .map_err(Into::into))
    }

    fn send_to(
        &mut self,
        self_: Resource<Socket>,
        data: Vec<u8>,
        addr: Address,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let sent = self
            .table
            .get(&self_)?
            .send_to(self.policy, &data, addr.into());
        if let Ok(n) = sent {
            self.stats.sent(n as usize);
        }
        Ok(sent.map_err(Into::into))
    }

    fn send_file(
        &mut self,
        self_: Resource<Socket>,
        file: Resource<Descriptor>,
        offset: u64,
        count: u64,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let file = match super::sendfile::readable_file(self.table, &file, "send-file")? {
            Ok(file) => file,
            Err(err) => return Ok(Err(err.into())),
        };
        let sent = self.table.get(&self_)?.send_file(&file, offset, count);
        if let Ok(n) = sent {
            self.stats.sent(n as usize);
        }
        Ok(sent.map_err(Into::into))
    }

    fn shutdown(
        &mut self,
        self_: Resource<Socket>,
        how: ShutdownHow,
    ) -> wasmtime::Result<Result<(), Error>> {
        let how = match how {
            ShutdownHow::Read => std::net::Shutdown::Read,
            ShutdownHow::Write => std::net::Shutdown::Write,
            ShutdownHow::Both => std::net::Shutdown::Both,
        };
        Ok(self.table.get(&self_)?.shutdown(how).map_err(Into::into))
    }

    fn set_option(
        &mut self,
        self_: Resource<Socket>,
        opt: SocketOption,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(answer(self.table.get(&self_)?.set_option(opt.into())))
    }

    fn get_option(
        &mut self,
        self_: Resource<Socket>,
        name: OptionName,
    ) -> wasmtime::Result<Result<SocketOption, Error>> {
        Ok(answer(self.table.get(&self_)?.get_option(name.into())))
    }

    fn local_address(
        &mut self,
        self_: Resource<Socket>,
    ) -> wasmtime::Result<Result<Address, Error>> {
        Ok(answer(self.table.get(&self_)?.local_address()))
    }

    fn peer_address(
        &mut self,
        self_: Resource<Socket>,
    ) -> wasmtime::Result<Result<Address, Error>> {
        Ok(answer(self.table.get(&self_)?.peer_address()))
    }

    fn source(
        &mut self,
        self_: Resource<Socket>,
    ) -> wasmtime::Result<Result<Resource<Source>, Error>> {
        let source = self.table.get(&self_)?.source();
        Ok(
            crate::limits::push_limited(self.table, &self.policy.limits, "source", source)?
                .map_err(Into::into),
        )
    }

    fn remove_bound_path(
        &mut self,
        self_: Resource<Socket>,
    ) -> wasmtime::Result<Result<bool, Error>> {
        Ok(self
            .table
            .get(&self_)?
            .remove_bound_path(self.policy)
            .map_err(Into::into))
    }

    fn drop(&mut self, rep: Resource<Socket>) -> wasmtime::Result<()> {
        self.table.delete(rep)?;
        Ok(())
    }
}

/// The WIT name of the interface, as the linker knows it.
const INTERFACE: &str = "sandloop:host/net@0.1.0";

/// Links `sandloop:host/net`: the generated glue, with `stream.write` replaced by one that
/// sends the guest's bytes from its memory (see `crate::guest_bytes`) rather than from a
/// copy the glue lifts first.
pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    wit::add_to_linker::<State, HasNet>(linker, State::net_view)?;
    linker.allow_shadowing(true);
    let linked = linker.instance(INTERFACE).and_then(|mut instance| {
        instance.func_wrap(
            "[method]stream.write",
            |mut store: StoreContextMut<'_, State>,
             (stream, data): (Resource<Stream>, WasmList<u8>)| {
                let data = guest_bytes(&store, &data);
                let mut view = store.data_mut().net_view();
                Ok((view.write_stream(&stream, Cow::Borrowed(data))?,))
            },
        )
    });
    linker.allow_shadowing(false);
    linked
}

impl NetView<'_> {
    /// `stream.write` of `data`: owned when the generated glue lifted it, borrowed from
    /// the guest's memory when the linked one passes it in place.
    fn write_stream(
        &mut self,
        stream: &Resource<Stream>,
        data: Cow<'_, [u8]>,
    ) -> wasmtime::Result<Result<Written, Error>> {
        let written = super::stream::write_now(self.reactor, self.table, stream, data)?;
        Ok(written.map(Into::into).map_err(Into::into))
    }
}

impl wit::HostStream for NetView<'_> {
    fn open(
        &mut self,
        sock: Resource<Socket>,
        token: u64,
        read_budget: u32,
    ) -> wasmtime::Result<Result<Resource<Stream>, Error>> {
        // The guest hands the socket over (`own<socket>`): it is ours now, and closed if
        // it cannot become a stream.
        let socket = self.table.delete(sock)?;
        match Stream::open(socket, token, read_budget, self.stats) {
            Ok(stream) => Ok(super::stream::install(
                self.table,
                self.reactor.registry(),
                stream,
                "open a stream",
            )?
            .map_err(Into::into)),
            Err(err) => Ok(Err(err.into())),
        }
    }

    fn write(
        &mut self,
        self_: Resource<Stream>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<Written, Error>> {
        self.write_stream(&self_, Cow::Owned(data))
    }

    fn id(&mut self, self_: Resource<Stream>) -> wasmtime::Result<u32> {
        Ok(self.table.get(&self_)?.id())
    }

    fn write_eof(&mut self, self_: Resource<Stream>) -> wasmtime::Result<Result<(), Error>> {
        let registry = self.reactor.registry();
        Ok(self
            .table
            .get_mut(&self_)?
            .write_eof(registry)
            .map_err(Into::into))
    }

    fn set_reading(
        &mut self,
        self_: Resource<Stream>,
        on: bool,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self
            .table
            .get_mut(&self_)?
            .set_reading(on, self.reactor)
            .map_err(Into::into))
    }

    fn send_file(
        &mut self,
        self_: Resource<Stream>,
        file: Resource<Descriptor>,
        offset: u64,
        count: u64,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let segment = match super::segment(self.table, &file, offset, count)? {
            Ok(segment) => segment,
            Err(err) => return Ok(Err(err.into())),
        };
        let count = segment.remaining();
        let registry = self.reactor.registry();
        let stream = self.table.get_mut(&self_)?;
        Ok(stream
            .send_file(segment, registry)
            .map(|_| count)
            .map_err(Into::into))
    }

    fn write_buffered(&mut self, self_: Resource<Stream>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&self_)?.write_buffered() as u64)
    }

    fn set_option(
        &mut self,
        self_: Resource<Stream>,
        opt: SocketOption,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(answer(self.table.get(&self_)?.set_option(opt.into())))
    }

    fn get_option(
        &mut self,
        self_: Resource<Stream>,
        name: OptionName,
    ) -> wasmtime::Result<Result<SocketOption, Error>> {
        Ok(answer(self.table.get(&self_)?.get_option(name.into())))
    }

    fn local_address(
        &mut self,
        self_: Resource<Stream>,
    ) -> wasmtime::Result<Result<Address, Error>> {
        Ok(answer(self.table.get(&self_)?.local_address()))
    }

    fn peer_address(
        &mut self,
        self_: Resource<Stream>,
    ) -> wasmtime::Result<Result<Address, Error>> {
        Ok(answer(self.table.get(&self_)?.peer_address()))
    }

    fn drop(&mut self, rep: Resource<Stream>) -> wasmtime::Result<()> {
        let mut stream = self.table.delete(rep)?;
        stream.deregister(self.reactor.registry());
        Ok(())
    }
}
