//! What the shipped sync sources share: which credential a connection syncs with, their
//! cursors and state as the runner saves them, and the errors of a sync request.

use integrations_core::Error;
use integrations_core::definition::{ConnectionMethod, ConnectionMethodKind};
use integrations_core::model::Connection;
use integrations_core::plan::CredentialSelector;
use integrations_core::sync::{SyncPage, SyncStream};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Brings a source state's set of the units read in full (repositories, channels) up to
/// this run: units not `listed` (dropped from the list, left: added again, they were not
/// read meanwhile) and those the run `passed_over` go, those the run `read_now` in full
/// come in. The run's own changes are carried in its cursor and applied on every page,
/// since a resumed run starts from the state of the last completed one. Whether the set
/// changed.
pub(crate) fn reconcile_read<T: Ord + Clone>(
    read: &mut std::collections::BTreeSet<T>,
    listed: &[T],
    passed_over: &[T],
    read_now: &[T],
) -> bool {
    let listed: std::collections::BTreeSet<&T> = listed.iter().collect();
    let known = read.len();
    read.retain(|unit| listed.contains(unit) && !passed_over.contains(unit));
    let mut changed = read.len() != known;
    for unit in read_now {
        if listed.contains(unit) {
            changed |= read.insert(unit.clone());
        }
    }
    changed
}

/// A source's cursor as the text the runner saves.
///
/// # Errors
///
/// An internal error if it cannot be encoded.
pub(crate) fn encode_cursor<T: Serialize>(provider: &str, cursor: &T) -> Result<String, Error> {
    serde_json::to_string(cursor).map_err(|e| {
        Error::internal(format!("a {provider} cursor could not be encoded")).with_source(e)
    })
}

/// A saved cursor read back.
///
/// # Errors
///
/// `sync.invalid_cursor` for a cursor of another shape (another release's, or Linear's
/// own from before its cursors were the source's): the runner then starts a resumed
/// run's pages over.
pub(crate) fn decode_cursor<T: DeserializeOwned>(provider: &str, saved: &str) -> Result<T, Error> {
    serde_json::from_str(saved).map_err(|_| {
        integrations_core::codes::sync::INVALID_CURSOR.error(format!(
            "the saved cursor is not one of this version's {provider} cursors"
        ))
    })
}

/// `page`, carrying the source's `state` when the page `changed` it.
pub(crate) fn with_state_if<T: Serialize>(page: SyncPage, changed: bool, state: &T) -> SyncPage {
    if changed {
        page.with_state(serde_json::to_value(state).unwrap_or(serde_json::Value::Null))
    } else {
        page
    }
}

/// The credential a connection syncs with, as tools use it: an API-key method's first
/// secret field; an OAuth method's access token.
///
/// # Errors
///
/// `sync.unsupported_method` for a method that yields no API credential.
pub(crate) fn credential(
    methods: &[ConnectionMethod],
    connection: &Connection,
) -> Result<(CredentialSelector, ConnectionMethodKind), Error> {
    let method = methods
        .iter()
        .find(|m| m.id == connection.method)
        .ok_or_else(|| unsupported_method(connection))?;
    let selector = method.default_credential();
    selector
        .map(|s| (s, method.kind))
        .ok_or_else(|| unsupported_method(connection))
}

fn unsupported_method(connection: &Connection) -> Error {
    crate::codes::sync::UNSUPPORTED_METHOD.error(format!(
        "connections made with the method {} cannot sync",
        connection.method
    ))
}

/// The error for a stream the source does not offer.
pub(crate) fn unknown_stream(provider: &str, stream: &str, streams: &[SyncStream]) -> Error {
    let names: Vec<&str> = streams.iter().map(|s| s.name.as_str()).collect();
    integrations_core::codes::sync::UNSUPPORTED.error(format!(
        "{provider} offers no stream {stream} (streams: {})",
        names.join(", ")
    ))
}

/// The error for an answer the source cannot read; the body is never quoted.
pub(crate) fn unexpected(provider: &str, status: http::StatusCode) -> Error {
    crate::codes::sync::UNEXPECTED_RESPONSE.error(format!(
        "{provider} answered HTTP {} with a body that is not the page expected",
        status.as_u16()
    ))
}

/// The error for a non-success status that is neither a rate limit nor a refused
/// credential: 5xx and 408 are temporary (the run stops and the next one retries the
/// page from the checkpoint); the rest are the provider's answer.
pub(crate) fn status(provider: &str, status: http::StatusCode) -> Error {
    let temporary = status.is_server_error() || status == http::StatusCode::REQUEST_TIMEOUT;
    let code = if temporary {
        crate::codes::sync::PROVIDER_UNAVAILABLE
    } else {
        crate::codes::sync::PROVIDER_ERROR
    };
    code.error(format!("{provider} answered HTTP {}", status.as_u16()))
}
