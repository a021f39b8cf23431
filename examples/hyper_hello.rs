//! hyper 1.x serving `Hello, World!` on sandloop (the `hyper` feature): the service is plain
//! hyper; `sandloop::hyper::serve` runs each connection as a loop task with the loop's
//! timer (so hyper's header read timeout works).
//!
//! ```text
//! cargo example hyper_hello --allow-listen 127.0.0.1:8080 -- 127.0.0.1:8080
//! curl http://127.0.0.1:8080/
//! ```
//!
//! A second argument sets the header read timeout in milliseconds (hyper's default: 30 s).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, World!",
    ))))
}

fn main() -> sandloop::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:8080".into())
        .parse()
        .map_err(sandloop::Error::other)?;
    let mut builder = sandloop::hyper::builder();
    if let Some(ms) = args.next() {
        let ms: u64 = ms.parse().map_err(sandloop::Error::other)?;
        builder.header_read_timeout(Duration::from_millis(ms));
    }
    sandloop::run(async move {
        let server = sandloop::hyper::serve_with(
            builder,
            service_fn(hello),
            addr.ip().to_string(),
            addr.port(),
            Default::default(),
        )
        .await?;
        for sock in server.sockets() {
            println!("Serving on http://{}/", sock.local_addr()?);
        }
        server.serve_forever().await
    })
}
