//! A workload written against WASI's own sockets (`std::net` on wasm32-wasip2, which goes
//! through wasi-libc to `wasi:sockets` and `wasi:sockets/ip-name-lookup`), not against
//! sandloop: the host must judge it by the same policy as `sandloop:host/net`
//! (`host/tests/wasi_sockets.rs`). The arguments say what to try:
//!
//! - `serve ADDR`: listens on ADDR, prints `listening on LOCAL`, echoes one connection
//!   until its end, then prints `echoed N bytes`
//! - `listen ADDR`: binds and listens on ADDR
//! - `connect ADDR TEXT`: connects, sends TEXT, shuts down writing, prints the reply
//! - `udp-echo ADDR`: binds a datagram socket, prints `listening on LOCAL`, sends the
//!   first datagram back to its sender
//! - `udp-bind ADDR`: binds a datagram socket to ADDR
//! - `udp-send ADDR TEXT`: sends TEXT in one datagram to ADDR from a socket bound to the
//!   unspecified address, port 0 (the kernel picks), then prints the reply datagram
//! - `lookup NAME`: resolves NAME (port 80), prints the addresses
//! - `listeners N`: opens N listeners on 127.0.0.1 (port 0) and holds them all
//!
//! Prints `ok[: DETAIL]` and exits 0, or prints `error: KIND: MESSAGE` and exits 1.
//! Datagram sockets wait without a timeout (wasi-libc has no `SO_RCVTIMEO` for them): the
//! test's native peer always answers, and the test stops a run that hangs.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

/// How long a step that waits for a peer may wait: the test's native side answers at once.
const PATIENCE: Duration = Duration::from_secs(30);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match probe(&words) {
        Ok(detail) if detail.is_empty() => println!("ok"),
        Ok(detail) => println!("ok: {detail}"),
        Err(err) => {
            println!("error: {:?}: {err}", err.kind());
            // WASI 0.2's exit carries no code: any failure is status 1.
            std::process::exit(1);
        }
    }
}

fn addr(text: &str) -> io::Result<SocketAddr> {
    text.parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("{text:?}")))
}

fn probe(words: &[&str]) -> io::Result<String> {
    match words {
        ["serve", at] => {
            let listener = TcpListener::bind(addr(at)?)?;
            println!("listening on {}", listener.local_addr()?);
            io::stdout().flush()?;
            let (mut conn, _) = listener.accept()?;
            conn.set_read_timeout(Some(PATIENCE))?;
            let mut echoed = 0;
            let mut buf = [0; 4096];
            loop {
                let n = conn.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                conn.write_all(&buf[..n])?;
                echoed += n;
            }
            conn.shutdown(Shutdown::Write)?;
            Ok(format!("echoed {echoed} bytes"))
        }
        ["listen", at] => {
            let listener = TcpListener::bind(addr(at)?)?;
            Ok(listener.local_addr()?.to_string())
        }
        ["connect", to, text] => {
            let mut conn = TcpStream::connect(addr(to)?)?;
            conn.set_read_timeout(Some(PATIENCE))?;
            conn.write_all(text.as_bytes())?;
            conn.shutdown(Shutdown::Write)?;
            let mut reply = String::new();
            conn.read_to_string(&mut reply)?;
            Ok(reply)
        }
        ["udp-echo", at] => {
            let socket = UdpSocket::bind(addr(at)?)?;
            println!("listening on {}", socket.local_addr()?);
            io::stdout().flush()?;
            let mut buf = [0; 2048];
            let (n, from) = socket.recv_from(&mut buf)?;
            socket.send_to(&buf[..n], from)?;
            Ok(format!("echoed {n} bytes"))
        }
        ["udp-bind", at] => {
            let socket = UdpSocket::bind(addr(at)?)?;
            Ok(socket.local_addr()?.to_string())
        }
        ["udp-send", to, text] => {
            let to = addr(to)?;
            let any: SocketAddr = if to.is_ipv4() {
                "0.0.0.0:0".parse().expect("an address")
            } else {
                "[::]:0".parse().expect("an address")
            };
            let socket = UdpSocket::bind(any)?;
            socket.send_to(text.as_bytes(), to)?;
            let mut buf = [0; 2048];
            let (n, _) = socket.recv_from(&mut buf)?;
            Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
        }
        ["lookup", name] => {
            let addrs: Vec<String> = (*name, 80)
                .to_socket_addrs()?
                .map(|a| a.ip().to_string())
                .collect();
            Ok(addrs.join(" "))
        }
        ["listeners", count] => {
            let count: usize = count
                .parse()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "not a count"))?;
            let mut held = Vec::new();
            for _ in 0..count {
                match TcpListener::bind("127.0.0.1:0") {
                    Ok(listener) => held.push(listener),
                    Err(err) => {
                        return Err(io::Error::new(
                            err.kind(),
                            format!("after {} listeners: {err}", held.len()),
                        ));
                    }
                }
            }
            Ok(format!("holding {}", held.len()))
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unknown probe {words:?}"),
        )),
    }
}
