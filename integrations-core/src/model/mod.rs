//! The domain records. Every record carries its tenant.
//!
//! Records are plain data with public fields so hosts can map them to and from their
//! storage; they are `#[non_exhaustive]`, so they are built with their `new` constructor
//! and later fields can be added without breaking hosts.

mod approval;
mod binding;
mod checkpoint;
mod connection;
mod continuation;
mod credential;
mod dispatch;
mod event;
mod oauth_state;
mod publication;
mod session;
mod target;
mod webhook;

pub use approval::{ApprovalCall, ApprovalId, ApprovalRequest, ApprovalStage};
pub use binding::{Binding, ProfileVersion};
pub use checkpoint::{SyncCheckpoint, SyncLease};
pub use connection::{Connection, ConnectionScope, ConnectionStatus};
pub use continuation::PendingContinuation;
pub use credential::{Credential, CredentialSet, CredentialType};
pub use dispatch::{ConversationKey, SessionDispatch};
pub use event::{EventSubject, EventType, SubjectKind, WebhookEvent};
pub use oauth_state::{AuthorizationIntent, PendingAuthorization};
pub use publication::{Capability, Publication, PublicationRefusal, PublicationScope};
pub use session::{CallContext, Session};
pub use target::Target;
pub use webhook::ManagedWebhook;
