//! A driver for fuzzing the host interfaces with random call sequences (the `fuzzing`
//! feature; the target is `fuzz/fuzz_targets/host_calls.rs`).
//!
//! A guest reaches the host only through the generated `Host` trait methods, with handle
//! numbers that wasmtime's resource table resolves. The driver calls those same methods on
//! one instance's state (the `testing` fixture: reactor, resource table, policy) with
//! operations and handle numbers the fuzzer picks: live handles of the right kind, handles
//! it already dropped, handles of another kind, or any number. Every call must come back
//! as a result (`Ok` or an `Err` the guest sees) or as a trap (`wasmtime::Result::Err`),
//! never as a panic of the host: a panic is a finding.
//!
//! Nothing leaves the machine: the policy grants listen and connect on 127.0.0.1 and ::1
//! only, so every other address is denied before a socket is touched, and `wait` only
//! polls (timeout 0). The policy also sets a handle limit (`HANDLE_LIMIT`, 24) and a limit
//! on host-buffered bytes (`BUFFER_LIMIT`, 1 KiB), so that the calls refused or cut short
//! at a limit are driven too.

// The operations are named after the host calls they make; see the WIT for each.
#![allow(missing_docs)]

use arbitrary::Arbitrary;
use wasmtime::component::Resource;

use crate::bindings::fs::{Host as _, HostPipe as _};
use crate::bindings::net::{
    Host as _, HostSocket, HostStream, OptionName, ShutdownHow, SocketOption, SocketType,
};
use crate::bindings::reactor::{Host as _, HostSource as _, Interest, StreamWrite};
use crate::bindings::tls::{
    ClientAuth, ClientOptions, Host as _, HostContext, Identity, ServerOptions,
};
use crate::bindings::types::{Address, AddressFamily};
use crate::fs::{Pipe, StdioAccess};
use crate::net::{Socket, Stream};
use crate::reactor::Source;
use crate::testing::Fixture;
use crate::tls::Context;

/// Which handle a call passes: one the driver holds (by index into the live handles of the
/// kind the call expects), one it dropped, or any number (which may name a live resource
/// of another kind).
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Handle {
    Live(u8),
    Dropped(u8),
    Raw(u32),
}

/// Where `bind`/`connect` point.
#[derive(Arbitrary, Debug, Clone)]
pub enum Target {
    /// 127.0.0.1, any free port.
    V4Any,
    /// [::1], any free port.
    V6Any,
    /// The local address of a live socket (a listener to connect to).
    LocalOf(Handle),
    /// A port on 127.0.0.1.
    V4Port(u16),
    /// Whatever string the fuzzer made (parse errors, denied addresses).
    Text(String),
    /// A unix path (no rule grants one: always denied).
    Unix(Vec<u8>),
}

/// One host call.
#[derive(Arbitrary, Debug, Clone)]
pub enum Op {
    SocketCreate {
        v6: bool,
        datagram: bool,
    },
    Socketpair,
    Bind(Handle, Target),
    Listen(Handle, u32),
    Accept(Handle),
    Connect(Handle, Target),
    TakeError(Handle),
    Recv(Handle, u16),
    Send(Handle, Vec<u8>),
    Shutdown(Handle, u8),
    SetOption(Handle, u8, u32),
    GetOption(Handle, u8),
    Addresses(Handle),
    SocketSource(Handle),
    SocketDrop(Handle),
    StreamOpen {
        socket: Handle,
        token: u64,
        budget: u32,
    },
    StreamWrite(Handle, Vec<u8>),
    StreamWriteEof(Handle),
    StreamSetReading(Handle, bool),
    StreamInfo(Handle),
    StreamDrop(Handle),
    /// `wait` with writes: (stream, length) pairs over `data`; lengths may overrun it.
    Wait {
        writes: Vec<(Handle, u16)>,
        data: Vec<u8>,
    },
    Register {
        source: Handle,
        token: u64,
        interest: u8,
    },
    Reregister {
        source: Handle,
        token: u64,
        interest: u8,
    },
    Deregister(Handle),
    SourceDrop(Handle),
    PipeCreate,
    PipeRead(Handle, u16),
    PipeWrite(Handle, Vec<u8>),
    PipeSource(Handle),
    PipeOpenStream {
        pipe: Handle,
        token: u64,
        budget: u32,
    },
    PipeDrop(Handle),
    TlsClient {
        ca: Vec<Vec<u8>>,
        verify: bool,
        identity: Option<(Vec<u8>, Vec<u8>)>,
    },
    TlsServer {
        cert: Vec<u8>,
        key: Vec<u8>,
        client_ca: Vec<Vec<u8>>,
        auth: u8,
    },
    TlsStart {
        stream: Handle,
        context: Handle,
        name: Option<String>,
    },
    TlsContextDrop(Handle),
}

/// The handles of one kind: live ones in creation order, and the reps of dropped ones.
struct Handles {
    live: Vec<u32>,
    dropped: Vec<u32>,
}

impl Handles {
    const fn new() -> Handles {
        Handles {
            live: Vec::new(),
            dropped: Vec::new(),
        }
    }

    fn rep(&self, h: Handle) -> u32 {
        let pick = |v: &Vec<u32>, i: u8| {
            if v.is_empty() {
                u32::from(i)
            } else {
                v[usize::from(i) % v.len()]
            }
        };
        match h {
            Handle::Live(i) => pick(&self.live, i),
            Handle::Dropped(i) => pick(&self.dropped, i),
            Handle::Raw(n) => n,
        }
    }

    fn borrow<T: 'static>(&self, h: Handle) -> Resource<T> {
        Resource::new_borrow(self.rep(h))
    }

    /// Hands out `h` as an owned handle (as a call that consumes it takes it), and forgets
    /// it as live: the guest no longer holds it, whatever the call answers.
    fn take<T: 'static>(&mut self, h: Handle) -> Resource<T> {
        let rep = self.rep(h);
        if let Some(at) = self.live.iter().position(|&r| r == rep) {
            self.live.remove(at);
            self.dropped.push(rep);
        }
        Resource::new_own(rep)
    }

    fn add<T: 'static>(&mut self, res: Resource<T>) {
        self.live.push(res.rep());
    }
}

/// Most handles of one kind the driver keeps: a longer input only reuses them.
const MAX_LIVE: usize = 64;

/// The driver's limit on host-buffered bytes: small, so that writes to a stream whose send
/// buffer an input shrank (`set-option`) are cut short and the room is fuzzed too.
const BUFFER_LIMIT: u64 = 1024;

/// The instance's handle limit: far below what the driver would hold of all kinds
/// together, so that sequences reach it and its refusals (pairs, accepts, sources,
/// contexts) are exercised as often as the calls that succeed.
const HANDLE_LIMIT: u32 = 24;

/// One instance's host state and the handles its "guest" holds.
pub struct Driver {
    fx: Fixture,
    sockets: Handles,
    streams: Handles,
    sources: Handles,
    pipes: Handles,
    contexts: Handles,
}

impl Default for Driver {
    fn default() -> Self {
        Driver::new()
    }
}

impl Driver {
    /// A driver whose policy grants listen and connect on loopback only.
    pub fn new() -> Driver {
        let mut policy = crate::testing::loopback_policy();
        policy.limits.handles = Some(HANDLE_LIMIT);
        policy.limits.buffered_bytes = Some(BUFFER_LIMIT);
        let mut fx = Fixture::new(policy);
        // As a real instance's table: refusals at the limit, the hard capacity past it.
        crate::limits::limit_table(&mut fx.table, &fx.policy.limits);
        Driver {
            fx,
            sockets: Handles::new(),
            streams: Handles::new(),
            sources: Handles::new(),
            pipes: Handles::new(),
            contexts: Handles::new(),
        }
    }

    /// Runs `ops` in order. A trap ends nothing here (the fuzzer wants to see what the
    /// next call does with the state a trap left); a panic is a finding.
    pub fn run(&mut self, ops: &[Op]) {
        for op in ops {
            let _ = self.apply(op);
        }
    }

    /// Does one call; `Err` is a trap of the instance.
    pub fn apply(&mut self, op: &Op) -> wasmtime::Result<()> {
        let full = |h: &Handles| h.live.len() >= MAX_LIVE;
        match op {
            Op::SocketCreate { v6, datagram } => {
                if full(&self.sockets) {
                    return Ok(());
                }
                let family = if *v6 {
                    AddressFamily::Ipv6
                } else {
                    AddressFamily::Ipv4
                };
                let kind = if *datagram {
                    SocketType::Datagram
                } else {
                    SocketType::Stream
                };
                if let Ok(s) = self.fx.net().create(family, kind)? {
                    self.sockets.add(s);
                }
            }
            Op::Socketpair => {
                if full(&self.sockets) {
                    return Ok(());
                }
                if let Ok((a, b)) = self.fx.net().socketpair()? {
                    self.sockets.add(a);
                    self.sockets.add(b);
                }
            }
            Op::Bind(h, target) => {
                let addr = self.address(target)?;
                let _ = self.fx.net().bind(self.sockets.borrow(*h), addr)?;
            }
            Op::Listen(h, backlog) => {
                let _ = self.fx.net().listen(self.sockets.borrow(*h), *backlog)?;
            }
            Op::Accept(h) => {
                let accepted = self.fx.net().accept(self.sockets.borrow(*h))?;
                if let Ok((s, _)) = accepted {
                    if full(&self.sockets) {
                        HostSocket::drop(&mut self.fx.net(), s)?;
                    } else {
                        self.sockets.add(s);
                    }
                }
            }
            Op::Connect(h, target) => {
                let addr = self.address(target)?;
                let _ = self.fx.net().connect(self.sockets.borrow(*h), addr)?;
            }
            Op::TakeError(h) => {
                let _ = self.fx.net().take_error(self.sockets.borrow(*h))?;
            }
            Op::Recv(h, len) => {
                let _ = self
                    .fx
                    .net()
                    .recv(self.sockets.borrow(*h), u32::from(*len))?;
            }
            Op::Send(h, data) => {
                let _ = self.fx.net().send(self.sockets.borrow(*h), data.clone())?;
            }
            Op::Shutdown(h, how) => {
                let how = match how % 3 {
                    0 => ShutdownHow::Read,
                    1 => ShutdownHow::Write,
                    _ => ShutdownHow::Both,
                };
                let _ = self.fx.net().shutdown(self.sockets.borrow(*h), how)?;
            }
            Op::SetOption(h, which, value) => {
                let on = value % 2 == 1;
                let opt = match which % 7 {
                    0 => SocketOption::NoDelay(on),
                    1 => SocketOption::KeepAlive(on),
                    2 => SocketOption::ReuseAddress(on),
                    3 => SocketOption::ReusePort(on),
                    4 => SocketOption::RecvBufferSize(*value),
                    5 => SocketOption::SendBufferSize(*value),
                    _ => SocketOption::Broadcast(on),
                };
                let _ = HostSocket::set_option(&mut self.fx.net(), self.sockets.borrow(*h), opt)?;
            }
            Op::GetOption(h, which) => {
                let name = match which % 7 {
                    0 => OptionName::NoDelay,
                    1 => OptionName::KeepAlive,
                    2 => OptionName::ReuseAddress,
                    3 => OptionName::ReusePort,
                    4 => OptionName::RecvBufferSize,
                    5 => OptionName::SendBufferSize,
                    _ => OptionName::Broadcast,
                };
                let _ = HostSocket::get_option(&mut self.fx.net(), self.sockets.borrow(*h), name)?;
            }
            Op::Addresses(h) => {
                let _ = HostSocket::local_address(&mut self.fx.net(), self.sockets.borrow(*h))?;
                let _ = HostSocket::peer_address(&mut self.fx.net(), self.sockets.borrow(*h))?;
                let _ = self.fx.net().family(self.sockets.borrow(*h))?;
                let _ = self.fx.net().socket_type(self.sockets.borrow(*h))?;
            }
            Op::SocketSource(h) => {
                if full(&self.sources) {
                    return Ok(());
                }
                if let Ok(src) = self.fx.net().source(self.sockets.borrow(*h))? {
                    self.sources.add(src);
                }
            }
            Op::SocketDrop(h) => {
                let s: Resource<Socket> = self.sockets.take(*h);
                HostSocket::drop(&mut self.fx.net(), s)?;
            }
            Op::StreamOpen {
                socket,
                token,
                budget,
            } => {
                if full(&self.streams) {
                    return Ok(());
                }
                let s: Resource<Socket> = self.sockets.take(*socket);
                if let Ok(stream) = HostStream::open(&mut self.fx.net(), s, *token, *budget)? {
                    self.streams.add(stream);
                }
            }
            Op::StreamWrite(h, data) => {
                let _ =
                    HostStream::write(&mut self.fx.net(), self.streams.borrow(*h), data.clone())?;
            }
            Op::StreamWriteEof(h) => {
                let _ = self.fx.net().write_eof(self.streams.borrow(*h))?;
            }
            Op::StreamSetReading(h, on) => {
                let _ = self.fx.net().set_reading(self.streams.borrow(*h), *on)?;
            }
            Op::StreamInfo(h) => {
                let _ = HostStream::id(&mut self.fx.net(), self.streams.borrow(*h))?;
                let _ = HostStream::write_buffered(&mut self.fx.net(), self.streams.borrow(*h))?;
                let _ = self.fx.net().info(self.streams.borrow(*h))?;
            }
            Op::StreamDrop(h) => {
                let s: Resource<Stream> = self.streams.take(*h);
                HostStream::drop(&mut self.fx.net(), s)?;
            }
            Op::Wait { writes, data } => {
                let writes = writes
                    .iter()
                    .map(|(h, len)| StreamWrite {
                        id: self.streams.rep(*h),
                        len: u32::from(*len),
                    })
                    .collect();
                let _ = self.fx.reactor().wait(writes, data.clone(), Some(0))?;
            }
            Op::Register {
                source,
                token,
                interest,
            } => {
                let src: Resource<Source> = self.sources.borrow(*source);
                let _ = self
                    .fx
                    .reactor()
                    .register(src, *token, interest_of(*interest))?;
            }
            Op::Reregister {
                source,
                token,
                interest,
            } => {
                let src: Resource<Source> = self.sources.borrow(*source);
                let _ = self
                    .fx
                    .reactor()
                    .reregister(src, *token, interest_of(*interest))?;
            }
            Op::Deregister(h) => {
                let src: Resource<Source> = self.sources.borrow(*h);
                let _ = self.fx.reactor().deregister(src)?;
            }
            Op::SourceDrop(h) => {
                let src: Resource<Source> = self.sources.take(*h);
                self.fx.reactor().drop(src)?;
            }
            Op::PipeCreate => {
                if full(&self.pipes) {
                    return Ok(());
                }
                if let Ok((r, w)) = self.fx.fs(StdioAccess::default()).create_pipe()? {
                    self.pipes.add(r);
                    self.pipes.add(w);
                }
            }
            Op::PipeRead(h, len) => {
                let p: Resource<Pipe> = self.pipes.borrow(*h);
                let _ = self
                    .fx
                    .fs(StdioAccess::default())
                    .read(p, u32::from(*len))?;
            }
            Op::PipeWrite(h, data) => {
                let p: Resource<Pipe> = self.pipes.borrow(*h);
                let _ = self.fx.fs(StdioAccess::default()).write(p, data.clone())?;
            }
            Op::PipeSource(h) => {
                if full(&self.sources) {
                    return Ok(());
                }
                let p: Resource<Pipe> = self.pipes.borrow(*h);
                if let Ok(src) = self.fx.fs(StdioAccess::default()).source(p)? {
                    self.sources.add(src);
                }
            }
            Op::PipeOpenStream {
                pipe,
                token,
                budget,
            } => {
                if full(&self.streams) {
                    return Ok(());
                }
                let p: Resource<Pipe> = self.pipes.take(*pipe);
                let opened = self
                    .fx
                    .fs(StdioAccess::default())
                    .open_stream(p, *token, *budget)?;
                if let Ok(stream) = opened {
                    self.streams.add(stream);
                }
            }
            Op::PipeDrop(h) => {
                let p: Resource<Pipe> = self.pipes.take(*h);
                crate::bindings::fs::HostPipe::drop(&mut self.fx.fs(StdioAccess::default()), p)?;
            }
            Op::TlsClient {
                ca,
                verify,
                identity,
            } => {
                if full(&self.contexts) {
                    return Ok(());
                }
                let options = ClientOptions {
                    ca_pem: ca.clone(),
                    // The host's root store is read from disk: slow, and not what a fuzzer
                    // should spend its time on.
                    system_roots: false,
                    verify: *verify,
                    check_hostname: *verify,
                    alpn: vec![b"http/1.1".to_vec()],
                    identity: identity.clone().map(|(cert, key)| Identity {
                        cert_chain_pem: cert,
                        key_pem: key,
                    }),
                };
                if let Ok(ctx) = self.fx.net().client(options)? {
                    self.contexts.add(ctx);
                }
            }
            Op::TlsServer {
                cert,
                key,
                client_ca,
                auth,
            } => {
                if full(&self.contexts) {
                    return Ok(());
                }
                let options = ServerOptions {
                    identity: Identity {
                        cert_chain_pem: cert.clone(),
                        key_pem: key.clone(),
                    },
                    alpn: Vec::new(),
                    client_auth: match auth % 3 {
                        0 => ClientAuth::None,
                        1 => ClientAuth::Optional,
                        _ => ClientAuth::Required,
                    },
                    client_ca_pem: client_ca.clone(),
                };
                if let Ok(ctx) = self.fx.net().server(options)? {
                    self.contexts.add(ctx);
                }
            }
            Op::TlsStart {
                stream,
                context,
                name,
            } => {
                let s: Resource<Stream> = self.streams.borrow(*stream);
                let c: Resource<Context> = self.contexts.borrow(*context);
                let _ = self.fx.net().start(s, c, name.clone())?;
            }
            Op::TlsContextDrop(h) => {
                let c: Resource<Context> = self.contexts.take(*h);
                HostContext::drop(&mut self.fx.net(), c)?;
            }
        }
        Ok(())
    }

    fn address(&mut self, target: &Target) -> wasmtime::Result<Address> {
        Ok(match target {
            Target::V4Any => Address::Inet("127.0.0.1:0".into()),
            Target::V6Any => Address::Inet("[::1]:0".into()),
            Target::V4Port(port) => Address::Inet(format!("127.0.0.1:{port}")),
            Target::LocalOf(h) => {
                match HostSocket::local_address(&mut self.fx.net(), self.sockets.borrow(*h))? {
                    Ok(addr) => addr,
                    Err(_) => Address::Inet("127.0.0.1:1".into()),
                }
            }
            Target::Text(text) => Address::Inet(text.clone()),
            Target::Unix(path) => Address::Unix(path.clone()),
        })
    }
}

fn interest_of(bits: u8) -> Interest {
    let mut interest = Interest::empty();
    if bits & 1 != 0 {
        interest |= Interest::READABLE;
    }
    if bits & 2 != 0 {
        interest |= Interest::WRITABLE;
    }
    if bits & 4 != 0 {
        interest |= Interest::HANGUP;
    }
    interest
}

#[cfg(test)]
mod tests;
