//! The generic OAuth 2.0 engine pieces, driven by a definition's
//! [`OAuth2Spec`](crate::definition::OAuth2Spec): the authorization URL, token requests
//! over the host client, and the quirk-aware reading of token responses.

pub(crate) mod client;
pub(crate) mod complete;
pub(crate) mod http_adapter;
pub(crate) mod start;
pub(crate) mod token_response;
