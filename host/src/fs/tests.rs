//! Pipes through the trait methods the guest calls and the reactor's `wait`: readiness
//! mode on the `pipe` resource, completion mode on a stream that took an end over, and
//! the stdio rules.

use std::os::fd::AsRawFd as _;

use wasmtime::component::Resource;

use super::{Pipe, StdioAccess};
use crate::bindings::fs::{Host as _, HostPipe as _, PipeEnd};
use crate::bindings::net::HostStream as _;
use crate::bindings::reactor::{Host as _, Interest};
use crate::bindings::types::ErrorKind;
use crate::net::Stream;
use crate::testing::{Fixture, PATIENCE_NS, borrow};

const TOKEN: u64 = 91;

impl Fixture {
    fn pipe_pair(&mut self) -> (Resource<Pipe>, Resource<Pipe>) {
        self.fs(StdioAccess::default())
            .create_pipe()
            .expect("no trap")
            .expect("pipe")
    }

    fn pipe_stream(&mut self, end: Resource<Pipe>) -> Resource<Stream> {
        self.fs(StdioAccess::default())
            .open_stream(end, TOKEN, 64 << 10)
            .expect("no trap")
            .expect("open-stream")
    }

    fn read_pipe(&mut self, end: &Resource<Pipe>) -> Result<Vec<u8>, ErrorKind> {
        self.fs(StdioAccess::default())
            .read(borrow(end), 1 << 20)
            .expect("no trap")
            .map_err(|e| e.kind)
    }

    fn write_pipe(&mut self, end: &Resource<Pipe>, data: &[u8]) -> Result<u32, ErrorKind> {
        self.fs(StdioAccess::default())
            .write(borrow(end), data.to_vec())
            .expect("no trap")
            .map_err(|e| e.kind)
    }

    fn drop_pipe(&mut self, end: Resource<Pipe>) {
        self.fs(StdioAccess::default()).drop(end).expect("no trap");
    }
}

#[test]
fn a_pipe_carries_bytes_and_ends_when_the_writer_closes() {
    let mut fx = Fixture::loopback();
    let (read, write) = fx.pipe_pair();

    assert_eq!(fx.read_pipe(&read), Err(ErrorKind::WouldBlock));
    assert_eq!(fx.write_pipe(&write, b"through the pipe"), Ok(16));
    assert_eq!(fx.read_pipe(&read).unwrap(), b"through the pipe");
    fx.drop_pipe(write);

    assert_eq!(fx.read_pipe(&read).unwrap(), b"", "the end of the stream");
}

#[test]
fn both_ends_are_non_blocking_and_close_on_exec() {
    let mut fx = Fixture::loopback();
    let (read, write) = fx.pipe_pair();
    for end in [&read, &write] {
        let fd = fx.table.get(end).unwrap().as_raw_fd();
        // SAFETY: reading the flags of a descriptor the table holds.
        let (fl, fd_flags) = unsafe {
            (
                libc::fcntl(fd, libc::F_GETFL),
                libc::fcntl(fd, libc::F_GETFD),
            )
        };
        assert_ne!(fl & libc::O_NONBLOCK, 0);
        assert_ne!(fd_flags & libc::FD_CLOEXEC, 0);
    }
    let mut fs = fx.fs(StdioAccess::default());
    assert_eq!(fs.end(borrow(&read)).unwrap(), PipeEnd::Read);
    assert_eq!(fs.end(borrow(&write)).unwrap(), PipeEnd::Write);
    assert_eq!(fs.name(borrow(&read)).unwrap(), "pipe");
}

#[test]
fn the_wrong_direction_is_unsupported() {
    let mut fx = Fixture::loopback();
    let (read, write) = fx.pipe_pair();

    assert_eq!(fx.write_pipe(&read, b"x"), Err(ErrorKind::Unsupported));
    assert_eq!(fx.read_pipe(&write), Err(ErrorKind::Unsupported));
}

#[test]
fn writing_without_a_reader_is_a_broken_pipe_not_a_signal() {
    let mut fx = Fixture::loopback();
    let (read, write) = fx.pipe_pair();
    fx.drop_pipe(read);

    assert_eq!(
        fx.write_pipe(&write, b"nobody listens"),
        Err(ErrorKind::BrokenPipe)
    );
}

#[test]
fn a_full_pipe_would_block() {
    let mut fx = Fixture::loopback();
    let (_read, write) = fx.pipe_pair();
    let chunk = vec![7u8; 64 << 10];
    let mut total = 0;
    let blocked = loop {
        match fx.write_pipe(&write, &chunk) {
            Ok(n) => total += n as usize,
            Err(kind) => break kind,
        }
        assert!(total < 64 << 20, "a pipe holds far less than 64 MiB");
    };
    assert_eq!(blocked, ErrorKind::WouldBlock);
}

#[test]
fn a_source_of_a_write_end_reports_hangup_when_the_reader_closes() {
    let mut fx = Fixture::loopback();
    let (read, write) = fx.pipe_pair();
    let source = fx
        .fs(StdioAccess::default())
        .source(borrow(&write))
        .unwrap()
        .unwrap();
    fx.reactor()
        .register(borrow(&source), TOKEN, Interest::WRITABLE)
        .unwrap()
        .unwrap();
    // Writable at once (the pipe is empty), and not hung up.
    let first = fx.next_event(TOKEN);
    assert_eq!(first.readiness, Interest::WRITABLE);

    fx.drop_pipe(read);
    let event = fx.next_event(TOKEN);
    assert!(event.readiness.contains(Interest::HANGUP), "{event:?}");
}

#[test]
fn a_source_of_a_read_end_shares_its_descriptor_and_outlives_it() {
    let mut fx = Fixture::loopback();
    let (read, write) = fx.pipe_pair();
    let fd = fx.table.get(&read).unwrap().as_raw_fd();
    let source = fx
        .fs(StdioAccess::default())
        .source(borrow(&read))
        .unwrap()
        .unwrap();
    fx.reactor()
        .register(borrow(&source), TOKEN, Interest::READABLE)
        .unwrap()
        .unwrap();

    // epoll watches a descriptor once: the end's own is taken, by the source.
    let again = fx.reactor.registry().register(
        &mut mio::unix::SourceFd(&fd),
        mio::Token(1),
        mio::Interest::READABLE,
    );
    assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
    // The read end stays open while the source lives: writing still works, and is seen.
    fx.drop_pipe(read);
    fx.write_pipe(&write, b"x").unwrap();
    assert_eq!(fx.next_event(TOKEN).readiness, Interest::READABLE);
}

#[test]
fn a_read_stream_over_a_pipe_delivers_bytes_then_hangup() {
    let mut fx = Fixture::loopback();
    let (read, write) = fx.pipe_pair();
    let _stream = fx.pipe_stream(read);

    fx.write_pipe(&write, b"completion").unwrap();
    let event = fx.next_event(TOKEN);
    assert_eq!(event.data, b"completion");
    fx.drop_pipe(write);

    let end = fx.next_event(TOKEN);
    assert_eq!(end.readiness, Interest::HANGUP);
    assert!(end.error.is_none(), "{end:?}");
    assert!(fx.wait(Some(0)).is_empty(), "the end is reported once");
}

#[test]
fn a_write_stream_over_a_pipe_sends_and_reports_the_reader_closing_with_nothing_buffered() {
    let mut fx = Fixture::loopback();
    let (read, write) = fx.pipe_pair();
    let stream = fx.pipe_stream(write);

    let written = fx.net().write(borrow(&stream), b"hello".to_vec()).unwrap();
    assert_eq!(written.unwrap().buffered, 0);
    assert_eq!(fx.read_pipe(&read).unwrap(), b"hello");
    // An open write end with nothing buffered has nothing to report.
    assert!(fx.wait(Some(0)).is_empty());

    fx.drop_pipe(read);
    let event = fx.next_event(TOKEN);
    assert!(event.readiness.contains(Interest::HANGUP));
    let err = event.error.expect("an error event");
    assert_eq!(err.kind, ErrorKind::BrokenPipe);
    assert!(err.message.contains("reader closed"), "{}", err.message);
}

#[test]
fn a_write_stream_over_a_pipe_reports_the_reader_closing_with_bytes_buffered() {
    let mut fx = Fixture::loopback();
    let (read, write) = fx.pipe_pair();
    let stream = fx.pipe_stream(write);

    let buffered = fx
        .net()
        .write(borrow(&stream), vec![1u8; 1 << 20])
        .unwrap()
        .unwrap()
        .buffered;
    assert!(buffered > 0, "a pipe takes less than 1 MiB");
    fx.drop_pipe(read);

    let event = fx.next_event(TOKEN);
    assert_eq!(
        event.error.expect("an error event").kind,
        ErrorKind::BrokenPipe
    );
    // An error event counts the bytes left unsent (then discarded).
    assert_eq!(event.write_buffered, buffered);
    let again = fx.net().write(borrow(&stream), b"more".to_vec()).unwrap();
    assert_eq!(again.unwrap_err().kind, ErrorKind::BrokenPipe);
}

#[test]
fn a_write_stream_flushes_what_a_slow_reader_takes() {
    let mut fx = Fixture::loopback();
    let (read, write) = fx.pipe_pair();
    let stream = fx.pipe_stream(write);
    let data: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();

    let mut buffered = fx
        .net()
        .write(borrow(&stream), data.clone())
        .unwrap()
        .unwrap()
        .buffered;
    let mut got = Vec::new();
    while got.len() < data.len() {
        if let Ok(bytes) = fx.read_pipe(&read) {
            got.extend_from_slice(&bytes);
        }
        if buffered > 0 {
            for event in fx.wait(Some(PATIENCE_NS / 100)) {
                if event.readiness.contains(Interest::WRITABLE) {
                    buffered = event.write_buffered;
                }
            }
        }
    }
    assert_eq!(got, data);
    assert_eq!(buffered, 0);
}

#[test]
fn socket_only_calls_on_a_pipe_stream_are_unsupported() {
    let mut fx = Fixture::loopback();
    let (read, write) = fx.pipe_pair();
    let reader = fx.pipe_stream(read);
    let writer = fx.pipe_stream(write);
    let mut net = fx.net();

    assert_eq!(
        net.write_eof(borrow(&writer)).unwrap().unwrap_err().kind,
        ErrorKind::Unsupported
    );
    assert_eq!(
        net.local_address(borrow(&reader))
            .unwrap()
            .unwrap_err()
            .kind,
        ErrorKind::Unsupported
    );
    let err = net
        .write(borrow(&reader), b"x".to_vec())
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unsupported);
    assert!(err.message.contains("read end"), "{}", err.message);
}

#[test]
fn stdio_is_refused_with_the_reason_when_the_run_does_not_inherit_it() {
    let mut fx = Fixture::loopback();
    let mut fs = fx.fs(StdioAccess::default());

    let err = fs.stdin().unwrap().unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unsupported);
    assert!(
        err.message.contains("does not inherit the host's stdin"),
        "{}",
        err.message
    );
    let err = fs.stdout().unwrap().unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unsupported);
    assert!(
        err.message.contains("captures its output"),
        "{}",
        err.message
    );
    assert!(fs.stderr().unwrap().is_err());
}
