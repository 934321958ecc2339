//! [`Authorizations`]: starting and completing the redirect flows that create or repair
//! connections: OAuth 2.0 authorization code (with PKCE S256 where the provider supports
//! it) and provider redirect flows such as GitHub App installations.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::persist::{self, Destination, Obtained};
use super::state::{self, Binding};
use super::target::TargetContext;
use super::{now, oauth2};
use crate::definition::ConnectionMethodKind;
use crate::host::{AuditAction, AuditEvent, AuditOutcome, Host};
use crate::model::{AuthorizationIntent, Connection, ConnectionScope, PendingAuthorization};
use crate::provider::{RedirectCallback, RedirectStart};
use crate::sealing::SecretCipherExt;
use crate::{
    ConnectionId, ConnectionMethodId, DefinitionKey, Error, Registry, Secret, TargetId, TenantId,
    Timestamp, UserId,
};

/// The default lifetime of a started authorization.
pub const DEFAULT_STATE_TTL: Duration = Duration::from_secs(600);

/// An authorization to start.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StartAuthorization {
    /// The tenant.
    pub tenant: TenantId,
    /// The user starting it; the callback must come back for the same user.
    pub user: Option<UserId>,
    /// The target to authorize against.
    pub target: TargetId,
    /// The connection method (`oauth2`, `github-app-installation`).
    pub method: ConnectionMethodId,
    /// The host's callback URL, an absolute http(s) URL without a query or fragment; the
    /// callback must arrive at exactly this URI.
    pub redirect_uri: String,
    /// Create a connection, or repair one.
    pub intent: AuthorizationIntent,
    /// Scopes to request; `None` requests the definition's defaults.
    pub scopes: Option<Vec<String>>,
}

impl StartAuthorization {
    /// An authorization for `intent`.
    pub fn new(
        tenant: TenantId,
        target: TargetId,
        method: ConnectionMethodId,
        redirect_uri: impl Into<String>,
        intent: AuthorizationIntent,
    ) -> Self {
        Self {
            tenant,
            user: None,
            target,
            method,
            redirect_uri: redirect_uri.into(),
            intent,
            scopes: None,
        }
    }

    /// An authorization that creates a connection with `scope`.
    pub fn create(
        tenant: TenantId,
        target: TargetId,
        method: ConnectionMethodId,
        redirect_uri: impl Into<String>,
        scope: ConnectionScope,
    ) -> Self {
        Self::new(
            tenant,
            target,
            method,
            redirect_uri,
            AuthorizationIntent::Create { scope },
        )
    }

    /// Sets the user.
    #[must_use]
    pub fn with_user(mut self, user: UserId) -> Self {
        self.user = Some(user);
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

/// Where to send the user.
#[derive(Clone)]
#[non_exhaustive]
pub struct AuthorizationRedirect {
    /// The provider's authorization (or installation) URL, carrying the state.
    pub url: String,
    /// When the started authorization stops being accepted.
    pub expires_at: Timestamp,
}

impl fmt::Debug for AuthorizationRedirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The query carries the state; show the endpoint only.
        let endpoint = self.url.split('?').next().unwrap_or_default();
        f.debug_struct("AuthorizationRedirect")
            .field("url", &format_args!("{endpoint}?.."))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A callback to complete.
#[derive(Clone)]
#[non_exhaustive]
pub struct CompleteAuthorization {
    /// The tenant of the session receiving the callback.
    pub tenant: TenantId,
    /// The user of that session.
    pub user: Option<UserId>,
    /// The URI the callback arrived at (without its query).
    pub redirect_uri: String,
    /// The raw callback query (`code=...&state=...`, `installation_id=...&state=...`).
    pub query: String,
    /// The definition the callback route is for, when the route names one.
    pub key: Option<DefinitionKey>,
    /// The id of the connection to create. When `None`: the id of the account's
    /// connection when the provider names the account (`conn_` and 24 hex digits
    /// derived from the tenant, target, method, scope and account, so that two flows
    /// connecting one account at once meet at one connection), else a random `conn_...`
    /// id.
    pub connection_id: Option<ConnectionId>,
}

impl CompleteAuthorization {
    /// A callback for `tenant` at `redirect_uri` with its raw query.
    pub fn new(
        tenant: TenantId,
        redirect_uri: impl Into<String>,
        query: impl Into<String>,
    ) -> Self {
        Self {
            tenant,
            user: None,
            redirect_uri: redirect_uri.into(),
            query: query.into(),
            key: None,
            connection_id: None,
        }
    }

    /// Sets the user.
    #[must_use]
    pub fn with_user(mut self, user: UserId) -> Self {
        self.user = Some(user);
        self
    }

    /// Requires the authorization to be for `key`.
    #[must_use]
    pub fn with_key(mut self, key: DefinitionKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets the id of the connection to create.
    #[must_use]
    pub fn with_connection_id(mut self, id: ConnectionId) -> Self {
        self.connection_id = Some(id);
        self
    }
}

impl fmt::Debug for CompleteAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The query carries the code and the state: never printed.
        f.debug_struct("CompleteAuthorization")
            .field("tenant", &self.tenant)
            .field("user", &self.user)
            .field("redirect_uri", &self.redirect_uri)
            .field("key", &self.key)
            .field("connection_id", &self.connection_id)
            .finish_non_exhaustive()
    }
}

/// Starts and completes authorizations.
///
/// [`start`](Self::start) returns the URL to send the user to and stores a pending
/// authorization keyed by the SHA-256 digest of a random `state` (the state itself is
/// never stored), bound to the tenant, the user, the definition, the redirect URI and the
/// intent, with a PKCE S256 verifier (sealed) when the provider supports PKCE, for ten
/// minutes by default.
///
/// [`complete`](Self::complete) takes that record once (a replayed callback finds
/// nothing), refuses an expired one or one bound to another tenant, user, definition or
/// redirect URI, refuses provider `error=` callbacks, and only then exchanges the code
/// (or completes the provider's redirect flow) and stores the connection with its
/// credentials sealed. Nothing is stored when any step fails.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use integrations_core::auth::{Authorizations, CompleteAuthorization, StartAuthorization};
/// # use integrations_core::model::ConnectionScope;
/// # use integrations_core::{ConnectionMethodId, Registry, TargetId, TenantId};
/// # async fn run(registry: Arc<Registry>, host: integrations_core::host::Host, query: String) -> Result<(), integrations_core::Error> {
/// let auth = Authorizations::new(registry, host);
/// let tenant = TenantId::new("acme")?;
/// let redirect = auth
///     .start(StartAuthorization::create(
///         tenant.clone(),
///         TargetId::new("linear")?,
///         ConnectionMethodId::new("oauth2")?,
///         "https://app.example.com/oauth/callback",
///         ConnectionScope::Organization,
///     ))
///     .await?;
/// // Send the user to redirect.url; the provider calls back with ?code=...&state=...
/// let connection = auth
///     .complete(CompleteAuthorization::new(tenant, "https://app.example.com/oauth/callback", query))
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Authorizations {
    pub(super) registry: Arc<Registry>,
    pub(super) host: Host,
    state_ttl: Duration,
    pub(super) managed: Option<crate::webhook::ManagedWebhooks>,
}

impl fmt::Debug for Authorizations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorizations")
            .field("state_ttl", &self.state_ttl)
            .finish_non_exhaustive()
    }
}

fn invalid(code: crate::Code, message: &'static str) -> Error {
    code.error(message)
}

/// The callback query as a map; a parameter given twice is refused (parameter pollution).
fn parse_query(query: &str) -> Result<BTreeMap<String, String>, Error> {
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut params = BTreeMap::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if params
            .insert(name.into_owned(), value.into_owned())
            .is_some()
        {
            return Err(
                crate::codes::oauth::INVALID_CALLBACK.error("the callback repeats a parameter")
            );
        }
    }
    Ok(params)
}

/// A provider error code fit for a message.
fn shown(code: &str) -> &str {
    let ok = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok { code } else { "unrecognized" }
}

impl Authorizations {
    /// The parts of the host the authorizations use; a host can check them at start-up with
    /// [`Host::require`].
    pub const HOST_PARTS: &'static [crate::host::HostPart] = &[
        crate::host::HostPart::Targets,
        crate::host::HostPart::Connections,
        crate::host::HostPart::Credentials,
        crate::host::HostPart::OAuthStates,
        crate::host::HostPart::Http,
    ];

    /// Authorizations over a registry and a host, with a ten-minute state lifetime.
    ///
    /// # Host
    ///
    /// Uses the targets, connections, credentials and OAuth state stores, the cipher, the
    /// clock, the audit sink, and the HTTP client for the token endpoint.
    pub fn new(registry: Arc<Registry>, host: Host) -> Self {
        Self {
            registry,
            host,
            state_ttl: DEFAULT_STATE_TTL,
            managed: None,
        }
    }

    /// Registers the webhook of every connection this completes whose provider manages
    /// webhooks for its method, and deletes it on [`disconnect`](Self::disconnect). A
    /// registration failure does not undo the connection: it is logged with its code, and
    /// [`ManagedWebhooks::register`](crate::webhook::ManagedWebhooks::register) retries.
    #[must_use]
    pub fn with_managed_webhooks(mut self, managed: crate::webhook::ManagedWebhooks) -> Self {
        self.managed = Some(managed);
        self
    }

    /// Sets how long a started authorization is accepted.
    #[must_use]
    pub fn with_state_ttl(mut self, ttl: Duration) -> Self {
        self.state_ttl = ttl;
        self
    }

    /// Starts an authorization: returns the provider URL to send the user to and stores
    /// the pending authorization.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) (`oauth.invalid_redirect_uri`
    /// for a redirect URI that is not an absolute http(s) URL or has a query or fragment,
    /// `auth.method_not_redirect`, `auth.reauthorize_mismatch`; `auth.scope_user_mismatch`
    /// when a user's connection would be created or reauthorized by another user or
    /// without one);
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) (`auth.target_not_found`, `auth.unknown_method`,
    /// `auth.connection_not_found`); [`ErrorKind::Configuration`](crate::ErrorKind::Configuration) when the target lacks
    /// the client id or the definition its flow; storage errors. Nothing is stored on
    /// error.
    pub async fn start(&self, request: StartAuthorization) -> Result<AuthorizationRedirect, Error> {
        let redirect = url::Url::parse(&request.redirect_uri).map_err(|_| {
            invalid(
                crate::codes::oauth::INVALID_REDIRECT_URI,
                "the redirect URI is not an absolute URL",
            )
        })?;
        // The callback is completed at its URI without the query (which carries the
        // code and the state), compared exactly with this one: a redirect URI with a
        // query of its own could never match.
        if !matches!(redirect.scheme(), "https" | "http")
            || redirect.fragment().is_some()
            || redirect.query().is_some()
        {
            return Err(invalid(
                crate::codes::oauth::INVALID_REDIRECT_URI,
                "the redirect URI must be an http(s) URL without a query or fragment",
            ));
        }
        let context =
            TargetContext::load(&self.registry, &self.host, &request.tenant, &request.target)
                .await?;
        let method = context.method(&request.method)?;
        match &request.intent {
            AuthorizationIntent::Create { scope } => {
                if let ConnectionScope::User { user } = scope
                    && request.user.as_ref() != Some(user)
                {
                    return Err(invalid(
                        crate::codes::auth::SCOPE_USER_MISMATCH,
                        "a user's connection can only be created by that user",
                    ));
                }
            }
            AuthorizationIntent::Reauthorize { connection } => {
                let Some(existing) = self
                    .host
                    .connections()
                    .get_connection(&request.tenant, connection)
                    .await?
                else {
                    return Err(crate::codes::auth::CONNECTION_NOT_FOUND
                        .error("the connection to reauthorize does not exist"));
                };
                if existing.target != request.target || existing.method != request.method {
                    return Err(invalid(
                        crate::codes::auth::REAUTHORIZE_MISMATCH,
                        "the connection to reauthorize uses another target or method",
                    ));
                }
                persist::check_reauthorizer(
                    &existing,
                    persist::Actor::Session(request.user.as_ref()),
                )?;
            }
        }
        let issued = state::issue();
        let now = now(&self.host);
        let expires_at = now.saturating_add(self.state_ttl);
        let mut pending = PendingAuthorization::new(
            issued.digest.clone(),
            request.tenant.clone(),
            context.target.key.clone(),
            context.target.id.clone(),
            method.id.clone(),
            request.redirect_uri.clone(),
            request.intent.clone(),
            now,
            expires_at,
        );
        pending.user.clone_from(&request.user);
        let url = match method.kind {
            ConnectionMethodKind::OAuth2AuthorizationCode => {
                let spec = context.oauth2(method)?;
                let scopes = request
                    .scopes
                    .clone()
                    .unwrap_or_else(|| spec.default_scopes.clone());
                let client = oauth2::client::client(&spec, &super::TargetSecrets::empty())?;
                let (url, verifier) = oauth2::start::authorization_url(
                    &client,
                    &spec,
                    &issued.value,
                    &request.redirect_uri,
                    &scopes,
                )?;
                if let Some(verifier) = verifier {
                    let verifier = Secret::new(verifier.into_secret());
                    pending.pkce_verifier = Some(
                        self.host
                            .cipher()
                            .seal_secret(&verifier, &oauth2::complete::verifier_aad(&pending))?,
                    );
                }
                pending.scopes = scopes;
                url
            }
            ConnectionMethodKind::Redirect => {
                let flow = context.redirect_flow(method)?;
                flow.redirect_url(&RedirectStart::new(
                    &context.target,
                    &context.config,
                    method,
                    issued.value.secret(),
                    &request.redirect_uri,
                ))?
            }
            _ => {
                return Err(invalid(
                    crate::codes::auth::METHOD_NOT_REDIRECT,
                    "connections with this method are not created by an authorization redirect",
                ));
            }
        };
        self.host.oauth_states().put_oauth_state(&pending).await?;
        tracing::debug!(
            target: "integrations::auth",
            tenant = %request.tenant,
            key = %context.target.key,
            method = %method.id,
            "authorization started"
        );
        Ok(AuthorizationRedirect { url, expires_at })
    }

    /// Completes an authorization from its callback and stores the connection.
    ///
    /// When the provider names an account (an external subject) already connected
    /// through the same target, in the same tenant and scope, that connection is
    /// reauthorized and returned (its id, new credentials, `active`) rather than a
    /// second one created: two connections of one account would make every webhook
    /// delivery for it ambiguous. Two callbacks connecting one account at once end the
    /// same way: without a chosen id, both create under the account's connection id,
    /// and the one that finds it taken reauthorizes it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Verification`](crate::ErrorKind::Verification) for an unknown, expired or replayed state
    /// (`oauth.unknown_state`; `oauth.state_expired` when a store returned an expired
    /// one, which conforming stores never do), one started by
    /// another tenant, user or definition (`oauth.state_mismatch`) or for another redirect
    /// URI (`oauth.redirect_uri_mismatch`), a malformed callback (`oauth.missing_state`,
    /// `oauth.invalid_callback`, `oauth.missing_code`); [`ErrorKind::Provider`](crate::ErrorKind::Provider)
    /// for a provider `error=` callback (`oauth.access_denied` when the user declined,
    /// `oauth.authorization_failed` for any other error); token endpoint
    /// errors (`oauth.token_error`, `oauth.invalid_grant`, `oauth.invalid_client`,
    /// `oauth.unavailable`, `oauth.rate_limited`); [`ErrorKind::Conflict`](crate::ErrorKind::Conflict)
    /// (`auth.connection_exists`, also when another callback created the chosen id
    /// meanwhile; `auth.subject_mismatch`; `store.version_conflict` when the connection
    /// kept changing while it was reauthorized); `auth.connection_not_found` when the
    /// connection was deleted while it was reauthorized; storage errors. Nothing is
    /// stored on error, and the state is consumed either way.
    pub async fn complete(&self, callback: CompleteAuthorization) -> Result<Connection, Error> {
        let mut params = parse_query(&callback.query)?;
        let state = params.remove("state").unwrap_or_default();
        let pending = state::take_verified(
            &self.host,
            &state,
            &Binding {
                tenant: &callback.tenant,
                user: callback.user.as_ref(),
                redirect_uri: &callback.redirect_uri,
                key: callback.key.as_ref(),
            },
        )
        .await?;
        let result = self.finish(&pending, &params, callback.connection_id).await;
        let outcome = match &result {
            Ok(_) => AuditOutcome::Success,
            Err(e) => AuditOutcome::Failure {
                code: e.code().to_owned(),
            },
        };
        let mut event = AuditEvent::new(
            now(&self.host),
            pending.tenant.clone(),
            AuditAction::CONNECTION_AUTHORIZED,
            outcome,
        )
        .with_key(pending.key.clone())
        .with_actor(pending.user.clone())
        .with_detail("method", pending.method.as_str())
        .with_detail(
            "intent",
            match pending.intent {
                AuthorizationIntent::Create { .. } => "create",
                AuthorizationIntent::Reauthorize { .. } => "reauthorize",
            },
        );
        if let Ok(connection) = &result {
            event = event.with_connection(connection.id.clone());
        }
        self.host.audit().record(event).await;
        match (result, &self.managed) {
            (Ok(connection), Some(managed)) => Ok(managed.after_connect(connection).await),
            (result, _) => result,
        }
    }

    async fn finish(
        &self,
        pending: &PendingAuthorization,
        params: &BTreeMap<String, String>,
        connection_id: Option<ConnectionId>,
    ) -> Result<Connection, Error> {
        if let Some(code) = params.get("error") {
            // The user declined: the catalogue's `oauth.access_denied`, as the token
            // endpoint's `access_denied` is.
            if code == "access_denied" {
                return Err(crate::codes::oauth::ACCESS_DENIED
                    .error("the authorization was denied at the provider (access_denied)"));
            }
            return Err(crate::codes::oauth::AUTHORIZATION_FAILED.error(format!(
                "the provider did not authorize the connection ({})",
                shown(code)
            )));
        }
        let context =
            TargetContext::load(&self.registry, &self.host, &pending.tenant, &pending.target)
                .await?;
        if context.target.key != pending.key {
            return Err(crate::codes::auth::TARGET_MISMATCH
                .error("the target changed definition since the authorization started"));
        }
        let method = context.method(&pending.method)?;
        // A caller-chosen id that is taken is refused before the code is spent.
        if let (AuthorizationIntent::Create { .. }, Some(id)) = (&pending.intent, &connection_id)
            && self
                .host
                .connections()
                .get_connection(&pending.tenant, id)
                .await?
                .is_some()
        {
            return Err(crate::codes::auth::CONNECTION_EXISTS
                .error("a connection with this id already exists; reauthorize it instead"));
        }
        let obtained: Obtained = match method.kind {
            ConnectionMethodKind::OAuth2AuthorizationCode => {
                oauth2::complete::complete(&self.host, &context, method, pending, params).await?
            }
            ConnectionMethodKind::Redirect => {
                let flow = context.redirect_flow(method)?;
                let secrets = context.secrets(&self.host)?;
                let outcome = flow
                    .complete(&RedirectCallback::new(
                        &self.host,
                        pending,
                        &context.target,
                        &context.config,
                        &secrets,
                        method,
                        params,
                    ))
                    .await?;
                Obtained {
                    credentials: outcome.credentials,
                    granted_scopes: outcome.granted_scopes,
                    external_subject: outcome.external_subject,
                }
            }
            _ => {
                return Err(invalid(
                    crate::codes::auth::METHOD_NOT_REDIRECT,
                    "connections with this method are not created by an authorization redirect",
                ));
            }
        };
        persist::save(
            &self.host,
            Destination {
                tenant: &pending.tenant,
                target: &pending.target,
                key: &pending.key,
                method: &pending.method,
                intent: &pending.intent,
                connection_id,
                actor: persist::Actor::Session(pending.user.as_ref()),
            },
            obtained,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        assert!(parse_query("code=a&state=b").is_ok());
        assert_eq!(
            parse_query("?code=a&code=b&state=s").unwrap_err().code(),
            "oauth.invalid_callback"
        );
    }

    #[test]
    fn provider_codes_are_sanitized() {
        assert_eq!(shown("access_denied"), "access_denied");
        assert_eq!(shown("<b>x</b>"), "unrecognized");
    }

    #[test]
    fn debug_hides_the_query() {
        let c = CompleteAuthorization::new(
            TenantId::new("t").unwrap(),
            "https://app.test/cb",
            "code=the-code&state=the-state",
        );
        let debug = format!("{c:?}");
        assert!(!debug.contains("the-code") && !debug.contains("the-state"));
        let r = AuthorizationRedirect {
            url: "https://p.test/authorize?state=the-state".into(),
            expires_at: Timestamp::UNIX_EPOCH,
        };
        assert!(!format!("{r:?}").contains("the-state"));
    }
}
