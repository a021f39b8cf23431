//! A minimal HTTP/1.1 keep-alive server answering `Hello, World!` to every request: the
//! HTTP benchmark workload (try it with curl or wrk).
//!
//! ```text
//! cargo example http_hello --allow-listen 127.0.0.1:8080 -- 127.0.0.1:8080
//! curl http://127.0.0.1:8080/
//! ```
//!
//! It builds portable too (`--no-default-features`) and runs on any WASI 0.2 host with
//! sockets: `wasmtime run -S inherit-network=y http_hello.wasm 127.0.0.1:8080`.
//!
//! Under `sandloop run --instances N` every copy binds the port with `reuse_port`, so the
//! kernel spreads the connections over the N loops. To reach every copy by itself (the
//! density benchmark, `bench/density.sh`, checks that each one answers), set
//! `HTTP_HELLO_BASE_PORT=BASE` (`--env`): copy `SANDLOOP_INSTANCE` then listens alone on
//! port BASE + its index, on the address's IP, instead of sharing the port.

use std::net::SocketAddr;

use sandloop::ServerOptions;

mod hello_http;

use hello_http::HttpProtocol;

fn main() -> sandloop::Result<()> {
    let mut addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into())
        .parse()
        .map_err(sandloop::Error::other)?;
    let port_per_instance = instance_port()?;
    if let Some(port) = port_per_instance {
        addr.set_port(port);
    }
    sandloop::run(async move {
        let lp = sandloop::get_running_loop()?;
        let server = lp
            .create_server(
                HttpProtocol::default,
                addr.ip().to_string().as_str(),
                addr.port(),
                ServerOptions {
                    // `--instances N` tells each copy N; copies share the port, unless
                    // each has a port of its own.
                    reuse_port: port_per_instance.is_none()
                        && std::env::var("SANDLOOP_INSTANCES")
                            .is_ok_and(|n| n.parse::<u32>().is_ok_and(|n| n > 1)),
                    ..ServerOptions::default()
                },
            )
            .await?;
        for sock in server.sockets() {
            println!("Serving on http://{}/", sock.local_addr()?);
        }
        server.serve_forever().await
    })
}

/// The port of this copy when `HTTP_HELLO_BASE_PORT` asks for one port per copy: the base
/// plus `SANDLOOP_INSTANCE` (0 when run alone); `None` when the variable is unset.
fn instance_port() -> sandloop::Result<Option<u16>> {
    let Ok(base) = std::env::var("HTTP_HELLO_BASE_PORT") else {
        return Ok(None);
    };
    let base: u16 = base
        .parse()
        .map_err(|err| sandloop::Error::other(format!("HTTP_HELLO_BASE_PORT={base:?}: {err}")))?;
    let index: u16 = match std::env::var("SANDLOOP_INSTANCE") {
        Ok(index) => index
            .parse()
            .map_err(|err| sandloop::Error::other(format!("SANDLOOP_INSTANCE={index:?}: {err}")))?,
        Err(_) => 0,
    };
    base.checked_add(index).map(Some).ok_or_else(|| {
        sandloop::Error::other(format!(
            "HTTP_HELLO_BASE_PORT {base} + SANDLOOP_INSTANCE {index} is past port 65535"
        ))
    })
}
