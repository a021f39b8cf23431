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
//!
//! Built portable (`cargo build --release --target wasm32-wasip2 -p sandloop-examples
//! --no-default-features --bin echo_server`), it runs on any WASI 0.2 host with sockets:
//! `wasmtime run -S inherit-network=y echo_server.wasm 127.0.0.1:8888`.
//!
//! The echo itself is `echo.rs` (shared with `unix_echo_server`): it stops reading from a
//! client that does not read its echo, so such a client costs the server a bounded amount
//! of memory whatever it sends.

use std::net::SocketAddr;

mod echo;

use echo::{EchoServerProtocol, echo};
use sandloop::{Error, EventLoop, Server, ServerOptions};

async fn serve(lp: EventLoop, addr: SocketAddr, streams: bool) -> Result<(), Error> {
    let host = addr.ip().to_string();
    let server: Server = if streams {
        sandloop::streams::start_server(echo, host.as_str(), addr.port(), ServerOptions::default())
            .await?
    } else {
        lp.create_server(
            EchoServerProtocol::default,
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

#[cfg(feature = "host-reactor")]
fn new_loop(selector: bool) -> EventLoop {
    if selector {
        sandloop::SelectorEventLoop::new(sandloop::HostSelector::new())
    } else {
        sandloop::ProactorEventLoop::new()
    }
}

/// The portable build has one kind of loop: readiness mode over `wasi:sockets`.
#[cfg(not(feature = "host-reactor"))]
fn new_loop(_selector: bool) -> EventLoop {
    sandloop::SelectorEventLoop::new(sandloop::WasiPollSelector::new())
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
    let lp = new_loop(flag("--selector"));
    sandloop::set_event_loop(Some(lp.clone()));
    let served = lp.run_until_complete(serve(lp.clone(), addr, flag("--streams")));
    lp.close()?;
    served
}
