//! A minimal HTTP/1.1 keep-alive server answering `Hello, World!` to every request: the
//! HTTP benchmark workload (try it with curl or wrk).
//!
//! ```text
//! cargo example http_hello --allow-listen 127.0.0.1:8080 -- 127.0.0.1:8080
//! curl http://127.0.0.1:8080/
//! ```

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
                ServerOptions::default(),
            )
            .await?;
        for sock in server.sockets() {
            println!("Serving on http://{}/", sock.local_addr()?);
        }
        server.serve_forever().await
    })
}
