//! Inbound webhooks: the normalized event every provider's deliveries become.

mod event;

pub use event::{EventSubject, EventType, SubjectKind, WebhookEvent};
