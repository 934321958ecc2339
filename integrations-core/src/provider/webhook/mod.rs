//! The provider's half of webhooks: [`WebhookHandler`] (classify, normalize, dispatch)
//! with its request and answer types, the payload helpers, and [`WebhookRegistrar`]
//! (creating and deleting a hook at the provider). The declarative half is
//! [`crate::definition::webhook`]; the engines are [`crate::webhook::Ingest`] and
//! [`crate::webhook::ManagedWebhooks`].

mod handler;
mod payload;
mod registrar;

pub use self::handler::{
    Classification, EventRoute, GrantChange, Handshake, HandshakeVerification, InboundRequest,
    NormalizeContext, Normalized, Routing, TargetClaim, WebhookHandler, WebhookResponse,
};
pub use self::payload::{
    form_to_json, form_value, is_form_encoded, is_json_content_type, lenient_timestamp, raw_json,
    snake_case, source_order_key,
};
pub use self::registrar::{HookRemoval, HookRequest, RegisteredHook, WebhookRegistrar};
