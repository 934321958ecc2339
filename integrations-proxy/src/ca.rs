//! The interception CA: the host's certificate authority, and the short-lived leaf
//! certificates minted from it per managed host (cached).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use integrations_core::{Error, Secret};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;

use crate::tls::provider;

/// How many hosts' leaf certificates are cached at most.
const CACHE_LIMIT: usize = 1024;

fn ca_error(code: integrations_core::Code, message: &'static str) -> Error {
    code.error(message)
}

/// The certificate authority the proxy signs interception certificates with. The
/// sandbox trusts its certificate; its key never leaves the proxy. `Debug` shows
/// neither.
pub struct CertificateAuthority {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

/// A freshly generated CA: the certificate to give the sandbox, and the key to keep.
#[non_exhaustive]
pub struct GeneratedCa {
    /// The CA certificate, PEM.
    pub cert_pem: String,
    /// The CA private key, PKCS#8 PEM.
    pub key_pem: Secret,
}

impl fmt::Debug for GeneratedCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedCa")
            .field("key_pem", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Generates a CA (ECDSA P-256) named `common_name`, valid for ten years.
    ///
    /// # Errors
    ///
    /// `proxy.ca_generate` when the key or certificate cannot be made.
    pub fn generate(common_name: &str) -> Result<GeneratedCa, Error> {
        let failed = || {
            ca_error(
                crate::codes::proxy::CA_GENERATE,
                "the CA could not be generated",
            )
        };
        let key = KeyPair::generate().map_err(|_| failed())?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, common_name);
        name.push(DnType::OrganizationName, "integrations egress proxy");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::from_secs(3600);
        params.not_after = now + Duration::from_secs(10 * 365 * 24 * 3600);
        let cert = params.self_signed(&key).map_err(|_| failed())?;
        Ok(GeneratedCa {
            cert_pem: cert.pem(),
            key_pem: Secret::new(key.serialize_pem()),
        })
    }

    /// Loads a CA from its PEM certificate and PEM (PKCS#8) private key.
    ///
    /// # Errors
    ///
    /// `proxy.ca_invalid` when either does not parse (the key never appears in the
    /// error).
    pub fn from_pem(cert_pem: &str, key_pem: &Secret) -> Result<Self, Error> {
        let invalid = || {
            ca_error(
                crate::codes::proxy::CA_INVALID,
                "the CA certificate or key is not valid PEM",
            )
        };
        let key = KeyPair::from_pem(key_pem.expose()).map_err(|_| invalid())?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key).map_err(|_| invalid())?;
        let cert_der = rustls_pki_types::pem::PemObject::from_pem_slice(cert_pem.as_bytes())
            .map_err(|_| invalid())?;
        Ok(Self {
            cert_pem: cert_pem.to_owned(),
            cert_der,
            issuer,
        })
    }

    /// The CA certificate, PEM: what the sandbox trusts.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Mints a leaf certificate for `host`, valid from an hour ago for `ttl`.
    fn mint(&self, host: &str, ttl: Duration) -> Result<ServerConfig, Error> {
        let failed = || {
            ca_error(
                crate::codes::proxy::LEAF_MINT,
                "a certificate for the host could not be made",
            )
        };
        let key = KeyPair::generate().map_err(|_| failed())?;
        let mut params = CertificateParams::default();
        let san = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(host.try_into().map_err(|_| failed())?),
        };
        params.subject_alt_names = vec![san];
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, host);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::from_secs(3600);
        params.not_after = now + ttl;
        let cert = params.signed_by(&key, &self.issuer).map_err(|_| failed())?;
        let chain = vec![cert.der().clone(), self.cert_der.clone()];
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|_| failed())?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(|_| failed())?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// Leaf TLS configs by host, re-minted after half their lifetime.
#[derive(Debug)]
pub(crate) struct LeafCache {
    ca: Arc<CertificateAuthority>,
    ttl: Duration,
    leaves: Mutex<HashMap<String, (Arc<ServerConfig>, Instant)>>,
}

impl LeafCache {
    pub(crate) fn new(ca: Arc<CertificateAuthority>, ttl: Duration) -> Self {
        Self {
            ca,
            ttl,
            leaves: Mutex::new(HashMap::new()),
        }
    }

    /// The TLS config presenting a certificate for `host`.
    pub(crate) fn config_for(&self, host: &str) -> Result<Arc<ServerConfig>, Error> {
        let fresh_for = self.ttl / 2;
        if let Some((config, minted)) = self
            .leaves
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(host)
            && minted.elapsed() < fresh_for
        {
            return Ok(Arc::clone(config));
        }
        let config = Arc::new(self.ca.mint(host, self.ttl)?);
        let mut leaves = self.leaves.lock().unwrap_or_else(PoisonError::into_inner);
        if leaves.len() >= CACHE_LIMIT {
            leaves.retain(|_, (_, minted)| minted.elapsed() < fresh_for);
            if leaves.len() >= CACHE_LIMIT {
                leaves.clear();
            }
        }
        leaves.insert(host.to_owned(), (Arc::clone(&config), Instant::now()));
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_ca_loads_mints_and_caches_and_hides_its_key() {
        let generated = CertificateAuthority::generate("test CA").unwrap();
        assert!(!format!("{generated:?}").contains("PRIVATE"));
        let ca = CertificateAuthority::from_pem(&generated.cert_pem, &generated.key_pem).unwrap();
        assert!(!format!("{ca:?}").contains("PRIVATE"));
        let cache = LeafCache::new(Arc::new(ca), Duration::from_secs(3600));
        let a = cache.config_for("api.openai.com").unwrap();
        let b = cache.config_for("api.openai.com").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(cache.config_for("127.0.0.1").is_ok());
    }

    #[test]
    fn a_bad_key_is_refused_without_echoing_it() {
        let generated = CertificateAuthority::generate("test CA").unwrap();
        let error =
            CertificateAuthority::from_pem(&generated.cert_pem, &Secret::new("not-a-key-XYZ"))
                .unwrap_err();
        assert_eq!(error.code(), "proxy.ca_invalid");
        assert!(!format!("{error:?} {error}").contains("XYZ"));
    }
}
