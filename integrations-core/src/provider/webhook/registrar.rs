//! [`WebhookRegistrar`]: the provider's half of managed webhook registration, creating and
//! deleting a hook at the provider for one connection.
//!
//! Core ([`ManagedWebhooks`](crate::webhook::ManagedWebhooks)) decides when (after a connection is
//! stored, before it is disconnected), generates the signing secret, keeps it sealed on
//! the connection and records the provider's hook id; a provider implements only the two
//! API calls.

use std::fmt;

use async_trait::async_trait;

use crate::definition::ConnectionMethodKind;
use crate::model::Connection;
use crate::plan::CredentialSelector;
use crate::provider::tools::ToolHttp;
use crate::schema::Parsed;
use crate::{Error, Secret, Timestamp};

/// What a registrar gets to create or delete a connection's hook.
#[non_exhaustive]
pub struct HookRequest<'a> {
    /// The connection.
    pub connection: &'a Connection,
    /// Its method's kind (API keys and OAuth tokens are sent differently by some
    /// providers).
    pub method: ConnectionMethodKind,
    /// The connection's credential for the provider's API.
    pub credential: &'a CredentialSelector,
    /// The target's config, parsed.
    pub target_config: &'a Parsed,
    /// The connection's config, parsed (a provider reads which team, repository or
    /// organization the hook is for).
    pub connection_config: &'a Parsed,
    /// The delivery URL (`{base}/webhooks/{family}/{variant}/{endpoint key}`), unique to
    /// the connection.
    pub url: &'a str,
    /// Where the hook to delete lives, as the registrar named it when it registered the
    /// hook ([`RegisteredHook::place`]); `None` when registering, and for hooks recorded
    /// without one. A registrar that names places deletes there, not where the
    /// connection's config now points.
    pub place: Option<&'a str>,
    /// Authenticated HTTP to the provider (credentials injected, refreshed once on
    /// refusal, every use audited).
    pub http: &'a ToolHttp,
    /// The current time.
    pub now: Timestamp,
}

impl fmt::Debug for HookRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookRequest")
            .field("connection", &self.connection.id)
            .field("method", &self.method)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// What registering found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegisteredHook {
    /// The provider's id of the hook: one hook wherever it lives (core deletes a hook
    /// recorded before as replaced only when its id differs from the one registered).
    pub hook_id: String,
    /// `false` when a hook for the URL existed already and was kept.
    pub created: bool,
    /// Where the hook lives, when the provider has several places for hooks (GitHub: a
    /// repository's or an organization's): recorded with the hook and handed back in
    /// [`HookRequest::place`] to delete it.
    pub place: Option<String>,
}

impl RegisteredHook {
    /// A hook the provider just created.
    pub fn created(hook_id: impl Into<String>) -> Self {
        Self {
            hook_id: hook_id.into(),
            created: true,
            place: None,
        }
    }

    /// A hook for the URL that existed already.
    pub fn existing(hook_id: impl Into<String>) -> Self {
        Self {
            hook_id: hook_id.into(),
            created: false,
            place: None,
        }
    }

    /// The same hook, living at `place` (see [`place`](Self::place)).
    #[must_use]
    pub fn at(mut self, place: impl Into<String>) -> Self {
        self.place = Some(place.into());
        self
    }
}

/// What deleting did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HookRemoval {
    /// The provider deleted the hook.
    Deleted,
    /// The provider no longer had it.
    AlreadyGone,
}

/// Creates and deletes a connection's webhook at the provider
/// ([`IntegrationProvider::webhook_registrar`](crate::provider::IntegrationProvider::webhook_registrar)).
#[async_trait]
pub trait WebhookRegistrar: Send + Sync {
    /// Makes sure a hook delivering to `request.url`, signed with `secret`, exists:
    /// first looks for an existing hook with that URL (the URL holds the connection's own
    /// endpoint key, so only an earlier registration of this connection can have created
    /// it) and keeps it, brought up to date: signed with `secret` (an earlier
    /// registration's secret may since have been deleted), active, for the events a new
    /// hook would have; a hook the provider cannot bring to the scope the connection's
    /// config now names is replaced. Creates one otherwise.
    ///
    /// # Errors
    ///
    /// The provider's refusals (missing admin rights, validation) and transport errors;
    /// nothing is recorded then and registering again is safe.
    async fn register(
        &self,
        request: &HookRequest<'_>,
        secret: &Secret,
    ) -> Result<RegisteredHook, Error>;

    /// Deletes hook `hook_id`; a hook the provider no longer has is
    /// [`HookRemoval::AlreadyGone`], not an error.
    ///
    /// # Errors
    ///
    /// The provider's refusals and transport errors.
    async fn unregister(
        &self,
        request: &HookRequest<'_>,
        hook_id: &str,
    ) -> Result<HookRemoval, Error>;
}
