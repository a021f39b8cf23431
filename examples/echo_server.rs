//! A TCP echo server (asyncio's "TCP Echo Server" example, without the per-message prints,
//! so it can serve as a benchmark workload).
//!
//! ```text
//! cargo example echo_server --allow-listen 127.0.0.1:8888 -- 127.0.0.1:8888 [--streams] [--selector]
//! ```
//! The first argument is the listen address (default `127.0.0.1:8888`); the host's policy
//! must allow listening there. `--streams` serves with the streams API instead of a
//! `Protocol`; `--selector` runs a `SelectorEventLoop` (transports read and write on
//! readiness) instead of the default completion-mode loop.

use std::net::SocketAddr;

use sandloop::streams::{StreamReader, StreamWriter};
use sandloop::{
    Error, EventLoop, HostSelector, ProactorEventLoop, Protocol, SelectorEventLoop, Server,
    ServerOptions, Transport,
};

/// Writes back whatever arrives.
struct EchoServerProtocol {
    transport: Option<Transport>,
}

impl Protocol for EchoServerProtocol {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
    }

    fn data_received(&mut self, data: &[u8]) {
        if let Some(transport) = &self.transport {
            transport.write(data);
        }
    }
}

/// The same with streams: read what is there, write it back, wait while the peer is slow.
async fn echo(reader: StreamReader, writer: StreamWriter) -> Result<(), Error> {
    loop {
        let data = reader.read(64 * 1024).await?;
        if data.is_empty() {
            return Ok(());
        }
        writer.write(&data);
        writer.drain().await?;
    }
}

async fn serve(lp: EventLoop, addr: SocketAddr, streams: bool) -> Result<(), Error> {
    let host = addr.ip().to_string();
    let server: Server = if streams {
        sandloop::streams::start_server(echo, host.as_str(), addr.port(), ServerOptions::default())
            .await?
    } else {
        lp.create_server(
            || EchoServerProtocol { transport: None },
            host.as_str(),
            addr.port(),
            ServerOptions::default(),
        )
        .await?
    };
    for sock in server.sockets() {
        println!("Serving on {}", sock.local_addr()?);
    }
    server.serve_forever().await
}

fn main() -> sandloop::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr: SocketAddr = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(String::as_str)
        .unwrap_or("127.0.0.1:8888")
        .parse()
        .map_err(Error::other)?;
    let flag = |name: &str| args.iter().any(|a| a == name);
    let lp = if flag("--selector") {
        SelectorEventLoop::new(HostSelector::new())
    } else {
        ProactorEventLoop::new()
    };
    sandloop::set_event_loop(Some(lp.clone()));
    let served = lp.run_until_complete(serve(lp.clone(), addr, flag("--streams")));
    lp.close()?;
    served
}
