//! A hostile guest: forges handle numbers with the raw bindings' `unsafe from_handle`, uses
//! handles after dropping them, passes one kind's handle as another's, and names dropped
//! streams in `reactor.wait`'s writes. Each checked case must trap its own instance (the
//! host test asserts the trap, then runs `sound_calls_work` on the same runtime); a case
//! that prints "returned" was let through.

mod raw {
    wit_bindgen::generate!({
        world: "sandloop:host/imports",
        path: "../../guest/wit",
        // Its own type section: the sandloop crate generates the same world.
        type_section_suffix: "hostile-handles",
        with: {
            "wasi:filesystem/types@0.2.12": generate,
            "wasi:io/error@0.2.12": generate,
            "wasi:io/poll@0.2.12": generate,
            "wasi:io/streams@0.2.12": generate,
            "wasi:clocks/wall-clock@0.2.12": generate,
        },
    });
    pub use self::sandloop::host::{fs, net, reactor, tls};
}

use raw::{fs, net, reactor, tls};

/// A handle number this instance never got.
const FORGED: u32 = 0x7fff_0000;

fn pair() -> (net::Socket, net::Socket) {
    net::socketpair().expect("socketpair")
}

fn stream() -> (net::Stream, net::Socket) {
    let (ours, peer) = pair();
    let stream = net::Stream::open(ours, 1, 1024).expect("open");
    (stream, peer)
}

/// Reached only when the host let a bad handle through: the host test fails on it.
fn returned() -> sandloop::Result<()> {
    println!("returned");
    Ok(())
}

/// The same calls with handles the host gave: they work (the baseline that shows the
/// runtime still serves after the traps).
fn sound_calls_work() -> sandloop::Result<()> {
    let (a, b) = pair();
    assert_eq!(a.send(b"x").expect("send"), 1);
    assert_eq!(b.recv(1).expect("recv"), b"x");
    let (r, w) = fs::create_pipe().expect("pipe");
    assert_eq!(w.write(b"y").expect("write"), 1);
    assert_eq!(r.read(1).expect("read"), b"y");
    println!("ok");
    Ok(())
}

fn forged_socket() -> sandloop::Result<()> {
    // SAFETY: deliberately unsound: the number names nothing; the host must trap.
    let socket = unsafe { net::Socket::from_handle(FORGED) };
    let _ = socket.recv(1);
    returned()
}

fn socket_used_as_pipe() -> sandloop::Result<()> {
    let (a, _b) = pair();
    // SAFETY: deliberately unsound: a socket's handle named as a pipe.
    let pipe = unsafe { fs::Pipe::from_handle(a.handle()) };
    let _ = pipe.read(1);
    returned()
}

fn socket_used_after_drop() -> sandloop::Result<()> {
    let (a, _b) = pair();
    let handle = a.handle();
    drop(a);
    // SAFETY: deliberately unsound: the handle was dropped.
    let stale = unsafe { net::Socket::from_handle(handle) };
    let _ = stale.send(b"x");
    returned()
}

fn socket_dropped_twice() -> sandloop::Result<()> {
    let (a, _b) = pair();
    let handle = a.handle();
    drop(a);
    // SAFETY: deliberately unsound: dropping it again drops a dead handle.
    drop(unsafe { net::Socket::from_handle(handle) });
    returned()
}

fn dropped_stream_in_wait_writes() -> sandloop::Result<()> {
    let (s, _peer) = stream();
    let id = s.id();
    drop(s);
    let writes = [reactor::StreamWrite { id, len: 1 }];
    let _ = reactor::wait(&writes, b"x", Some(0));
    returned()
}

fn wait_write_lengths_overrun() -> sandloop::Result<()> {
    let (s, _peer) = stream();
    let writes = [
        reactor::StreamWrite { id: s.id(), len: 1 },
        reactor::StreamWrite {
            id: s.id(),
            len: u32::MAX,
        },
    ];
    let _ = reactor::wait(&writes, b"xy", Some(0));
    returned()
}

fn tls_start_with_dropped_context() -> sandloop::Result<()> {
    let (s, _peer) = stream();
    let ctx = tls::Context::client(&tls::ClientOptions {
        ca_pem: Vec::new(),
        system_roots: false,
        verify: false,
        check_hostname: false,
        alpn: Vec::new(),
        identity: None,
    })
    .expect("context");
    let handle = ctx.handle();
    drop(ctx);
    // SAFETY: deliberately unsound: the context was dropped.
    let stale = unsafe { tls::Context::from_handle(handle) };
    let _ = tls::start(&s, &stale, None);
    returned()
}

test_programs::cases!(
    sound_calls_work;
    checked: forged_socket,
    socket_used_as_pipe,
    socket_used_after_drop,
    socket_dropped_twice,
    dropped_stream_in_wait_writes,
    wait_write_lengths_overrun,
    tls_start_with_dropped_context,
);
