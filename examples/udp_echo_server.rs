//! A UDP echo server (asyncio's "UDP Echo Server Protocol" example): prints each datagram
//! and sends it back to its sender.
//!
//! ```text
//! cargo example udp_echo_server --allow-udp-bind 127.0.0.1:9999 --allow-udp-send '127.0.0.1:*' -- 127.0.0.1:9999
//! ```
//! The first argument is the address to bind (default `127.0.0.1:9999`); the host's policy
//! must allow binding there (`--allow-udp-bind`) and sending the echoes back to the
//! clients (`--allow-udp-send`). Runs until stopped; `--selector` runs a
//! `SelectorEventLoop` instead of the default loop (datagrams use readiness on both).

use std::net::SocketAddr;

use sandloop::net::Address;
use sandloop::{
    DatagramOptions, DatagramProtocol, DatagramTransport, Error, EventLoop, HostSelector,
    SelectorEventLoop,
};

/// Python's `repr()` of a string: single quotes unless the text holds one and no double.
fn py_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// An address as Python prints the tuple asyncio hands out.
fn py_addr(addr: &Address) -> String {
    match addr {
        Address::Inet(SocketAddr::V4(a)) => format!("('{}', {})", a.ip(), a.port()),
        Address::Inet(SocketAddr::V6(a)) => format!(
            "('{}', {}, {}, {})",
            a.ip(),
            a.port(),
            a.flowinfo(),
            a.scope_id()
        ),
        Address::Unix(_) => py_repr(&addr.to_string()),
    }
}

/// Sends every datagram back where it came from.
struct EchoServerProtocol {
    transport: Option<DatagramTransport>,
}

impl DatagramProtocol for EchoServerProtocol {
    fn connection_made(&mut self, transport: &DatagramTransport) {
        self.transport = Some(transport.clone());
    }

    fn datagram_received(&mut self, data: &[u8], addr: &Address) {
        let message = String::from_utf8_lossy(data);
        println!("Received {} from {}", py_repr(&message), py_addr(addr));
        println!("Send {} to {}", py_repr(&message), py_addr(addr));
        if let Some(transport) = &self.transport
            && let Err(err) = transport.sendto(data, Some(addr.clone()))
        {
            eprintln!("sendto {addr}: {err}");
        }
    }

    fn error_received(&mut self, exc: Error) {
        eprintln!("Error received: {exc}");
    }
}

async fn serve(lp: EventLoop, addr: SocketAddr) -> Result<(), Error> {
    println!("Starting UDP server");
    let (transport, _protocol) = lp
        .create_datagram_endpoint(
            || EchoServerProtocol { transport: None },
            DatagramOptions {
                local_addr: Some(addr.into()),
                ..Default::default()
            },
        )
        .await?;
    // Serve until the process is stopped (asyncio's example serves for an hour).
    let forever = lp.create_future::<()>();
    let served = forever.await;
    transport.close();
    served
}

fn main() -> sandloop::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr: SocketAddr = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(String::as_str)
        .unwrap_or("127.0.0.1:9999")
        .parse()
        .map_err(Error::other)?;
    let lp = if args.iter().any(|a| a == "--selector") {
        SelectorEventLoop::new(HostSelector::new())
    } else {
        sandloop::new_event_loop()
    };
    sandloop::set_event_loop(Some(lp.clone()));
    let served = lp.run_until_complete(serve(lp.clone(), addr));
    lp.close()?;
    served
}
