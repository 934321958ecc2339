//! [`WebhookSource`]: what a definition declares, as data, about how its provider delivers
//! webhooks.

use std::time::Duration;

use super::{SignatureScheme, WebhookLifecycle};
use crate::ConnectionMethodId;
use crate::model::CredentialType;

/// How a provider delivers webhooks: the signature scheme, where the signing secrets
/// live, which headers carry the delivery id and the event name, and how fast the
/// provider wants an answer. Pure data, returned by
/// [`IntegrationDefinition::webhook_source`](crate::definition::IntegrationDefinition::webhook_source).
///
/// Secrets are looked up in two places, and every one found is tried (so a secret
/// rotates by adding the new one before removing the old one):
///
/// * the named fields of the target's sealed secrets (a string, or an array of strings);
/// * the connection's credentials of the named type, in any slot.
///
/// ```
/// use std::time::Duration;
/// use integrations_core::model::CredentialType;
/// use integrations_core::webhook::{HmacHexScheme, WebhookSource};
///
/// let source = WebhookSource::new(HmacHexScheme::new("x-acme-signature"))
///     .with_target_secret("webhook_secret")
///     .with_connection_credential(CredentialType::WEBHOOK_SECRET)
///     .with_delivery_header("x-acme-delivery")
///     .with_ack_deadline(Duration::from_secs(5));
/// assert_eq!(source.scheme().name(), "hmac-sha256-hex");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookSource {
    scheme: SignatureScheme,
    target_secret_fields: Vec<String>,
    connection_credential: Option<CredentialType>,
    delivery_header: Option<String>,
    event_header: Option<String>,
    event_field: Option<String>,
    ack_deadline: Option<Duration>,
    no_retry_header: Option<(String, String)>,
    managed_methods: Vec<ConnectionMethodId>,
}

impl WebhookSource {
    /// A source signed with `scheme`, with no secret locations yet.
    pub fn new(scheme: impl Into<SignatureScheme>) -> Self {
        Self {
            scheme: scheme.into(),
            target_secret_fields: Vec::new(),
            connection_credential: None,
            delivery_header: None,
            event_header: None,
            event_field: None,
            ack_deadline: None,
            no_retry_header: None,
            managed_methods: Vec::new(),
        }
    }

    /// A field of the target secrets that holds a signing secret (or an array of them).
    #[must_use]
    pub fn with_target_secret(mut self, field: impl Into<String>) -> Self {
        self.target_secret_fields.push(field.into());
        self
    }

    /// Connection credentials of this type hold signing secrets.
    #[must_use]
    pub fn with_connection_credential(mut self, credential_type: CredentialType) -> Self {
        self.connection_credential = Some(credential_type);
        self
    }

    /// The header carrying the delivery id (`X-GitHub-Delivery`).
    #[must_use]
    pub fn with_delivery_header(mut self, header: impl Into<String>) -> Self {
        self.delivery_header = Some(header.into().to_ascii_lowercase());
        self
    }

    /// The header naming the event (`X-GitHub-Event`).
    #[must_use]
    pub fn with_event_header(mut self, header: impl Into<String>) -> Self {
        self.event_header = Some(header.into().to_ascii_lowercase());
        self
    }

    /// The top-level string field of the JSON body that the event header must agree with
    /// (Linear's `type` for `Linear-Event`): a signer derives the header from it.
    #[must_use]
    pub fn with_event_field(mut self, field: impl Into<String>) -> Self {
        self.event_field = Some(field.into());
        self
    }

    /// How soon the provider wants a 2xx before it counts the delivery as failed (Slack:
    /// 3 s). A host with slow sinks uses
    /// [`Ingest::accept`](crate::webhook::Ingest::accept) for such sources.
    #[must_use]
    pub fn with_ack_deadline(mut self, deadline: Duration) -> Self {
        self.ack_deadline = Some(deadline);
        self
    }

    /// A header added to 4xx answers to ask the provider not to retry (Slack
    /// `X-Slack-No-Retry: 1`).
    #[must_use]
    pub fn with_no_retry_header(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.no_retry_header = Some((name.into().to_ascii_lowercase(), value.into()));
        self
    }

    /// Connections of `method` have their webhook registered at the provider by the SDK
    /// ([`WebhookLifecycle::Managed`]); other methods' deliveries are
    /// [`Implicit`](WebhookLifecycle::Implicit) (app-level, or configured by hand).
    #[must_use]
    pub fn with_managed_method(mut self, method: ConnectionMethodId) -> Self {
        self.managed_methods.push(method);
        self
    }

    /// Who owns the webhook registration of a connection of `method`.
    pub fn lifecycle(&self, method: &ConnectionMethodId) -> WebhookLifecycle {
        if self.managed_methods.contains(method) {
            WebhookLifecycle::Managed
        } else {
            WebhookLifecycle::Implicit
        }
    }

    /// The methods whose connections' webhooks are managed.
    pub fn managed_methods(&self) -> &[ConnectionMethodId] {
        &self.managed_methods
    }

    /// The signature scheme.
    pub fn scheme(&self) -> &SignatureScheme {
        &self.scheme
    }

    /// The target-secret fields holding signing secrets.
    pub fn target_secret_fields(&self) -> &[String] {
        &self.target_secret_fields
    }

    /// The connection credential type holding signing secrets.
    pub fn connection_credential(&self) -> Option<&CredentialType> {
        self.connection_credential.as_ref()
    }

    /// The delivery-id header, lowercased.
    pub fn delivery_header(&self) -> Option<&str> {
        self.delivery_header.as_deref()
    }

    /// The event-name header, lowercased.
    pub fn event_header(&self) -> Option<&str> {
        self.event_header.as_deref()
    }

    /// The body field the event header must agree with.
    pub fn event_field(&self) -> Option<&str> {
        self.event_field.as_deref()
    }

    /// The provider's answer deadline.
    pub fn ack_deadline(&self) -> Option<Duration> {
        self.ack_deadline
    }

    /// The no-retry header and its value.
    pub fn no_retry_header(&self) -> Option<(&str, &str)> {
        self.no_retry_header
            .as_ref()
            .map(|(n, v)| (n.as_str(), v.as_str()))
    }
}
