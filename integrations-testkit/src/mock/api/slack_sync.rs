//! [`SlackSyncApi`]: the parts of Slack's Web API a sync reads.
//!
//! * `users.conversations` (`GET`, arguments in the query string): the conversations the
//!   token's user or bot is a member of; `types` (default `public_channel`), `limit`
//!   (default 100, at most 1000), `cursor`, `exclude_archived`.
//! * `conversations.history`: a channel's messages, **newest first**; `channel`
//!   (`channel_not_found`, `not_in_channel`), `oldest`/`latest` (exclusive unless
//!   `inclusive=true`), `limit` (default 100, at most 999), `cursor`; `has_more`.
//!
//! As Slack does, it answers HTTP 200 with `{"ok": false, "error": ...}` for errors
//! (`not_authed`, `invalid_auth`, `invalid_cursor` for a cursor it never gave or one
//! [expired](SlackSyncApi::expire_cursors), ...); paginates with
//! `response_metadata.next_cursor` (the empty string on the last page); and rate limits
//! with **HTTP 429** and `Retry-After` (seconds). A deleted message is simply gone from
//! the history.

#![allow(
    clippy::result_large_err,
    reason = "the errors are the HTTP answers of a test mock, built once per request"
)]

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use integrations_core::host::Clock;

use super::sync_common::{Faults, MockClock, SyncFault, hang, next_serial};
use super::{Auth, Journal, Recorded, Scheme, Tokens, lock};
use crate::mock::MockProvider;

#[derive(Debug, Clone)]
struct Channel {
    id: String,
    name: String,
    member: bool,
    /// Messages, oldest first.
    messages: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct State {
    channels: Vec<Channel>,
    serial: u64,
    /// Cursors carry the generation they were given in; [`SlackSyncApi::expire_cursors`]
    /// starts a new one, and older cursors are then `invalid_cursor`.
    generation: u64,
    faults: Faults,
    follow: Option<MockClock>,
}

struct Responder {
    state: Arc<Mutex<State>>,
    tokens: Tokens,
    journal: Journal,
}

fn slack_error(code: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": code}))
}

fn cursor_for(generation: u64, offset: usize) -> String {
    STANDARD.encode(format!("gen:{generation}:offset:{offset}"))
}

/// The offset `cursor` names, if it was given in `generation`.
fn offset_of(cursor: Option<&str>, generation: u64) -> Result<usize, ResponseTemplate> {
    match cursor {
        None | Some("") => Ok(0),
        Some(c) => STANDARD
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                let rest = s.strip_prefix(&format!("gen:{generation}:offset:"))?;
                rest.parse().ok()
            })
            .ok_or_else(|| slack_error("invalid_cursor")),
    }
}

fn limit(recorded: &Recorded, max: usize) -> Result<usize, ResponseTemplate> {
    match recorded.query_param("limit").map(str::parse::<usize>) {
        None => Ok(100),
        Some(Ok(n)) if n >= 1 => Ok(n.min(max)),
        Some(_) => Err(slack_error("invalid_limit")),
    }
}

impl Responder {
    fn fault(fault: SyncFault) -> ResponseTemplate {
        match fault {
            SyncFault::RateLimited(wait) | SyncFault::SecondaryLimit(wait) => {
                ResponseTemplate::new(429)
                    .insert_header("Retry-After", wait.as_secs().to_string().as_str())
                    .set_body_json(json!({"ok": false, "error": "ratelimited"}))
            }
            SyncFault::ServerError => ResponseTemplate::new(500).set_body_string("internal_error"),
            SyncFault::Hang => hang(),
        }
    }

    fn conversations(&self, recorded: &Recorded) -> ResponseTemplate {
        let types = recorded.query_param("types").unwrap_or("public_channel");
        if types
            .split(',')
            .any(|t| !["public_channel", "private_channel", "mpim", "im"].contains(&t))
        {
            return slack_error("invalid_types");
        }
        let generation = lock(&self.state).generation;
        let (offset, limit) = match (
            offset_of(recorded.query_param("cursor"), generation),
            limit(recorded, 1000),
        ) {
            (Ok(o), Ok(l)) => (o, l),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let mut state = lock(&self.state);
        let member: Vec<Value> = state
            .channels
            .iter()
            .filter(|c| c.member)
            .map(|c| json!({"id": c.id, "name": c.name, "is_channel": true, "is_member": true}))
            .collect();
        let page: Vec<Value> = member.iter().skip(offset).take(limit).cloned().collect();
        let next = if offset + limit < member.len() {
            cursor_for(generation, offset + limit)
        } else {
            String::new()
        };
        state.faults.pages += 1;
        ResponseTemplate::new(200).set_body_json(json!({
            "ok": true,
            "channels": page,
            "response_metadata": {"next_cursor": next},
        }))
    }

    fn history(&self, recorded: &Recorded) -> ResponseTemplate {
        let Some(channel) = recorded.query_param("channel") else {
            return slack_error("channel_not_found");
        };
        let generation = lock(&self.state).generation;
        let (offset, limit) = match (
            offset_of(recorded.query_param("cursor"), generation),
            limit(recorded, 999),
        ) {
            (Ok(o), Ok(l)) => (o, l),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let inclusive = recorded.query_param("inclusive") == Some("true");
        let oldest = recorded.query_param("oldest").unwrap_or("0").to_owned();
        let mut state = lock(&self.state);
        let Some(found) = state.channels.iter().find(|c| c.id == channel) else {
            return slack_error("channel_not_found");
        };
        if !found.member {
            return slack_error("not_in_channel");
        }
        let after = |ts: &str| {
            let (a, b) = (ts_value(ts), ts_value(&oldest));
            a > b || (inclusive && a == b)
        };
        let newest_first: Vec<&(String, String)> = found
            .messages
            .iter()
            .rev()
            .filter(|(ts, _)| after(ts))
            .collect();
        let page: Vec<Value> = newest_first
            .iter()
            .skip(offset)
            .take(limit)
            .map(|(ts, text)| json!({"type": "message", "user": "U061F7AUR", "text": text, "ts": ts}))
            .collect();
        let more = offset + limit < newest_first.len();
        let next = if more {
            cursor_for(generation, offset + limit)
        } else {
            String::new()
        };
        state.faults.pages += 1;
        ResponseTemplate::new(200).set_body_json(json!({
            "ok": true,
            "messages": page,
            "has_more": more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": next},
        }))
    }
}

/// A Slack `ts` as a number of microseconds (`1700000000.000100`).
fn ts_value(ts: &str) -> u128 {
    let (secs, micros) = ts.split_once('.').unwrap_or((ts, "0"));
    secs.parse::<u128>().unwrap_or(0) * 1_000_000 + micros.parse::<u128>().unwrap_or(0)
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let recorded = self.journal.record(request);
        match self.tokens.check(request) {
            Auth::Missing => return slack_error("not_authed"),
            Auth::Invalid => return slack_error("invalid_auth"),
            Auth::Valid => {}
        }
        if let Some(fault) = lock(&self.state).faults.take() {
            return Self::fault(fault);
        }
        match recorded.path.as_str() {
            "/api/users.conversations" => self.conversations(&recorded),
            "/api/conversations.history" => self.history(&recorded),
            _ => slack_error("unknown_method"),
        }
    }
}

/// Slack's sync-facing Web API on loopback.
#[derive(Debug)]
pub struct SlackSyncApi {
    provider: MockProvider,
    state: Arc<Mutex<State>>,
    tokens: Tokens,
    journal: Journal,
}

impl SlackSyncApi {
    /// Starts the API with no channels and no accepted token.
    pub async fn start() -> Self {
        let provider = MockProvider::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        let tokens = Tokens::new();
        let journal = Journal::default();
        Mock::given(method("GET"))
            .and(path_regex(
                r"^/api/(users\.conversations|conversations\.history)$",
            ))
            .respond_with(Responder {
                state: state.clone(),
                tokens: tokens.clone(),
                journal: journal.clone(),
            })
            .named("slack web api sync")
            .mount(provider.server())
            .await;
        Self {
            provider,
            state,
            tokens,
            journal,
        }
    }

    /// The API base URL (the target's `api_base_url`: methods at `/api/<method>`).
    pub fn base_url(&self) -> String {
        format!("{}/api", self.provider.uri())
    }

    /// Accepts a bot token (`Authorization: Bearer <token>`).
    pub fn accept_token(&self, token: &str) {
        self.tokens.accept(token, Scheme::Bearer);
    }

    /// The accepted tokens (revoke them to model an uninstalled app).
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// Adds a channel; `member` says whether the bot is in it. Returns its id.
    pub fn add_channel(&self, name: &str, member: bool) -> String {
        let mut state = lock(&self.state);
        let id = format!("C{:08}", state.channels.len() + 1);
        state.channels.push(Channel {
            id: id.clone(),
            name: name.to_owned(),
            member,
            messages: Vec::new(),
        });
        id
    }

    /// The token's bot or user joins `channel`: it is listed, and its history readable.
    ///
    /// # Panics
    ///
    /// For an unknown channel.
    pub fn join(&self, channel: &str) {
        let mut state = lock(&self.state);
        let found = state.channels.iter_mut().find(|c| c.id == channel);
        found.expect("a channel added to the mock").member = true;
    }

    /// The token's bot or user leaves `channel` (or is removed): it is no longer listed,
    /// and its history answers `not_in_channel`.
    ///
    /// # Panics
    ///
    /// For an unknown channel.
    pub fn leave(&self, channel: &str) {
        let mut state = lock(&self.state);
        let found = state.channels.iter_mut().find(|c| c.id == channel);
        found.expect("a channel added to the mock").member = false;
    }

    /// Posts `count` messages to a channel and returns their `ts`, oldest first.
    ///
    /// # Panics
    ///
    /// For an unknown channel.
    pub fn post(&self, channel: &str, count: usize) -> Vec<String> {
        let mut state = lock(&self.state);
        let mut out = Vec::new();
        for _ in 0..count {
            state.serial = next_serial(state.serial, state.follow.as_ref());
            let ts = format!(
                "{}.{:06}",
                1_793_491_200 + state.serial,
                state.serial % 1000
            );
            let text = format!("message {}", state.serial);
            state
                .channels
                .iter_mut()
                .find(|c| c.id == channel)
                .unwrap_or_else(|| panic!("no channel {channel}"))
                .messages
                .push((ts.clone(), text));
            out.push(ts);
        }
        out
    }

    /// From now on, stamps each change with `clock`'s time (or one second after the last
    /// change, if later), as the provider does with its own clock; by default changes are
    /// one second apart from 2026-11-01T00:00:00Z whatever the clock says.
    pub fn follow_clock(&self, clock: Arc<dyn Clock>) {
        lock(&self.state).follow = Some(MockClock(Some(clock)));
    }

    /// Deletes a message: it is gone from the history.
    pub fn delete(&self, channel: &str, ts: &str) {
        let mut state = lock(&self.state);
        if let Some(c) = state.channels.iter_mut().find(|c| c.id == channel) {
            c.messages.retain(|(t, _)| t != ts);
        }
    }

    /// Every cursor given so far stops being valid, as Slack's do when they expire: it is
    /// answered `{"ok": false, "error": "invalid_cursor"}`.
    pub fn expire_cursors(&self) {
        lock(&self.state).generation += 1;
    }

    /// The next `count` calls get `fault`.
    pub fn fail_next(&self, count: usize, fault: SyncFault) {
        lock(&self.state).faults.next_for(count, fault);
    }

    /// After `pages` more pages are served, the next call gets `fault`.
    pub fn fail_after_pages(&self, pages: u64, fault: SyncFault) {
        lock(&self.state).faults.after_pages(pages, fault);
    }

    /// Serves normally again.
    pub fn heal(&self) {
        lock(&self.state).faults.clear();
    }

    /// Calls received (failed ones included).
    pub fn calls(&self) -> u64 {
        lock(&self.state).faults.calls
    }

    /// Every request received.
    pub fn requests(&self) -> Vec<Recorded> {
        self.journal.all()
    }
}
