//! A TCP echo server with the Protocol API (asyncio's "TCP Echo Server" example, without
//! the per-message prints, so it can serve as a benchmark workload).
//!
//! ```text
//! cargo example echo_server --allow-listen 127.0.0.1:8888 -- 127.0.0.1:8888
//! ```
//! The first argument is the listen address (default `127.0.0.1:8888`); the host's policy
//! must allow listening there.

use std::net::SocketAddr;

use sandloop::{Protocol, ServerOptions, Transport};

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

fn main() -> sandloop::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8888".into())
        .parse()
        .map_err(sandloop::Error::other)?;
    sandloop::run(async move {
        let lp = sandloop::get_running_loop()?;
        let server = lp
            .create_server(
                || EchoServerProtocol { transport: None },
                addr.ip().to_string().as_str(),
                addr.port(),
                ServerOptions::default(),
            )
            .await?;
        for sock in server.sockets() {
            println!("Serving on {}", sock.local_addr()?);
        }
        server.serve_forever().await
    })
}
