//! Development certificates for the TLS examples and tests: a CA, and a certificate for
//! `localhost`, `127.0.0.1` and `::1` that it signs, made with rcgen. Nothing here is for
//! production: the keys are written next to the certificates, unencrypted.
//!
//! `cargo xtask dev-cert DIR` writes them; the host's TLS tests use the same functions
//! (they include this file, each user taking the part it needs).
#![allow(dead_code)]

use std::error::Error;
use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// A certificate authority: its certificate and key in PEM, and what signs with it.
pub struct Ca {
    pub cert_pem: String,
    /// The CA's key (a host test uses one; `dev-cert` never writes it).
    pub key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str) -> Result<Ca> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key)?;
        Ok(Ca {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// A certificate for `names` (DNS names or IP addresses) signed by this CA: the
    /// chain's PEM (the leaf, then the CA) and the leaf key's PEM.
    pub fn issue(&self, names: &[&str]) -> Result<(String, String)> {
        let key = KeyPair::generate()?;
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone())?;
        if let Some(first) = names.first() {
            params.distinguished_name.push(DnType::CommonName, first);
        }
        let leaf = params.signed_by(&key, &self.issuer)?;
        Ok((
            format!("{}{}", leaf.pem(), self.cert_pem),
            key.serialize_pem(),
        ))
    }
}

/// Writes `ca.pem`, `cert.pem` (the chain for localhost, 127.0.0.1 and ::1) and `key.pem`
/// into `dir`, creating it.
pub fn write(dir: &Path) -> Result<()> {
    let ca = Ca::new("sandloop development CA")?;
    let (chain, key) = ca.issue(&["localhost", "127.0.0.1", "::1"])?;
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("ca.pem"), &ca.cert_pem)?;
    std::fs::write(dir.join("cert.pem"), chain)?;
    std::fs::write(dir.join("key.pem"), key)?;
    Ok(())
}
