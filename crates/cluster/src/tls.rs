//! The local cluster's TLS identity: a private CA and a serving certificate
//! for the loopback names, created once per data directory.
//!
//! kubectl (client-go) does not send bearer tokens over plain HTTP, so the
//! API is served over HTTPS and the kubeconfig carries the CA.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// PEM-encoded CA certificate, serving certificate and serving key.
#[derive(Clone)]
pub struct Identity {
    /// The CA that signed the serving certificate (goes into kubeconfigs).
    pub ca_pem: String,
    /// The serving certificate.
    pub cert_pem: String,
    /// The serving certificate's private key.
    pub key_pem: String,
}

/// Failures creating or reading the identity.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Generating a key or certificate failed.
    #[error("cannot generate certificates: {0}")]
    Generate(#[from] rcgen::Error),
    /// Reading or writing the files failed.
    #[error("cannot read or write certificates in {dir}")]
    Io {
        /// The data directory.
        dir: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Names the serving certificate is valid for.
const NAMES: [&str; 4] = ["127.0.0.1", "::1", "localhost", "kubernetes.default.svc"];

fn generate() -> Result<Identity, rcgen::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "ferry-local-ca");
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut params = CertificateParams::new(NAMES.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())?;
    params.distinguished_name.push(DnType::CommonName, "ferry-local");
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Identity { ca_pem: ca_cert.pem(), cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// Reads the identity from `dir`, creating it on first use, so restarts keep
/// existing kubeconfigs valid.
pub fn load_or_create(dir: &Path) -> Result<Identity, TlsError> {
    let io = |source| TlsError::Io { dir: dir.display().to_string(), source };
    let (ca, cert, key) = (dir.join("ca.crt"), dir.join("server.crt"), dir.join("server.key"));
    if ca.exists() && cert.exists() && key.exists() {
        return Ok(Identity {
            ca_pem: std::fs::read_to_string(&ca).map_err(io)?,
            cert_pem: std::fs::read_to_string(&cert).map_err(io)?,
            key_pem: std::fs::read_to_string(&key).map_err(io)?,
        });
    }
    let identity = generate()?;
    crate::local::write_private(&ca, &identity.ca_pem).map_err(io)?;
    crate::local::write_private(&cert, &identity.cert_pem).map_err(io)?;
    crate::local::write_private(&key, &identity.key_pem).map_err(io)?;
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_created_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = load_or_create(dir.path()).expect("create");
        let b = load_or_create(dir.path()).expect("load");
        assert_eq!(a.ca_pem, b.ca_pem);
        assert!(a.cert_pem.contains("BEGIN CERTIFICATE"));
        assert!(a.key_pem.contains("PRIVATE KEY"));
        assert_ne!(a.ca_pem, a.cert_pem);
    }
}
