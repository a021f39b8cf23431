//! A TCP echo server written with wstd (the Bytecode Alliance's async standard library for
//! WASI 0.2), nobody here's code: it speaks `wasi:sockets` through wstd's own reactor, with
//! no `sandloop:host` import. `host/tests/wasi_sockets.rs` runs it under `sandloop run`,
//! where the policy decides whether it may listen.
//!
//! Usage: `wstd_echo ADDR`: prints `listening on ADDR` (the port the kernel picked for
//! port 0), then echoes every connection until its peer's EOF, several at once. A refused
//! bind prints `error: ...` and exits 1.

use wstd::io;
use wstd::iter::AsyncIterator;
use wstd::net::TcpListener;

#[wstd::main]
async fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = match TcpListener::bind(addr.as_str()).await {
        Ok(listener) => listener,
        Err(err) => {
            println!("error: {:?}: {err}", err.kind());
            std::process::exit(1);
        }
    };
    println!("listening on {}", listener.local_addr()?);
    let mut incoming = listener.incoming();
    while let Some(stream) = incoming.next().await {
        let stream = stream?;
        wstd::runtime::spawn(async move {
            // A connection that fails ends alone; the server keeps serving.
            let _ = io::copy(&stream, &stream).await;
        })
        .detach();
    }
    Ok(())
}
