//! Forged and stale handles, through the trait methods a hostile guest calls: a resource
//! used after it was dropped, a handle that names a resource of another kind, `wait`
//! writes naming streams that are gone or never were. Each call must answer with an error
//! result or a trap of the instance (`wasmtime::Result::Err`, which wasmtime turns into a
//! trap of that instance only), never a panic of the host; and the instance's other
//! resources must keep working afterwards.
//!
//! The tests of each interface already cover some of this (`bad_socket_handles_trap...`,
//! `bad_stream_handles_trap...`, `a_write_to_an_id_that_names_no_stream_traps`,
//! `write_lengths_beyond_the_write_data_trap`, the dns and executor stale-handle tests);
//! these fill the gaps between interfaces. A guest cannot do worse than these calls:
//! wasmtime resolves its handle numbers in its own per-instance table before the host sees
//! them (`host/tests/hostile_handles.rs` checks that from inside a real guest).

use wasmtime::component::Resource;

use crate::bindings::fs::{Host as _, HostPipe as _};
use crate::bindings::net::{Host as _, HostSocket, HostStream};
use crate::bindings::process::{Host as _, HostChild as _, SpawnOptions, Stdio};
use crate::bindings::reactor::{Host as _, HostSource as _, Interest, StreamWrite};
use crate::bindings::tls::{Host as _, HostContext as _};
use crate::bindings::types::{Address, AddressFamily, ErrorKind};
use crate::fs::{Pipe, StdioAccess};
use crate::net::{Socket, Stream};
use crate::process::Child;
use crate::reactor::Source;
use crate::testing::{Fixture, borrow, loopback_policy};
use crate::tls::Context;

const TOKEN: u64 = 5;

/// A borrow of `rep` as a `T`, whatever the table holds there.
fn forged<T: 'static>(rep: u32) -> Resource<T> {
    Resource::new_borrow(rep)
}

impl Fixture {
    /// Both ends of a connected unix socket pair, as `socketpair` hands them out.
    fn pair(&mut self) -> (Resource<Socket>, Resource<Socket>) {
        self.net()
            .socketpair()
            .expect("no trap")
            .expect("socketpair")
    }

    /// A completion-mode stream over one end of a socket pair, and the other end.
    fn stream(&mut self) -> (Resource<Stream>, Resource<Socket>) {
        let (ours, peer) = self.pair();
        let stream = HostStream::open(&mut self.net(), ours, TOKEN, 1024)
            .expect("no trap")
            .expect("open");
        (stream, peer)
    }

    fn pipes(&mut self) -> (Resource<Pipe>, Resource<Pipe>) {
        self.fs(StdioAccess::default())
            .create_pipe()
            .expect("no trap")
            .expect("pipe")
    }

    fn client_context(&mut self) -> Resource<Context> {
        let options = crate::testing::unchecked_client_options();
        self.net()
            .client(options)
            .expect("no trap")
            .expect("client context")
    }

    /// The instance still serves its guest: a new socket binds and listens on loopback,
    /// and a pipe carries bytes.
    fn assert_still_serves(&mut self) {
        let socket = self
            .net()
            .create(
                AddressFamily::Ipv4,
                crate::bindings::net::SocketType::Stream,
            )
            .expect("no trap")
            .expect("create");
        self.net()
            .bind(borrow(&socket), Address::Inet("127.0.0.1:0".into()))
            .expect("no trap")
            .expect("bind");
        self.net()
            .listen(borrow(&socket), 8)
            .expect("no trap")
            .expect("listen");
        let (r, w) = self.pipes();
        let mut fs = self.fs(StdioAccess::default());
        assert_eq!(fs.write(borrow(&w), b"ok".to_vec()).unwrap().unwrap(), 2);
        assert_eq!(fs.read(borrow(&r), 16).unwrap().unwrap(), b"ok");
    }
}

#[test]
fn a_dropped_pipe_traps_on_every_call_and_its_other_end_sees_a_closed_pipe() {
    let mut fx = Fixture::loopback();
    let (r, w) = fx.pipes();
    let rep = r.rep();
    fx.fs(StdioAccess::default()).drop(r).unwrap();

    let mut fs = fx.fs(StdioAccess::default());
    assert!(fs.read(forged(rep), 16).is_err());
    assert!(fs.write(forged(rep), vec![1]).is_err());
    assert!(fs.source(forged(rep)).is_err());
    assert!(fs.end(forged(rep)).is_err());
    assert!(fs.open_stream(Resource::new_own(rep), TOKEN, 64).is_err());
    assert!(fs.drop(Resource::new_own(rep)).is_err(), "a second drop");

    // The write end is fine: writing to a pipe nobody reads is an error result (EPIPE,
    // with SIGPIPE ignored), not a signal that kills the host.
    let err = fs.write(borrow(&w), b"x".to_vec()).unwrap().unwrap_err();
    assert_eq!(err.kind, ErrorKind::BrokenPipe, "{err:?}");
    fx.assert_still_serves();
}

#[test]
fn a_pipe_handed_to_a_stream_is_gone_as_a_pipe() {
    let mut fx = Fixture::loopback();
    let (r, _w) = fx.pipes();
    let rep = r.rep();
    let stream = fx
        .fs(StdioAccess::default())
        .open_stream(r, TOKEN, 64)
        .unwrap()
        .unwrap();

    // The table slot may now hold the stream; as a pipe it is of the wrong kind or gone.
    assert!(fx.fs(StdioAccess::default()).read(forged(rep), 16).is_err());
    assert!(HostStream::write_buffered(&mut fx.net(), borrow(&stream)).is_ok());
    fx.assert_still_serves();
}

#[test]
fn handles_naming_a_resource_of_another_kind_trap() {
    let mut fx = Fixture::loopback();
    let (socket, _peer) = fx.pair();
    let (stream, _stream_peer) = fx.stream();
    let (pipe, _w) = fx.pipes();
    let context = fx.client_context();
    let source = fx.net().source(borrow(&socket)).unwrap().unwrap();

    // Each resource's number passed where another kind is expected.
    assert!(fx.net().recv(forged(pipe.rep()), 16).is_err());
    assert!(fx.net().send(forged(context.rep()), vec![1]).is_err());
    assert!(HostStream::write(&mut fx.net(), forged(socket.rep()), vec![1]).is_err());
    assert!(HostStream::write_eof(&mut fx.net(), forged(pipe.rep())).is_err());
    assert!(fx.net().is_server(forged(stream.rep())).is_err());
    assert!(
        fx.net()
            .start(forged(context.rep()), forged(stream.rep()), None)
            .is_err(),
        "stream and context swapped"
    );
    assert!(
        fx.fs(StdioAccess::default())
            .read(forged(socket.rep()), 1)
            .is_err()
    );
    assert!(
        fx.reactor()
            .register(forged(socket.rep()), TOKEN, Interest::READABLE)
            .is_err()
    );
    assert!(fx.reactor().deregister(forged(stream.rep())).is_err());
    assert!(fx.process().pid(forged(socket.rep())).is_err());

    // Nothing of the above touched the real resources: each still works as itself.
    assert_eq!(
        HostSocket::send(&mut fx.net(), borrow(&socket), b"hi".to_vec())
            .unwrap()
            .unwrap(),
        2
    );
    assert!(!fx.net().is_server(borrow(&context)).unwrap());
    fx.reactor()
        .register(borrow(&source), TOKEN, Interest::WRITABLE)
        .unwrap()
        .unwrap();
    HostStream::write(&mut fx.net(), borrow(&stream), b"x".to_vec())
        .unwrap()
        .unwrap();
    fx.assert_still_serves();

    // A drop of the wrong kind traps too. wasmtime's `ResourceTable::delete` takes the
    // entry out before it checks the type, so the resource is gone as well; that is
    // harmless because the trap ends the instance (and a real guest cannot get here:
    // wasmtime checks an own handle's type in the guest's own table before the host's
    // destructor runs, see host/tests/hostile_handles.rs).
    assert!(HostSocket::drop(&mut fx.net(), Resource::new_own(source.rep())).is_err());
    assert!(fx.reactor().drop(Resource::new_own(pipe.rep())).is_err());
}

#[test]
fn tls_start_with_a_dropped_context_or_stream_traps() {
    let mut fx = Fixture::loopback();
    let (stream, _peer) = fx.stream();
    let context = fx.client_context();
    let ctx_rep = context.rep();
    crate::bindings::tls::HostContext::drop(&mut fx.net(), context).unwrap();

    assert!(
        fx.net()
            .start(borrow(&stream), forged(ctx_rep), Some("localhost".into()))
            .is_err()
    );
    assert!(fx.net().is_server(forged(ctx_rep)).is_err());
    assert!(
        crate::bindings::tls::HostContext::drop(&mut fx.net(), Resource::new_own(ctx_rep)).is_err(),
        "a second drop"
    );

    // The stream is untouched (still plain) and a context on a dropped stream traps too.
    assert!(fx.net().info(borrow(&stream)).unwrap().is_none());
    let context = fx.client_context();
    let stream_rep = stream.rep();
    HostStream::drop(&mut fx.net(), stream).unwrap();
    assert!(
        fx.net()
            .start(forged(stream_rep), borrow(&context), None)
            .is_err()
    );
    assert!(fx.net().info(forged(stream_rep)).is_err());
    fx.assert_still_serves();
}

#[test]
fn a_dropped_stream_traps_on_every_call_and_in_waits_writes() {
    let mut fx = Fixture::loopback();
    let (stream, _peer) = fx.stream();
    let id = HostStream::id(&mut fx.net(), borrow(&stream)).unwrap();
    HostStream::drop(&mut fx.net(), stream).unwrap();

    let mut net = fx.net();
    assert!(HostStream::write(&mut net, forged(id), vec![1]).is_err());
    assert!(HostStream::write_eof(&mut net, forged(id)).is_err());
    assert!(HostStream::set_reading(&mut net, forged(id), true).is_err());
    assert!(HostStream::id(&mut net, forged(id)).is_err());
    assert!(HostStream::local_address(&mut net, forged(id)).is_err());
    assert!(HostStream::drop(&mut net, Resource::new_own(id)).is_err());

    let trap = fx
        .reactor()
        .wait(vec![StreamWrite { id, len: 1 }], b"x".to_vec(), Some(0))
        .unwrap_err();
    assert!(
        trap.to_string().contains(&format!("stream id {id}")),
        "{trap:#}"
    );
    fx.assert_still_serves();
}

#[test]
fn wait_writes_naming_a_socket_or_overflowing_lengths_trap() {
    let mut fx = Fixture::loopback();
    let (socket, _peer) = fx.pair();
    let (stream, _stream_peer) = fx.stream();
    let id = HostStream::id(&mut fx.net(), borrow(&stream)).unwrap();

    // A socket's number is no stream id.
    let writes = vec![StreamWrite {
        id: socket.rep(),
        len: 1,
    }];
    assert!(fx.reactor().wait(writes, b"x".to_vec(), Some(0)).is_err());

    // Lengths whose sum overflows 32 bits, and one past the end after a valid write.
    for writes in [
        vec![
            StreamWrite { id, len: u32::MAX },
            StreamWrite { id, len: u32::MAX },
        ],
        vec![
            StreamWrite { id, len: 1 },
            StreamWrite { id, len: u32::MAX },
        ],
    ] {
        assert!(fx.reactor().wait(writes, b"ab".to_vec(), Some(0)).is_err());
    }
    // The stream is still open and writable through wait.
    let batch = fx
        .reactor()
        .wait(vec![StreamWrite { id, len: 2 }], b"ok".to_vec(), Some(0))
        .expect("no trap");
    assert!(batch.errors.is_empty(), "{batch:?}");
    fx.assert_still_serves();
}

#[test]
fn a_source_outlives_its_socket_and_traps_once_dropped() {
    let mut fx = Fixture::loopback();
    let (socket, _peer) = fx.pair();
    let source: Resource<Source> = fx.net().source(borrow(&socket)).unwrap().unwrap();
    HostSocket::drop(&mut fx.net(), socket).unwrap();

    // The source holds its own descriptor: registering it still works.
    fx.reactor()
        .register(borrow(&source), TOKEN, Interest::WRITABLE)
        .unwrap()
        .unwrap();
    let rep = source.rep();
    fx.reactor().drop(source).unwrap();
    assert!(
        fx.reactor()
            .register(forged(rep), TOKEN, Interest::READABLE)
            .is_err()
    );
    assert!(
        fx.reactor()
            .reregister(forged(rep), 1, Interest::READABLE)
            .is_err()
    );
    assert!(fx.reactor().deregister(forged(rep)).is_err());
    assert!(fx.reactor().drop(Resource::new_own(rep)).is_err());
    fx.assert_still_serves();
}

#[test]
fn a_dropped_child_traps_and_its_taken_pipes_keep_working() {
    let policy = loopback_policy().allow_exec("/usr/bin/").expect("rule");
    let mut fx = Fixture::new(policy);
    let options = SpawnOptions {
        env: Vec::new(),
        cwd: None,
        stdin: Stdio::Pipe,
        stdout: Stdio::Pipe,
        stderr: Stdio::Null,
    };
    let child: Resource<Child> = fx
        .process()
        .spawn("/usr/bin/cat".into(), Vec::new(), options)
        .unwrap()
        .unwrap();
    let stdin = fx.process().take_stdin(borrow(&child)).unwrap().unwrap();
    let rep = child.rep();
    // Dropping the child kills it (and reaps it); its handle is gone.
    fx.process().drop(child).unwrap();

    let mut process = fx.process();
    assert!(process.pid(forged(rep)).is_err());
    assert!(process.take_stdout(forged(rep)).is_err());
    assert!(process.exit_status(forged(rep)).is_err());
    assert!(process.exit_source(forged(rep)).is_err());
    assert!(process.send_signal(forged(rep), 9).is_err());
    assert!(process.drop(Resource::new_own(rep)).is_err());

    // The pipe taken before the drop is the guest's own: writing into the dead child's
    // stdin is an error result, not a SIGPIPE.
    let err = fx
        .fs(StdioAccess::default())
        .write(borrow(&stdin), vec![0; 4096])
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::BrokenPipe, "{err:?}");
    fx.assert_still_serves();
}
