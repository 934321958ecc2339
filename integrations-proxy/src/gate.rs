//! The adapter between the proxy and the egress engine: every call into
//! `integrations_core::egress` is in this file. A [`PlanState`] is one plan as served:
//! its route index and gate, the hosts it intercepts, and the sandbox's grants checked
//! against it.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use integrations_core::egress::{
    EgressGate, GRANT_HEADER, GrantAudience, GrantKeys, RouteIndex, apply_credential,
    normalize_host,
};
use integrations_core::host::Clock;
use integrations_core::plan::{CompiledRoute, CompiledRuntimePlan};
use integrations_core::{Error, Secret, TenantId, Timestamp};

use crate::refusal::Refusal;

/// The most grants one set of proxy credentials may carry.
const MAX_GRANTS: usize = 16;

/// Separates grants in the password of the proxy credentials.
pub const GRANT_SEPARATOR: char = '~';

/// The grants a sandbox presented as proxy credentials. `Debug` is redacted.
#[derive(Clone)]
pub(crate) struct Grants(Vec<Secret>);

impl std::fmt::Debug for Grants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Grants([{} REDACTED])", self.0.len())
    }
}

impl Grants {
    /// Reads `Proxy-Authorization: Basic base64(user:grant[~grant...])`.
    pub(crate) fn from_header(value: Option<&HeaderValue>) -> Result<Self, Refusal> {
        let missing = || {
            Refusal::auth_required(
                crate::codes::refusal::AUTH_REQUIRED,
                "send the egress grant as proxy credentials (HTTPS_PROXY=http://sandbox:GRANT@host:port)",
            )
        };
        let malformed = || {
            Refusal::auth_required(
                crate::codes::refusal::AUTH_MALFORMED,
                "the proxy credentials are not Basic user:grant",
            )
        };
        let value = value.ok_or_else(missing)?;
        let value = value.to_str().map_err(|_| malformed())?;
        let (scheme, encoded) = value.trim().split_once(' ').ok_or_else(malformed)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(malformed());
        }
        let decoded = STANDARD
            .decode(encoded.trim())
            .map_err(|_| malformed())
            .and_then(|bytes| String::from_utf8(bytes).map_err(|_| malformed()))?;
        let decoded = Secret::new(decoded);
        let (_user, password) = decoded.expose().split_once(':').ok_or_else(malformed)?;
        let grants: Vec<Secret> = password
            .split(GRANT_SEPARATOR)
            .filter(|g| !g.is_empty())
            .map(Secret::new)
            .collect();
        if grants.is_empty() {
            return Err(missing());
        }
        if grants.len() > MAX_GRANTS {
            return Err(malformed());
        }
        Ok(Self(grants))
    }
}

/// One plan as the proxy serves it.
#[derive(Debug)]
pub(crate) struct PlanState {
    tenant: TenantId,
    hash: String,
    gate: EgressGate,
    keys: GrantKeys,
    /// Managed host -> the upstream ports its routes use.
    managed: BTreeMap<String, BTreeSet<u16>>,
}

impl PlanState {
    pub(crate) fn new(plan: &CompiledRuntimePlan, keys: GrantKeys) -> Result<Self, Error> {
        let index = RouteIndex::from_plan(plan)?;
        let mut managed: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
        for route in index.routes() {
            let upstream: Uri = route.upstream.parse().map_err(|_| {
                integrations_core::codes::egress::INVALID_UPSTREAM.error(format!(
                    "route {} has an upstream that is not a URL",
                    route.id
                ))
            })?;
            let port = upstream
                .port_u16()
                .unwrap_or(if upstream.scheme_str() == Some("http") {
                    80
                } else {
                    443
                });
            // Normalized as the route index matches them (`API.Example.com.` is
            // `api.example.com`); the index has accepted every one already.
            for host in &route.matcher.hosts {
                managed
                    .entry(normalize_host(host)?)
                    .or_default()
                    .insert(port);
            }
        }
        Ok(Self {
            tenant: plan.tenant.clone(),
            hash: plan.hash(),
            gate: EgressGate::new(index, keys.clone(), GrantAudience::for_plan(plan)),
            keys,
            managed,
        })
    }

    pub(crate) fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    pub(crate) fn hash(&self) -> &str {
        &self.hash
    }

    /// The upstream ports of a managed host; `None` when no route names it.
    pub(crate) fn managed_ports(&self, host: &str) -> Option<&BTreeSet<u16>> {
        self.managed.get(host)
    }

    /// Checks that a grant verifies (signature, times) and is for this plan's sandbox
    /// (its audience) before a tunnel opens or a plain-HTTP request goes on: any one
    /// will do, as for [`authorize`](Self::authorize), which decides what each request
    /// may use. A blind tunnel or a passthrough request is never authorized further, so
    /// a grant of another tenant or plan, signed with the same keys, must stop here.
    ///
    /// Returns when the last of the grants that verify expires: a blind tunnel closes
    /// then. When none verifies, the first grant's reason is the refusal.
    pub(crate) fn verify(&self, grants: &Grants, clock: &dyn Clock) -> Result<Timestamp, Refusal> {
        let mut first = None;
        let mut last_expiry = None;
        for grant in &grants.0 {
            match self.keys.verify(grant.expose(), clock) {
                Ok(claims) if claims.audience == *self.gate.audience() => {
                    last_expiry = last_expiry.max(Some(claims.expires_at));
                }
                Ok(_) => {
                    first.get_or_insert_with(|| {
                        integrations_core::codes::egress::GRANT_AUDIENCE
                            .error("the egress grant was issued for another tenant or plan")
                    });
                }
                Err(error) => {
                    first.get_or_insert(error);
                }
            }
        }
        if let Some(expiry) = last_expiry {
            return Ok(expiry);
        }
        Err(first.map_or_else(
            || Refusal::auth_required(crate::codes::refusal::AUTH_REQUIRED, "no egress grant"),
            |e| Refusal::from_error(&e),
        ))
    }

    /// The route one of `grants` authorizes for `method https://host{path}`.
    pub(crate) fn authorize(
        &self,
        method: &Method,
        host: &str,
        path_and_query: &str,
        grants: &Grants,
        clock: &dyn Clock,
    ) -> Result<&CompiledRoute, Refusal> {
        let uri = format!("https://{}{path_and_query}", uri_host(host));
        let mut best: Option<Error> = None;
        for grant in &grants.0 {
            let Ok(header) = HeaderValue::from_str(grant.expose()) else {
                // One bad grant does not spoil the others.
                best.get_or_insert_with(|| {
                    integrations_core::codes::egress::GRANT_INVALID
                        .error("the egress grant is not valid")
                });
                continue;
            };
            let probe = Request::builder()
                .method(method.clone())
                .uri(uri.as_str())
                .header(GRANT_HEADER, header)
                .body(())
                .map_err(|_| {
                    Refusal::new(
                        StatusCode::BAD_REQUEST,
                        integrations_core::codes::egress::INVALID_REQUEST,
                        "the request URL is not valid",
                    )
                })?;
            match self.gate.authorize(&probe, clock) {
                Ok(route) => return Ok(route),
                Err(error) => {
                    let rank = |e: &Error| match e.code() {
                        "egress.ambiguous_route" => 3,
                        "egress.grant_scope" => 2,
                        "egress.invalid_request" => 1,
                        _ => 0,
                    };
                    if best.as_ref().is_none_or(|b| rank(&error) > rank(b)) {
                        best = Some(error);
                    }
                }
            }
        }
        Err(best.map_or_else(
            || Refusal::auth_required(crate::codes::refusal::AUTH_REQUIRED, "no egress grant"),
            |e| Refusal::from_error(&e),
        ))
    }
}

/// `request` (its URI absolute, its body empty) readied for the route's upstream with
/// `credential` injected and every caller credential stripped; the body is attached by
/// the caller, so it streams.
pub(crate) fn prepare(
    request: Request<Bytes>,
    route: &CompiledRoute,
    credential: &Secret,
) -> Result<http::request::Parts, Refusal> {
    apply_credential(request, route, credential)
        .map(|r| r.into_parts().0)
        .map_err(|e| Refusal::from_error(&e))
}

/// A normalized host as a URL names it: an IPv6 address in brackets (`[::1]`).
pub(crate) fn uri_host(host: &str) -> std::borrow::Cow<'_, str> {
    if host.contains(':') {
        format!("[{host}]").into()
    } else {
        host.into()
    }
}

/// The normalized host of an authority, or a refusal.
pub(crate) fn host_of(authority: &str) -> Result<String, Refusal> {
    normalize_host(authority).map_err(|e| Refusal::from_error(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(text: &str) -> HeaderValue {
        HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(text))).unwrap()
    }

    #[test]
    fn proxy_credentials_parse_and_stay_redacted() {
        let grants = Grants::from_header(Some(&basic("sandbox:v1.k.a.b~v1.k.c.d"))).unwrap();
        assert_eq!(grants.0.len(), 2);
        assert_eq!(format!("{grants:?}"), "Grants([2 REDACTED])");
        assert_eq!(
            Grants::from_header(None).unwrap_err().code,
            "proxy.auth_required"
        );
        assert_eq!(
            Grants::from_header(Some(&basic("sandbox:")))
                .unwrap_err()
                .code,
            "proxy.auth_required"
        );
        let bearer = HeaderValue::from_static("Bearer abc");
        assert_eq!(
            Grants::from_header(Some(&bearer)).unwrap_err().code,
            "proxy.auth_malformed"
        );
    }
}
