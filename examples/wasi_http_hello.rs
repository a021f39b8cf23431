//! A `wasi:http` handler: the component a serverless host calls once per request, each
//! request on a sandloop loop of its own (timers, TCP through `wasi:sockets`, outgoing
//! HTTP through `wasi:http/outgoing-handler`).
//!
//! ```text
//! cargo build --release --target wasm32-wasip2 -p sandloop-examples \
//!     --no-default-features --features wasi-http --bin wasi_http_hello
//! wasmtime serve -S cli=y -S inherit-network=y --addr 127.0.0.1:8080 \
//!     target/wasm32-wasip2/release/wasi_http_hello.wasm
//! curl http://127.0.0.1:8080/sleep/100
//! ```
//!
//! Routes:
//! - `/`: `Hello, World!`
//! - `/sleep/<ms>`: answers after a loop timer of `<ms>` milliseconds
//! - `/echo?addr=<ip:port>&msg=<word>`: sends `<word>` and a newline to a TCP line-echo
//!   server and answers with the line it echoes
//! - `/fetch?url=<http://...>`: fetches the URL and answers with its status and body
//! - `/count` (a request with a body): the number of bytes of the request's body
//! - `/stream/<n>`: `n` lines, written as `n` chunks (no `content-length`)
//! - `/fail`: the handler returns an error, which the client sees as a `500`
//! - anything else: `404`

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use sandloop::http::{Body, Request, Response, StatusCode, fetch};
use sandloop::streams::open_connection;
use sandloop::{ConnectOptions, Error};

async fn handle(req: Request<Body>) -> sandloop::Result<Response<Body>> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        [""] => Ok(text(StatusCode::OK, "Hello, World!\n")),
        ["sleep", ms] => {
            let Ok(ms) = ms.parse::<u64>() else {
                return Ok(text(StatusCode::BAD_REQUEST, "usage: /sleep/<ms>\n"));
            };
            sandloop::sleep(Duration::from_millis(ms)).await?;
            Ok(text(StatusCode::OK, &format!("slept {ms} ms\n")))
        }
        ["echo"] => {
            let (Some(addr), Some(msg)) = (param(&query, "addr"), param(&query, "msg")) else {
                return Ok(text(StatusCode::BAD_REQUEST, "usage: /echo?addr=&msg=\n"));
            };
            let addr: std::net::SocketAddr = addr.parse().map_err(Error::other)?;
            let (reader, writer) = open_connection(
                &addr.ip().to_string(),
                addr.port(),
                ConnectOptions::default(),
            )
            .await?;
            writer.write(format!("{msg}\n").as_bytes());
            writer.drain().await?;
            let line = reader.readline().await?;
            writer.close();
            Ok(Response::new(Body::from(line)))
        }
        ["fetch"] => {
            let Some(url) = param(&query, "url") else {
                return Ok(text(StatusCode::BAD_REQUEST, "usage: /fetch?url=\n"));
            };
            let request = Request::get(url)
                .body(Body::empty())
                .map_err(Error::other)?;
            let response = fetch(request).await?;
            let status = response.status();
            let body = response.into_body().text().await?;
            Ok(text(StatusCode::OK, &format!("upstream {status}: {body}")))
        }
        ["count"] => {
            let mut body = req.into_body();
            let mut total = 0;
            while let Some(chunk) = body.chunk().await? {
                total += chunk.len();
            }
            Ok(text(StatusCode::OK, &format!("{total} bytes\n")))
        }
        ["stream", n] => {
            let Ok(n) = n.parse::<u32>() else {
                return Ok(text(StatusCode::BAD_REQUEST, "usage: /stream/<n>\n"));
            };
            Ok(Response::new(Body::from_stream(Lines { next: 1, last: n })))
        }
        ["fail"] => Err(Error::other("the /fail route fails on purpose")),
        _ => Ok(text(StatusCode::NOT_FOUND, "not found\n")),
    }
}

sandloop::http_handler!(handle);

/// `wasmtime serve` calls the handler; run as a command, the component says how.
fn main() {
    println!("a wasi:http handler: serve it with `wasmtime serve -S cli=y wasi_http_hello.wasm`");
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
}

/// The value of `name` in a query string (`a=1&b=2`), as given (no percent-decoding).
fn param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Lines `line <next>` to `line <last>`, one chunk each.
struct Lines {
    next: u32,
    last: u32,
}

impl futures_core::Stream for Lines {
    type Item = sandloop::Result<Vec<u8>>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.next > self.last {
            return Poll::Ready(None);
        }
        let line = format!("line {}\n", self.next);
        self.next += 1;
        Poll::Ready(Some(Ok(line.into_bytes())))
    }
}
