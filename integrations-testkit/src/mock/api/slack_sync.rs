//! [`SlackSyncApi`]: the parts of Slack's Web API a sync reads.
//!
//! * `users.conversations` (`GET`, arguments in the query string): the conversations the
//!   token's user or bot is a member of; `types` (default `public_channel`), `limit`
//!   (default 100, at most 1000), `cursor`, `exclude_archived`.
//! * `conversations.history`: a channel's messages, **newest first**; `channel`
//!   (`channel_not_found`, `not_in_channel`), `oldest`/`latest` (exclusive unless
//!   `inclusive=true`), `limit` (default 100, at most 999), `cursor`; `has_more`. It
//!   lists top-level messages and thread parents (with `thread_ts`, `reply_count`,
//!   `reply_users_count`, `reply_users` and `latest_reply`), and of the replies only
//!   those also sent to the channel (`subtype: "thread_broadcast"`).
//! * `conversations.replies`: a thread, **oldest first**: its parent (on the first page,
//!   whatever `oldest` says), then the replies; `channel`, `ts` (the parent's, or any
//!   reply's; `thread_not_found` for no such message), `oldest`/`latest` (on the
//!   replies), `limit` (default 1000, at most 1000), `cursor`; `has_more`. A reply
//!   carries `thread_ts` and `parent_user_id`.
//!
//! As Slack does, it answers HTTP 200 with `{"ok": false, "error": ...}` for errors
//! (`not_authed`, `invalid_auth`, `invalid_cursor` for a cursor it never gave or one
//! [expired](SlackSyncApi::expire_cursors), ...); paginates with
//! `response_metadata.next_cursor` (the empty string on the last page; a history or
//! replies cursor names the next message, `next_ts`, so a message deleted between two
//! pages shifts nothing); and rate limits
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
    /// Messages and replies, oldest first.
    messages: Vec<Message>,
}

#[derive(Debug, Clone)]
struct Message {
    ts: String,
    text: String,
    /// The parent's `ts`, for a reply.
    thread_ts: Option<String>,
    /// A reply also sent to the channel.
    broadcast: bool,
    /// A deleted thread parent Slack keeps for its replies.
    tombstone: bool,
}

/// The one user every mock message is from.
const USER: &str = "U061F7AUR";

impl Channel {
    fn replies_to<'a>(&'a self, parent: &'a str) -> impl Iterator<Item = &'a Message> + 'a {
        self.messages
            .iter()
            .filter(move |m| m.thread_ts.as_deref() == Some(parent))
    }

    /// `message` as the history and the replies show it.
    fn shown(&self, message: &Message) -> Value {
        let mut shown =
            json!({"type": "message", "user": USER, "text": message.text, "ts": message.ts});
        if message.tombstone {
            shown["subtype"] = json!("tombstone");
            shown["user"] = json!("USLACKBOT");
        }
        if let Some(parent) = &message.thread_ts {
            shown["thread_ts"] = json!(parent);
            shown["parent_user_id"] = json!(USER);
            if message.broadcast {
                shown["subtype"] = json!("thread_broadcast");
            }
            return shown;
        }
        let replies: Vec<&Message> = self.replies_to(&message.ts).collect();
        if let Some(latest) = replies.last() {
            shown["thread_ts"] = json!(message.ts);
            shown["reply_count"] = json!(replies.len());
            shown["reply_users_count"] = json!(1);
            shown["reply_users"] = json!([USER]);
            shown["latest_reply"] = json!(latest.ts);
            shown["is_locked"] = json!(false);
            shown["subscribed"] = json!(false);
        }
        shown
    }
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
    /// What `conversations.replies` answers every call with, when set.
    replies_refused: Option<String>,
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

/// A cursor to the message `ts` and the ones after it, as Slack's history and replies
/// cursors are (`next_ts:<ts>`): a message deleted meanwhile shifts nothing.
fn cursor_at(generation: u64, ts: &str) -> String {
    STANDARD.encode(format!("gen:{generation}:next_ts:{ts}"))
}

/// The `ts` (as microseconds) `cursor` names, if it was given in `generation`.
fn next_ts_of(cursor: Option<&str>, generation: u64) -> Result<Option<u128>, ResponseTemplate> {
    match cursor {
        None | Some("") => Ok(None),
        Some(c) => STANDARD
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                let rest = s.strip_prefix(&format!("gen:{generation}:next_ts:"))?;
                Some(Some(ts_value(rest)))
            })
            .ok_or_else(|| slack_error("invalid_cursor")),
    }
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
    limit_or(recorded, 100, max)
}

fn limit_or(recorded: &Recorded, default: usize, max: usize) -> Result<usize, ResponseTemplate> {
    match recorded.query_param("limit").map(str::parse::<usize>) {
        None => Ok(default),
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
        let (from, limit) = match (
            next_ts_of(recorded.query_param("cursor"), generation),
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
        let newest_first: Vec<&Message> = found
            .messages
            .iter()
            .rev()
            .filter(|m| m.thread_ts.is_none() || m.broadcast)
            .filter(|m| after(&m.ts))
            .filter(|m| from.is_none_or(|from| ts_value(&m.ts) <= from))
            .collect();
        let page: Vec<Value> = newest_first
            .iter()
            .take(limit)
            .map(|m| found.shown(m))
            .collect();
        let mut answer = messages_page(&page, &newest_first, limit, generation);
        answer["pin_count"] = json!(0);
        state.faults.pages += 1;
        ResponseTemplate::new(200).set_body_json(answer)
    }
}

impl Responder {
    fn replies(&self, recorded: &Recorded) -> ResponseTemplate {
        let Some(channel) = recorded.query_param("channel") else {
            return slack_error("channel_not_found");
        };
        let Some(ts) = recorded.query_param("ts") else {
            return slack_error("thread_not_found");
        };
        if let Some(code) = lock(&self.state).replies_refused.clone() {
            return slack_error(&code);
        }
        let generation = lock(&self.state).generation;
        let (from, limit) = match (
            next_ts_of(recorded.query_param("cursor"), generation),
            limit_or(recorded, 1000, 1000),
        ) {
            (Ok(o), Ok(l)) => (o, l),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let inclusive = recorded.query_param("inclusive") == Some("true");
        let oldest = ts_value(recorded.query_param("oldest").unwrap_or("0"));
        let latest = recorded.query_param("latest").map(ts_value);
        let mut state = lock(&self.state);
        let Some(found) = state.channels.iter().find(|c| c.id == channel) else {
            return slack_error("channel_not_found");
        };
        if !found.member {
            return slack_error("not_in_channel");
        }
        let Some(named) = found.messages.iter().find(|m| m.ts == ts) else {
            return slack_error("thread_not_found");
        };
        let parent_ts = named.thread_ts.clone().unwrap_or_else(|| named.ts.clone());
        let Some(parent) = found.messages.iter().find(|m| m.ts == parent_ts) else {
            return slack_error("thread_not_found");
        };
        let within = |ts: &str| {
            let t = ts_value(ts);
            let above = t > oldest || (inclusive && t == oldest);
            let below = latest.is_none_or(|l| t < l || (inclusive && t == l));
            above && below
        };
        let replies: Vec<&Message> = found
            .replies_to(&parent_ts)
            .filter(|m| within(&m.ts))
            .filter(|m| from.is_none_or(|from| ts_value(&m.ts) >= from))
            .collect();
        let mut page: Vec<Value> = Vec::new();
        if from.is_none() {
            page.push(found.shown(parent));
        }
        page.extend(replies.iter().take(limit).map(|m| found.shown(m)));
        let answer = messages_page(&page, &replies, limit, generation);
        state.faults.pages += 1;
        ResponseTemplate::new(200).set_body_json(answer)
    }
}

/// A page of `messages` out of `listed` (the page's and the ones after, in order), with
/// `has_more` and the cursor to the first message not on it.
fn messages_page(messages: &[Value], listed: &[&Message], limit: usize, generation: u64) -> Value {
    let next = listed
        .get(limit)
        .map_or_else(String::new, |m| cursor_at(generation, &m.ts));
    json!({
        "ok": true,
        "messages": messages,
        "has_more": listed.len() > limit,
        "response_metadata": {"next_cursor": next},
    })
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
            "/api/conversations.replies" => self.replies(&recorded),
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
                r"^/api/(users\.conversations|conversations\.(history|replies))$",
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
        self.add_messages(channel, None, false, count)
    }

    /// Posts `count` replies in the thread of `parent` (a top-level message's `ts`) and
    /// returns their `ts`, oldest first. Only `conversations.replies` lists them; the
    /// parent's `reply_count` and `latest_reply` in the history change.
    ///
    /// # Panics
    ///
    /// For an unknown channel or parent.
    pub fn reply(&self, channel: &str, parent: &str, count: usize) -> Vec<String> {
        self.add_messages(channel, Some(parent), false, count)
    }

    /// Posts a reply in the thread of `parent` that is also sent to the channel: the
    /// history lists it too (`subtype: "thread_broadcast"`). Returns its `ts`.
    ///
    /// # Panics
    ///
    /// For an unknown channel or parent.
    pub fn reply_to_channel(&self, channel: &str, parent: &str) -> String {
        self.add_messages(channel, Some(parent), true, 1).remove(0)
    }

    fn add_messages(
        &self,
        channel: &str,
        parent: Option<&str>,
        broadcast: bool,
        count: usize,
    ) -> Vec<String> {
        let mut state = lock(&self.state);
        if let Some(parent) = parent {
            let found = state.channels.iter().find(|c| c.id == channel);
            assert!(
                found.is_some_and(|c| c
                    .messages
                    .iter()
                    .any(|m| m.ts == parent && m.thread_ts.is_none())),
                "no top-level message {parent} in {channel}"
            );
        }
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
                .push(Message {
                    ts: ts.clone(),
                    text,
                    thread_ts: parent.map(str::to_owned),
                    broadcast,
                    tombstone: false,
                });
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

    /// Deletes a message: it is gone from the history, unless it is a thread parent with
    /// replies, which Slack keeps as a tombstone (`subtype: "tombstone"`, text "This
    /// message was deleted.") whose replies are still read. A tombstone whose last reply
    /// is deleted goes too.
    pub fn delete(&self, channel: &str, ts: &str) {
        let mut state = lock(&self.state);
        let Some(c) = state.channels.iter_mut().find(|c| c.id == channel) else {
            return;
        };
        let parent = c
            .messages
            .iter()
            .find(|m| m.ts == ts)
            .and_then(|m| m.thread_ts.clone());
        if c.replies_to(ts).next().is_some() {
            if let Some(m) = c.messages.iter_mut().find(|m| m.ts == ts) {
                "This message was deleted.".clone_into(&mut m.text);
                m.tombstone = true;
            }
        } else {
            c.messages.retain(|m| m.ts != ts);
        }
        // The thread's last reply gone: its tombstone goes too.
        if let Some(parent) = parent
            && c.replies_to(&parent).next().is_none()
        {
            c.messages.retain(|m| !(m.ts == parent && m.tombstone));
        }
    }

    /// From now on `conversations.replies` answers `{"ok": false, "error": code}`, as
    /// Slack does for a token it does not let read threads (`not_allowed_token_type`).
    pub fn refuse_replies(&self, code: &str) {
        lock(&self.state).replies_refused = Some(code.to_owned());
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
