//! The `sandloop:host/tls` bindings, wrapped in the crate's types.
//!
//! A [`HostTlsContext`] is the host's rustls configuration (built from a
//! `TlsContext`'s settings (`tls.rs`)); [`start`] switches a completion-mode
//! stream to TLS and [`info`] reads what its handshake settled, a [`TlsInfo`] (public as
//! `sandloop::tls::TlsInfo`).

use super::bindings::tls;
use super::errors::wit_result;
use super::net::HostStream;
use crate::error::Result;

/// A certificate chain and its key, PEM.
pub(crate) struct IdentityPem<'a> {
    pub(crate) cert_chain: &'a [u8],
    pub(crate) key: &'a [u8],
}

/// What a client context is built from (see `wit/tls.wit`'s `client-options`).
pub(crate) struct ClientConfig<'a> {
    pub(crate) ca_pem: &'a [Vec<u8>],
    pub(crate) system_roots: bool,
    pub(crate) verify: bool,
    pub(crate) check_hostname: bool,
    pub(crate) alpn: &'a [Vec<u8>],
    pub(crate) identity: Option<IdentityPem<'a>>,
}

/// When a server asks clients for a certificate.
#[derive(Clone, Copy)]
pub(crate) enum ClientAuth {
    None,
    Optional,
    Required,
}

/// What a server context is built from (see `wit/tls.wit`'s `server-options`).
pub(crate) struct ServerConfig<'a> {
    pub(crate) identity: IdentityPem<'a>,
    pub(crate) alpn: &'a [Vec<u8>],
    pub(crate) client_auth: ClientAuth,
    pub(crate) client_ca_pem: &'a [Vec<u8>],
}

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

/// What a TLS handshake settled: the parts of Python's `ssl.SSLObject` asyncio's
/// `get_extra_info("ssl_object")` gives access to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1.2` or `TLSv1.3` (Python's `SSLObject.version()`).
    pub version: String,
    /// The cipher suite's IANA name (`TLS_AES_256_GCM_SHA384`).
    pub cipher: String,
    /// The cipher's key size in bits.
    pub secret_bits: u32,
    /// The protocol ALPN settled on, if any.
    pub alpn_protocol: Option<Vec<u8>>,
    /// The peer's certificate chain, DER, its own certificate first; empty when it
    /// presented none.
    pub peer_certificates: Vec<Vec<u8>>,
    /// The server name: the one a client sent, the one a server was asked for.
    pub server_name: Option<String>,
}

impl TlsInfo {
    /// Python's `SSLObject.cipher()`: `(name, protocol version, secret bits)`.
    pub fn cipher(&self) -> (String, String, u32) {
        (self.cipher.clone(), self.version.clone(), self.secret_bits)
    }

    /// Python's `SSLObject.selected_alpn_protocol()`.
    pub fn selected_alpn_protocol(&self) -> Option<String> {
        self.alpn_protocol
            .as_ref()
            .map(|p| String::from_utf8_lossy(p).into_owned())
    }

    /// Python's `getpeercert(binary_form=True)`: the peer's certificate, DER.
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        self.peer_certificates.first().map(Vec::as_slice)
    }
}
