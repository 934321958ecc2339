//! Client-credentials connections: the target's client id and secret get a token at
//! request time. [`ClientCredentialsConnections::connect`] creates the connection with a
//! first token (proving the target is configured right); afterwards the
//! [`TokenManager`](super::TokenManager) hands out the stored token until shortly before
//! it expires and then fetches a new one, one process at a time (some providers keep a
//! single live token per app, so every fetch invalidates the previous one).

use std::fmt;
use std::sync::Arc;

use super::oauth2::{client, complete};
use super::persist::{self, Destination, Obtained};
use super::target::TargetContext;
use crate::definition::ConnectionMethodKind;
use crate::host::{AuditAction, AuditEvent, AuditOutcome, Host};
use crate::model::{AuthorizationIntent, Connection, ConnectionScope};
use crate::{ConnectionId, ConnectionMethodId, Error, Registry, TargetId, TenantId};

/// A client-credentials connection to create (or renew, when it exists).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientCredentialsInput {
    /// The tenant.
    pub tenant: TenantId,
    /// The connection id.
    pub id: ConnectionId,
    /// The target whose client id and secret are used.
    pub target: TargetId,
    /// The connection method (`client-credentials`).
    pub method: ConnectionMethodId,
    /// Who the connection belongs to.
    pub scope: ConnectionScope,
    /// Scopes to request; `None` requests the definition's defaults.
    pub scopes: Option<Vec<String>>,
}

impl ClientCredentialsInput {
    /// An organization-scoped connection requesting the default scopes.
    pub fn new(
        tenant: TenantId,
        id: ConnectionId,
        target: TargetId,
        method: ConnectionMethodId,
    ) -> Self {
        Self {
            tenant,
            id,
            target,
            method,
            scope: ConnectionScope::Organization,
            scopes: None,
        }
    }

    /// Sets the scope.
    #[must_use]
    pub fn with_scope(mut self, scope: ConnectionScope) -> Self {
        self.scope = scope;
        self
    }

    /// Sets the scopes to request.
    #[must_use]
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }
}

/// Creates client-credentials connections.
#[derive(Clone)]
pub struct ClientCredentialsConnections {
    registry: Arc<Registry>,
    host: Host,
}

impl fmt::Debug for ClientCredentialsConnections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentialsConnections")
            .finish_non_exhaustive()
    }
}

impl ClientCredentialsConnections {
    /// The parts of the host the client-credentials connections use; a host can check
    /// them at start-up with [`Host::require`].
    pub const HOST_PARTS: &'static [crate::host::HostPart] = &[
        crate::host::HostPart::Targets,
        crate::host::HostPart::Connections,
        crate::host::HostPart::Credentials,
        crate::host::HostPart::Http,
    ];

    /// Connections over a registry and a host.
    ///
    /// # Host
    ///
    /// Uses the targets, connections and credentials stores, the cipher, the clock, the
    /// audit sink, and the HTTP client for the token endpoint.
    pub fn new(registry: Arc<Registry>, host: Host) -> Self {
        Self { registry, host }
    }

    /// Fetches a first token and stores the connection with it (sealed). When the
    /// connection exists with the same target and method, its token is replaced and it is
    /// made active again.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput)
    /// (`auth.method_not_client_credentials`, `auth.reauthorize_mismatch`); target errors
    /// (`auth.target_not_found`, `auth.missing_client_id`); token endpoint errors
    /// (`oauth.invalid_client`, `oauth.token_error` for a provider that has the grant
    /// disabled, `oauth.unavailable`, `oauth.rate_limited`); storage errors. Nothing is
    /// stored on error.
    pub async fn connect(&self, input: ClientCredentialsInput) -> Result<Connection, Error> {
        let context =
            TargetContext::load(&self.registry, &self.host, &input.tenant, &input.target).await?;
        let method = context.method(&input.method)?;
        if method.kind != ConnectionMethodKind::OAuth2ClientCredentials {
            return Err(crate::codes::auth::METHOD_NOT_CLIENT_CREDENTIALS
                .error("this connection method does not use the client credentials grant"));
        }
        let spec = context.oauth2(method)?;
        let secrets = context.secrets(&self.host)?;
        let scopes = input
            .scopes
            .clone()
            .unwrap_or_else(|| spec.default_scopes.clone());
        let tokens = client::client_credentials(&self.host, &spec, &secrets, &scopes).await?;
        let external_subject = complete::subject(&self.host, &context, method, &tokens).await?;
        let exists = self
            .host
            .connections()
            .get_connection(&input.tenant, &input.id)
            .await?
            .is_some();
        let intent = if exists {
            AuthorizationIntent::Reauthorize {
                connection: input.id.clone(),
            }
        } else {
            AuthorizationIntent::Create {
                scope: input.scope.clone(),
            }
        };
        let result = persist::save(
            &self.host,
            Destination {
                tenant: &input.tenant,
                target: &input.target,
                key: &context.target.key,
                method: &input.method,
                intent: &intent,
                connection_id: Some(input.id.clone()),
                actor: persist::Actor::Host,
            },
            Obtained {
                credentials: complete::issued(&tokens),
                granted_scopes: tokens.scopes.clone().unwrap_or(scopes),
                external_subject,
            },
        )
        .await;
        if let Ok(connection) = &result {
            self.host
                .audit()
                .record(
                    AuditEvent::new(
                        self.host.clock().now(),
                        connection.tenant.clone(),
                        AuditAction::CONNECTION_AUTHORIZED,
                        AuditOutcome::Success,
                    )
                    .with_key(connection.key.clone())
                    .with_connection(connection.id.clone())
                    .with_detail("method", connection.method.as_str())
                    .with_detail("grant", "client_credentials"),
                )
                .await;
        }
        result
    }
}
