//! Inbound webhooks: signature schemes over raw bytes, the ingest pipeline, and the
//! normalized event every provider's deliveries become.
//!
//! * [`SignatureScheme`] ([`schemes`]): HMAC-SHA256 hex with an optional prefix and an
//!   optional timestamp in the body, Slack `v0`, Standard Webhooks; signing and
//!   verification over `&[u8]` only, several secrets for rotation, the clock injected,
//!   constant-time compares, stable error codes ([`codes`]).
//! * [`WebhookSource`]: what a definition declares about its deliveries, as data
//!   ([`IntegrationDefinition::webhook_source`](crate::definition::IntegrationDefinition::webhook_source)).
//! * [`WebhookHandler`]: the provider's pure classify, normalize and dispatch
//!   ([`IntegrationProvider::webhooks`](crate::provider::IntegrationProvider::webhooks)).
//! * [`Ingest`]: the pipeline (size limit, classify, resolve the connection, verify,
//!   record once, normalize, deliver, answer), inline or acknowledge-now/process-later.
//! * [`WebhookEvent`]: `<family>.<object>.<action>`, ids, times, an order key, a typed
//!   subject, a [`SessionDispatch`], and the raw JSON payload.
//! * [`ManagedWebhooks`] with the provider's [`WebhookRegistrar`]: hooks registered at the
//!   provider on connect (idempotently, with a generated secret kept sealed on the
//!   connection) and deleted on disconnect.
//! * [`WebhookSigner`]: deliveries signed as the provider would sign them, for any
//!   [`WebhookSource`] (the CLI's `integrations webhook sign`, tests, replay tools).

mod ingest;
mod managed;
mod signer;

pub use crate::definition::webhook::{
    BodyTimestamp, Headers, HmacHexScheme, SignRequest, SignatureScheme, SlackScheme,
    StandardScheme, TimestampUnit, Verified, WebhookLifecycle, WebhookSource, codes, errors,
    schemes, status_for,
};
pub use crate::model::ManagedWebhook;
pub use crate::model::{ConversationKey, SessionDispatch};
pub use crate::model::{EventSubject, EventType, SubjectKind, WebhookEvent};
pub use crate::provider::webhook::{
    Classification, EventRoute, GrantChange, Handshake, HandshakeVerification, HookRemoval,
    HookRequest, InboundRequest, NormalizeContext, Normalized, RegisteredHook, Routing,
    TargetClaim, WebhookHandler, WebhookRegistrar, WebhookResponse, form_to_json, form_value,
    is_form_encoded, is_json_content_type, lenient_timestamp, raw_json, snake_case,
    source_order_key,
};
pub use ingest::{
    Accepted, DEFAULT_MAX_BODY_BYTES, DELIVERY_IN_PROGRESS_WINDOW, DeliveryFailed, Ingest,
    IngestOutcome, Ingested, PendingDelivery, WebhookRequest,
};
pub(crate) use managed::keep_managed_secret;
pub use managed::{MANAGED_WEBHOOK_SLOT, ManagedWebhooks, REGISTRATION_LEASE, WebhookRemoval};
pub use signer::{Delivery, SignedDelivery, WebhookSigner};
