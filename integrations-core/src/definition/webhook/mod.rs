//! The declarative webhook half of a definition: [`WebhookSource`] (how a provider
//! delivers webhooks), its [`SignatureScheme`] catalog ([`schemes`]), the [`Headers`] of
//! a delivery, the verification [`errors`] and their codes, and [`WebhookLifecycle`].
//!
//! Pure data and pure functions over bytes: the ingest pipeline
//! ([`crate::webhook::Ingest`]) and providers' handlers build on them.

pub mod errors;
mod headers;
pub mod schemes;
mod source;

use serde::{Deserialize, Serialize};

pub use self::errors::{codes, status_for};
pub use self::headers::Headers;
pub use self::schemes::{
    BodyTimestamp, HmacHexScheme, SignRequest, SignatureScheme, SlackScheme, StandardScheme,
    TimestampUnit, Verified,
};
pub use self::source::WebhookSource;

/// Who owns a webhook source's registration at the provider (seed 004's
/// `webhookSource.lifecycle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WebhookLifecycle {
    /// The provider sends deliveries on its own (an app-level subscription, a hook
    /// configured by hand): nothing is registered per connection.
    Implicit,
    /// The SDK registers a hook at the provider when a connection is made and deletes it
    /// when the connection is disconnected
    /// ([`WebhookRegistrar`](crate::provider::webhook::WebhookRegistrar)).
    Managed,
}

impl WebhookLifecycle {
    /// `implicit` or `managed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Implicit => "implicit",
            Self::Managed => "managed",
        }
    }
}
