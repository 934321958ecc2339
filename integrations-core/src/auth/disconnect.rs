//! Disconnecting a connection: the provider revokes the grant when the method's OAuth 2.0
//! data names a revocation endpoint; then the connection is marked `revoked` and its
//! stored credentials are deleted. Forgetting one disconnects it, then deletes what names
//! it and its record.

use std::sync::Arc;

use http::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use http::{Method, StatusCode};

use super::Authorizations;
use super::oauth2::token_response::{self, INVALID_GRANT};
use super::target::TargetContext;
use super::token_manager::{TokenManager, is_dead_grant};
use crate::definition::{ConnectionMethodKind, OAuth2Spec};
use crate::host::{AuditAction, AuditEvent, AuditOutcome, HostPart, HttpResponse};
use crate::lifecycle::{Cause, ConnectionLifecycle, StatusChange};
use crate::model::{Connection, ConnectionStatus, CredentialType};
use crate::provider::{RemoteRevocation, RevokeContext};
use crate::webhook::WebhookRemoval;
use crate::{ConnectionId, Error, ErrorKind, Secret, TenantId, Timestamp, UserId};

/// The reason a disconnected connection is `revoked` with.
pub const DISCONNECTED: &str = "the connection was disconnected";

/// Provider error codes (in a `success_field` answer) that mean the token is gone
/// already: Slack's `invalid_auth`, `token_revoked`, `token_expired`, `account_inactive`.
const TOKEN_GONE: [&str; 4] = [
    "invalid_auth",
    "token_revoked",
    "token_expired",
    "account_inactive",
];

/// A request to disconnect a connection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Disconnect {
    /// The owning tenant.
    pub tenant: TenantId,
    /// The connection.
    pub connection: ConnectionId,
    /// Who asked (for the audit trail).
    pub actor: Option<UserId>,
    /// Whether to revoke locally even when the provider could not revoke the grant.
    pub force: bool,
}

impl Disconnect {
    /// Disconnects `connection` of `tenant`, refusing to go on when the provider cannot
    /// be reached (so the grant is never left live at the provider with no token here to
    /// revoke it later).
    pub fn new(tenant: TenantId, connection: ConnectionId) -> Self {
        Self {
            tenant,
            connection,
            actor: None,
            force: false,
        }
    }

    /// Records who asked.
    #[must_use]
    pub fn by(mut self, user: UserId) -> Self {
        self.actor = Some(user);
        self
    }

    /// Revokes the connection locally even when the provider's revocation fails; the
    /// outcome says so ([`RemoteRevocation::Failed`]).
    #[must_use]
    pub fn forced(mut self) -> Self {
        self.force = true;
        self
    }
}

/// A disconnected connection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Disconnected {
    /// The connection, now `revoked`.
    pub connection: Connection,
    /// What the provider did.
    pub remote: RemoteRevocation,
    /// Whether stored credentials were deleted.
    pub credentials_deleted: bool,
    /// What happened to the connection's managed webhook (deleted before the grant was
    /// revoked).
    pub webhook: WebhookRemoval,
}

impl Authorizations {
    /// Disconnects a connection: the provider revokes the grant when the method's OAuth
    /// 2.0 data names a revocation endpoint ([`OAuth2Spec::revoke_url`]) or the provider
    /// has a [`GrantRevoker`](crate::provider::GrantRevoker) for it, with a fresh access
    /// token (refreshed first if it expired); then the connection is marked
    /// `revoked` ([`DISCONNECTED`]) and its stored credentials are deleted, audited as
    /// `connection.status_changed` with `cause: disconnect`.
    ///
    /// With [`with_managed_webhooks`](Self::with_managed_webhooks), the connection's
    /// managed webhook is deleted at the provider first, while the grant still works
    /// ([`Disconnected::webhook`]); a failure there is reported and never stops the
    /// disconnect. When the revocation then fails (not forced), the connection stays active
    /// and its hook is registered again, with the signing secret it had (a failure there
    /// is logged; [`ManagedWebhooks::register`](crate::webhook::ManagedWebhooks::register)
    /// retries).
    ///
    /// When the stored credentials change while the provider is asked (another process
    /// refreshed them, or a reauthorization replaced them), the newer ones are revoked
    /// too before they are deleted, up to three rounds: a rotating provider's new tokens
    /// outlive the old ones' revocation.
    ///
    /// Calling it again is harmless: the provider says the token is gone or there is none,
    /// and the connection, `revoked` already, gets no second status change audited.
    ///
    /// # Errors
    ///
    /// `auth.connection_not_found`; when the provider cannot revoke the grant and the
    /// request is not [`forced`](Disconnect::forced): its temporary failures
    /// ([`ErrorKind::Unavailable`], [`ErrorKind::RateLimited`]) and refusals
    /// (`oauth.revocation_refused`), the target's configuration errors; nothing is
    /// changed then but the managed hook's id (it was deleted and registered again).
    /// Storage errors.
    pub async fn disconnect(&self, request: Disconnect) -> Result<Disconnected, Error> {
        match &self.managed {
            // After a registration of the connection in progress here, whose hook it
            // then deletes; a registration asked meanwhile finds it revoked.
            Some(managed) => {
                let (tenant, id) = (request.tenant.clone(), request.connection.clone());
                // Boxed: a disconnect's future is large, and callers' would carry it.
                managed
                    .disconnect_in_turn(&tenant, &id, Box::pin(self.disconnect_now(request)))
                    .await
            }
            None => Box::pin(self.disconnect_now(request)).await,
        }
    }

    /// [`disconnect`](Self::disconnect), in the connection's registration turn when its
    /// webhooks are managed.
    async fn disconnect_now(&self, request: Disconnect) -> Result<Disconnected, Error> {
        let host = &self.host;
        let Some(connection) = host
            .connections()
            .get_connection(&request.tenant, &request.connection)
            .await?
        else {
            return Err(
                crate::codes::auth::CONNECTION_NOT_FOUND.error("the connection does not exist")
            );
        };
        // The hook first: deleting it needs the grant that revocation ends. Its failure
        // is reported, and never keeps the connection active.
        let webhook = match &self.managed {
            Some(managed) => managed.before_disconnect(&connection).await,
            None => WebhookRemoval::NotManaged,
        };
        let revoked_remotely = self.revoke_current(&connection).await;
        if let (Err(_), false, Some(managed)) = (&revoked_remotely, request.force, &self.managed) {
            // The connection stays as it was, active: its hook, deleted above, is
            // registered again (with the secret it had, still stored).
            managed.after_failed_disconnect(&connection, &webhook).await;
        } else if let Some(managed) = &self.managed {
            managed.after_disconnect(&connection, &webhook).await;
        }
        let remote = match revoked_remotely {
            Ok(remote) => remote,
            Err(error) if request.force => {
                tracing::warn!(
                    target: "integrations::auth",
                    tenant = %connection.tenant,
                    connection = %connection.id,
                    code = error.code(),
                    "the provider did not revoke the grant; disconnecting locally as forced"
                );
                RemoteRevocation::Failed {
                    code: error.code().to_owned(),
                }
            }
            Err(error) => return Err(error),
        };
        // The status first: a connection whose credentials could not be deleted is
        // unusable, and a retry deletes them.
        let mut change = StatusChange::new(
            &connection,
            ConnectionStatus::Revoked {
                reason: DISCONNECTED.to_owned(),
            },
            Cause::Disconnect,
        )
        .with_actor(request.actor.clone())
        .with_detail("remote", remote.as_str());
        if let RemoteRevocation::Failed { code } = &remote {
            change = change.with_detail("remote_code", code.as_str());
        }
        let Some(revoked) = ConnectionLifecycle::new(host.clone())
            .change(change)
            .await?
        else {
            return Err(crate::codes::auth::CONNECTION_NOT_FOUND
                .error("the connection was deleted while it was being disconnected"));
        };
        let credentials_deleted = host
            .credentials()
            .delete_credentials(&connection.tenant, &connection.id)
            .await?;
        Ok(Disconnected {
            connection: revoked,
            remote,
            credentials_deleted,
            webhook,
        })
    }

    /// Asks the provider to revoke the connection's grant, again when the stored
    /// credentials changed while it did (another process refreshed them, or a
    /// reauthorization replaced them): a rotating provider's new tokens may live on after
    /// the old ones are revoked, and they are deleted next, so they are revoked first.
    /// `Revoked` when any round revoked a token.
    async fn revoke_current(&self, connection: &Connection) -> Result<RemoteRevocation, Error> {
        const MAX_ROUNDS: usize = 3;
        let mut revoked = false;
        let mut outcome = RemoteRevocation::NoToken;
        for _ in 0..MAX_ROUNDS {
            let round = self.revoke_remotely(connection).await;
            let presented;
            (outcome, presented) = match round {
                Ok(round) => round,
                // A later round's failure (the connection marked `error` meanwhile, the
                // provider busy) does not undo the revocation an earlier round made.
                Err(e) if revoked => {
                    tracing::warn!(
                        target: "integrations::auth",
                        tenant = %connection.tenant,
                        connection = %connection.id,
                        code = e.code(),
                        "the newer credentials could not be revoked after the grant was"
                    );
                    break;
                }
                Err(e) => return Err(e),
            };
            revoked |= matches!(outcome, RemoteRevocation::Revoked);
            let Some(presented) = presented else {
                break;
            };
            let stored = self.credential_version(connection).await?;
            if stored.is_none_or(|version| version == presented) {
                break;
            }
            tracing::info!(
                target: "integrations::auth",
                tenant = %connection.tenant,
                connection = %connection.id,
                "the credentials changed while the grant was being revoked; revoking the new ones too"
            );
        }
        Ok(if revoked {
            RemoteRevocation::Revoked
        } else {
            outcome
        })
    }

    /// The version of the connection's stored credential set, if it has one.
    async fn credential_version(&self, connection: &Connection) -> Result<Option<u64>, Error> {
        Ok(self
            .host
            .credentials()
            .load_credentials(&connection.tenant, &connection.id)
            .await?
            .map(|set| set.version))
    }

    /// Asks the provider to revoke the connection's grant, when its method can; with the
    /// version of the credential set its token was read from, when one was presented.
    async fn revoke_remotely(
        &self,
        connection: &Connection,
    ) -> Result<(RemoteRevocation, Option<u64>), Error> {
        let context = TargetContext::for_connection(&self.registry, &self.host, connection)
            .await
            .map_err(|e| {
                // A deleted or disabled target: nothing can be revoked through it.
                if e.kind() == ErrorKind::NotFound || e.kind() == ErrorKind::PermissionDenied {
                    crate::codes::auth::REVOCATION_IMPOSSIBLE.error("the connection's target is missing or disabled, so the provider cannot be asked to revoke the grant; disconnect with force to forget the tokens",
                    )
                    .with_source(e)
                } else {
                    e
                }
            })?;
        let method = context.method(&connection.method)?;
        if method.kind != ConnectionMethodKind::OAuth2AuthorizationCode {
            return Ok((RemoteRevocation::NotSupported, None));
        }
        let spec = context.oauth2(method)?;
        let revoker = context.entry.integration().grant_revoker(&method.id);
        if revoker.is_none() && spec.revoke_url.is_none() {
            return Ok((RemoteRevocation::NotSupported, None));
        }
        let Some(token) = self.token_to_revoke(connection).await? else {
            let outcome = if connection.is_active() {
                RemoteRevocation::NoToken
            } else {
                // Its grant died (the token manager could not refresh it).
                RemoteRevocation::AlreadyInvalid
            };
            return Ok((outcome, None));
        };
        // Read right after the token (which a refresh may just have replaced), so a
        // change while the provider is asked shows as a newer version.
        let presented = self.credential_version(connection).await?;
        if let Some(revoker) = revoker {
            let secrets = context.secrets(&self.host)?;
            let outcome = revoker
                .revoke(&RevokeContext::new(
                    &self.host,
                    connection,
                    &context.target,
                    &context.config,
                    &secrets,
                    method,
                    &spec,
                    &token,
                ))
                .await?;
            return Ok((outcome, presented));
        }
        let Some(url) = spec.revoke_url.clone() else {
            return Ok((RemoteRevocation::NotSupported, None));
        };
        spec.require_secure_endpoints()?;
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| {
                crate::codes::oauth::INVALID_TOKEN
                    .error("the stored access token cannot be sent in a header")
            })?;
        authorization.set_sensitive(true);
        let request = http::Request::builder()
            .method(Method::POST)
            .uri(url.as_str())
            .header(AUTHORIZATION, authorization)
            .header(ACCEPT, "application/json")
            .body(bytes::Bytes::new())
            .map_err(|_| {
                crate::codes::oauth::INVALID_URL
                    .error("the revocation URL of the OAuth 2.0 data is not a valid URL")
            })?;
        let response = self.host.http().send(request).await?;
        tracing::debug!(
            target: "integrations::auth",
            status = response.status().as_u16(),
            "revocation endpoint answered"
        );
        read_revocation(&response, &spec, super::now(&self.host))
            .map(|outcome| (outcome, presented))
    }

    /// The access token to present: a fresh one through the token manager while the
    /// connection is active (so an expired one is refreshed first), the stored one
    /// otherwise. `None` when there is none, or its grant is dead.
    async fn token_to_revoke(&self, connection: &Connection) -> Result<Option<Secret>, Error> {
        if connection.is_active() {
            let tokens = TokenManager::new(Arc::clone(&self.registry), self.host.clone());
            return match tokens.access_token(connection).await {
                Ok(credential) => Ok(Some(credential.value)),
                Err(e) if is_dead_grant(&e) || e.code() == crate::codes::auth::NO_CREDENTIALS => {
                    Ok(None)
                }
                Err(e) => Err(e),
            };
        }
        let Some(set) = self
            .host
            .credentials()
            .load_credentials(&connection.tenant, &connection.id)
            .await?
        else {
            return Ok(None);
        };
        let Some(access) = set.find(&CredentialType::OAUTH2_ACCESS_TOKEN, None)? else {
            return Ok(None);
        };
        access.open(connection, self.host.cipher()).map(Some)
    }
}

/// A forgotten connection: what [`Authorizations::forget`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Forgotten {
    /// The disconnect that came first.
    pub disconnected: Disconnected,
    /// How many publications through the connection were deleted.
    pub publications_deleted: usize,
    /// How many sync checkpoints of its streams were deleted.
    pub checkpoints_deleted: usize,
    /// How many tool calls through it that waited for approval were deleted.
    pub approvals_deleted: usize,
}

impl Authorizations {
    /// Forgets a connection: [`disconnect`](Self::disconnect)s it (its grant revoked at
    /// the provider, its managed webhook deleted, its credentials deleted), then deletes
    /// its publications, its sync checkpoints and the tool calls through it waiting for
    /// approval, then its record, audited as `connection.forgotten`. A host built without
    /// a publication, checkpoint or approval store holds none to delete.
    ///
    /// All of it, because an id can come back (a chosen one, or the one an authorization
    /// derives from the same account): what still named it would apply to the new
    /// connection, publications granting agents its tools included. Two things stay:
    /// bindings naming the connection, as they are a profile's (compiling the profile
    /// reports them, `binding.connection_not_found`, until the id comes back, and then
    /// they apply to the new connection: change the profile first); records a sync
    /// wrote into a sink (wipe them first, with
    /// [`SyncRunner::delete`](crate::sync::SyncRunner::delete), which needs the
    /// connection).
    ///
    /// # Errors
    ///
    /// The disconnect's (nothing is deleted then); storage errors, after which calling
    /// it again finishes the job (a second disconnect changes nothing);
    /// `store.not_implemented` when the checkpoint store cannot delete checkpoints (the
    /// connection is disconnected and its publications deleted by then, its record
    /// kept: implement `CheckpointStore::delete_checkpoints`, then call it again), and
    /// the same when the approval store cannot delete approval requests
    /// (`ApprovalStore::delete_approvals`).
    pub async fn forget(&self, request: Disconnect) -> Result<Forgotten, Error> {
        let disconnected = self.disconnect(request.clone()).await?;
        let (tenant, id) = (&request.tenant, &request.connection);
        let mut publications_deleted = 0;
        if self.host.has(HostPart::Publications) {
            let publications = self.host.publications();
            for publication in publications.list_publications(tenant, id).await? {
                if publications
                    .delete_publication(tenant, &publication.id)
                    .await?
                {
                    publications_deleted += 1;
                }
            }
        }
        let checkpoints_deleted = if self.host.has(HostPart::Checkpoints) {
            self.host
                .checkpoints()
                .delete_checkpoints(tenant, id)
                .await
                .map_err(|e| {
                    if e.code() == crate::codes::store::NOT_IMPLEMENTED.as_str() {
                        crate::codes::store::NOT_IMPLEMENTED
                            .error(
                                "the connection is disconnected and its publications are deleted, but its checkpoints cannot be: the checkpoint store does not implement delete_checkpoints; implement it, then forget the connection again (its record is kept until then)",
                            )
                            .with_source(e)
                    } else {
                        e
                    }
                })?
        } else {
            0
        };
        // Approved after this, one would run through whatever connection has the id then.
        let approvals_deleted = if self.host.has(HostPart::Approvals) {
            self.host
                .approvals()
                .delete_approvals(tenant, id)
                .await
                .map_err(|e| {
                    if e.code() == crate::codes::store::NOT_IMPLEMENTED.as_str() {
                        crate::codes::store::NOT_IMPLEMENTED
                            .error(
                                "the connection is disconnected and its publications and checkpoints are deleted, but the calls waiting for approval through it cannot be: the approval store does not implement delete_approvals; implement it, then forget the connection again (its record is kept until then)",
                            )
                            .with_source(e)
                    } else {
                        e
                    }
                })?
        } else {
            0
        };
        self.host
            .connections()
            .delete_connection(tenant, id)
            .await?;
        let event = AuditEvent::new(
            super::now(&self.host),
            tenant.clone(),
            AuditAction::CONNECTION_FORGOTTEN,
            AuditOutcome::Success,
        )
        .with_key(disconnected.connection.key.clone())
        .with_connection(id.clone())
        .with_actor(request.actor.clone())
        .with_detail("publications_deleted", publications_deleted.to_string())
        .with_detail("checkpoints_deleted", checkpoints_deleted.to_string())
        .with_detail("approvals_deleted", approvals_deleted.to_string());
        self.host.audit().record(event).await;
        Ok(Forgotten {
            disconnected,
            publications_deleted,
            checkpoints_deleted,
            approvals_deleted,
        })
    }
}

/// Reads a revocation endpoint's answer: 2xx (with the spec's success field `true`, when
/// it has one) is revoked; 401, or a success-field failure saying the token is gone, is
/// already invalid; 429 and 5xx are temporary; anything else is a refusal.
fn read_revocation(
    response: &HttpResponse,
    spec: &OAuth2Spec,
    now: Timestamp,
) -> Result<RemoteRevocation, Error> {
    let status = response.status();
    if status == StatusCode::TOO_MANY_REQUESTS {
        let error = crate::codes::oauth::RATE_LIMITED
            .error("the revocation endpoint is rate limiting requests");
        return Err(match token_response::retry_after(response, now) {
            Some(wait) => error.with_retry_after(wait),
            None => error,
        });
    }
    if status.is_server_error() {
        return Err(crate::codes::oauth::UNAVAILABLE.error(format!(
            "the revocation endpoint is unavailable (HTTP {})",
            status.as_u16()
        )));
    }
    if status == StatusCode::UNAUTHORIZED {
        return Ok(RemoteRevocation::AlreadyInvalid);
    }
    if status.is_success() {
        let Some(field) = &spec.success_field else {
            return Ok(RemoteRevocation::Revoked);
        };
        let fields = token_response::fields(response);
        let field_value = fields.as_ref().and_then(|f| f.get(field.as_str()));
        if field_value == Some(&serde_json::Value::Bool(true)) {
            return Ok(RemoteRevocation::Revoked);
        }
        let code = fields
            .as_ref()
            .and_then(|f| f.get("error"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        if TOKEN_GONE.contains(&code) {
            return Ok(RemoteRevocation::AlreadyInvalid);
        }
        let error = token_response::classify(code, spec);
        if error.code() == INVALID_GRANT {
            return Ok(RemoteRevocation::AlreadyInvalid);
        }
        if error.kind() == ErrorKind::Unavailable {
            return Err(error);
        }
        return Err(refused(&format!(
            "the provider refused to revoke the grant ({})",
            token_response::shown(code)
        )));
    }
    Err(refused(&format!(
        "the revocation endpoint answered HTTP {}",
        status.as_u16()
    )))
}

fn refused(message: &str) -> Error {
    crate::codes::oauth::REVOCATION_REFUSED.error(message.to_owned())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn response(status: u16, body: &str) -> HttpResponse {
        http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Bytes::from(body.to_owned()))
            .unwrap()
    }

    const NOW: Timestamp = Timestamp::from_unix_seconds(1_000);

    #[test]
    fn plain_revocation_answers() {
        let spec = OAuth2Spec::new("https://p.test/a", "https://p.test/t");
        let read = |status, body| read_revocation(&response(status, body), &spec, NOW);
        assert_eq!(read(200, "").unwrap(), RemoteRevocation::Revoked);
        assert_eq!(read(401, "{}").unwrap(), RemoteRevocation::AlreadyInvalid);
        assert_eq!(
            read(400, "{}").unwrap_err().code(),
            "oauth.revocation_refused"
        );
        assert_eq!(read(503, "").unwrap_err().kind(), ErrorKind::Unavailable);
        assert_eq!(read(429, "").unwrap_err().kind(), ErrorKind::RateLimited);
    }

    #[test]
    fn success_field_answers() {
        let spec = OAuth2Spec::new("https://p.test/a", "https://p.test/t").with_success_field("ok");
        let read = |body: &str| read_revocation(&response(200, body), &spec, NOW);
        assert_eq!(
            read(r#"{"ok":true,"revoked":true}"#).unwrap(),
            RemoteRevocation::Revoked
        );
        for gone in TOKEN_GONE {
            let body = format!(r#"{{"ok":false,"error":"{gone}"}}"#);
            assert_eq!(read(&body).unwrap(), RemoteRevocation::AlreadyInvalid);
        }
        let e = read(r#"{"ok":false,"error":"<b>odd</b>"}"#).unwrap_err();
        assert_eq!(e.code(), "oauth.revocation_refused");
        assert!(!e.message().contains("<b>"), "{}", e.message());
        assert_eq!(
            read(r#"{"ok":false,"error":"ratelimited"}"#)
                .unwrap_err()
                .code(),
            "oauth.revocation_refused"
        );
    }
}
