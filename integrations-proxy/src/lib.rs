//! The egress proxy: a forward proxy between a sandbox and the providers it calls,
//! holding the credentials the sandbox never sees.
//!
//! The sandbox gets `HTTPS_PROXY=http://sandbox:<grant>@proxy:port` and the proxy's CA
//! certificate, nothing else. For each `CONNECT` the proxy checks the grant (signed,
//! scoped, expiring), then:
//!
//! * a host a plan route names is intercepted: the proxy presents a short-lived
//!   certificate minted from the host's CA, classifies every request inside by the
//!   plan's [`RouteIndex`](integrations_core::egress::RouteIndex), strips any credential
//!   the sandbox sent, injects the route's credential from a
//!   [`CredentialSource`](integrations_core::credential::CredentialSource) and forwards
//!   to the route's fixed upstream over verified TLS;
//! * a host the host lets through ([`ProxyConfig::passthrough_hosts`]) is tunneled
//!   blind, with no credential;
//! * anything else is refused, as are private, loopback and link-local destinations.
//!
//! Every refusal carries a stable code in the [`ERROR_HEADER`] header and a JSON body.
//! Bodies stream both ways; a 401 on an idempotent request forces one refresh and one
//! retry; each injected request is audited; plans reload without dropping connections.
//!
//! See [`Proxy`] for a quick start.

mod audit;
mod body;
mod ca;
pub mod codes;
mod config;
mod connections;
mod destination;
mod gate;
mod handler;
mod metrics;
mod refusal;
mod server;
mod tls;
mod tunnel;
mod upstream;

pub use ca::{CertificateAuthority, GeneratedCa};
pub use config::{ProxyConfig, UpstreamOverride};
pub use gate::GRANT_SEPARATOR;
pub use metrics::{Metrics, MetricsSnapshot};
pub use refusal::ERROR_HEADER;
pub use server::{Proxy, ProxyHandle};
