//! Egress: which outbound request gets which credential.
//!
//! A compiled plan's routes say which requests of the sandbox a proxy outside it
//! authorizes, and with which connection's credential. Three things decide, and all
//! three use the one canonical [`Matcher`]:
//!
//! * the compiler rejects overlapping routes ([`overlapping_pairs`]);
//! * the proxy classifies a request ([`RouteIndex::classify`]): one route, no route (no
//!   credential), or several (ambiguous: it fails closed, no credential);
//! * the proxy checks the request against the sandbox's signed grant: its audience (the
//!   tenant and plan hash the proxy serves) and its scope ([`GrantClaims::check_scope`]).
//!
//! Then [`EgressGate::inject`] checks that the connection loaded for the route is the
//! route's, in the gate's tenant, and [`inject`] fetches the credential through a
//! [`CredentialSource`] (the token manager) and puts it on the request after stripping
//! hop-by-hop headers and every credential the caller supplied.
//!
//! ```no_run
//! # use bytes::Bytes;
//! # use integrations_core::credential::CredentialSource;
//! # use integrations_core::egress::EgressGate;
//! # use integrations_core::host::Clock;
//! # use integrations_core::model::Connection;
//! # async fn forward(
//! #     gate: &EgressGate,
//! #     request: http::Request<Bytes>,
//! #     clock: &dyn Clock,
//! #     load: impl Fn(&integrations_core::ConnectionId) -> Connection,
//! #     credentials: &dyn CredentialSource,
//! # ) -> Result<http::Request<Bytes>, integrations_core::Error> {
//! let route = gate.authorize(&request, clock)?;       // grant, classification, scope
//! let connection = load(&route.connection);          // from the host's store
//! gate.inject(request, route, &connection, credentials).await
//! # }
//! ```

mod grant;
mod index;
mod inject;
mod matcher;

pub use grant::{
    GRANT_HEADER, GrantAudience, GrantClaims, GrantKey, GrantKeys, GrantToken, MAX_GRANT_TTL,
};
pub use index::{Classification, RouteIndex, overlapping_pairs};
pub use inject::{apply_credential, check_connection, inject};
pub use matcher::{
    AMBIGUOUS_PATH, Matcher, RequestTarget, normalize_host, normalize_method,
    normalize_path_prefix, path_has_prefix,
};

use bytes::Bytes;
use http::Request;

use crate::Error;
use crate::credential::CredentialSource;
use crate::host::Clock;
use crate::model::Connection;
use crate::plan::{CompiledRoute, CompiledRuntimePlan};

/// What a proxy checks before it injects anything: the grant the sandbox presents, the
/// route the request classifies to, and the grant's scope.
#[derive(Debug)]
pub struct EgressGate {
    index: RouteIndex,
    keys: GrantKeys,
    audience: GrantAudience,
}

impl EgressGate {
    /// A gate over a plan's routes that trusts grants signed by `keys` for `audience`
    /// (the tenant and hash of the plan whose routes `index` holds).
    pub fn new(index: RouteIndex, keys: GrantKeys, audience: GrantAudience) -> Self {
        Self {
            index,
            keys,
            audience,
        }
    }

    /// A gate over `plan`'s routes, trusting grants signed by `keys` for `plan`'s
    /// [audience](GrantAudience::for_plan).
    ///
    /// # Errors
    ///
    /// As [`RouteIndex::from_plan`].
    pub fn for_plan(plan: &CompiledRuntimePlan, keys: GrantKeys) -> Result<Self, Error> {
        Ok(Self::new(
            RouteIndex::from_plan(plan)?,
            keys,
            GrantAudience::for_plan(plan),
        ))
    }

    /// The audience whose grants this gate accepts.
    pub fn audience(&self) -> &GrantAudience {
        &self.audience
    }

    /// The route index.
    pub fn index(&self) -> &RouteIndex {
        &self.index
    }

    /// The route whose credential `request` may receive.
    ///
    /// The request must carry exactly one [`GRANT_HEADER`] that verifies and names this
    /// gate's audience; classify to exactly the grant's route (same id, binding and
    /// connection); and fall within the grant's scope.
    ///
    /// # Errors
    ///
    /// `egress.ambiguous_path` (an encoded slash, encoded dot segment or `//` in the
    /// path: refused, never forwarded with a credential),
    /// `egress.grant_invalid` (missing, several or bad grant headers included),
    /// `egress.grant_expired`, `egress.grant_audience` (a grant for another tenant or
    /// plan), `egress.grant_scope` (the request is outside the grant or
    /// classifies to another route or none), `egress.ambiguous_route` (several routes
    /// match: fail closed), `egress.invalid_request` (no host or a bad method).
    pub fn authorize<B>(
        &self,
        request: &Request<B>,
        clock: &dyn Clock,
    ) -> Result<&CompiledRoute, Error> {
        let mut headers = request.headers().get_all(GRANT_HEADER).iter();
        let (Some(header), None) = (headers.next(), headers.next()) else {
            return Err(crate::codes::egress::GRANT_INVALID
                .error("the request must carry exactly one egress grant"));
        };
        let token = header.to_str().map_err(|_| {
            crate::codes::egress::GRANT_INVALID.error("the egress grant is not valid")
        })?;
        let claims = self.keys.verify(token, clock)?;
        if claims.audience != self.audience {
            return Err(crate::codes::egress::GRANT_AUDIENCE
                .error("the egress grant was issued for another tenant or plan"));
        }
        let target = RequestTarget::from_request(request).map_err(|e| {
            if e.code() == AMBIGUOUS_PATH {
                return e;
            }
            crate::codes::egress::INVALID_REQUEST
                .with_issues(
                    format!(
                        "the request names no valid host, method or path: {}",
                        e.message()
                    ),
                    Vec::new(),
                )
                .with_source(e)
        })?;
        claims.check_scope(&target)?;
        match self.index.classify_target(&target) {
            Classification::Route(route)
                if route.id == claims.route
                    && route.binding == claims.binding
                    && route.connection == claims.connection =>
            {
                Ok(route)
            }
            Classification::Ambiguous(_) => Err(crate::codes::egress::AMBIGUOUS_ROUTE
                .error("several routes match the request; no credential is injected")),
            _ => Err(crate::codes::egress::GRANT_SCOPE
                .error("the request does not fall under the grant's route")),
        }
    }

    /// [`inject`]s the credential of `connection` into `request` for `route` (a route
    /// [`authorize`](Self::authorize) returned), after checking that `connection` is in
    /// this gate's tenant: a loader that looks connections up by id alone cannot hand
    /// over another tenant's connection of the same id.
    ///
    /// # Errors
    ///
    /// `egress.connection_mismatch` when `connection` belongs to another tenant than
    /// the gate's audience, or is not the route's; the errors of [`inject`].
    pub async fn inject(
        &self,
        request: Request<Bytes>,
        route: &CompiledRoute,
        connection: &Connection,
        credentials: &dyn CredentialSource,
    ) -> Result<Request<Bytes>, Error> {
        if connection.tenant != self.audience.tenant {
            return Err(crate::codes::egress::CONNECTION_MISMATCH.error(format!(
                "route {} injects the credential of a connection of another tenant",
                route.id
            )));
        }
        inject(request, route, connection, credentials).await
    }
}
