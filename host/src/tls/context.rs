//! TLS contexts: the rustls client and server configurations the WIT `tls.context` holds.
//!
//! A context is built once from the guest's options (PEM bytes, flags, ALPN lists) and
//! shared by every stream started with it: the rustls configuration sits in an `Arc`, and
//! each session holds its own reference, so a context the guest drops keeps working for
//! the streams that use it.
//!
//! Every bad input (PEM without a certificate, a key that does not parse or does not match
//! its certificate, an empty ALPN name, no trust anchor at all) is an `invalid-input`
//! error saying what is wrong; nothing here panics on what a guest hands in.

use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig};

use super::provider;
use crate::error::{Error, ErrorKind, error};

/// A certificate chain and its private key, PEM (the chain's leaf first; the key in
/// PKCS#8, PKCS#1 or SEC1 form): the WIT's `tls.identity`.
#[derive(Clone, Debug)]
pub(crate) struct Identity {
    pub(crate) cert_chain_pem: Vec<u8>,
    pub(crate) key_pem: Vec<u8>,
}

/// How a client checks servers, and what it offers: the WIT's `tls.client-options`.
#[derive(Clone, Debug)]
pub(crate) struct ClientOptions {
    /// PEM bundles of certificates to trust (each may hold many certificates).
    pub(crate) ca_pem: Vec<Vec<u8>>,
    /// Trust the host's root store (the operating system's certificates) as well.
    pub(crate) system_roots: bool,
    /// Check the server's certificate chain (`false` is Python's `CERT_NONE`).
    pub(crate) verify: bool,
    /// Check that the certificate names the server (only meaningful with `verify`).
    pub(crate) check_hostname: bool,
    /// Protocols to offer with ALPN, in order of preference.
    pub(crate) alpn: Vec<Vec<u8>>,
    /// A client certificate, for servers that ask for one.
    pub(crate) identity: Option<Identity>,
}

/// When a server asks clients for a certificate: the WIT's `tls.client-auth`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    /// Never (Python's `CERT_NONE` on a server context).
    None,
    /// Asks, and checks one that is given (`CERT_OPTIONAL`).
    Optional,
    /// A client without a trusted certificate fails the handshake (`CERT_REQUIRED`).
    Required,
}

/// What a server presents, and how it checks clients: the WIT's `tls.server-options`.
#[derive(Clone, Debug)]
pub(crate) struct ServerOptions {
    pub(crate) identity: Identity,
    /// Protocols accepted with ALPN, in order of preference.
    pub(crate) alpn: Vec<Vec<u8>>,
    pub(crate) client_auth: ClientAuth,
    /// PEM bundles of certificates that client certificates must chain to.
    pub(crate) client_ca_pem: Vec<Vec<u8>>,
}

/// A client or server configuration: the WIT `tls.context`.
pub struct Context {
    pub(crate) role: Role,
}

/// What a context is for.
pub(crate) enum Role {
    Client {
        config: Arc<ClientConfig>,
        /// `start` needs a server name to check the certificate against.
        needs_server_name: bool,
    },
    Server(Arc<ServerConfig>),
}

impl Context {
    /// A client context from the guest's options.
    pub(crate) fn client(options: ClientOptions) -> Result<Context, Error> {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|err| invalid(format!("tls client context: {err}")))?;
        let builder = if options.verify {
            let roots = client_roots(&options)?;
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .build()
                    .map_err(|err| invalid(format!("tls client context: {err}")))?;
            if options.check_hostname {
                builder.with_webpki_verifier(webpki)
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(Lenient {
                        chain: Some(webpki),
                        provider: Arc::clone(&provider),
                    }))
            }
        } else {
            // Nothing is checked against them, but bad PEM is still the guest's mistake.
            roots_from_pem(&options.ca_pem, "tls client context: ca-pem")?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Lenient {
                    chain: None,
                    provider: Arc::clone(&provider),
                }))
        };
        let mut config = match options.identity {
            Some(identity) => {
                let (chain, key) = parse_identity(&identity, "tls client context: identity")?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|err| invalid(format!("tls client context: identity: {err}")))?
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = check_alpn(options.alpn, "tls client context")?;
        Ok(Context {
            role: Role::Client {
                config: Arc::new(config),
                needs_server_name: options.verify && options.check_hostname,
            },
        })
    }

    /// A server context from the guest's options.
    pub(crate) fn server(options: ServerOptions) -> Result<Context, Error> {
        let provider = provider();
        let (chain, key) = parse_identity(&options.identity, "tls server context: identity")?;
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|err| invalid(format!("tls server context: {err}")))?;
        let builder = match options.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            auth => {
                let roots =
                    roots_from_pem(&options.client_ca_pem, "tls server context: client-ca-pem")?;
                if roots.is_empty() {
                    return Err(invalid(
                        "tls server context: client-auth asks for client certificates but \
                         client-ca-pem holds no certificate to check them against",
                    ));
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::clone(&provider),
                );
                let verifier = match auth {
                    ClientAuth::Optional => verifier.allow_unauthenticated(),
                    _ => verifier,
                };
                let verifier = verifier
                    .build()
                    .map_err(|err| invalid(format!("tls server context: client-ca-pem: {err}")))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|err| invalid(format!("tls server context: identity: {err}")))?;
        config.alpn_protocols = check_alpn(options.alpn, "tls server context")?;
        Ok(Context {
            role: Role::Server(Arc::new(config)),
        })
    }

    /// Whether this is a server context.
    pub(crate) fn is_server(&self) -> bool {
        matches!(self.role, Role::Server(_))
    }
}

fn invalid(message: impl Into<String>) -> Error {
    error(ErrorKind::InvalidInput, message)
}

/// The trust anchors of a client that verifies: its PEM bundles, and the host's root store
/// when asked. None at all is an error: no server could ever be trusted.
fn client_roots(options: &ClientOptions) -> Result<RootCertStore, Error> {
    let mut roots = roots_from_pem(&options.ca_pem, "tls client context: ca-pem")?;
    if options.system_roots {
        for cert in system_roots().iter() {
            // A system certificate rustls cannot use is skipped, as every TLS stack does.
            let _ = roots.add(cert.clone());
        }
    }
    if roots.is_empty() {
        return Err(invalid(if options.system_roots {
            "tls client context: no trust anchor: ca-pem is empty and the host's root store \
             holds no usable certificate"
        } else {
            "tls client context: no trust anchor: verify is on but ca-pem is empty and \
             system-roots is off"
        }));
    }
    Ok(roots)
}

/// The host's root store, read once per process.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for err in &found.errors {
            tracing::debug!(%err, "tls: reading the host's root store");
        }
        found.certs
    })
}

/// A root store holding every certificate of the PEM `bundles`; `what` names them in
/// errors.
fn roots_from_pem(bundles: &[Vec<u8>], what: &str) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    for (i, bundle) in bundles.iter().enumerate() {
        for cert in parse_certs(bundle, &format!("{what}[{i}]"))? {
            roots.add(cert).map_err(|err| {
                invalid(format!("{what}[{i}]: not a usable CA certificate: {err}"))
            })?;
        }
    }
    Ok(roots)
}

/// The certificates of one PEM bundle; none is an error.
pub(crate) fn parse_certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| invalid(format!("{what}: bad PEM: {err}")))?;
    if certs.is_empty() {
        return Err(invalid(format!(
            "{what}: no PEM certificate found (expected \"-----BEGIN CERTIFICATE-----\")"
        )));
    }
    Ok(certs)
}

/// A certificate chain and its key.
fn parse_identity(
    identity: &Identity,
    what: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let chain = parse_certs(&identity.cert_chain_pem, &format!("{what}: cert-chain-pem"))?;
    let key = PrivateKeyDer::from_pem_slice(&identity.key_pem).map_err(|err| match err {
        rustls::pki_types::pem::Error::NoItemsFound => invalid(format!(
            "{what}: key-pem: no PEM private key found (PKCS#8, PKCS#1 or SEC1)"
        )),
        err => invalid(format!("{what}: key-pem: bad PEM: {err}")),
    })?;
    Ok((chain, key))
}

/// ALPN names as rustls takes them; an empty one, or one past 255 bytes, cannot be sent.
fn check_alpn(alpn: Vec<Vec<u8>>, what: &str) -> Result<Vec<Vec<u8>>, Error> {
    for name in &alpn {
        if name.is_empty() || name.len() > 255 {
            return Err(invalid(format!(
                "{what}: alpn: a protocol name must be 1 to 255 bytes, not {}",
                name.len()
            )));
        }
    }
    Ok(alpn)
}

/// The verifier of Python's relaxed client settings. The handshake's signatures are always
/// checked against the certificate's key, so the peer must at least hold that key.
/// - `check_hostname = False` with `CERT_REQUIRED` (`chain` set): the chain must lead to a
///   trust anchor as usual; only a certificate that does not name the server is let
///   through. webpki checks the chain before the name, so a name error means the chain was
///   good.
/// - `CERT_NONE` (`chain` is `None`): any certificate is accepted.
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
