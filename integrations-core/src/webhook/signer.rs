//! [`WebhookSigner`]: signed webhook deliveries, as a provider would send them.

use std::collections::BTreeMap;

use super::{
    Headers, SignRequest, SignatureScheme, WebhookRequest, WebhookSource, is_form_encoded,
};
use crate::{DefinitionKey, Error, Secret, Timestamp};

/// Produces signed deliveries for any [`WebhookSource`]: the scheme's signature headers,
/// the source's delivery-id and event headers, a content type, and the body untouched.
///
/// The signer knows no provider: it reads everything from the source a definition
/// declares, so it signs for any integration, shipped or not.
///
/// ```
/// use integrations_core::Timestamp;
/// use integrations_core::webhook::{HmacHexScheme, WebhookSource};
/// use integrations_core::webhook::{Delivery, WebhookSigner};
///
/// let source = WebhookSource::new(HmacHexScheme::new("x-hub-signature-256").with_prefix("sha256="))
///     .with_delivery_header("x-github-delivery")
///     .with_event_header("x-github-event");
/// let signer = WebhookSigner::new(source, "It's a Secret to Everybody");
/// let signed = signer.sign(
///     &Delivery::new(b"Hello, World!", Timestamp::from_unix_seconds(0))
///         .with_id("72d3162e-cc78-11e3-81ab-4c9367dc0958")
///         .with_event("ping"),
/// )?;
/// let headers = signed.headers();
/// assert_eq!(
///     headers.get("x-hub-signature-256"),
///     Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
/// );
/// assert_eq!(headers.get("x-github-event"), Some("ping"));
/// # Ok::<(), integrations_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct WebhookSigner {
    source: WebhookSource,
    secret: Secret,
    extra: Vec<(String, String)>,
}

/// One delivery to sign: the body, when it is sent, and the ids the provider would put
/// on it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Delivery<'a> {
    /// The raw body.
    pub body: &'a [u8],
    /// When it is sent (signed by schemes with a timestamp).
    pub timestamp: Timestamp,
    /// The delivery or message id (the source's delivery header; Standard Webhooks signs
    /// it).
    pub id: Option<&'a str>,
    /// The event name (the source's event header).
    pub event: Option<&'a str>,
    /// The content type; by default `application/x-www-form-urlencoded` for form bodies
    /// and `application/json` otherwise.
    pub content_type: Option<&'a str>,
}

impl<'a> Delivery<'a> {
    /// A delivery of `body` sent at `timestamp`.
    pub fn new(body: &'a [u8], timestamp: Timestamp) -> Self {
        Self {
            body,
            timestamp,
            id: None,
            event: None,
            content_type: None,
        }
    }

    /// Sets the delivery id.
    #[must_use]
    pub fn with_id(mut self, id: &'a str) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets the event name.
    #[must_use]
    pub fn with_event(mut self, event: &'a str) -> Self {
        self.event = Some(event);
        self
    }

    /// Sets the content type.
    #[must_use]
    pub fn with_content_type(mut self, content_type: &'a str) -> Self {
        self.content_type = Some(content_type);
        self
    }
}

/// A signed delivery: headers in the order they were produced, and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignedDelivery {
    /// The headers, lowercased names.
    pub headers: Vec<(String, String)>,
    /// The body, exactly as signed.
    pub body: Vec<u8>,
}

impl SignedDelivery {
    /// The headers, normalized.
    pub fn headers(&self) -> Headers {
        Headers::from_pairs(self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())))
    }

    /// The value of one header.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Replaces (or adds) a header: to tamper with a delivery in a test.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.into()));
        self
    }

    /// Removes a header.
    #[must_use]
    pub fn without_header(mut self, name: &str) -> Self {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(n, _)| *n != name);
        self
    }

    /// Replaces the body, keeping the headers (and so the old signature).
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// A request for `key`, as a host route would build it.
    pub fn request(&self, key: &DefinitionKey) -> WebhookRequest {
        WebhookRequest::new(key.clone(), self.headers(), self.body.clone())
    }

    /// A request for `key` on the route with endpoint key `endpoint`.
    pub fn request_to(&self, key: &DefinitionKey, endpoint: &str) -> WebhookRequest {
        self.request(key).with_endpoint(endpoint)
    }
}

impl WebhookSigner {
    /// A signer for `source` with `secret`.
    pub fn new(source: WebhookSource, secret: impl Into<Secret>) -> Self {
        Self {
            source,
            secret: secret.into(),
            extra: Vec::new(),
        }
    }

    /// A signer for a definition's webhook source; `None` when it declares none.
    pub fn for_definition(
        definition: &dyn crate::definition::IntegrationDefinition,
        secret: impl Into<Secret>,
    ) -> Option<Self> {
        definition
            .webhook_source()
            .map(|source| Self::new(source, secret))
    }

    /// Adds a header to every delivery (`User-Agent`, `X-GitHub-Enterprise-Host`).
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra
            .push((name.into().to_ascii_lowercase(), value.into()));
        self
    }

    /// The source.
    pub fn source(&self) -> &WebhookSource {
        &self.source
    }

    /// Signs a delivery.
    ///
    /// # Errors
    ///
    /// As [`SignatureScheme::sign`]: an empty or invalid secret, a Standard Webhooks
    /// delivery without an id.
    pub fn sign(&self, delivery: &Delivery<'_>) -> Result<SignedDelivery, Error> {
        let mut request = SignRequest::new(delivery.body, &self.secret, delivery.timestamp);
        if let Some(id) = delivery.id {
            request = request.with_id(id);
        }
        let signed: BTreeMap<String, String> = self.source.scheme().sign(&request)?;
        let mut headers: Vec<(String, String)> = Vec::new();
        let content_type = delivery.content_type.unwrap_or_else(|| {
            if is_form_encoded(None, delivery.body) {
                "application/x-www-form-urlencoded"
            } else {
                "application/json"
            }
        });
        headers.push(("content-type".to_owned(), content_type.to_owned()));
        if let (Some(name), Some(event)) = (self.source.event_header(), delivery.event) {
            headers.push((name.to_owned(), event.to_owned()));
        }
        if let (Some(name), Some(id)) = (self.source.delivery_header(), delivery.id)
            && !signed.contains_key(name)
        {
            headers.push((name.to_owned(), id.to_owned()));
        }
        headers.extend(signed);
        headers.extend(self.extra.iter().cloned());
        Ok(SignedDelivery {
            headers,
            body: delivery.body.to_vec(),
        })
    }

    /// The scheme.
    pub fn scheme(&self) -> &SignatureScheme {
        self.source.scheme()
    }
}
