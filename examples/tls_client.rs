//! A TLS client with the streams API: connects with `ssl`, checks the server's
//! certificate against the host's root store or a CA file, sends one HTTP/1.1 request, and
//! prints what the handshake settled and the response.
//!
//! ```text
//! # against https_hello (see there), trusting the CA that signed its certificate:
//! cargo example tls_client --allow-connect 127.0.0.1:8443 --dir target/dev-cert::/certs -- \
//!     127.0.0.1:8443 localhost /certs/ca.pem
//! ```
//!
//! Without a CA file the host's root store (the system's certificates) is trusted, as
//! Python's `ssl.create_default_context()` does. The server name is sent with SNI and the
//! certificate must name it.

use std::net::SocketAddr;
use std::path::Path;

use sandloop::streams::open_connection;
use sandloop::tls::TlsContext;
use sandloop::{ConnectOptions, Error, ExtraInfo};

fn main() -> sandloop::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = || Error::Runtime("usage: tls_client ADDR SERVER_NAME [CA.pem]".into());
    let addr: SocketAddr = args
        .next()
        .ok_or_else(usage)?
        .parse()
        .map_err(Error::other)?;
    let server_name = args.next().ok_or_else(usage)?;
    let cafile = args.next();
    sandloop::run(async move {
        let ctx = TlsContext::client();
        if let Some(cafile) = &cafile {
            ctx.load_verify_locations(Some(Path::new(cafile)), None)?;
        }
        ctx.set_alpn_protocols(&["http/1.1"])?;
        let (reader, writer) = open_connection(
            &addr.ip().to_string(),
            addr.port(),
            ConnectOptions {
                ssl: Some(ctx),
                server_hostname: Some(server_name.clone()),
                ..Default::default()
            },
        )
        .await?;
        if let Some(ExtraInfo::TlsInfo(info)) = writer.get_extra_info("ssl_object") {
            println!(
                "{} with {}: {}, ALPN {}",
                server_name,
                addr,
                info.version,
                info.selected_alpn_protocol().as_deref().unwrap_or("none"),
            );
        }
        writer.write(
            format!("GET / HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        let response = reader.read_to_end().await?;
        print!("{}", String::from_utf8_lossy(&response));
        println!();
        writer.close();
        writer.wait_closed().await
    })
}
