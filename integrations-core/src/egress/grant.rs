//! Signed, scoped, expiring egress grants.
//!
//! A grant authorizes one sandbox to use one route: it names the route, its binding and
//! connection, the scope (hosts, methods, path prefixes) it may reach and its audience
//! (the tenant and the hash of the compiled plan the sandbox runs, so a grant issued for
//! one tenant's or one plan's sandbox is refused by a proxy serving another), and it
//! expires. The control plane issues one per route when the sandbox starts; the proxy
//! outside the sandbox verifies it before it injects anything, and never trusts any
//! other header to choose the route or the credential.
//!
//! Format: `v1.<key id>.<claims>.<mac>`, where `<claims>` is the base64url (no padding)
//! canonical JSON of [`GrantClaims`] and `<mac>` the base64url HMAC-SHA256, under the
//! key named by `<key id>`, of `v1.<key id>.<claims>`. Several keys may verify at once,
//! so keys rotate without invalidating grants in flight.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::matcher::{Matcher, RequestTarget};
use crate::host::Clock;
use crate::plan::{CompiledRoute, CompiledRuntimePlan, RouteId, RouteMatch, to_canonical};
use crate::{BindingId, ConnectionId, Error, Secret, TenantId, Timestamp};

/// The request header that carries a grant from the sandbox to the proxy. The proxy
/// strips it before forwarding.
pub const GRANT_HEADER: &str = "x-integrations-egress-grant";

/// The longest grant lifetime [`GrantClaims::for_route`] accepts: 24 hours.
pub const MAX_GRANT_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The clock skew tolerated on `issued_at`.
const ISSUED_AT_SKEW: Duration = Duration::from_secs(60);

/// The longest token accepted, in bytes.
const MAX_TOKEN_LEN: usize = 16 * 1024;

const VERSION: &str = "v1";

type HmacSha256 = Hmac<Sha256>;

fn grant_invalid() -> Error {
    crate::codes::egress::GRANT_INVALID.error("the egress grant is not valid")
}

fn grant_scope(why: &'static str) -> Error {
    crate::codes::egress::GRANT_SCOPE.error(why)
}

/// Who a grant is for: the sandbox of one tenant running one compiled plan. A proxy
/// ([`EgressGate`](super::EgressGate)) refuses grants of any other audience.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GrantAudience {
    /// The tenant.
    pub tenant: TenantId,
    /// The [`hash`](CompiledRuntimePlan::hash) of the compiled plan.
    pub plan_hash: String,
}

impl GrantAudience {
    /// An audience from its parts.
    pub fn new(tenant: TenantId, plan_hash: impl Into<String>) -> Self {
        Self {
            tenant,
            plan_hash: plan_hash.into(),
        }
    }

    /// The audience of `plan`'s sandbox: its tenant and its hash.
    pub fn for_plan(plan: &CompiledRuntimePlan) -> Self {
        Self::new(plan.tenant.clone(), plan.hash())
    }
}

/// What a grant allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GrantClaims {
    /// Who the grant is for.
    pub audience: GrantAudience,
    /// The route.
    pub route: RouteId,
    /// The route's binding.
    pub binding: BindingId,
    /// The route's connection.
    pub connection: ConnectionId,
    /// The hosts the grant reaches.
    pub hosts: Vec<String>,
    /// The methods it allows; empty means every method.
    pub methods: Vec<String>,
    /// The path prefixes it reaches.
    pub path_prefixes: Vec<String>,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// When it stops being valid.
    pub expires_at: Timestamp,
}

impl GrantClaims {
    /// Claims for `route` of the sandbox `audience`, with the route's full scope, valid
    /// for `ttl` from `now`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) (`egress.grant_ttl`) unless `ttl` is more than zero and
    /// at most [`MAX_GRANT_TTL`]; the matcher's errors for a route that is not valid.
    pub fn for_route(
        route: &CompiledRoute,
        audience: &GrantAudience,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Self, Error> {
        if ttl.is_zero() || ttl > MAX_GRANT_TTL {
            return Err(crate::codes::egress::GRANT_TTL
                .error("a grant lives more than zero and at most 24 hours"));
        }
        let matcher = Matcher::new(&route.matcher)?;
        Ok(Self {
            audience: audience.clone(),
            route: route.id.clone(),
            binding: route.binding.clone(),
            connection: route.connection.clone(),
            hosts: matcher.hosts().to_vec(),
            methods: matcher.methods().to_vec(),
            path_prefixes: matcher.path_prefixes().to_vec(),
            issued_at: now,
            expires_at: now.saturating_add(ttl),
        })
    }

    /// Narrows the methods (for a grant that may only read, say).
    #[must_use]
    pub fn with_methods<I, S>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.methods = methods.into_iter().map(Into::into).collect();
        self
    }

    /// Narrows the path prefixes.
    #[must_use]
    pub fn with_path_prefixes<I, S>(mut self, prefixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.path_prefixes = prefixes.into_iter().map(Into::into).collect();
        self
    }

    /// The grant's scope as the canonical matcher.
    ///
    /// # Errors
    ///
    /// The matcher's errors when the scope is not valid.
    pub fn scope(&self) -> Result<Matcher, Error> {
        let mut spec = RouteMatch::default();
        spec.hosts.clone_from(&self.hosts);
        spec.methods.clone_from(&self.methods);
        spec.path_prefixes.clone_from(&self.path_prefixes);
        Matcher::new(&spec)
    }

    /// Checks that `target` is within the grant's scope, with the canonical matcher.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PermissionDenied`](crate::ErrorKind::PermissionDenied) (`egress.grant_scope`) when it is not, or the
    /// scope is not valid.
    pub fn check_scope(&self, target: &RequestTarget) -> Result<(), Error> {
        let scope = self
            .scope()
            .map_err(|_| grant_scope("the grant's scope is not valid"))?;
        if !scope.names_host(target.host()) {
            return Err(grant_scope("the grant does not reach this host"));
        }
        if !scope.allows_method(target.method()) {
            return Err(grant_scope("the grant does not allow this method"));
        }
        if !scope.covers_path(target.path()) {
            return Err(grant_scope("the grant does not reach this path"));
        }
        Ok(())
    }
}

/// A signed grant. Its `Debug` is redacted: the token authorizes credential use.
#[derive(Clone)]
pub struct GrantToken(Secret);

impl GrantToken {
    /// The token, to put in the [`GRANT_HEADER`] header.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for GrantToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GrantToken([REDACTED])")
    }
}

/// A grant signing key with its id. Its `Debug` shows only the id.
#[derive(Clone)]
pub struct GrantKey {
    id: String,
    secret: Zeroizing<Vec<u8>>,
}

impl GrantKey {
    /// A key. The id is 1 to 64 ASCII letters, digits, `-` or `_`; the secret at least
    /// 32 bytes.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) (`egress.invalid_key`) otherwise.
    pub fn new(id: impl Into<String>, secret: impl Into<Vec<u8>>) -> Result<Self, Error> {
        let id = id.into();
        let secret = Zeroizing::new(secret.into());
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok || secret.len() < 32 {
            return Err(crate::codes::egress::INVALID_KEY.error(
                "a grant key has an id of 1 to 64 letters, digits, - or _ and at least 32 bytes",
            ));
        }
        Ok(Self { id, secret })
    }

    /// A key of 32 random bytes.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new); [`ErrorKind::Crypto`](crate::ErrorKind::Crypto) (`egress.random_failed`) when the
    /// system has no randomness.
    pub fn generate(id: impl Into<String>) -> Result<Self, Error> {
        let mut secret = Zeroizing::new(vec![0_u8; 32]);
        getrandom::fill(&mut secret).map_err(|_| {
            crate::codes::egress::RANDOM_FAILED.error("the system has no randomness")
        })?;
        Self::new(id, secret.to_vec())
    }

    /// The key id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn mac(&self) -> HmacSha256 {
        match HmacSha256::new_from_slice(&self.secret) {
            Ok(mac) => mac,
            // HMAC takes keys of any length.
            Err(_) => unreachable!("HMAC accepts every key length"),
        }
    }
}

impl fmt::Debug for GrantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The keys that sign and verify grants: the current key signs; it and every previous
/// key verify.
///
/// ```
/// use std::time::Duration;
/// use integrations_core::egress::{GrantKey, GrantKeys};
///
/// let keys = GrantKeys::new(GrantKey::new("2026-11", [7_u8; 32])?)
///     .with_previous(GrantKey::new("2026-10", [8_u8; 32])?)?;
/// assert_eq!(keys.current_id(), "2026-11");
/// # Ok::<(), integrations_core::Error>(())
/// ```
#[derive(Clone)]
pub struct GrantKeys {
    current: String,
    keys: BTreeMap<String, GrantKey>,
}

impl fmt::Debug for GrantKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantKeys")
            .field("current", &self.current)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl GrantKeys {
    /// Keys that sign with `current`.
    pub fn new(current: GrantKey) -> Self {
        let id = current.id.clone();
        Self {
            current: id.clone(),
            keys: BTreeMap::from([(id, current)]),
        }
    }

    /// Adds a key that still verifies but no longer signs.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) (`egress.duplicate_key`) when the id is taken.
    pub fn with_previous(mut self, key: GrantKey) -> Result<Self, Error> {
        if self.keys.contains_key(&key.id) {
            return Err(crate::codes::egress::DUPLICATE_KEY
                .error(format!("a grant key with id {} is already present", key.id)));
        }
        self.keys.insert(key.id.clone(), key);
        Ok(self)
    }

    /// The id of the signing key.
    pub fn current_id(&self) -> &str {
        &self.current
    }

    /// Signs `claims`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Internal`](crate::ErrorKind::Internal) if the claims do not serialize (they always do).
    pub fn issue(&self, claims: &GrantClaims) -> Result<GrantToken, Error> {
        let key = self
            .keys
            .get(&self.current)
            .ok_or_else(|| Error::internal("the current grant key is missing"))?;
        let json =
            to_canonical(claims).map_err(|_| Error::internal("grant claims do not serialize"))?;
        let signed = format!("{VERSION}.{}.{}", key.id, URL_SAFE_NO_PAD.encode(json));
        let mut mac = key.mac();
        mac.update(signed.as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        Ok(GrantToken(Secret::new(format!("{signed}.{tag}"))))
    }

    /// Issues a grant for `route` of the sandbox `audience`, with the route's full scope,
    /// valid for `ttl` from the clock's now.
    ///
    /// # Errors
    ///
    /// As [`GrantClaims::for_route`] and [`issue`](Self::issue).
    pub fn issue_for_route(
        &self,
        route: &CompiledRoute,
        audience: &GrantAudience,
        clock: &dyn Clock,
        ttl: Duration,
    ) -> Result<GrantToken, Error> {
        self.issue(&GrantClaims::for_route(route, audience, clock.now(), ttl)?)
    }

    /// Verifies a token: its format, its signature (in constant time) under one of the
    /// keys, then its times against the clock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Verification`](crate::ErrorKind::Verification): `egress.grant_invalid` for a malformed token, an
    /// unknown key, a wrong signature or an issue time in the future;
    /// `egress.grant_expired` once `expires_at` has passed. No error contains the token
    /// or a key.
    pub fn verify(&self, token: &str, clock: &dyn Clock) -> Result<GrantClaims, Error> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(grant_invalid());
        }
        let mut parts = token.split('.');
        let (Some(version), Some(key_id), Some(payload), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(grant_invalid());
        };
        if version != VERSION {
            return Err(grant_invalid());
        }
        let key = self.keys.get(key_id).ok_or_else(grant_invalid)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| grant_invalid())?;
        let signed_len = token.len() - tag_len(token);
        let mut mac = key.mac();
        mac.update(&token.as_bytes()[..signed_len]);
        mac.verify_slice(&tag).map_err(|_| grant_invalid())?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| grant_invalid())?;
        let claims: GrantClaims = serde_json::from_slice(&json).map_err(|_| grant_invalid())?;
        let now = clock.now();
        if claims.issued_at > now.saturating_add(ISSUED_AT_SKEW) {
            return Err(grant_invalid());
        }
        if now >= claims.expires_at {
            return Err(crate::codes::egress::GRANT_EXPIRED.error("the egress grant has expired"));
        }
        Ok(claims)
    }
}

/// The length of `.<tag>` at the end of a token that has four parts.
fn tag_len(token: &str) -> usize {
    token.rfind('.').map_or(0, |i| token.len() - i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_len_counts_the_dot() {
        assert_eq!(tag_len("v1.k.p.abc"), 4);
    }

    #[test]
    fn keys_are_validated_and_debug_shows_only_ids() {
        assert!(GrantKey::new("k", [0_u8; 31]).is_err());
        assert!(GrantKey::new("bad id", [0_u8; 32]).is_err());
        let key = GrantKey::new("k1", b"0123456789abcdef0123456789abcdef".to_vec()).unwrap();
        assert_eq!(format!("{key:?}"), "GrantKey { id: \"k1\", .. }");
        let keys = GrantKeys::new(key.clone());
        assert_eq!(
            keys.with_previous(key).unwrap_err().code(),
            "egress.duplicate_key"
        );
        assert_ne!(
            GrantKey::generate("a").unwrap().secret,
            GrantKey::generate("b").unwrap().secret
        );
    }
}
