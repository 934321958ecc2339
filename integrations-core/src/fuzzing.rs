//! Internal parsers made reachable for the fuzz targets under `fuzz/` (cargo feature
//! `fuzzing`). Not part of the public API: no stability promise, hidden from the docs.

use crate::definition::OAuth2Spec;
use crate::host::HttpResponse;
use crate::{Error, Timestamp};

/// What a parsed token response held, without its secrets' values: whether it had a
/// refresh token, the expiry instants, the scopes and the subject.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParsedTokens {
    /// The access token's length in bytes (its value is a secret).
    pub access_token_len: usize,
    /// Whether a refresh token came with it.
    pub has_refresh_token: bool,
    /// When the access token expires.
    pub expires_at: Option<Timestamp>,
    /// When the refresh token expires.
    pub refresh_expires_at: Option<Timestamp>,
    /// The granted scopes, when the response named them.
    pub scopes: Option<Vec<String>>,
    /// The provider-side subject found at the spec's pointer.
    pub subject: Option<String>,
}

/// Reads a token endpoint's response exactly as the auth engine does.
///
/// # Errors
///
/// As the engine: `oauth.*` codes for redirects, rate limits, outages, provider errors and
/// bodies that are not a token response.
pub fn parse_token_response(
    response: &HttpResponse,
    spec: &OAuth2Spec,
    now: Timestamp,
) -> Result<ParsedTokens, Error> {
    let tokens = crate::auth::oauth2::token_response::parse(response, spec, now)?;
    Ok(ParsedTokens {
        access_token_len: tokens.access_token.expose().len(),
        has_refresh_token: tokens.refresh_token.is_some(),
        expires_at: tokens.expires_at,
        refresh_expires_at: tokens.refresh_expires_at,
        scopes: tokens.scopes,
        subject: tokens.subject,
    })
}
