//! The `hyper_hello` example's service natively: hyper 1.x HTTP/1 on tokio's
//! single-threaded runtime (`current_thread`) with hyper-util's tokio I/O and timer, one
//! task per connection: the peer of `hyper_hello` under the host in the benchmark
//! (bench/run.sh, HTTP peer `tokio-hyper`).
//!
//! ```text
//! tokio_hyper 127.0.0.1:8080
//! ```
//! Prints `Serving on http://ADDR/` once listening.

use std::convert::Infallible;
use std::io;
use std::process::ExitCode;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, World!",
    ))))
}

async fn serve(stream: TcpStream) -> io::Result<()> {
    http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service_fn(hello))
        .await
        // Clients that go away mid-request are the load generator's doing, not errors.
        .or_else(|err| {
            if err.is_incomplete_message() || err.is_closed() {
                Ok(())
            } else {
                Err(io::Error::other(err))
            }
        })
}

fn main() -> ExitCode {
    sandloop_bench::tokio_server::main(
        "tokio_hyper",
        "127.0.0.1:8080",
        "Serving on http://{addr}/",
        serve,
    )
}
