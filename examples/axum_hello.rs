//! axum on sandloop: a `Router` served by hyper (`sandloop::hyper::serve` through
//! hyper-util's `TowerToHyperService`; axum is built without its `tokio` feature). The
//! handlers await sandloop futures, made `Send` (as axum wants) with
//! `sandloop::hyper::local`:
//! - `GET /` answers `Hello, World!`;
//! - `GET /sleep/{ms}` sleeps on the loop's timer, then answers;
//! - `GET /echo/{text}` connects to an echo server (one this workload starts itself, on a
//!   free port of 127.0.0.1), sends the text and answers what came back.
//!
//! ```text
//! cargo example axum_hello --allow-listen '127.0.0.1:*' --allow-connect '127.0.0.1:*' -- 127.0.0.1:8080
//! curl http://127.0.0.1:8080/sleep/100
//! curl http://127.0.0.1:8080/echo/hi
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use hyper_util::service::TowerToHyperService;
use sandloop::hyper::local;
use sandloop::streams::{self, StreamReader, StreamWriter};

/// Where the echo peer listens.
#[derive(Clone)]
struct EchoPeer {
    port: u16,
}

async fn hello() -> &'static str {
    "Hello, World!"
}

async fn sleep(Path(ms): Path<u64>) -> Result<String, StatusCode> {
    let start = Instant::now();
    local(sandloop::sleep(Duration::from_millis(ms)))
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(format!("slept {} ms\n", start.elapsed().as_millis()))
}

async fn echo(
    State(peer): State<EchoPeer>,
    Path(text): Path<String>,
) -> Result<String, StatusCode> {
    let reply = local(async move {
        let (reader, writer) =
            streams::open_connection("127.0.0.1", peer.port, Default::default()).await?;
        writer.write(text.as_bytes());
        writer.write(b"\n");
        writer.drain().await?;
        let line = reader.readline().await?;
        writer.close();
        writer.wait_closed().await?;
        Ok::<_, sandloop::Error>(line)
    })
    .await
    .map_err(|_| StatusCode::BAD_GATEWAY)?;
    Ok(format!("echoed: {}", String::from_utf8_lossy(&reply)))
}

/// The echo peer: one line back per line.
async fn echo_lines(reader: StreamReader, writer: StreamWriter) -> sandloop::Result<()> {
    while let Some(line) = reader.next_line().await? {
        writer.write(&line);
        writer.drain().await?;
    }
    Ok(())
}

fn main() -> sandloop::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into())
        .parse()
        .map_err(sandloop::Error::other)?;
    sandloop::run(async move {
        let peer = streams::start_server(echo_lines, "127.0.0.1", 0, Default::default()).await?;
        let port = peer.port()?;
        let app = Router::new()
            .route("/", get(hello))
            .route("/sleep/{ms}", get(sleep))
            .route("/echo/{text}", get(echo))
            .with_state(EchoPeer { port });
        let server = sandloop::hyper::serve(
            TowerToHyperService::new(app),
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
