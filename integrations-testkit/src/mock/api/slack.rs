//! [`SlackApi`]: Slack's Web API (`/api/<method>`).
//!
//! Like Slack, it answers almost everything with HTTP 200 and `{"ok": false, "error":
//! "<code>"}` (`not_authed`, `invalid_auth`, `channel_not_found`, `not_in_channel`,
//! `invalid_cursor`, ...); reads arguments from the query string, a form body, or a JSON
//! body for the methods that take JSON (warning `missing_charset` when a JSON body has no
//! charset); paginates `conversations.list` with `response_metadata.next_cursor` (the
//! empty string on the last page); and rate limits with HTTP 429 and `Retry-After`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use wiremock::matchers::path_regex;
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::{Auth, Journal, Recorded, Scheme, Tokens, lock};
use crate::mock::MockProvider;

/// A failure the mock returns for the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlackFailure {
    /// HTTP 429 with `Retry-After` and `{"ok": false, "error": "ratelimited"}`.
    RateLimited {
        /// The `Retry-After` seconds.
        retry_after_seconds: u64,
    },
}

#[derive(Debug, Clone)]
struct Channel {
    id: String,
    name: String,
    is_private: bool,
    is_archived: bool,
    is_member: bool,
    /// A direct message's other member (such a conversation has no name).
    im_user: Option<String>,
}

#[derive(Debug, Clone)]
struct Message {
    channel: String,
    ts: String,
    text: String,
    thread_ts: Option<String>,
    reactions: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    channels: Vec<Channel>,
    messages: Vec<Message>,
    fail_next: VecDeque<SlackFailure>,
    serial: u64,
}

impl State {
    fn next_ts(&mut self) -> String {
        self.serial += 1;
        format!("1732182600.{:06}", self.serial * 100)
    }
}

/// Slack's Web API on loopback.
#[derive(Debug)]
pub struct SlackApi {
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

fn not_ok(error: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": error}))
}

fn ok(mut body: Value, warning: Option<&str>) -> ResponseTemplate {
    body["ok"] = json!(true);
    if let Some(warning) = warning {
        body["warning"] = json!(warning);
        body["response_metadata"]["warnings"] = json!([warning]);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

/// The arguments of a Web API call, as Slack reads them.
fn arguments(
    recorded: &Recorded,
    accepts_json: bool,
) -> (BTreeMap<String, Value>, Option<&'static str>) {
    let mut args: BTreeMap<String, Value> = recorded
        .query
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let content_type = recorded.header("content-type").unwrap_or("");
    let mut warning = None;
    if content_type.starts_with("application/x-www-form-urlencoded") {
        for (k, v) in recorded.form() {
            args.insert(k, Value::String(v));
        }
    } else if content_type.starts_with("application/json") && accepts_json {
        if !content_type.to_ascii_lowercase().contains("charset=utf-8") {
            warning = Some("missing_charset");
        }
        if let Value::Object(body) = recorded.json() {
            args.extend(body);
        }
    }
    (args, warning)
}

fn text_arg<'a>(args: &'a BTreeMap<String, Value>, name: &str) -> Option<&'a str> {
    args.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn flag(args: &BTreeMap<String, Value>, name: &str) -> bool {
    match args.get(name) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true" || s == "1",
        _ => false,
    }
}

fn channel_json(channel: &Channel) -> Value {
    if let Some(user) = &channel.im_user {
        // Slack's direct-message objects carry the user, not a name.
        return json!({
            "id": channel.id,
            "created": 1_449_252_889,
            "is_im": true,
            "is_org_shared": false,
            "user": user,
            "is_user_deleted": false,
            "priority": 0,
        });
    }
    json!({
        "id": channel.id,
        "name": channel.name,
        "is_channel": !channel.is_private,
        "is_group": false,
        "is_im": false,
        "is_private": channel.is_private,
        "is_archived": channel.is_archived,
        "is_member": channel.is_member,
        "created": 1_449_252_889,
        "num_members": 4,
        "topic": {"value": format!("All about {}", channel.name), "creator": "U0ADMIN", "last_set": 0},
        "purpose": {"value": "", "creator": "", "last_set": 0},
    })
}

fn post_message(
    state: &mut State,
    args: &BTreeMap<String, Value>,
    warning: Option<&str>,
) -> ResponseTemplate {
    let Some(channel_id) = text_arg(args, "channel") else {
        return not_ok("channel_not_found");
    };
    let Some(channel) = state.channels.iter().find(|c| c.id == channel_id).cloned() else {
        return not_ok("channel_not_found");
    };
    if channel.is_archived {
        return not_ok("is_archived");
    }
    if !channel.is_member {
        return not_ok("not_in_channel");
    }
    let Some(text) = text_arg(args, "text") else {
        return not_ok("no_text");
    };
    if text.chars().count() > 40_000 {
        return not_ok("msg_too_long");
    }
    let thread_ts = text_arg(args, "thread_ts").map(str::to_owned);
    if let Some(parent) = &thread_ts
        && !state
            .messages
            .iter()
            .any(|m| &m.ts == parent && m.channel == channel.id && m.thread_ts.is_none())
    {
        return not_ok("thread_not_found");
    }
    let ts = state.next_ts();
    let mut message = json!({
        "type": "message",
        "subtype": "bot_message",
        "text": text,
        "user": "U0BOT",
        "bot_id": "B0BOT",
        "ts": ts,
        "team": "T0ACME",
    });
    if let Some(parent) = &thread_ts {
        message["thread_ts"] = json!(parent);
    }
    state.messages.push(Message {
        channel: channel.id.clone(),
        ts: ts.clone(),
        text: text.to_owned(),
        thread_ts,
        reactions: Vec::new(),
    });
    ok(
        json!({"channel": channel.id, "ts": ts, "message": message}),
        warning,
    )
}

fn list_channels(state: &State, args: &BTreeMap<String, Value>) -> ResponseTemplate {
    let limit = match args.get("limit") {
        None => 100,
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => match s.parse::<u64>() {
            Ok(n) => n,
            Err(_) => return not_ok("invalid_limit"),
        },
        Some(_) => return not_ok("invalid_limit"),
    };
    if limit == 0 || limit > 1000 {
        return not_ok("invalid_limit");
    }
    let types: Vec<&str> = text_arg(args, "types")
        .unwrap_or("public_channel")
        .split(',')
        .map(str::trim)
        .collect();
    if types
        .iter()
        .any(|t| !matches!(*t, "public_channel" | "private_channel" | "mpim" | "im"))
    {
        return not_ok("invalid_types");
    }
    let exclude_archived = flag(args, "exclude_archived");
    let selected: Vec<&Channel> = state
        .channels
        .iter()
        .filter(|c| {
            let kind = if c.im_user.is_some() {
                "im"
            } else if c.is_private {
                "private_channel"
            } else {
                "public_channel"
            };
            types.contains(&kind) && !(exclude_archived && c.is_archived)
        })
        .collect();
    let start = match text_arg(args, "cursor") {
        None => 0,
        Some(cursor) => {
            let decoded = STANDARD
                .decode(cursor)
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            match decoded
                .as_deref()
                .and_then(|d| d.strip_prefix("team:"))
                .and_then(|id| selected.iter().position(|c| c.id == id))
            {
                Some(p) => p,
                None => return not_ok("invalid_cursor"),
            }
        }
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let page: Vec<Value> = selected
        .iter()
        .skip(start)
        .take(limit)
        .map(|c| channel_json(c))
        .collect();
    let next_cursor = selected
        .get(start + limit)
        .map(|c| STANDARD.encode(format!("team:{}", c.id)))
        .unwrap_or_default();
    ok(
        json!({"channels": page, "response_metadata": {"next_cursor": next_cursor}}),
        None,
    )
}

fn add_reaction(
    state: &mut State,
    args: &BTreeMap<String, Value>,
    warning: Option<&str>,
) -> ResponseTemplate {
    let (Some(channel), Some(timestamp), Some(name)) = (
        text_arg(args, "channel"),
        text_arg(args, "timestamp"),
        text_arg(args, "name"),
    ) else {
        return not_ok("invalid_arguments");
    };
    if !state.channels.iter().any(|c| c.id == channel) {
        return not_ok("channel_not_found");
    }
    // A name, with a skin tone when one is given (`thumbsup::skin-tone-2`).
    let (base, tone) = name.split_once("::").unwrap_or((name, ""));
    let tone_ok = tone.is_empty()
        || tone
            .strip_prefix("skin-tone-")
            .is_some_and(|t| matches!(t, "2" | "3" | "4" | "5" | "6"));
    if base.is_empty()
        || !tone_ok
        || !base
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_+-'".contains(&b))
    {
        return not_ok("invalid_name");
    }
    let Some(message) = state
        .messages
        .iter_mut()
        .find(|m| m.channel == channel && m.ts == timestamp)
    else {
        return not_ok("message_not_found");
    };
    if message.reactions.iter().any(|r| r == name) {
        return not_ok("already_reacted");
    }
    message.reactions.push(name.to_owned());
    ok(json!({}), warning)
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let recorded = self.journal.record(request);
        if let Some(failure) = lock(&self.state).fail_next.pop_front() {
            return match failure {
                SlackFailure::RateLimited {
                    retry_after_seconds,
                } => ResponseTemplate::new(429)
                    .set_body_json(json!({"ok": false, "error": "ratelimited"}))
                    .insert_header("retry-after", retry_after_seconds.to_string().as_str()),
            };
        }
        let method = recorded.path.trim_start_matches("/api/").to_owned();
        let accepts_json = matches!(method.as_str(), "chat.postMessage" | "reactions.add");
        let (args, warning) = arguments(&recorded, accepts_json);
        match self.tokens.check(request) {
            Auth::Valid => {}
            Auth::Missing => return not_ok("not_authed"),
            Auth::Invalid => return not_ok("invalid_auth"),
        }
        let mut state = lock(&self.state);
        match (recorded.method.as_str(), method.as_str()) {
            ("POST", "chat.postMessage") => post_message(&mut state, &args, warning),
            ("GET" | "POST", "conversations.list") => list_channels(&state, &args),
            ("POST", "reactions.add") => add_reaction(&mut state, &args, warning),
            _ => not_ok("unknown_method"),
        }
    }
}

impl SlackApi {
    /// Starts the API with no channels and no accepted token.
    pub async fn start() -> Self {
        let provider = MockProvider::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        let tokens = Tokens::new();
        let journal = Journal::default();
        Mock::given(path_regex("^/api/[a-zA-Z]+\\.[a-zA-Z.]+$"))
            .respond_with(Responder {
                state: state.clone(),
                tokens: tokens.clone(),
                journal: journal.clone(),
            })
            .named("slack web api")
            .mount(provider.server())
            .await;
        Self {
            provider,
            state,
            tokens,
            journal,
        }
    }

    /// The Web API base URL (`https://slack.com/api`).
    pub fn api_base_url(&self) -> String {
        format!("{}/api", self.provider.uri())
    }

    /// The mock server.
    pub fn provider(&self) -> &MockProvider {
        &self.provider
    }

    /// The accepted tokens.
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// Accepts a bot or user token as `Bearer`.
    pub fn accept_token(&self, token: &str) {
        self.tokens.accept(token, Scheme::Bearer);
    }

    /// Adds a channel and returns its id (`C` and ten characters).
    pub fn add_channel(&self, name: &str, is_member: bool, is_archived: bool) -> String {
        let mut state = lock(&self.state);
        let id = format!("C{:010}", state.channels.len() + 1);
        state.channels.push(Channel {
            id: id.clone(),
            name: name.to_owned(),
            is_private: false,
            is_archived,
            is_member,
            im_user: None,
        });
        id
    }

    /// Opens a direct message with `user` (`U…`) and returns its id (`D` and ten
    /// characters); `conversations.list` lists it for `types=im`.
    pub fn add_direct_message(&self, user: &str) -> String {
        let mut state = lock(&self.state);
        let id = format!("D{:010}", state.channels.len() + 1);
        state.channels.push(Channel {
            id: id.clone(),
            name: String::new(),
            is_private: true,
            is_archived: false,
            is_member: true,
            im_user: Some(user.to_owned()),
        });
        id
    }

    /// Posts a message as someone else and returns its `ts`.
    pub fn add_message(&self, channel: &str, text: &str) -> String {
        let mut state = lock(&self.state);
        let ts = state.next_ts();
        state.messages.push(Message {
            channel: channel.to_owned(),
            ts: ts.clone(),
            text: text.to_owned(),
            thread_ts: None,
            reactions: Vec::new(),
        });
        ts
    }

    /// Every message, as `{channel, ts, text, thread_ts, reactions}`.
    pub fn messages(&self) -> Vec<Value> {
        lock(&self.state)
            .messages
            .iter()
            .map(|m| {
                json!({
                    "channel": m.channel,
                    "ts": m.ts,
                    "text": m.text,
                    "thread_ts": m.thread_ts,
                    "reactions": m.reactions,
                })
            })
            .collect()
    }

    /// Makes the next request fail.
    pub fn fail_next(&self, failure: SlackFailure) {
        lock(&self.state).fail_next.push_back(failure);
    }

    /// Every request received.
    pub fn requests(&self) -> Vec<Recorded> {
        self.journal.all()
    }
}
