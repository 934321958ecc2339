//! [`ProxyConfig`]: what the host decides about its proxy.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use integrations_core::Error;
use integrations_core::egress::normalize_host;
use rustls_pki_types::CertificateDer;

/// Where requests for one host really go (tests and demos point providers at loopback).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpstreamOverride {
    /// The address connected to instead of resolving the host.
    pub addr: SocketAddr,
    /// Speak plain HTTP to it instead of TLS (an offline mock without TLS).
    pub plaintext: bool,
}

/// The proxy's settings. Defaults are safe: unmatched hosts are refused, private,
/// loopback and link-local destinations are refused, connections and headers are
/// bounded, and every wait has a timeout.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProxyConfig {
    /// Hosts a sandbox may reach through a blind tunnel (no interception, no
    /// credential). Empty: every host without a route is refused.
    pub passthrough_hosts: Vec<String>,
    /// The ports a passthrough host is reached on, by `CONNECT` or plain HTTP (whose
    /// port, when the URL names none, is 80). Default: 443 and 80; another is refused
    /// with `proxy.port_not_allowed`, so a passthrough for a web host opens neither its
    /// SSH nor its mail port.
    pub passthrough_ports: Vec<u16>,
    /// Allow destinations in private ranges (`10/8`, `172.16/12`, `192.168/16`,
    /// `100.64/10`, `fc00::/7`) and link-local ones (`169.254/16` with cloud metadata,
    /// `fe80::/10`).
    pub allow_private: bool,
    /// Allow loopback destinations (`127/8`, `::1`, `0.0.0.0`).
    pub allow_loopback: bool,
    /// Client connections served at once. More are answered 503, 64 at a time, each
    /// given at most five seconds to send its request head; past those, a connection is
    /// closed at once, so a flood of idle connections holds no task or descriptor.
    pub max_connections: usize,
    /// Client connections served at once from one address (a sandbox), counted with its
    /// tunnels: past it, that address's connections are answered as past
    /// `max_connections`, so one sandbox cannot take every connection of a shared proxy.
    /// Sandboxes behind one address (a NAT) share it.
    pub max_connections_per_peer: usize,
    /// The largest request head (line and headers), in bytes.
    pub max_header_bytes: usize,
    /// How long a client may take to send a request head.
    pub header_read_timeout: Duration,
    /// How long resolving and connecting to an upstream may take.
    pub connect_timeout: Duration,
    /// How long an upstream may take to answer with its response head.
    pub response_timeout: Duration,
    /// How long a client may take to send a request body the proxy buffers (one it
    /// may retry after a 401); past it the request is answered 408.
    pub body_read_timeout: Duration,
    /// How long a minted leaf certificate is valid (it is re-minted after half).
    pub leaf_ttl: Duration,
    /// How long a graceful shutdown waits for open connections before closing them.
    pub shutdown_grace: Duration,
    /// The largest request body buffered so an idempotent request can be retried once
    /// after a 401; larger bodies stream and are not retried.
    pub retry_body_limit: usize,
    /// How long a blind tunnel may carry no byte in either direction before it is
    /// closed.
    pub tunnel_idle_timeout: Duration,
    /// How long a connection record read from the store is trusted before it is read
    /// again: the longest a connection revoked elsewhere keeps getting its credential
    /// injected (the token manager's own status recheck has the same default).
    pub connection_recheck: Duration,
    /// How long after a 401 made the proxy renew a connection's credential it answers
    /// the next 401 of that connection as it came, without renewing again: a sandbox
    /// calling an endpoint that never takes that kind of credential would otherwise
    /// renew it at every request (minting GitHub App installation tokens against the
    /// App's shared rate limit, rotating an OAuth refresh token).
    pub forced_refresh_interval: Duration,
    pub(crate) extra_roots: Vec<CertificateDer<'static>>,
    pub(crate) overrides: HashMap<String, UpstreamOverride>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            passthrough_hosts: Vec::new(),
            passthrough_ports: vec![443, 80],
            allow_private: false,
            allow_loopback: false,
            max_connections: 1024,
            max_connections_per_peer: 256,
            max_header_bytes: 64 * 1024,
            header_read_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(120),
            body_read_timeout: Duration::from_secs(30),
            leaf_ttl: Duration::from_secs(24 * 3600),
            shutdown_grace: Duration::from_secs(30),
            retry_body_limit: 64 * 1024,
            tunnel_idle_timeout: Duration::from_secs(300),
            connection_recheck: Duration::from_secs(5),
            forced_refresh_interval: Duration::from_secs(30),
            extra_roots: Vec::new(),
            overrides: HashMap::new(),
        }
    }
}

impl ProxyConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets the sandbox tunnel blind (no credential) to `host`.
    ///
    /// # Errors
    ///
    /// `egress.invalid_host` when it is not a host name.
    pub fn with_passthrough_host(mut self, host: &str) -> Result<Self, Error> {
        self.passthrough_hosts.push(normalize_host(host)?);
        Ok(self)
    }

    /// Sets the ports passthrough hosts are reached on (replacing the default 443 and
    /// 80).
    #[must_use]
    pub fn with_passthrough_ports(mut self, ports: impl IntoIterator<Item = u16>) -> Self {
        self.passthrough_ports = ports.into_iter().collect();
        self
    }

    /// Allows loopback destinations (tests and local demos).
    #[must_use]
    pub fn allow_loopback(mut self, allow: bool) -> Self {
        self.allow_loopback = allow;
        self
    }

    /// Allows private and link-local destinations.
    #[must_use]
    pub fn allow_private(mut self, allow: bool) -> Self {
        self.allow_private = allow;
        self
    }

    /// Sets the connection limit.
    #[must_use]
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Sets the connection limit per client address.
    #[must_use]
    pub fn with_max_connections_per_peer(mut self, max: usize) -> Self {
        self.max_connections_per_peer = max;
        self
    }

    /// Sets the connect timeout.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the response-head timeout.
    #[must_use]
    pub fn with_response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Sets how long a buffered request body may take to arrive.
    #[must_use]
    pub fn with_body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// Sets the shutdown grace period.
    #[must_use]
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Sets how long a blind tunnel may stay idle.
    #[must_use]
    pub fn with_tunnel_idle_timeout(mut self, timeout: Duration) -> Self {
        self.tunnel_idle_timeout = timeout;
        self
    }

    /// Sets how long a connection record is trusted before it is read again (zero reads
    /// it for every request).
    #[must_use]
    pub fn with_connection_recheck(mut self, interval: Duration) -> Self {
        self.connection_recheck = interval;
        self
    }

    /// Sets how long after a renewal a 401 renews the connection's credential again
    /// (see [`forced_refresh_interval`](Self::forced_refresh_interval)).
    #[must_use]
    pub fn with_forced_refresh_interval(mut self, interval: Duration) -> Self {
        self.forced_refresh_interval = interval;
        self
    }

    /// Trusts `cert` (DER) for upstreams, besides the webpki roots.
    #[must_use]
    pub fn with_extra_root(mut self, cert: CertificateDer<'static>) -> Self {
        self.extra_roots.push(cert);
        self
    }

    /// Sends requests for `host` to `addr` instead of resolving it (test hook).
    ///
    /// # Errors
    ///
    /// `egress.invalid_host` when it is not a host name.
    pub fn with_upstream_override(
        mut self,
        host: &str,
        over: UpstreamOverride,
    ) -> Result<Self, Error> {
        self.overrides.insert(normalize_host(host)?, over);
        Ok(self)
    }
}

impl UpstreamOverride {
    /// An upstream at `addr` speaking TLS with a certificate for the original host.
    pub fn tls(addr: SocketAddr) -> Self {
        Self {
            addr,
            plaintext: false,
        }
    }

    /// An upstream at `addr` speaking plain HTTP.
    pub fn plaintext(addr: SocketAddr) -> Self {
        Self {
            addr,
            plaintext: true,
        }
    }
}
