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

mod dispatch;
pub mod errors;
mod event;
mod handler;
mod headers;
mod ingest;
mod managed;
mod payload;
mod registrar;
pub mod schemes;
mod signer;
mod source;

pub use dispatch::{ConversationKey, SessionDispatch};
pub use errors::{codes, status_for};
pub use event::{EventSubject, EventType, SubjectKind, WebhookEvent};
pub use handler::{
    Classification, EventRoute, GrantChange, Handshake, HandshakeVerification, InboundRequest,
    NormalizeContext, Normalized, Routing, TargetClaim, WebhookHandler, WebhookResponse,
};
pub use headers::Headers;
pub use ingest::{
    Accepted, DEFAULT_MAX_BODY_BYTES, Ingest, IngestOutcome, Ingested, PendingDelivery,
    WebhookRequest,
};
pub(crate) use managed::keep_managed_secret;
pub use managed::{MANAGED_WEBHOOK_SLOT, ManagedWebhooks, WebhookRemoval};
pub use payload::{
    form_to_json, form_value, is_form_encoded, is_json_content_type, lenient_timestamp, raw_json,
    snake_case, source_order_key,
};
pub use registrar::{
    HookRemoval, HookRequest, ManagedWebhook, RegisteredHook, WebhookLifecycle, WebhookRegistrar,
};
pub use schemes::{
    BodyTimestamp, HmacHexScheme, SignRequest, SignatureScheme, SlackScheme, StandardScheme,
    TimestampUnit, Verified,
};
pub use signer::{Delivery, SignedDelivery, WebhookSigner};
pub use source::WebhookSource;
