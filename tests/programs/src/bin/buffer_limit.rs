//! A guest writing to a peer that never reads, under the host's limit on buffered bytes
//! (host/tests/buffer_limit.rs runs the quiet cases with the limit set, the checked one
//! with and without it); and writes larger than one host call may copy.
//!
//! Every writer sets a high-water mark far above what it writes, so that flow control
//! alone never pauses it: a pause can only come from the host being full. The peer is a
//! raw socket the guest reads only when the case says so.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use sandloop::net::{Family, Socket, SocketType};
use sandloop::{
    ConnectOptions, Error, EventLoop, Protocol, Result, Transport, get_running_loop, run, sleep,
};
use test_programs::{cases, until};

cases!(
    large_writes_pause_the_protocol_and_arrive_whole,
    small_writes_pause_the_protocol_and_arrive_whole,
    write_eof_follows_the_bytes_the_host_refused,
    close_sends_the_bytes_the_host_refused_first,
    one_write_larger_than_a_host_call_carries,
    sock_sendall_larger_than_a_host_call_carries;
    checked:
    count_pauses,
);

/// More than a loopback connection's kernel buffers hold, so that the host must buffer.
const TOTAL: usize = 32 << 20;

/// A high-water mark the writers never reach.
const HIGH_WATER: usize = 256 << 20;

/// A client that counts the flow-control calls and how the connection ended.
#[derive(Default)]
struct Writer {
    paused: u32,
    resumed: u32,
    lost: Option<Option<String>>,
}

impl Protocol for Writer {
    fn connection_lost(&mut self, exc: Option<Error>) {
        self.lost = Some(exc.map(|e| e.to_string()));
    }
    fn pause_writing(&mut self) {
        self.paused += 1;
    }
    fn resume_writing(&mut self) {
        self.resumed += 1;
    }
}

/// A connection to a peer that reads only when told: the client transport, its protocol
/// and the peer's socket.
async fn connect_to_a_silent_peer(
    lp: &EventLoop,
) -> Result<(Transport, Rc<RefCell<Writer>>, Socket)> {
    let listener = Socket::new(Family::Inet, SocketType::Stream)?;
    listener.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    listener.listen(1)?;
    let port = listener
        .local_addr()?
        .as_inet()
        .expect("an IP address")
        .port();
    let (t, p) = lp
        .create_connection(
            Writer::default,
            "127.0.0.1",
            port,
            ConnectOptions::default(),
        )
        .await?;
    let (peer, _) = lp.sock_accept(&listener).await?;
    t.set_write_buffer_limits(Some(HIGH_WATER), None)?;
    Ok((t, p, peer))
}

/// Bytes that show their order.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Reads from `peer` until `len` bytes came, or its end when `len` is `None`.
async fn read_peer(lp: &EventLoop, peer: &Socket, len: Option<usize>) -> Result<Vec<u8>> {
    let mut got = Vec::new();
    while len.is_none_or(|len| got.len() < len) {
        let chunk = lp.sock_recv(peer, 1 << 20).await?;
        if chunk.is_empty() {
            break;
        }
        got.extend_from_slice(&chunk);
    }
    Ok(got)
}

/// Writes `TOTAL` bytes in `chunk`-sized writes, all in one callback, as a protocol that
/// ignores flow control would; then lets the loop run once.
async fn flood(t: &Transport, chunk: usize) -> Result<Vec<u8>> {
    let data = pattern(TOTAL);
    for part in data.chunks(chunk) {
        t.write(part);
    }
    sleep(Duration::from_millis(50)).await?;
    Ok(data)
}

/// The host is full long before the high-water mark: the protocol is paused; once the peer
/// reads, every byte arrives in order and the protocol resumes.
fn pause_and_arrive_whole(chunk: usize) -> Result<()> {
    run(async move {
        let lp = get_running_loop()?;
        let (t, p, peer) = connect_to_a_silent_peer(&lp).await?;
        let data = flood(&t, chunk).await?;
        assert_eq!(p.borrow().paused, 1, "the full host paused the protocol");
        assert_eq!(p.borrow().resumed, 0);
        assert!(t.get_write_buffer_size() > 0);

        let got = read_peer(&lp, &peer, Some(TOTAL)).await?;
        assert!(got == data, "every byte, in order");
        until(5, || p.borrow().resumed == 1).await?;
        assert_eq!(t.get_write_buffer_size(), 0);
        t.close();
        until(5, || p.borrow().lost.is_some()).await?;
        assert_eq!(p.borrow().lost, Some(None));
        Ok::<_, Error>(())
    })
}

/// Writes of 64 KiB: each goes to the host at once (`stream.write`), which takes what fits.
fn large_writes_pause_the_protocol_and_arrive_whole() -> Result<()> {
    pause_and_arrive_whole(64 << 10)
}

/// Writes of 1000 bytes: they go to the host with the loop's next wait, which refuses the
/// tail of what does not fit; the transport takes it back.
fn small_writes_pause_the_protocol_and_arrive_whole() -> Result<()> {
    pause_and_arrive_whole(1000)
}

/// `write_eof` while the host has refused bytes: the end of stream comes after them.
fn write_eof_follows_the_bytes_the_host_refused() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (t, _p, peer) = connect_to_a_silent_peer(&lp).await?;
        let data = flood(&t, 64 << 10).await?;
        t.write_eof();
        let got = read_peer(&lp, &peer, None).await?;
        assert_eq!(got.len(), data.len());
        assert!(got == data, "every byte before the end of stream");
        t.close();
        Ok::<_, Error>(())
    })
}

/// `close` while the host has refused bytes: they are still sent, then the connection is
/// lost cleanly.
fn close_sends_the_bytes_the_host_refused_first() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (t, p, peer) = connect_to_a_silent_peer(&lp).await?;
        let data = flood(&t, 1000).await?;
        t.close();
        assert!(p.borrow().lost.is_none(), "bytes are still to be sent");
        let got = read_peer(&lp, &peer, None).await?;
        assert!(got == data, "every byte before the end of stream");
        until(5, || p.borrow().lost.is_some()).await?;
        assert_eq!(p.borrow().lost, Some(None));
        Ok::<_, Error>(())
    })
}

/// One write of 160 MiB, more than one host call may copy (wasmtime traps past 128 MiB):
/// the transport hands it over in parts, and every byte arrives in order.
fn one_write_larger_than_a_host_call_carries() -> Result<()> {
    const HUGE: usize = 160 << 20;
    run(async {
        let lp = get_running_loop()?;
        let (t, p, peer) = connect_to_a_silent_peer(&lp).await?;
        t.write(&pattern(HUGE));
        t.close();
        assert_eq!(read_checked(&lp, &peer).await?, HUGE);
        until(5, || p.borrow().lost.is_some()).await?;
        assert_eq!(p.borrow().lost, Some(None));
        Ok::<_, Error>(())
    })
}

/// `sock_sendall` of 160 MiB on a raw socket: sent in parts, every byte arrives in order.
fn sock_sendall_larger_than_a_host_call_carries() -> Result<()> {
    const HUGE: usize = 160 << 20;
    run(async {
        let lp = get_running_loop()?;
        let listener = Socket::new(Family::Inet, SocketType::Stream)?;
        listener.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        listener.listen(1)?;
        let addr = listener.local_addr()?.as_inet().expect("an IP address");
        let client = Socket::new(Family::Inet, SocketType::Stream)?;
        lp.sock_connect(&client, addr).await?;
        let (peer, _) = lp.sock_accept(&listener).await?;
        let sender = lp.create_task({
            let lp = lp.clone();
            async move {
                lp.sock_sendall(&client, &pattern(HUGE)).await?;
                client.close();
                Ok::<_, Error>(())
            }
        });
        assert_eq!(read_checked(&lp, &peer).await?, HUGE);
        sender.await
    })
}

/// Reads `peer` to its end, checking each byte against [`pattern`] as it comes (not kept:
/// the guest holds enough copies already); returns how many came.
async fn read_checked(lp: &EventLoop, peer: &Socket) -> Result<usize> {
    let mut got = 0;
    loop {
        let chunk = lp.sock_recv(peer, 1 << 20).await?;
        if chunk.is_empty() {
            return Ok(got);
        }
        for (i, &byte) in chunk.iter().enumerate() {
            assert_eq!(byte, ((got + i) % 251) as u8, "byte {}", got + i);
        }
        got += chunk.len();
    }
}

/// Prints how often the protocol was paused by a flood far below its high-water mark:
/// once under the host's limit, never without it (the host then buffers everything).
fn count_pauses() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (t, p, peer) = connect_to_a_silent_peer(&lp).await?;
        let data = flood(&t, 64 << 10).await?;
        println!("paused {}", p.borrow().paused);
        let got = read_peer(&lp, &peer, Some(TOTAL)).await?;
        assert!(got == data, "every byte, in order");
        println!("received {} bytes in order", got.len());
        t.close();
        Ok::<_, Error>(())
    })
}
