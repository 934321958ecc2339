//! The catalogue of the error codes of this crate: those its API returns as errors
//! ([`proxy`]), and those of its refusals ([`refusal`]: the code in the
//! `x-integrations-error` header and the JSON body of a request the proxy does not
//! forward, each with the status the README's proxy section lists). A refusal may also
//! carry a code of another catalogue: an egress grant's or route's (`egress.*`), a
//! connection's (`auth.*`), a credential source's.

integrations_core::error_codes! {
    /// Codes of the egress proxy.
    pub mod proxy {
        BIND_FAILED = "proxy.bind_failed", Configuration, "The proxy cannot listen on the address it was given.";
        CA_GENERATE = "proxy.ca_generate", Configuration, "The proxy's certificate authority could not be generated.";
        CA_INVALID = "proxy.ca_invalid", Configuration, "The certificate authority's certificate or key is not valid PEM.";
        INVALID_ROOT = "proxy.invalid_root", Configuration, "An extra upstream root certificate is not valid.";
        LEAF_MINT = "proxy.leaf_mint", Configuration, "A certificate for an intercepted host could not be made.";
        OUTCOME_UNKNOWN = "proxy.outcome_unknown", Unavailable, "The outcome of a `credential.used` audit record: the request was sent with the credential, and the sandbox went away before the upstream answered.";
    }
    /// Codes of the proxy's refusals, with the status each is answered with.
    pub mod refusal {
        AUTH_MALFORMED = "proxy.auth_malformed", Verification, "The proxy credentials are not `Basic` user:grant (407).";
        AUTH_REQUIRED = "proxy.auth_required", Verification, "The request carries no egress grant as proxy credentials (`HTTPS_PROXY=http://sandbox:GRANT@host:port`) (407).";
        BAD_CONNECT = "proxy.bad_connect", InvalidInput, "A CONNECT request does not name `host:port` (400).";
        BODY_FAILED = "proxy.body_failed", InvalidInput, "The request body could not be read (400).";
        BODY_TIMEOUT = "proxy.body_timeout", InvalidInput, "A request body the proxy buffers (to retry it after a 401) did not arrive within `body_read_timeout` (408).";
        DESTINATION_PRIVATE = "proxy.destination_private", PermissionDenied, "The destination is a loopback, private or link-local address, which the proxy does not reach unless configured to (403).";
        HOST_MISMATCH = "proxy.host_mismatch", PermissionDenied, "A request inside a tunnel names another host or port than the tunnel's CONNECT, or a plain-HTTP request's `Host` another than its URL (403).";
        HOST_NOT_ALLOWED = "proxy.host_not_allowed", PermissionDenied, "The plan has no route or passthrough for the host (403).";
        METHOD_REFUSED = "proxy.method_refused", PermissionDenied, "`TRACE`, `TRACK` and `CONNECT` are never sent with a credential: an upstream would echo the request, credential included, back to the sandbox (405).";
        NOT_A_PROXY_REQUEST = "proxy.not_a_proxy_request", InvalidInput, "The request is neither CONNECT `host:port` nor an absolute `http://` URL (400).";
        PORT_NOT_ALLOWED = "proxy.port_not_allowed", PermissionDenied, "The routes of the host do not use the port asked for, or a passthrough host is asked for on a port `ProxyConfig::passthrough_ports` does not list (403).";
        RESOLVE_FAILED = "proxy.resolve_failed", Unavailable, "The destination host could not be resolved, or has no address (502).";
        SECRET_IN_RESPONSE = "proxy.secret_in_response", PermissionDenied, "The upstream's response headers hold the injected credential (a redirect keeping a query-injected key, say); the response is not passed on (502).";
        SNI_MISMATCH = "proxy.sni_mismatch", PermissionDenied, "The TLS server name differs from the CONNECT host; no upstream was contacted (421).";
        STORE_FAILED = "proxy.store_failed", Storage, "The connection store failed while the proxy looked up a route's connection (502).";
        TOO_MANY_CONNECTIONS = "proxy.too_many_connections", Unavailable, "The proxy is serving as many connections as it may, in all or from the client's address (503).";
        UPSTREAM_FAILED = "proxy.upstream_failed", Unavailable, "The upstream connection failed (502).";
        UPSTREAM_TIMEOUT = "proxy.upstream_timeout", Unavailable, "The upstream did not answer in time (504).";
        UPSTREAM_UNREACHABLE = "proxy.upstream_unreachable", Unavailable, "The upstream or passthrough destination could not be reached (502).";
    }
}
