//! The token endpoint response parser, with each shipped provider's quirks.

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use integrations_core::definition::OAuth2Spec;
use integrations_core::fuzzing::parse_token_response;

use crate::{NOW, registry};

const STATUSES: &[u16] = &[200, 201, 301, 302, 400, 401, 403, 429, 500, 502, 503];
const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "application/x-www-form-urlencoded",
    "text/plain",
    "text/html",
];

#[derive(Debug, Arbitrary)]
struct Input {
    spec: u8,
    status: u8,
    content_type: Option<u8>,
    retry_after: Option<String>,
    body: Vec<u8>,
}

/// Every OAuth 2.0 spec the shipped definitions declare, read once.
fn specs() -> &'static [OAuth2Spec] {
    static SPECS: std::sync::OnceLock<Vec<OAuth2Spec>> = std::sync::OnceLock::new();
    SPECS.get_or_init(|| {
        registry()
            .iter()
            .flat_map(|entry| entry.methods().iter())
            .filter_map(|m| m.method().oauth2.clone())
            .collect()
    })
}

/// Properties: never panics; a success has a non-empty access token; an error never
/// shows the access or refresh token the body carried.
pub fn token_response(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let specs = specs();
    let spec = &specs[usize::from(input.spec) % specs.len()];
    let status = STATUSES[usize::from(input.status) % STATUSES.len()];
    let mut builder = http::Response::builder().status(status);
    if let Some(ct) = input.content_type {
        builder = builder.header(
            "content-type",
            CONTENT_TYPES[usize::from(ct) % CONTENT_TYPES.len()],
        );
    }
    if let Some(retry) = &input.retry_after
        && let Ok(value) = http::HeaderValue::from_str(retry)
    {
        builder = builder.header("retry-after", value);
    }
    let Ok(response) = builder.body(Bytes::from(input.body.clone())) else {
        return;
    };
    match parse_token_response(&response, spec, NOW) {
        Ok(tokens) => assert!(
            tokens.access_token_len > 0,
            "an empty access token was accepted"
        ),
        Err(error) => {
            let text = format!("{error} {error:?}");
            for token in secrets_in(&input.body) {
                assert!(
                    !text.contains(&token),
                    "an error shows a token from the body: {text}"
                );
            }
        }
    }
}

fn secrets_in(body: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body) {
        for name in ["access_token", "refresh_token", "id_token"] {
            if let Some(serde_json::Value::String(s)) = map.get(name) {
                found.push(s.clone());
            }
        }
    } else if let Ok(text) = std::str::from_utf8(body) {
        for (k, v) in url::form_urlencoded::parse(text.as_bytes()) {
            if matches!(&*k, "access_token" | "refresh_token" | "id_token") {
                found.push(v.into_owned());
            }
        }
    }
    found.retain(|s| s.len() >= 8);
    found
}
