//! `http_hello` over TLS: an HTTPS server answering `Hello, World!`, with the host's
//! rustls doing the TLS. The certificate chain and its key are PEM files the workload
//! reads through a preopened directory.
//!
//! ```text
//! cargo xtask dev-cert target/dev-cert     # a CA, and a certificate for localhost signed by it
//! cargo example https_hello --allow-listen 127.0.0.1:8443 --dir target/dev-cert::/certs -- \
//!     127.0.0.1:8443 /certs/cert.pem /certs/key.pem
//! curl --cacert target/dev-cert/ca.pem https://localhost:8443/
//! ```
//!
//! ALPN offers `http/1.1`. Each connection's protocol version and cipher go to stderr.

use std::net::SocketAddr;
use std::path::PathBuf;

use sandloop::tls::TlsContext;
use sandloop::{Error, ExtraInfo, Protocol, ServerOptions, Transport};

mod hello_http;

use hello_http::HttpProtocol;

/// [`HttpProtocol`], telling what each TLS session settled as it starts.
#[derive(Default)]
struct Https(HttpProtocol);

impl Protocol for Https {
    fn connection_made(&mut self, transport: &Transport) {
        if let (Some(ExtraInfo::Cipher(name, version, bits)), Some(ExtraInfo::Address(peer))) = (
            transport.get_extra_info("cipher"),
            transport.get_extra_info("peername"),
        ) {
            eprintln!("{peer}: {version}, {name} ({bits} bits)");
        }
        self.0.connection_made(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        self.0.data_received(data);
    }

    fn pause_writing(&mut self) {
        self.0.pause_writing();
    }

    fn resume_writing(&mut self) {
        self.0.resume_writing();
    }
}

fn main() -> sandloop::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = || Error::Runtime("usage: https_hello ADDR CERT_CHAIN.pem KEY.pem".into());
    let addr: SocketAddr = args
        .next()
        .ok_or_else(usage)?
        .parse()
        .map_err(Error::other)?;
    let cert = PathBuf::from(args.next().ok_or_else(usage)?);
    let key = PathBuf::from(args.next().ok_or_else(usage)?);
    sandloop::run(async move {
        let ctx = TlsContext::server();
        ctx.load_cert_chain(&cert, Some(&key))?;
        ctx.set_alpn_protocols(&["http/1.1"])?;
        let lp = sandloop::get_running_loop()?;
        let server = lp
            .create_server(
                Https::default,
                addr.ip().to_string().as_str(),
                addr.port(),
                ServerOptions {
                    ssl: Some(ctx),
                    ..Default::default()
                },
            )
            .await?;
        for sock in server.sockets() {
            println!("Serving on https://{}/", sock.local_addr()?);
        }
        server.serve_forever().await
    })
}
