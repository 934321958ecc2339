//! The provider's half of sync: [`SyncSource`] (streams, pages, records) and the
//! [`SyncRequest`] it reads with. The engine is [`crate::sync::SyncRunner`].

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;
use crate::credential::{CredentialRequest, CredentialSource};
use crate::host::{Clock, HttpClient, HttpRequest, HttpResponse};
use crate::model::Connection;
use crate::plan::CredentialSelector;
use crate::provider::tools::{RequestAuth, add_missing_headers, clone_request, inject};
use crate::schema::Parsed;

/// Whether a run fetches everything or only what changed since the watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SyncMode {
    /// Every record, from the first page.
    Full,
    /// Records changed since the watermark of the last completed run.
    Incremental,
}

/// A stream a source offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SyncStream {
    /// Its name (`issues`, `channels`).
    pub name: String,
    /// Whether it supports incremental runs.
    pub incremental: bool,
}

impl SyncStream {
    /// A stream.
    pub fn new(name: impl Into<String>, incremental: bool) -> Self {
        Self {
            name: name.into(),
            incremental,
        }
    }
}

/// One record of a page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SyncRecord {
    /// The provider's id; sinks upsert by it.
    pub id: String,
    /// When it last changed, in a form that orders as text (RFC 3339 or a zero-padded
    /// number): the watermark is the greatest seen.
    pub updated_at: Option<String>,
    /// The record.
    pub data: Value,
}

impl SyncRecord {
    /// A record.
    pub fn new(id: impl Into<String>, updated_at: Option<String>, data: Value) -> Self {
        Self {
            id: id.into(),
            updated_at,
            data,
        }
    }
}

/// One page of a stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SyncPage {
    /// Records created or changed.
    pub records: Vec<SyncRecord>,
    /// Ids of records deleted at the provider.
    pub deleted: Vec<String>,
    /// The cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// The source's own state to keep with the checkpoint (for example the `ETag` of a
    /// first page, for a conditional request next run); `None` keeps the saved state.
    pub state: Option<Value>,
}

impl SyncPage {
    /// A page.
    pub fn new(records: Vec<SyncRecord>, next_cursor: Option<String>) -> Self {
        Self {
            records,
            deleted: Vec::new(),
            next_cursor,
            state: None,
        }
    }

    /// Sets the source state to keep with the checkpoint.
    #[must_use]
    pub fn with_state(mut self, state: Value) -> Self {
        self.state = Some(state);
        self
    }

    /// Sets the deleted ids.
    #[must_use]
    pub fn with_deleted(mut self, deleted: Vec<String>) -> Self {
        self.deleted = deleted;
        self
    }
}

/// What a source gets to fetch one page.
#[non_exhaustive]
pub struct SyncRequest<'a> {
    /// The connection synced.
    pub connection: &'a Connection,
    /// Its target's config, parsed.
    pub target_config: &'a Parsed,
    /// The stream.
    pub stream: &'a str,
    /// Full or incremental.
    pub mode: SyncMode,
    /// The cursor of the page to fetch; `None` for the first page.
    pub cursor: Option<&'a str>,
    /// For incremental runs: fetch records changed after this.
    pub since: Option<&'a str>,
    /// The source state saved with the checkpoint by an earlier page
    /// ([`SyncPage::state`]); `Value::Null` when none was.
    pub state: &'a Value,
    /// Outbound HTTP.
    pub http: &'a dyn HttpClient,
    /// The connection's credentials.
    pub credentials: &'a dyn CredentialSource,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// The definition's default headers for the target.
    pub(crate) default_headers: &'a http::HeaderMap,
    /// The credential of the connection's method when a request names none.
    pub(crate) default_credential: Option<&'a CredentialSelector>,
}

/// The error of a run whose credential the provider refused and that could not be
/// renewed: the connection was revoked at the provider, or its key deleted.
pub fn credential_rejected() -> Error {
    crate::codes::sync::CREDENTIAL_REJECTED.error("the provider refused the connection's credential (revoked or expired); reconnect to resume the sync",
    )
}

impl SyncRequest<'_> {
    /// The credential a request through this connection uses when it names none, as for
    /// tools ([`ToolContext::default_credential`](crate::tools::ToolContext::default_credential)):
    /// an API-key method's first secret field, an OAuth 2.0 method's access token; `None`
    /// for methods whose provider names a resolver. A source serving several methods
    /// sends with it (`RequestAuth::bearer(selector)`) rather than guessing the credential
    /// from the method's id (see the [prelude](crate::provider::prelude) example).
    pub fn default_credential(&self) -> Option<&CredentialSelector> {
        self.default_credential
    }

    /// The headers every request to the provider's API carries for this target
    /// ([`IntegrationDefinition::default_headers`](crate::definition::IntegrationDefinition::default_headers)):
    /// [`send`](Self::send) adds them where a request does not set them.
    pub fn default_headers(&self) -> &http::HeaderMap {
        self.default_headers
    }

    /// Sends `request` with the definition's default headers added where it does not set
    /// them, and the connection's credential that `auth` names injected, through the
    /// host's HTTP client. When the provider refuses it (`auth.rejected`), the credential
    /// source is told and the request is sent once more with the fresh credential it
    /// returns.
    ///
    /// # Errors
    ///
    /// `sync.credential_rejected` ([`credential_rejected`]) when the provider refuses the
    /// credential and no fresh one works; the credential source's and the HTTP client's
    /// errors.
    pub async fn send(
        &self,
        request: HttpRequest,
        auth: &RequestAuth,
    ) -> Result<HttpResponse, Error> {
        let mut request = request;
        add_missing_headers(request.headers_mut(), self.default_headers);
        let wanted = CredentialRequest::new(self.connection, &auth.selector);
        let credential = self.credentials.credential(&wanted).await?;
        let first = inject(clone_request(&request), &auth.injection, &credential.value)?;
        let response = self.http.send(first).await?;
        if !(auth.rejected)(&response) {
            return Ok(response);
        }
        let Some(fresh) = self
            .credentials
            .credential_rejected(&wanted, &credential.value)
            .await?
        else {
            return Err(credential_rejected());
        };
        let second = inject(request, &auth.injection, &fresh.value)?;
        let response = self.http.send(second).await?;
        if (auth.rejected)(&response) {
            return Err(credential_rejected());
        }
        Ok(response)
    }
}

impl fmt::Debug for SyncRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncRequest")
            .field("connection", &self.connection.id)
            .field("stream", &self.stream)
            .field("mode", &self.mode)
            .field("cursor", &self.cursor)
            .field("since", &self.since)
            .finish_non_exhaustive()
    }
}

/// The sync capability of a provider.
#[async_trait]
pub trait SyncSource: Send + Sync {
    /// The streams offered.
    fn streams(&self) -> Vec<SyncStream>;

    /// Fetches one page.
    ///
    /// # Errors
    ///
    /// Provider and transport errors; temporary ones (`is_temporary`) leave the checkpoint
    /// where it was so the next run retries the page. A cursor that cannot be used (not
    /// one this source wrote, written for another config of the connection, or refused
    /// by the provider as expired) is [`sync.invalid_cursor`](crate::codes::sync::INVALID_CURSOR):
    /// the runner then drops a cursor saved by an earlier attempt and fetches the run's
    /// first page.
    async fn fetch_page(&self, request: SyncRequest<'_>) -> Result<SyncPage, Error>;

    /// The watermark meaning "changed at `at`" in `stream`'s [`SyncRecord::updated_at`]
    /// form, when that form is the provider's clock time.
    ///
    /// The runner never lets a run's watermark pass the run's start minus
    /// [`WATERMARK_MARGIN`](crate::sync::WATERMARK_MARGIN), so a record changed during
    /// the run, after its page was read, is read again by the next incremental run. The
    /// default, `None`, keeps the newest `updated_at` seen, which is only safe for a
    /// source that reads every stream in the order of `updated_at`.
    fn watermark_at(&self, stream: &str, at: crate::Timestamp) -> Option<String> {
        let _ = (stream, at);
        None
    }
}
