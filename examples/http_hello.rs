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
//! kernel spreads the connections over the N loops.

use std::net::SocketAddr;

use sandloop::ServerOptions;

mod hello_http;

use hello_http::HttpProtocol;

fn main() -> sandloop::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into())
        .parse()
        .map_err(sandloop::Error::other)?;
    sandloop::run(async move {
        let lp = sandloop::get_running_loop()?;
        let server = lp
            .create_server(
                HttpProtocol::default,
                addr.ip().to_string().as_str(),
                addr.port(),
                ServerOptions {
                    // `--instances N` tells each copy N; copies share the port.
                    reuse_port: std::env::var("SANDLOOP_INSTANCES")
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
