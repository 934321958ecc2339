//! The one TLS crypto provider (aws-lc-rs, as reqwest uses in this workspace), passed to
//! every config explicitly: a library never installs a process-wide provider.

use std::sync::Arc;

use integrations_core::Error;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The config the proxy verifies upstreams with: the webpki roots plus `extra`.
pub(crate) fn client_config(extra: &[CertificateDer<'static>]) -> Result<ClientConfig, Error> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in extra {
        roots.add(cert.clone()).map_err(|_| {
            crate::codes::proxy::INVALID_ROOT.error("an extra root certificate is not valid")
        })?;
    }
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|_| Error::internal("the TLS provider supports no protocol version"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
