//! Routing a delivery: the candidate connections (by endpoint key, by subject, or the
//! single target), verification against each candidate's secrets where the payload is
//! not needed, and the checks of the target a delivery routes to.

use std::sync::Arc;

use super::Ingest;
use crate::definition::webhook::{Verified, WebhookSource, errors};
use crate::host::ConnectionQuery;
use crate::model::{Connection, ConnectionStatus, Target};
use crate::provider::webhook::{InboundRequest, Routing};
use crate::{DefinitionKey, Error, ErrorKind, Secret, Timestamp};

/// The most connections whose own signing secrets are tried before a single-target
/// delivery is read; with more, it is routed first and verified after.
const MAX_CONNECTIONS_VERIFIED_BEFORE_READING: usize = 16;

/// The largest body of a probe on an app-level route (a handshake naming no subject),
/// which is verified against every enabled target of the integration. Slack's
/// `url_verification` and a GitHub App's `ping` are a few kB.
const APP_LEVEL_PROBE_MAX_BYTES: usize = 64 * 1024;

impl Ingest {
    /// Checks the signature before the payload is read, when the secrets it can be
    /// signed with are known without it: the route's endpoint key names the candidate
    /// connections, or the definition has a single target. Every secret of every such
    /// candidate is tried, so a failure here is a failure whichever candidate the payload
    /// routes to; a success is checked again against the connection it routes to.
    ///
    /// Otherwise (several targets, no endpoint key) nothing is checked here, and routing
    /// reads only the routing fields of the payload.
    ///
    /// The secret that passed, when something was checked, spares the check after
    /// routing a second HMAC of the body.
    pub(super) async fn verify_before_reading(
        &self,
        source: &WebhookSource,
        request: &InboundRequest<'_>,
        now: Timestamp,
    ) -> Result<Option<Passed>, Error> {
        let candidates = match request.endpoint {
            Some(endpoint) => Some(self.endpoint_candidates(request.key, endpoint).await?),
            None => self.single_target_candidates(source, request.key).await?,
        };
        let Some((targets, connections)) = candidates else {
            return Ok(None);
        };
        // A candidate whose secrets cannot be read (a store error, credentials sealed
        // under a retired key) does not stop the deliveries the others sign; one that
        // none of the secrets read verifies gets that candidate's trouble as its answer
        // (the provider retries it), since it may be signed with the unread secret.
        let mut secrets = Vec::new();
        let mut unread = None;
        for target in &targets {
            match self.target_secrets(source, target) {
                Ok(found) => secrets.extend(found),
                Err(error) => {
                    unread.get_or_insert(error);
                }
            }
        }
        for connection in &connections {
            match self.connection_secrets(source, connection, now).await {
                Ok(found) => secrets.extend(found),
                Err(error) => {
                    unread.get_or_insert(error);
                }
            }
        }
        let verified = match source
            .scheme()
            .verify(request.headers, request.body, &secrets, now)
        {
            Ok(verified) => verified,
            Err(refused) => return Err(unread.unwrap_or(refused)),
        };
        let secret = secrets.swap_remove(verified.secret_index);
        Ok(Some(Passed { secret, verified }))
    }

    /// The connections an endpoint key names, and their targets.
    pub(super) async fn endpoint_candidates(
        &self,
        key: &DefinitionKey,
        endpoint: &str,
    ) -> Result<(Vec<Arc<Target>>, Vec<Connection>), Error> {
        let query = ConnectionQuery::by_endpoint(key.clone(), endpoint);
        let mut candidates = self.host.connections().find_connections(&query).await?;
        candidates.retain(|c| query.matches(c));
        if candidates.is_empty() {
            return Err(no_live_connection());
        }
        let mut targets: Vec<Arc<Target>> = Vec::new();
        let mut missing = None;
        for connection in &candidates {
            if targets
                .iter()
                .any(|t| t.tenant == connection.tenant && t.id == connection.target)
            {
                continue;
            }
            match self.target(connection).await {
                Ok(target) => targets.push(target),
                Err(error) => missing = Some(error),
            }
        }
        // No candidate's target exists: the answer routing would give.
        if let (true, Some(error)) = (targets.is_empty(), missing) {
            return Err(error);
        }
        Ok((targets, candidates))
    }

    /// The only target of `key`, and its connections when they can hold signing
    /// secrets; `None` when the definition has several targets (or none).
    pub(super) async fn single_target_candidates(
        &self,
        source: &WebhookSource,
        key: &DefinitionKey,
    ) -> Result<Option<(Vec<Arc<Target>>, Vec<Connection>)>, Error> {
        let mut targets = self.host.targets().find_targets(key).await?;
        targets.retain(|t| &t.key == key);
        if targets.len() != 1 {
            return Ok(None);
        }
        let mut connections = Vec::new();
        if source.connection_credential().is_some() {
            let target = &targets[0];
            connections = self
                .host
                .connections()
                .list_connections(&target.tenant)
                .await?;
            connections.retain(|c| c.target == target.id && &c.key == key);
            // Each candidate costs a credential read and an open before the signature
            // is checked, whoever sent the request. Past a few, the delivery is routed
            // first (reading only its routing fields) and verified with its own
            // connection's secrets, as on a route of several targets.
            if connections.len() > MAX_CONNECTIONS_VERIFIED_BEFORE_READING {
                return Ok(None);
            }
        }
        Ok(Some((
            targets.into_iter().map(Arc::new).collect(),
            connections,
        )))
    }

    /// Verifies an app-level probe (a handshake naming no subject, on a route without an
    /// endpoint key) against the secrets of the definition's enabled targets: it comes
    /// when the app is set up, before any connection exists.
    pub(super) async fn verify_app_level(
        &self,
        source: &WebhookSource,
        request: &InboundRequest<'_>,
        routing: &Routing,
        now: Timestamp,
    ) -> Result<(), Error> {
        // Every enabled target's secrets are tried, whoever sent the probe: its body is
        // kept small (a provider's probe is a few kB), so a forged one costs little.
        if request.body.len() > APP_LEVEL_PROBE_MAX_BYTES {
            return Err(errors::body_too_large(APP_LEVEL_PROBE_MAX_BYTES));
        }
        let mut targets = self.host.targets().find_targets(request.key).await?;
        targets.retain(|t| &t.key == request.key && t.enabled);
        let mut refused: Option<Error> = None;
        for target in &targets {
            // One target's own trouble (secrets that do not open) is the answer only when
            // nothing is wrong with the probe itself; it never stops the other targets.
            let verified = self.target_secrets(source, target).and_then(|secrets| {
                if secrets.is_empty() {
                    return Ok(false);
                }
                source
                    .scheme()
                    .verify(request.headers, request.body, &secrets, now)
                    .map(|_| true)
            });
            match verified {
                Ok(true) => return check_claims(target, routing),
                Ok(false) => {}
                Err(error) => keep_the_answer(&mut refused, error),
            }
        }
        Err(refused.unwrap_or_else(|| {
            Error::not_found(
                errors::codes::UNROUTABLE,
                "the probe names no subject, and no enabled target of this integration holds a signing secret",
            )
        }))
    }

    pub(super) async fn resolve(
        &self,
        source: &WebhookSource,
        request: &InboundRequest<'_>,
        routing: &Routing,
        handshake: bool,
        now: Timestamp,
    ) -> Result<Resolved, Error> {
        if routing.subject.is_none() && request.endpoint.is_none() {
            return Err(Error::not_found(
                errors::codes::UNROUTABLE,
                "the delivery names no subject to route by; use a route with an endpoint key",
            ));
        }
        let query = ConnectionQuery {
            key: request.key.clone(),
            external_subject: routing.subject.clone(),
            endpoint_key: request.endpoint.map(str::to_owned),
        };
        let mut candidates = self.host.connections().find_connections(&query).await?;
        // The store's answer is re-checked: a connection outside the query never wins.
        candidates.retain(|c| query.matches(c));
        // Revoked connections take no deliveries, except, for an event, when no live
        // connection matches: the event that revoked it may come again (a retry after a
        // failed delivery, a redelivery), and must then be applied and answered as it was
        // the first time. `prepare` refuses every other event for a revoked connection.
        let live = candidates.iter().any(|c| !is_revoked(c));
        if live || handshake {
            candidates.retain(|c| !is_revoked(c));
        }
        match candidates.len() {
            0 => Err(no_live_connection()),
            1 => {
                let connection = candidates.remove(0);
                let target = self.target(&connection).await?;
                Ok(Resolved {
                    connection: Some(connection),
                    target,
                    siblings: Vec::new(),
                })
            }
            // A handshake needs only the secrets of the target the candidates share.
            _ if handshake
                && candidates
                    .windows(2)
                    .all(|w| w[0].tenant == w[1].tenant && w[0].target == w[1].target) =>
            {
                let target = self.target(&candidates[0]).await?;
                Ok(Resolved {
                    connection: None,
                    target,
                    siblings: Vec::new(),
                })
            }
            // Several tenants connected the same provider-side subject, each through its
            // own target: the delivery belongs to the one whose secrets signed it.
            n => {
                let mut signed_by = Vec::new();
                let mut refused = None;
                for connection in candidates {
                    let verified = match self.target(&connection).await {
                        Ok(target) => {
                            let resolved = Resolved {
                                connection: Some(connection),
                                target,
                                siblings: Vec::new(),
                            };
                            self.verify(source, &resolved, request, now, None)
                                .await
                                .map(|_| resolved)
                        }
                        Err(error) => Err(error),
                    };
                    match verified {
                        Ok(resolved) => signed_by.push(resolved),
                        // What is wrong with the delivery (no signature, a wrong one)
                        // is the answer, whatever the order of the candidates: a
                        // candidate's own trouble (no secret configured, secrets that do
                        // not open, a store error) never hides it, or a forged delivery
                        // could raise server errors at will.
                        Err(error) => keep_the_answer(&mut refused, error),
                    }
                }
                match (signed_by.len(), refused) {
                    (1, _) => return Ok(signed_by.remove(0)),
                    (0, Some(error)) => return Err(error),
                    _ => {}
                }
                // One account connected more than once in one tenant through one target
                // (two users' connections, an API key beside an OAuth grant): the event
                // is the account's, so it goes once, to the broadest-scoped connection
                // (among equals, the earliest made). Refusing it would refuse every
                // event of the account, and a provider failing many deliveries (Slack)
                // turns the app's events off.
                if routing.subject.is_some()
                    && signed_by.len() > 1
                    && signed_by.windows(2).all(|w| {
                        w[0].target.tenant == w[1].target.tenant && w[0].target.id == w[1].target.id
                    })
                {
                    signed_by.sort_by_key(|r| {
                        r.connection
                            .as_ref()
                            .map(|c| (c.scope.precedence(), c.created_at, c.id.clone()))
                    });
                    let mut chosen = signed_by.remove(0);
                    chosen.siblings = signed_by.into_iter().filter_map(|r| r.connection).collect();
                    return Ok(chosen);
                }
                Err(Error::conflict(
                    errors::codes::AMBIGUOUS_CONNECTION,
                    format!(
                        "{n} connections match the delivery and share its signing secret; give each its own endpoint key"
                    ),
                ))
            }
        }
    }

    /// The stored target of `connection`, through the loader's first half: whether it is
    /// enabled, and whether its config parses, is checked only after verification
    /// ([`Loader::check_target`](crate::loaded::Loader::check_target)).
    pub(super) async fn target(&self, connection: &Connection) -> Result<Arc<Target>, Error> {
        self.loader.stored_target_of(connection).await
    }
}

pub(super) struct Resolved {
    pub(super) connection: Option<Connection>,
    pub(super) target: Arc<Target>,
    /// The account's other connections in the same tenant and target (other scopes),
    /// which verified the delivery too: its event goes to `connection` only, and what
    /// it says about the account's grant applies to them all.
    pub(super) siblings: Vec<Connection>,
}

/// A verification before routing: the secret that matched, and what it established.
pub(super) struct Passed {
    pub(super) secret: Secret,
    pub(super) verified: Verified,
}

/// Checks what the delivery claims about its target (the app it was sent for) against
/// the target's config.
pub(super) fn check_claims(target: &Target, routing: &Routing) -> Result<(), Error> {
    for claim in &routing.target_claims {
        let agrees = match target.config.pointer(&claim.pointer) {
            None | Some(serde_json::Value::Null) => true,
            Some(serde_json::Value::String(s)) => *s == claim.value,
            Some(serde_json::Value::Number(n)) => n.to_string() == claim.value,
            Some(_) => false,
        };
        if !agrees {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                errors::codes::TARGET_MISMATCH,
                "the delivery is for another app than the target's",
            ));
        }
    }
    Ok(())
}

pub(super) fn is_revoked(connection: &Connection) -> bool {
    matches!(connection.status, ConnectionStatus::Revoked { .. })
}

pub(super) fn no_live_connection() -> Error {
    Error::not_found(
        errors::codes::CONNECTION_NOT_FOUND,
        "no active connection matches the delivery",
    )
}

/// Keeps `error` as the answer of a delivery tried against several candidates, unless
/// the kept one is about the delivery itself: what is wrong with the delivery is the
/// answer whatever the order of the candidates, and one candidate's own trouble never
/// hides it.
fn keep_the_answer(refused: &mut Option<Error>, error: Error) {
    if refused.as_ref().is_none_or(|r| !is_the_deliverys(r)) {
        *refused = Some(error);
    }
}

/// Whether `error` is about the delivery itself (its signature, its headers, what it
/// claims), not about one candidate's configuration or the host.
fn is_the_deliverys(error: &Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::Verification | ErrorKind::InvalidInput | ErrorKind::PermissionDenied
    )
}
