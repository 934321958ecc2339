//! The domain records. Every record carries its tenant.
//!
//! Records are plain data with public fields so hosts can map them to and from their
//! storage; they are `#[non_exhaustive]`, so they are built with their `new` constructor
//! and later fields can be added without breaking hosts.

mod binding;
mod checkpoint;
mod connection;
mod credential;
mod oauth_state;
mod publication;
mod target;

pub use binding::{Binding, ProfileVersion};
pub use checkpoint::{SyncCheckpoint, SyncLease};
pub use connection::{Connection, ConnectionScope, ConnectionStatus};
pub use credential::{Credential, CredentialSet, CredentialType};
pub use oauth_state::{AuthorizationIntent, PendingAuthorization};
pub use publication::{Capability, Publication, PublicationScope};
pub use target::Target;
