//! `sendfile` and `sock_sendfile`, after CPython's test_sendfile.py: native `sendfile(2)`
//! through the host and the read-and-write fallback, offsets and counts, the file position
//! afterwards, order with writes around it, a peer that leaves, and the files a workload
//! may not send.
//!
//! The host test preopens a directory as `/data` holding `big.bin` (50 MiB),
//! `small.bin` (10 000 bytes), `empty.bin` and a directory `sub`, and passes the port of a
//! native receiver as the case's argument; it checks what the receiver got, byte for byte.
//! (`special_files_are_refused_without_blocking` gets directories of its own.)
//! Each case runs on both loops (`TEST_LOOP=selector`: readiness mode).

use std::io::{self, Seek};

use sandloop::fs::File;
use sandloop::net::{Address, Family, Socket, SocketType};
use sandloop::{ConnectOptions, Error, EventLoop, Future, Protocol, Result, Transport, run};
use test_programs::cases;

cases!(
    fallback_sends_a_cursor_over_a_socketpair;
    checked:
    sendfile_whole_file,
    sendfile_offset_and_count,
    sendfile_count_past_eof,
    sendfile_offset_past_eof,
    sendfile_empty_file,
    sendfile_fallback_is_byte_exact,
    sendfile_without_fallback_is_not_available,
    sendfile_count_zero_is_invalid,
    sendfile_on_a_closing_transport_fails,
    writes_before_during_and_after_stay_in_order,
    peer_closing_mid_transfer_is_an_error,
    sock_sendfile_native,
    sock_sendfile_fallback,
    file_outside_the_preopens_cannot_be_opened,
    directory_is_refused,
    special_files_are_refused_without_blocking,
    std_fs_reads_the_preopen,
);

const BIG: &str = "/data/big.bin";
const SMALL: &str = "/data/small.bin";

/// The receiver's port, the case's argument.
fn port() -> u16 {
    std::env::args()
        .nth(2)
        .and_then(|p| p.parse().ok())
        .expect("the receiver's port as the second argument")
}

/// A protocol that only records the end of the connection.
struct Client {
    lost: Future<Option<String>>,
}

impl Protocol for Client {
    fn connection_lost(&mut self, exc: Option<Error>) {
        let _ = self.lost.set_result(exc.map(|e| e.to_string()));
    }
}

/// Connects to the receiver; returns the transport and a future of the connection's end
/// (the error, if it ended with one).
async fn connect(lp: &EventLoop) -> Result<(Transport, Future<Option<String>>)> {
    let lost = lp.create_future();
    let for_protocol = lost.clone();
    let (transport, _) = lp
        .create_connection(
            move || Client { lost: for_protocol },
            "127.0.0.1",
            port(),
            ConnectOptions::default(),
        )
        .await?;
    Ok((transport, lost))
}

/// Closes the transport and waits until everything buffered went out.
async fn close(transport: &Transport, lost: Future<Option<String>>) -> Result<()> {
    transport.close();
    if let Some(err) = lost.await? {
        panic!("the connection ended with an error: {err}");
    }
    Ok(())
}

/// Sends `path` from `offset` (`count` bytes) natively and prints `sent N pos P`.
fn send_native(path: &'static str, offset: u64, count: Option<u64>) -> Result<()> {
    run(async move {
        let lp = sandloop::get_running_loop()?;
        let mut file = File::open(path)?;
        let (transport, lost) = connect(&lp).await?;
        let sent = lp
            .sendfile(&transport, &mut file, offset, count, false)
            .await?;
        println!("sent {sent} pos {}", file.stream_position()?);
        close(&transport, lost).await
    })
}

fn sendfile_whole_file() -> Result<()> {
    send_native(BIG, 0, None)
}

fn sendfile_offset_and_count() -> Result<()> {
    send_native(BIG, 1000, Some(100_000))
}

fn sendfile_count_past_eof() -> Result<()> {
    send_native(SMALL, 5000, Some(1_000_000))
}

fn sendfile_offset_past_eof() -> Result<()> {
    send_native(SMALL, 20_000, None)
}

fn sendfile_empty_file() -> Result<()> {
    send_native("/data/empty.bin", 0, None)
}

fn sendfile_fallback_is_byte_exact() -> Result<()> {
    run(async {
        let lp = sandloop::get_running_loop()?;
        // A `std::fs::File` has no native path: the fallback reads and writes it.
        let mut file = std::fs::File::open(BIG)?;
        let (transport, lost) = connect(&lp).await?;
        let sent = lp.sendfile(&transport, &mut file, 3, None, true).await?;
        println!("sent {sent} pos {}", file.stream_position()?);
        close(&transport, lost).await
    })
}

fn sendfile_without_fallback_is_not_available() -> Result<()> {
    run(async {
        let lp = sandloop::get_running_loop()?;
        let mut file = std::fs::File::open(SMALL)?;
        let (transport, lost) = connect(&lp).await?;
        match lp.sendfile(&transport, &mut file, 0, None, false).await {
            Err(Error::SendfileNotAvailable(msg)) => println!("not available: {msg}"),
            other => panic!("expected SendfileNotAvailable, got {other:?}"),
        }
        assert_eq!(file.stream_position()?, 0, "nothing was sent");
        // sock_sendfile says the same.
        let (sock, _peer) = sandloop::net::socketpair()?;
        match lp.sock_sendfile(&sock, &mut file, 0, None, false).await {
            Err(Error::SendfileNotAvailable(_)) => println!("sock: not available"),
            other => panic!("expected SendfileNotAvailable, got {other:?}"),
        }
        close(&transport, lost).await
    })
}

fn sendfile_count_zero_is_invalid() -> Result<()> {
    run(async {
        let lp = sandloop::get_running_loop()?;
        let mut file = File::open(SMALL)?;
        let (transport, lost) = connect(&lp).await?;
        match lp.sendfile(&transport, &mut file, 0, Some(0), true).await {
            Err(Error::Os(e)) if e.kind() == io::ErrorKind::InvalidInput => println!("{e}"),
            other => panic!("expected InvalidInput, got {other:?}"),
        }
        close(&transport, lost).await
    })
}

fn sendfile_on_a_closing_transport_fails() -> Result<()> {
    run(async {
        let lp = sandloop::get_running_loop()?;
        let mut file = File::open(SMALL)?;
        let (transport, lost) = connect(&lp).await?;
        transport.close();
        match lp.sendfile(&transport, &mut file, 0, None, true).await {
            Err(Error::Runtime(msg)) => println!("{msg}"),
            other => panic!("expected a runtime error, got {other:?}"),
        }
        assert!(lost.await?.is_none());
        Ok::<_, Error>(())
    })
}

fn writes_before_during_and_after_stay_in_order() -> Result<()> {
    run(async {
        let lp = sandloop::get_running_loop()?;
        let mut file = File::open(BIG)?;
        let (transport, lost) = connect(&lp).await?;
        // A small write waits in the loop's outbox; the file must still come after it.
        transport.write(b"BEFORE\n");
        // Written while the file is on its way: it follows the file.
        let during = transport.clone();
        lp.call_soon(move || during.write(b"DURING\n"));
        let sent = lp.sendfile(&transport, &mut file, 0, None, false).await?;
        transport.write(b"AFTER\n");
        println!("sent {sent} pos {}", file.stream_position()?);
        close(&transport, lost).await
    })
}

fn peer_closing_mid_transfer_is_an_error() -> Result<()> {
    run(async {
        let lp = sandloop::get_running_loop()?;
        let mut file = File::open(BIG)?;
        let len = file.len()?;
        let (transport, lost) = connect(&lp).await?;
        let err = match lp.sendfile(&transport, &mut file, 0, None, false).await {
            Err(err) => err,
            Ok(sent) => panic!("the peer left, yet sendfile sent {sent} bytes"),
        };
        let kind = match &err {
            Error::Os(e) => e.kind(),
            other => panic!("expected an OS error, got {other:?}"),
        };
        assert!(
            matches!(
                kind,
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ),
            "{err}"
        );
        let pos = file.stream_position()?;
        assert!(
            (1024..len).contains(&pos),
            "the position {pos} should count what the kernel took, less than {len}"
        );
        assert!(transport.is_closing());
        let ended = lost.await?;
        assert!(ended.is_some(), "connection_lost gets the error");
        println!("error {kind:?}");
        Ok::<_, Error>(())
    })
}

/// Connects a plain socket to the receiver.
async fn connect_socket(lp: &EventLoop) -> Result<Socket> {
    let sock = Socket::new(Family::Inet, SocketType::Stream)?;
    lp.sock_connect(
        &sock,
        Address::from(std::net::SocketAddr::from(([127, 0, 0, 1], port()))),
    )
    .await?;
    Ok(sock)
}

fn sock_sendfile_native() -> Result<()> {
    run(async {
        let lp = sandloop::get_running_loop()?;
        let mut file = File::open(BIG)?;
        let sock = connect_socket(&lp).await?;
        lp.sock_sendall(&sock, b"HEAD").await?;
        let sent = lp.sock_sendfile(&sock, &mut file, 7, None, false).await?;
        lp.sock_sendall(&sock, b"TAIL").await?;
        println!("sent {sent} pos {}", file.stream_position()?);
        sock.close();
        Ok::<_, Error>(())
    })
}

fn sock_sendfile_fallback() -> Result<()> {
    run(async {
        let lp = sandloop::get_running_loop()?;
        let mut file = std::fs::File::open(BIG)?;
        let sock = connect_socket(&lp).await?;
        let sent = lp
            .sock_sendfile(&sock, &mut file, 10, Some(500_000), true)
            .await?;
        println!("sent {sent} pos {}", file.stream_position()?);
        sock.close();
        Ok::<_, Error>(())
    })
}

fn file_outside_the_preopens_cannot_be_opened() -> Result<()> {
    for path in ["/etc/passwd", "/data/../etc/passwd", "/data/missing.bin"] {
        match File::open(path) {
            Ok(file) => panic!("{path} opened: {file:?}"),
            Err(err) => println!("{:?}: {err}", err.kind()),
        }
    }
    Ok(())
}

fn directory_is_refused() -> Result<()> {
    match File::open("/data/sub") {
        Ok(file) => panic!("a directory opened as a file: {file:?}"),
        Err(err) => println!("{:?}: {err}", err.kind()),
    }
    // The host refuses a directory's descriptor too, whoever hands it over.
    run(async {
        let lp = sandloop::get_running_loop()?;
        let mut dir = File::open_unchecked("/data/sub")?;
        let sock = connect_socket(&lp).await?;
        match lp.sock_sendfile(&sock, &mut dir, 0, None, false).await {
            Err(Error::Os(e)) if e.kind() == io::ErrorKind::InvalidInput => println!("{e}"),
            other => panic!("expected InvalidInput, got {other:?}"),
        }
        sock.close();
        Ok::<_, Error>(())
    })
}

/// The host test preopens a directory with a FIFO (no writer), a unix socket and a
/// regular file as `/special`, and `/dev` as `/dev`.
fn special_files_are_refused_without_blocking() -> Result<()> {
    // A plain open(2) of the FIFO would wait for a writer, with the whole instance.
    for path in ["/special/fifo", "/special/socket", "/dev/null"] {
        match File::open(path) {
            Ok(file) => panic!("{path} opened: {file:?}"),
            Err(err) => println!("{:?}: {err}", err.kind()),
        }
    }
    println!(
        "regular: {} bytes",
        File::open("/special/regular.txt")?.len()?
    );
    Ok(())
}

fn std_fs_reads_the_preopen() -> Result<()> {
    let bytes = std::fs::read(SMALL)?;
    let mut file = File::open(SMALL)?;
    let mut through_ours = Vec::new();
    io::Read::read_to_end(&mut file, &mut through_ours)?;
    assert_eq!(bytes, through_ours);
    println!("{} bytes, len {}", bytes.len(), file.len()?);
    Ok(())
}

fn fallback_sends_a_cursor_over_a_socketpair() -> Result<()> {
    run(async {
        let lp = sandloop::get_running_loop()?;
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let (a, b) = sandloop::net::socketpair()?;
        let reader = lp.create_task({
            let lp = lp.clone();
            async move {
                let mut got = Vec::new();
                loop {
                    let chunk = lp.sock_recv(&b, 65536).await?;
                    if chunk.is_empty() {
                        return Ok::<_, Error>(got);
                    }
                    got.extend_from_slice(&chunk);
                }
            }
        });
        let mut cursor = io::Cursor::new(data.clone());
        let sent = lp
            .sock_sendfile(&a, &mut cursor, 100, Some(200_000), true)
            .await?;
        assert_eq!(sent, 200_000);
        assert_eq!(cursor.position(), 200_100);
        a.shutdown(sandloop::net::Shutdown::Write)?;
        let got = reader.await?;
        assert!(got == data[100..200_100], "the bytes differ");
        // Without the fallback, a cursor cannot be sent.
        let err = lp.sock_sendfile(&a, &mut cursor, 0, None, false).await;
        assert!(
            matches!(err, Err(Error::SendfileNotAvailable(_))),
            "{err:?}"
        );
        Ok::<_, Error>(())
    })
}
