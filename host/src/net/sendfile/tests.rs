//! `send-file` on sockets and completion-mode streams, on real sockets and files.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::{Descriptor, File};
use wasmtime_wasi::{FsPerms, OpenMode};

use crate::bindings::net::{Host as _, HostSocket, HostStream};
use crate::bindings::reactor::Interest;
use crate::bindings::types::{AddressFamily, ErrorKind};
use crate::net::{Socket, Stream};
use crate::testing::{Fixture, PATIENCE_NS, borrow};

const TOKEN: u64 = 91;

/// Bytes that differ at every offset a test might get wrong.
fn contents(len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// A temp file holding `bytes`, and the path to remove.
fn temp_file(name: &str, bytes: &[u8]) -> (std::fs::File, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!(
        "sandloop-sendfile-unit-{}-{name}",
        std::process::id()
    ));
    std::fs::File::create(&path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
    (std::fs::File::open(&path).unwrap(), path)
}

impl Fixture {
    /// The guest's descriptor of `file`, opened with `mode`.
    fn descriptor(&mut self, file: std::fs::File, mode: OpenMode) -> Resource<Descriptor> {
        let file = File::new(file, FsPerms::ReadOnly, mode, true);
        self.table.push(Descriptor::File(file)).unwrap()
    }

    /// A completion-mode stream over the accepted end of a loopback connection, and the
    /// client end.
    fn stream_and_peer(&mut self) -> (Resource<Stream>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        // A test that went wrong fails instead of blocking forever.
        peer.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let (ours, _) = listener.accept().unwrap();
        ours.set_nonblocking(true).unwrap();
        let socket = self
            .table
            .push(Socket::new(
                socket2::Socket::from(OwnedFd::from(ours)),
                AddressFamily::Ipv4.into(),
            ))
            .unwrap();
        let stream = HostStream::open(&mut self.net(), socket, TOKEN, 64 << 10)
            .unwrap()
            .unwrap();
        (stream, peer)
    }

    /// Waits until the stream reports nothing buffered; returns the last event's count.
    fn flush_all(&mut self) {
        for _ in 0..1000 {
            for event in self.wait(Some(PATIENCE_NS)) {
                assert!(event.error.is_none(), "{:?}", event.error);
                if event.token == TOKEN
                    && event.readiness.contains(Interest::WRITABLE)
                    && event.write_buffered == 0
                {
                    return;
                }
            }
        }
        panic!("the stream never flushed");
    }
}

#[test]
fn a_file_segment_goes_between_the_writes_around_it() {
    let mut fx = Fixture::loopback();
    let data = contents(100_000);
    let (file, path) = temp_file("between", &data);
    let desc = fx.descriptor(file, OpenMode::READ);
    let (stream, mut peer) = fx.stream_and_peer();

    // The first write fills nothing; the segment queues; the last write follows it.
    HostStream::write(&mut fx.net(), borrow(&stream), b"head".to_vec())
        .unwrap()
        .unwrap();
    let count = HostStream::send_file(&mut fx.net(), borrow(&stream), borrow(&desc), 10, 50_000)
        .unwrap()
        .unwrap();
    assert_eq!(count, 50_000);
    assert_eq!(
        HostStream::write_buffered(&mut fx.net(), borrow(&stream)).unwrap(),
        50_000,
        "the segment counts as buffered until wait sends it"
    );
    let buffered = HostStream::write(&mut fx.net(), borrow(&stream), b"tail".to_vec())
        .unwrap()
        .unwrap()
        .buffered;
    assert_eq!(buffered, 50_004, "the write after the file waits behind it");
    fx.flush_all();

    let mut got = vec![0; 4 + 50_000 + 4];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got[..4], b"head");
    assert!(got[4..50_004] == data[10..50_010], "the file's bytes");
    assert_eq!(&got[50_004..], b"tail");
    std::fs::remove_file(path).unwrap();
}

#[test]
fn the_count_is_clamped_to_the_file() {
    let mut fx = Fixture::loopback();
    let (file, path) = temp_file("clamp", &contents(1000));
    let desc = fx.descriptor(file, OpenMode::READ);
    let (stream, mut peer) = fx.stream_and_peer();

    let past_end = HostStream::send_file(&mut fx.net(), borrow(&stream), borrow(&desc), 5000, 10);
    assert_eq!(
        past_end.unwrap().unwrap(),
        0,
        "an offset past the end sends nothing"
    );
    let rest = HostStream::send_file(&mut fx.net(), borrow(&stream), borrow(&desc), 600, u64::MAX);
    assert_eq!(rest.unwrap().unwrap(), 400, "to the end of the file");
    fx.flush_all();
    let mut got = vec![0; 400];
    peer.read_exact(&mut got).unwrap();
    assert!(got == contents(1000)[600..]);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn a_file_not_opened_for_reading_is_refused() {
    let mut fx = Fixture::loopback();
    let (file, path) = temp_file("write-only", b"secret");
    let desc = fx.descriptor(file, OpenMode::WRITE);
    let (stream, _peer) = fx.stream_and_peer();

    let err = HostStream::send_file(&mut fx.net(), borrow(&stream), borrow(&desc), 0, 6)
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(
        err.message,
        "send-file: the file was not opened for reading"
    );
    std::fs::remove_file(path).unwrap();
}

#[test]
fn a_socket_sends_what_the_kernel_takes_in_one_call() {
    let mut fx = Fixture::loopback();
    let data = contents(3000);
    let (file, path) = temp_file("socket", &data);
    let desc = fx.descriptor(file, OpenMode::READ);
    let (a, b) = fx.net().socketpair().unwrap().unwrap();

    let sent = HostSocket::send_file(&mut fx.net(), borrow(&a), borrow(&desc), 1000, 5000);
    assert_eq!(
        sent.unwrap().unwrap(),
        2000,
        "what the file holds past the offset"
    );
    let at_end = HostSocket::send_file(&mut fx.net(), borrow(&a), borrow(&desc), 3000, 10);
    assert_eq!(at_end.unwrap().unwrap(), 0, "0 at the end of the file");
    let got = HostSocket::recv(&mut fx.net(), borrow(&b), 4096)
        .unwrap()
        .unwrap();
    assert!(got == data[1000..]);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn a_peer_reset_mid_file_ends_the_stream_counting_what_was_left() {
    let mut fx = Fixture::loopback();
    let len = 32 << 20;
    let (file, path) = temp_file("reset", &contents(len));
    let desc = fx.descriptor(file, OpenMode::READ);
    let (stream, mut peer) = fx.stream_and_peer();

    let count = HostStream::send_file(&mut fx.net(), borrow(&stream), borrow(&desc), 0, len as u64)
        .unwrap()
        .unwrap();
    assert_eq!(count, len as u64);
    // `wait` sends: the socket's buffers fill up.
    let first = fx.next_event(TOKEN);
    assert!(first.readiness.contains(Interest::WRITABLE) && first.write_buffered < len as u64);
    // Read a little, then close with unread data: a reset.
    let mut some = vec![0; 1024];
    peer.read_exact(&mut some).unwrap();
    drop(peer);
    for _ in 0..1000 {
        for event in fx.wait(Some(PATIENCE_NS)) {
            if let Some(err) = event.error {
                assert!(
                    matches!(err.kind, ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
                    "{err:?}"
                );
                // The reset shows on the next sendfile, or on the read side first.
                assert!(
                    err.message.starts_with("sendfile to 127.0.0.1:")
                        || err.message.starts_with("recv from 127.0.0.1:"),
                    "{}",
                    err.message
                );
                assert!(
                    event.write_buffered > 0 && event.write_buffered < len as u64,
                    "the event says how much was left unsent: {}",
                    event.write_buffered
                );
                assert_eq!(
                    HostStream::write_buffered(&mut fx.net(), borrow(&stream)).unwrap(),
                    0
                );
                std::fs::remove_file(path).unwrap();
                return;
            }
        }
    }
    panic!("the stream never failed");
}
