//! TLS in the host with rustls: the WIT interface `sandloop:host/tls`.
//!
//! TLS is a layer inside a completion-mode [`Stream`](crate::net::stream::Stream): `start` puts a rustls session into
//! the stream, and from then on the guest writes and reads plaintext while the host
//! encrypts, decrypts and drives the handshake as the socket is ready (see
//! `net::stream::tls` for the I/O). This module holds the [`Context`]s (rustls
//! configurations built from the guest's PEM and flags, in `context.rs`) and the calls
//! `start` and `info`.
//!
//! The crypto is rustls's `ring` provider with its safe default protocol versions (TLS 1.2
//! and 1.3) and cipher suites.

mod context;
mod host;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, Connection, ServerConnection};

use crate::error::{Error, ErrorKind, error};
pub use context::Context;
use context::Role;
pub(crate) use context::{ClientAuth, ClientOptions, Identity, ServerOptions};

/// What the handshake settled: the WIT's `tls.session-info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SessionInfo {
    /// `TLSv1.2` or `TLSv1.3`, as Python names them.
    pub(crate) protocol_version: String,
    /// The cipher suite's IANA name (`TLS_AES_256_GCM_SHA384`).
    pub(crate) cipher_suite: String,
    /// The cipher's key size in bits (Python's third `cipher()` field).
    pub(crate) secret_bits: u32,
    /// The protocol ALPN settled on, if any.
    pub(crate) alpn_protocol: Option<Vec<u8>>,
    /// The peer's certificate chain, DER, its own certificate first.
    pub(crate) peer_certificates: Vec<Vec<u8>>,
    /// The server name: the one a client sent (SNI), the one a server was asked for.
    pub(crate) server_name: Option<String>,
}

/// The crypto provider of every context: rustls's `ring`, built once.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())))
}

/// A new rustls session for `ctx`: a server session, or a client one that checks (and,
/// for a DNS name, sends with SNI) `server_name`. Returns the session and the server name
/// `info` reports for a client.
pub(crate) fn new_session(
    ctx: &Context,
    server_name: Option<String>,
) -> Result<(Connection, Option<String>), Error> {
    match &ctx.role {
        Role::Server(config) => {
            let conn = ServerConnection::new(Arc::clone(config))
                .map_err(|err| error(ErrorKind::Tls, format!("tls start: {err}")))?;
            Ok((Connection::Server(conn), None))
        }
        Role::Client {
            config,
            needs_server_name,
        } => {
            let name = match &server_name {
                Some(name) => parse_server_name(name)?,
                None if *needs_server_name => {
                    return Err(error(
                        ErrorKind::InvalidInput,
                        "tls start: a client context that checks host names needs a \
                         server-name (turn check-hostname off to connect without one)",
                    ));
                }
                // Nothing to check the name against: an address that sends no SNI.
                None => ServerName::IpAddress(IpAddr::from([0, 0, 0, 0]).into()),
            };
            let conn = ClientConnection::new(Arc::clone(config), name)
                .map_err(|err| error(ErrorKind::Tls, format!("tls start: {err}")))?;
            Ok((Connection::Client(conn), server_name))
        }
    }
}

/// A server name as rustls checks it: an IP address (sent without SNI, checked against
/// the certificate's IP names) or a DNS name.
fn parse_server_name(name: &str) -> Result<ServerName<'static>, Error> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(name.to_owned()).map_err(|_| {
        error(
            ErrorKind::InvalidInput,
            format!("tls start: server-name {name:?} is neither a DNS name nor an IP address"),
        )
    })
}

/// What `info` reports of a session whose handshake completed.
pub(crate) fn session_info(conn: &Connection, client_name: Option<&str>) -> SessionInfo {
    let protocol_version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    let cipher_suite = conn
        .negotiated_cipher_suite()
        .map(|suite| iana_name(suite.suite()))
        .unwrap_or_default();
    let server_name = match conn {
        Connection::Client(_) => client_name.map(str::to_owned),
        Connection::Server(server) => server.server_name().map(str::to_owned),
    };
    SessionInfo {
        protocol_version,
        secret_bits: secret_bits(&cipher_suite),
        cipher_suite,
        alpn_protocol: conn.alpn_protocol().map(<[u8]>::to_vec),
        peer_certificates: conn
            .peer_certificates()
            .map(|certs| certs.iter().map(|cert| cert.to_vec()).collect())
            .unwrap_or_default(),
        server_name,
    }
}

/// The IANA name of a cipher suite: rustls names the TLS 1.3 suites `TLS13_...`, where
/// the registry (and OpenSSL, and Python) say `TLS_...`; the TLS 1.2 names are the same.
fn iana_name(suite: rustls::CipherSuite) -> String {
    match suite.as_str() {
        Some(name) => match name.strip_prefix("TLS13_") {
            Some(rest) => format!("TLS_{rest}"),
            None => name.to_owned(),
        },
        None => format!("{suite:?}"),
    }
}

/// The key size of a suite in bits, from its name (Python's third `cipher()` field).
fn secret_bits(iana_name: &str) -> u32 {
    if iana_name.contains("AES_128") {
        128
    } else if iana_name.contains("AES_256") || iana_name.contains("CHACHA20") {
        256
    } else {
        0
    }
}
