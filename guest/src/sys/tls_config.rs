//! What a TLS context is built from and what a handshake settled: plain values that
//! both backends name (the portable one to refuse TLS with them). [`TlsInfo`] is public
//! as `sandloop::tls::TlsInfo`.

// The portable backend refuses every TLS context before reading a setting.
#![cfg_attr(not(feature = "host-reactor"), allow(dead_code))]

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

/// What a TLS handshake settled: the parts of Python's `ssl.SSLObject` asyncio's
/// `get_extra_info("ssl_object")` gives access to.
///
/// ```no_run
/// # fn demo(transport: &sandloop::Transport) {
/// use sandloop::ExtraInfo;
/// // asyncio: transport.get_extra_info("ssl_object").version()
/// if let Some(ExtraInfo::TlsInfo(info)) = transport.get_extra_info("ssl_object") {
///     println!("{} with {}, ALPN {:?}", info.version, info.cipher, info.alpn_protocol);
/// }
/// # }
/// ```
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
