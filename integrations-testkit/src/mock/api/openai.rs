//! [`OpenAiApi`]: the OpenAI API's model list (`GET /v1/models`).
//!
//! Like OpenAI, it takes `Authorization: Bearer sk-...`, answers an unknown key with 401
//! and an `error` object whose message quotes part of the key (so callers must never pass
//! provider error bodies on), checks `OpenAI-Organization`/`OpenAI-Project` when the key
//! is bound to them, sends `x-request-id` on every response, rate limits with 429,
//! `retry-after` and `x-ratelimit-*` headers, and refuses a key whose billing is
//! exhausted with 429 `insufficient_quota` (no `retry-after`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::{Auth, Journal, Recorded, Scheme, Tokens, lock};
use crate::mock::MockProvider;

/// A failure the mock returns for the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenAiFailure {
    /// 429 with `retry-after`.
    RateLimited {
        /// The `retry-after` seconds.
        retry_after_seconds: u64,
    },
    /// 429 `insufficient_quota`: the key's organization has no credit left (billing), no
    /// `retry-after`.
    InsufficientQuota,
    /// 429 for the tokens-per-minute limit without `retry-after`: none left of the tokens
    /// (`x-ratelimit-remaining-tokens: 0`), their reset in `x-ratelimit-reset-tokens` as
    /// OpenAI writes it (`reset`, such as `6m0s`), requests left.
    TokensLimited {
        /// The `x-ratelimit-reset-tokens` value.
        reset: String,
    },
}

#[derive(Debug, Default)]
struct State {
    models: Vec<(String, String, i64)>,
    organization: Option<String>,
    project: Option<String>,
    fail_next: VecDeque<OpenAiFailure>,
}

/// The OpenAI API on loopback.
#[derive(Debug)]
pub struct OpenAiApi {
    provider: MockProvider,
    state: Arc<Mutex<State>>,
    tokens: Tokens,
    journal: Journal,
}

struct Responder {
    state: Arc<Mutex<State>>,
    tokens: Tokens,
    journal: Journal,
}

fn error(status: u16, kind: &str, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
        )
        .insert_header("x-request-id", "req_0123456789abcdef")
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let recorded = self.journal.record(request);
        let failure = lock(&self.state).fail_next.pop_front();
        if let Some(failure) = failure {
            return match failure {
                OpenAiFailure::RateLimited {
                    retry_after_seconds,
                } => error(
                    429,
                    "requests",
                    "rate_limit_exceeded",
                    "Rate limit reached for requests. Please try again later.",
                )
                .insert_header("retry-after", retry_after_seconds.to_string().as_str())
                .insert_header("x-ratelimit-limit-requests", "500")
                .insert_header("x-ratelimit-remaining-requests", "0")
                .insert_header("x-ratelimit-reset-requests", "12ms"),
                OpenAiFailure::TokensLimited { reset } => error(
                    429,
                    "tokens",
                    "rate_limit_exceeded",
                    "Rate limit reached for tokens per min (TPM). Please try again later.",
                )
                .insert_header("x-ratelimit-limit-requests", "500")
                .insert_header("x-ratelimit-remaining-requests", "499")
                .insert_header("x-ratelimit-reset-requests", "120ms")
                .insert_header("x-ratelimit-limit-tokens", "30000")
                .insert_header("x-ratelimit-remaining-tokens", "0")
                .insert_header("x-ratelimit-reset-tokens", reset.as_str()),
                OpenAiFailure::InsufficientQuota => error(
                    429,
                    "insufficient_quota",
                    "insufficient_quota",
                    "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
                ),
            };
        }
        if self.tokens.check(request) != Auth::Valid {
            let shown = recorded
                .header("authorization")
                .and_then(|a| a.strip_prefix("Bearer "))
                .map(|k| {
                    format!(
                        "{}****{}",
                        &k[..k.len().min(3)],
                        &k[k.len().saturating_sub(4)..]
                    )
                })
                .unwrap_or_default();
            return error(
                401,
                "invalid_request_error",
                "invalid_api_key",
                &format!(
                    "Incorrect API key provided: {shown}. You can find your API key at https://platform.openai.com/account/api-keys."
                ),
            );
        }
        let state = lock(&self.state);
        for (header, expected) in [
            ("openai-organization", &state.organization),
            ("openai-project", &state.project),
        ] {
            if let Some(expected) = expected
                && recorded.header(header) != Some(expected.as_str())
            {
                return error(
                    401,
                    "invalid_request_error",
                    "mismatched_organization",
                    "OpenAI-Organization or OpenAI-Project does not match the API key.",
                );
            }
        }
        let data: Vec<Value> = state
            .models
            .iter()
            .map(|(id, owner, created)| json!({"id": id, "object": "model", "created": created, "owned_by": owner}))
            .collect();
        ResponseTemplate::new(200)
            .set_body_json(json!({"object": "list", "data": data}))
            .insert_header("x-request-id", "req_fedcba9876543210")
            .insert_header("openai-processing-ms", "12")
    }
}

impl OpenAiApi {
    /// Starts the API with two models and no accepted key.
    pub async fn start() -> Self {
        let provider = MockProvider::start().await;
        let state = Arc::new(Mutex::new(State {
            models: vec![
                ("gpt-5".into(), "system".into(), 1_754_425_777),
                ("gpt-5-codex".into(), "system".into(), 1_757_894_400),
            ],
            ..State::default()
        }));
        let tokens = Tokens::new();
        let journal = Journal::default();
        Mock::given(method("GET"))
            .and(path("/v1/models"))
            .respond_with(Responder {
                state: state.clone(),
                tokens: tokens.clone(),
                journal: journal.clone(),
            })
            .named("openai models")
            .mount(provider.server())
            .await;
        Self {
            provider,
            state,
            tokens,
            journal,
        }
    }

    /// The API base URL (`https://api.openai.com/v1`).
    pub fn api_base_url(&self) -> String {
        format!("{}/v1", self.provider.uri())
    }

    /// The mock server.
    pub fn provider(&self) -> &MockProvider {
        &self.provider
    }

    /// Accepts an API key as `Bearer`.
    pub fn accept_key(&self, key: &str) {
        self.tokens.accept(key, Scheme::Bearer);
    }

    /// Requires `OpenAI-Organization` and `OpenAI-Project` to match.
    pub fn require_organization(&self, organization: &str, project: &str) {
        let mut state = lock(&self.state);
        state.organization = Some(organization.to_owned());
        state.project = Some(project.to_owned());
    }

    /// Makes the next request fail.
    pub fn fail_next(&self, failure: OpenAiFailure) {
        lock(&self.state).fail_next.push_back(failure);
    }

    /// Every request received.
    pub fn requests(&self) -> Vec<Recorded> {
        self.journal.all()
    }
}
