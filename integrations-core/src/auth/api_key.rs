//! API-key connections: validated and stored sealed by the write service, after an
//! optional identity check the definition names.

use std::sync::Arc;

use super::identity::{self, CREDENTIAL_REJECTED};
use crate::definition::ConnectionMethodKind;
use crate::definition::identity_check_with_defaults;
use crate::host::Host;
use crate::issue::escape_pointer_token;
use crate::loaded::Loader;
use crate::model::Connection;
use crate::registry::RegisteredMethod;
use crate::service::{ConnectionInput, WriteService};
use crate::{Error, ErrorKind, Registry, ValidationIssue};

fn subject_mismatch(message: &'static str) -> Error {
    crate::codes::auth::SUBJECT_MISMATCH.error(message)
}

/// Creates and updates API-key connections (a GitHub token, a Linear key, an `OpenAI` key,
/// a Slack bot token).
///
/// Before storing, it sends the definition's
/// [`identity_check`](crate::definition::IntegrationDefinition::identity_check) with the
/// submitted key through the host's HTTP client: a key the provider refuses is reported
/// as an issue on its field and nothing is stored; a subject the provider names (a Slack
/// team, a Linear organization) becomes the connection's external subject. A key for an
/// account already connected through the same target, in the same tenant and scope,
/// replaces that connection's key (the connection keeps its id) instead of creating a
/// second connection, whose webhook deliveries would be ambiguous. Then the
/// [`WriteService`] validates everything and stores the key sealed.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use integrations_core::auth::ApiKeyConnections;
/// # use integrations_core::service::ConnectionInput;
/// # use integrations_core::{ConnectionId, ConnectionMethodId, Registry, TargetId, TenantId};
/// # async fn run(registry: Arc<Registry>, host: integrations_core::host::Host) -> Result<(), integrations_core::Error> {
/// let connections = ApiKeyConnections::new(registry, host);
/// let input = ConnectionInput::new(
///     TenantId::new("acme")?,
///     ConnectionId::new("linear-key")?,
///     TargetId::new("linear")?,
///     ConnectionMethodId::new("api-key")?,
/// )
/// .with_secret("api_key", "lin_api_...");
/// let connection = connections.connect(input).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ApiKeyConnections {
    registry: Arc<Registry>,
    host: Host,
    verify: bool,
    managed: Option<crate::webhook::ManagedWebhooks>,
}

impl std::fmt::Debug for ApiKeyConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyConnections")
            .field("verify", &self.verify)
            .finish_non_exhaustive()
    }
}

impl ApiKeyConnections {
    /// The parts of the host the API-key connections use; a host can check them at
    /// start-up with [`Host::require`].
    pub const HOST_PARTS: &'static [crate::host::HostPart] = &[
        crate::host::HostPart::Targets,
        crate::host::HostPart::Connections,
        crate::host::HostPart::Credentials,
        crate::host::HostPart::Http,
    ];

    /// Connections over a registry and a host, with identity checks on.
    ///
    /// # Host
    ///
    /// Uses the targets, connections and credentials stores, the cipher, the clock, the
    /// audit sink, and the HTTP client for identity checks (none with
    /// [`with_verification(false)`](Self::with_verification)).
    pub fn new(registry: Arc<Registry>, host: Host) -> Self {
        Self {
            registry,
            host,
            verify: true,
            managed: None,
        }
    }

    /// Turns the identity check off (keys are stored unverified) or on.
    #[must_use]
    pub fn with_verification(mut self, verify: bool) -> Self {
        self.verify = verify;
        self
    }

    /// Registers the webhook of every connection this stores whose provider manages
    /// webhooks for API keys (after the connection is stored; a failure is logged and
    /// [`ManagedWebhooks::register`](crate::webhook::ManagedWebhooks::register) retries).
    #[must_use]
    pub fn with_managed_webhooks(mut self, managed: crate::webhook::ManagedWebhooks) -> Self {
        self.managed = Some(managed);
        self
    }

    /// Verifies (when the definition names a check) and stores an API-key connection.
    ///
    /// The account the provider names for the key is the connection's external subject:
    /// a different subject given in the input is refused, and so is a key of another
    /// account than the connection's when it replaces a connection's key. A new key makes
    /// a revoked or errored connection active again
    /// ([`WriteService::put_connection`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput)
    /// `auth.credential_rejected` with an issue on the key's field when the provider
    /// refuses the key; [`ErrorKind::Conflict`](crate::ErrorKind::Conflict)
    /// `auth.subject_mismatch` when the provider names another account than the input's
    /// external subject, or than the connection's whose key it would replace;
    /// [`ErrorKind::RateLimited`](crate::ErrorKind::RateLimited) or
    /// [`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable) when it could not be
    /// checked; everything [`WriteService::put_connection`] returns. Nothing is stored on
    /// any error.
    pub async fn connect(&self, mut input: ConnectionInput) -> Result<Connection, Error> {
        let verified = if self.verify {
            self.check(&input).await?
        } else {
            None
        };
        if let Some(subject) = &verified {
            // The provider's word on the account, never the caller's.
            if input
                .external_subject
                .as_ref()
                .is_some_and(|given| given != subject)
            {
                return Err(subject_mismatch(
                    "the provider names another account for the key than the external subject given; nothing was stored",
                ));
            }
            input.external_subject = Some(subject.clone());
            // A key of another account never replaces a connection's key.
            if let Some(named) = self
                .host
                .connections()
                .get_connection(&input.tenant, &input.id)
                .await?
                && named
                    .external_subject
                    .as_deref()
                    .is_some_and(|had| had != subject)
            {
                return Err(subject_mismatch(
                    "the key belongs to another account than the connection's; nothing was changed",
                ));
            }
        }
        // The same account, through the same target, in the same tenant and scope: the
        // key replaces the existing connection's rather than adding a second connection,
        // whose webhook deliveries would be ambiguous.
        if let Some(subject) = &input.external_subject
            && let Some(existing) = super::persist::same_account(
                &self.host,
                &input.tenant,
                &input.target,
                &input.scope,
                subject,
            )
            .await?
            && existing.method == input.method
        {
            input.id = existing.id;
            if input.endpoint_key.is_none() {
                input.endpoint_key = existing.endpoint_key;
            }
        }
        let connection = WriteService::new(Arc::clone(&self.registry), self.host.clone())
            .write_connection(input, verified.as_deref())
            .await?;
        Ok(match &self.managed {
            Some(managed) => managed.after_connect(connection).await,
            None => connection,
        })
    }

    /// Runs the identity check when everything it needs is present and plausible; the
    /// write service reports whatever is not. Returns the subject the provider named.
    async fn check(&self, input: &ConnectionInput) -> Result<Option<String>, Error> {
        // The write service reports a missing or disabled target and a config that no
        // longer validates; only storage failures stop here.
        let target = match Loader::new(Arc::clone(&self.registry), self.host.clone())
            .target(&input.tenant, &input.target)
            .await
        {
            Ok(target) => target,
            Err(e) if e.kind() == ErrorKind::Storage => return Err(e),
            Err(_) => return Ok(None),
        };
        let (entry, config) = (&target.entry, &target.config);
        let Some(method) = entry.method(&input.method).map(RegisteredMethod::method) else {
            return Ok(None);
        };
        if method.kind != ConnectionMethodKind::ApiKey {
            return Ok(None);
        }
        let Some(check) = identity_check_with_defaults(entry.definition(), method, config)? else {
            return Ok(None);
        };
        let field = match &check.secret_field {
            Some(name) => method.secret_fields.iter().find(|f| &f.name == name),
            None => method.secret_fields.first(),
        };
        let Some(field) = field else {
            return Ok(None);
        };
        let Some(secret) = input.secrets.get(&field.name) else {
            return Ok(None);
        };
        let plausible = !secret.expose().trim().is_empty()
            && field
                .expected_prefix
                .as_deref()
                .is_none_or(|p| secret.expose().starts_with(p));
        if !plausible {
            return Ok(None);
        }
        match identity::verify(&self.host, &check, secret).await {
            Ok(identity) => Ok(identity.subject),
            Err(e) if e.code() == CREDENTIAL_REJECTED => {
                Err(crate::codes::auth::CREDENTIAL_REJECTED.with_issues(
                    "the provider rejected the credential; nothing was stored",
                    vec![ValidationIssue::new(
                        CREDENTIAL_REJECTED,
                        format!("/secrets/{}", escape_pointer_token(&field.name)),
                        format!("the provider rejected this {}", field.label),
                    )],
                ))
            }
            Err(e) => Err(e),
        }
    }
}
