//! The `sandloop:host/tls` bindings, wrapped in the crate's types.
//!
//! A [`HostTlsContext`] is the host's rustls configuration (built from a
//! `TlsContext`'s settings (`tls.rs`)); [`start`] switches a completion-mode
//! stream to TLS and [`info`] reads what its handshake settled, a [`TlsInfo`] (public as
//! `sandloop::tls::TlsInfo`).

use super::bindings::tls;
use super::errors::wit_result;
use super::net::HostStream;
pub use super::tls_config::TlsInfo;
pub(crate) use super::tls_config::{ClientAuth, ClientConfig, IdentityPem, ServerConfig};
use crate::error::Result;

fn identity_to_wit(id: &IdentityPem<'_>) -> tls::Identity {
    tls::Identity {
        cert_chain_pem: id.cert_chain.to_vec(),
        key_pem: id.key.to_vec(),
    }
}

/// The host's TLS configuration (`tls.context`), shared by the streams started with it.
pub(crate) struct HostTlsContext(tls::Context);

impl HostTlsContext {
    /// A client configuration; bad PEM or no trust anchor is `Os(InvalidInput)`.
    pub(crate) fn client(config: &ClientConfig<'_>) -> Result<HostTlsContext> {
        let options = tls::ClientOptions {
            ca_pem: config.ca_pem.to_vec(),
            system_roots: config.system_roots,
            verify: config.verify,
            check_hostname: config.check_hostname,
            alpn: config.alpn.to_vec(),
            identity: config.identity.as_ref().map(identity_to_wit),
        };
        wit_result(tls::Context::client(&options)).map(HostTlsContext)
    }

    /// A server configuration; a key that does not match is `Os(InvalidInput)`.
    pub(crate) fn server(config: &ServerConfig<'_>) -> Result<HostTlsContext> {
        let options = tls::ServerOptions {
            identity: identity_to_wit(&config.identity),
            alpn: config.alpn.to_vec(),
            client_auth: match config.client_auth {
                ClientAuth::None => tls::ClientAuth::None,
                ClientAuth::Optional => tls::ClientAuth::Optional,
                ClientAuth::Required => tls::ClientAuth::Required,
            },
            client_ca_pem: config.client_ca_pem.to_vec(),
        };
        wit_result(tls::Context::server(&options)).map(HostTlsContext)
    }
}

/// Switches `stream` to TLS with `ctx` (as a server when `ctx` is a server context); the
/// handshake then runs in the host, its completion reported as a `writable` event.
pub(crate) fn start(
    stream: &HostStream,
    ctx: &HostTlsContext,
    server_name: Option<&str>,
) -> Result<()> {
    wit_result(tls::start(stream.wit(), &ctx.0, server_name))
}

/// What the handshake of `stream` settled; `None` before it completed or without TLS.
pub(crate) fn info(stream: &HostStream) -> Option<TlsInfo> {
    tls::info(stream.wit()).map(|s| TlsInfo {
        version: s.protocol_version,
        cipher: s.cipher_suite,
        secret_bits: s.secret_bits,
        alpn_protocol: s.alpn_protocol,
        peer_certificates: s.peer_certificates,
        server_name: s.server_name,
    })
}
