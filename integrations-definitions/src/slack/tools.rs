//! Slack tools, over the Web API (`<api_base_url>/<method>`).
//!
//! Slack answers almost every failure with HTTP 200 and `{"ok": false, "error": "..."}`;
//! those become error results: a refused token, a missing scope, a missing channel or
//! message, refused input and Slack's own failures get the runtime's `tool.*` code for
//! the condition (as any provider's HTTP status would), the rest `slack.<error>`
//! (`slack.not_in_channel`).
//! `conversations.list` paginates with `response_metadata.next_cursor`, the empty string
//! on the last page. Rate limits are HTTP 429 with `Retry-After`.

use std::sync::LazyLock;

use bytes::Bytes;
use http::Method;
use http::header::{CONTENT_TYPE, HeaderValue};
use integrations_core::host::{HttpRequest, HttpResponse};
use integrations_core::tools::{
    RateLimitRule, RequestAuth, Tool, ToolAnnotations, ToolContext, ToolDescriptor, ToolSet,
    json_request, read_json, request, status_error,
};
use integrations_core::{Error, ErrorKind};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::schemas::{SlackConnectionConfig, SlackTargetConfig};

static TOOLS: LazyLock<ToolSet> = LazyLock::new(|| {
    ToolSet::new()
        .with(SendMessage)
        .with(ReplyInThread)
        .with(ListChannels)
        .with(AddReaction)
});

static RATE_LIMIT: LazyLock<RateLimitRule> = LazyLock::new(RateLimitRule::new);

/// The Slack tools.
pub fn tool_set() -> &'static ToolSet {
    &TOOLS
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
}

/// Slack refuses a token with HTTP 200 and `invalid_auth` or `token_expired`.
fn rejected(response: &HttpResponse) -> bool {
    response.status() == http::StatusCode::UNAUTHORIZED
        || serde_json::from_slice::<Envelope>(response.body()).is_ok_and(|e| {
            !e.ok && matches!(e.error.as_deref(), Some("invalid_auth" | "token_expired"))
        })
}

/// The error of Slack's `ok: false` answer with `error` `code`.
///
/// A condition every provider has gets the runtime's code for it, as an HTTP status
/// would (`tool.unauthorized`, `tool.forbidden`, `tool.upstream_not_found`,
/// `tool.upstream_rejected`, `tool.upstream_unavailable`, `tool.rate_limited`), so hosts
/// and agents match one code whichever provider answered; the others are Slack's own,
/// `slack.<error>` (`slack.not_in_channel`). The message names Slack's error either way.
fn slack_error(code: &str) -> Error {
    use integrations_core::codes::tool;
    let code: String = code
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
        .take(64)
        .collect();
    let code = if code.is_empty() {
        "unknown_error".to_owned()
    } else {
        code
    };
    let message = format!("Slack answered ok:false with error {code}");
    let shared = match code.as_str() {
        "ratelimited" => {
            return integrations_core::tools::rate_limited(
                integrations_core::tools::DEFAULT_RATE_LIMIT_WAIT,
            );
        }
        "not_authed" | "invalid_auth" | "token_expired" | "token_revoked" | "account_inactive" => {
            Some(tool::UNAUTHORIZED)
        }
        "missing_scope"
        | "no_permission"
        | "not_allowed_token_type"
        | "restricted_action"
        | "ekm_access_denied" => Some(tool::FORBIDDEN),
        "channel_not_found" | "thread_not_found" | "message_not_found" => {
            Some(tool::UPSTREAM_NOT_FOUND)
        }
        "internal_error" | "service_unavailable" | "fatal_error" | "request_timeout" => {
            Some(tool::UPSTREAM_UNAVAILABLE)
        }
        c if c.starts_with("invalid_") || matches!(c, "no_text" | "msg_too_long") => {
            Some(tool::UPSTREAM_REJECTED)
        }
        _ => None,
    };
    if let Some(reason) = shared {
        return reason.error(message);
    }
    let kind = match code.as_str() {
        "not_in_channel" => ErrorKind::PermissionDenied,
        "is_archived" | "too_many_reactions" => ErrorKind::InvalidInput,
        _ => ErrorKind::Provider,
    };
    Error::new(kind, format!("slack.{code}"), message)
}

/// Calls a Web API method and returns its body as `T`, `ok:false` as an error.
async fn call_method<T: DeserializeOwned>(
    context: &ToolContext,
    request: HttpRequest,
) -> Result<T, Error> {
    let selector = context.default_credential().cloned().ok_or_else(|| {
        crate::codes::slack::NO_CREDENTIAL
            .error("this Slack connection has no credential tools can use")
    })?;
    let auth = RequestAuth::bearer(selector).with_rejection(rejected);
    let response = context.http().send(request, &auth).await?;
    if let Some(limited) = RATE_LIMIT.check(&response, context.now()) {
        return Err(limited);
    }
    if !response.status().is_success() {
        return Err(status_error(response.status()));
    }
    let envelope: Envelope = read_json(&response)?;
    if !envelope.ok {
        return Err(slack_error(envelope.error.as_deref().unwrap_or("")));
    }
    read_json(&response)
}

fn method_url(context: &ToolContext, method: &str) -> Result<url::Url, Error> {
    let config = context.target_config().get::<SlackTargetConfig>()?;
    config.api_base_url.url().path(method).build()
}

/// A JSON body, with the charset Slack asks for.
fn json_call(context: &ToolContext, method: &str, body: &Value) -> Result<HttpRequest, Error> {
    let mut request = json_request(Method::POST, method_url(context, method)?.as_str(), body)?;
    request.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    Ok(request)
}

#[derive(Deserialize)]
struct Posted {
    channel: String,
    ts: String,
}

/// Posts with `chat.postMessage`; `thread_ts` in `body` makes it a reply.
async fn post_message(
    context: &ToolContext,
    body: Map<String, Value>,
) -> Result<MessageRef, Error> {
    let thread_ts = body
        .get("thread_ts")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let request = json_call(context, "chat.postMessage", &Value::Object(body))?;
    let posted: Posted = call_method(context, request).await?;
    Ok(MessageRef {
        channel: posted.channel,
        ts: posted.ts,
        thread_ts,
    })
}

/// A message, as posted.
#[derive(Debug, Serialize, JsonSchema)]
#[non_exhaustive]
pub struct MessageRef {
    /// The channel's id.
    pub channel: String,
    /// The message's timestamp, its id in the channel.
    pub ts: String,
    /// The thread it was posted in, for replies.
    pub thread_ts: Option<String>,
}

// ---- slack_send_message ----

/// The connection's `default_channel`, for a call that names no channel.
fn default_channel(context: &ToolContext) -> Result<String, Error> {
    context
        .connection_config()
        .get::<SlackConnectionConfig>()
        .ok()
        .and_then(|c| c.default_channel.clone())
        .ok_or_else(|| {
            crate::codes::slack::CHANNEL_REQUIRED.with_issues(
                "name the channel: the connection has no default_channel",
                vec![integrations_core::ValidationIssue::new(
                    crate::codes::slack::CHANNEL_REQUIRED,
                    "/channel",
                    "required when the connection's config has no default_channel",
                )],
            )
        })
}

/// Arguments of `slack_send_message`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SendMessageArgs {
    /// The channel's id (`C0123456789`); `slack_list_channels` lists them. Left out: the
    /// connection's `default_channel`.
    #[serde(default)]
    #[schemars(length(min = 1, max = 64))]
    pub channel: Option<String>,
    /// The message, in Slack's `mrkdwn`.
    #[schemars(length(min = 1, max = 40000))]
    pub text: String,
    /// Whether to unfurl links (Slack's default when left out).
    #[serde(default)]
    pub unfurl_links: Option<bool>,
}

/// `slack_send_message`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SendMessage;

impl Tool for SendMessage {
    type Args = SendMessageArgs;
    type Output = MessageRef;

    fn descriptor(&self) -> ToolDescriptor {
        ToolDescriptor::new::<SendMessageArgs>(
            "slack_send_message",
            "Post a message to a Slack channel the app is a member of (the connection's default channel when none is named).",
        )
        .with_title("Send Slack message")
        .with_annotations(ToolAnnotations::additive())
        .with_capability(
            const { integrations_core::model::Capability::from_static("message.send") },
        )
    }

    async fn call(
        &self,
        args: SendMessageArgs,
        context: &ToolContext,
    ) -> Result<MessageRef, Error> {
        let channel = match args.channel {
            Some(channel) => channel,
            None => default_channel(context)?,
        };
        let mut body = Map::new();
        body.insert("channel".into(), json!(channel));
        body.insert("text".into(), json!(args.text));
        if let Some(unfurl) = args.unfurl_links {
            body.insert("unfurl_links".into(), json!(unfurl));
        }
        post_message(context, body).await
    }
}

// ---- slack_reply_in_thread ----

/// Arguments of `slack_reply_in_thread`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ReplyInThreadArgs {
    /// The channel's id.
    #[schemars(length(min = 1, max = 64))]
    pub channel: String,
    /// The `ts` of the thread's first message.
    #[schemars(regex(pattern = r"^\d+\.\d+$"))]
    pub thread_ts: String,
    /// The reply, in Slack's `mrkdwn`.
    #[schemars(length(min = 1, max = 40000))]
    pub text: String,
    /// Whether to also show the reply in the channel.
    #[serde(default)]
    pub reply_broadcast: Option<bool>,
}

/// `slack_reply_in_thread`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ReplyInThread;

impl Tool for ReplyInThread {
    type Args = ReplyInThreadArgs;
    type Output = MessageRef;

    fn descriptor(&self) -> ToolDescriptor {
        ToolDescriptor::new::<ReplyInThreadArgs>(
            "slack_reply_in_thread",
            "Reply in the thread of a Slack message.",
        )
        .with_title("Reply in Slack thread")
        .with_annotations(ToolAnnotations::additive())
        .with_capability(
            const { integrations_core::model::Capability::from_static("message.send") },
        )
    }

    async fn call(
        &self,
        args: ReplyInThreadArgs,
        context: &ToolContext,
    ) -> Result<MessageRef, Error> {
        let mut body = Map::new();
        body.insert("channel".into(), json!(args.channel));
        body.insert("thread_ts".into(), json!(args.thread_ts));
        body.insert("text".into(), json!(args.text));
        if let Some(broadcast) = args.reply_broadcast {
            body.insert("reply_broadcast".into(), json!(broadcast));
        }
        post_message(context, body).await
    }
}

// ---- slack_list_channels ----

/// A kind of conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChannelType {
    /// Public channels.
    PublicChannel,
    /// Private channels.
    PrivateChannel,
    /// Group direct messages.
    Mpim,
    /// Direct messages.
    Im,
}

impl ChannelType {
    fn as_str(self) -> &'static str {
        match self {
            Self::PublicChannel => "public_channel",
            Self::PrivateChannel => "private_channel",
            Self::Mpim => "mpim",
            Self::Im => "im",
        }
    }
}

/// Arguments of `slack_list_channels`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ListChannelsArgs {
    /// How many per page (1 to 1000, default 200); Slack may return fewer before the end.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u16>,
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Which kinds of conversations (default public channels). Direct messages (`im`,
    /// `mpim`) need the `im:read` and `mpim:read` scopes, which the default scopes do not
    /// include (`tool.forbidden` naming Slack's `missing_scope` otherwise).
    #[serde(default)]
    pub types: Option<Vec<ChannelType>>,
    /// Leave archived channels out.
    #[serde(default)]
    pub exclude_archived: Option<bool>,
}

/// A channel.
#[derive(Debug, Serialize, JsonSchema)]
#[non_exhaustive]
#[allow(
    clippy::struct_excessive_bools,
    reason = "Slack's own conversation flags, one for one"
)]
pub struct ChannelSummary {
    /// The channel's id.
    pub id: String,
    /// Its name, without `#`.
    pub name: String,
    /// Whether it is private.
    pub is_private: bool,
    /// Whether it is archived.
    pub is_archived: bool,
    /// Whether the app is a member (it can post only where it is).
    pub is_member: bool,
    /// Its topic.
    pub topic: Option<String>,
    /// For a direct message (`is_im`), the user it is with; such a conversation has no
    /// name.
    pub user: Option<String>,
    /// Whether it is a direct message.
    pub is_im: bool,
    /// Whether it is a group direct message.
    pub is_mpim: bool,
}

/// A page of channels.
#[derive(Debug, Serialize, JsonSchema)]
#[non_exhaustive]
pub struct ChannelPage {
    /// The channels.
    pub channels: Vec<ChannelSummary>,
    /// Pass as `cursor` to read the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct Topic {
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "Slack's own conversation flags, one for one"
)]
struct ChannelNode {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    is_private: bool,
    #[serde(default)]
    is_archived: bool,
    #[serde(default)]
    is_member: bool,
    #[serde(default)]
    topic: Option<Topic>,
    /// A direct message's other member.
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    is_im: bool,
    #[serde(default)]
    is_mpim: bool,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    next_cursor: String,
}

#[derive(Deserialize)]
struct Listed {
    channels: Vec<ChannelNode>,
    #[serde(default)]
    response_metadata: Option<Metadata>,
}

/// `slack_list_channels`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ListChannels;

impl Tool for ListChannels {
    type Args = ListChannelsArgs;
    type Output = ChannelPage;

    fn descriptor(&self) -> ToolDescriptor {
        ToolDescriptor::new::<ListChannelsArgs>(
            "slack_list_channels",
            "List the Slack workspace's channels with their ids, a page at a time.",
        )
        .with_title("List Slack channels")
        .with_annotations(ToolAnnotations::read_only())
        .with_capability(
            const { integrations_core::model::Capability::from_static("channel.read") },
        )
    }

    async fn call(
        &self,
        args: ListChannelsArgs,
        context: &ToolContext,
    ) -> Result<ChannelPage, Error> {
        let mut url = method_url(context, "conversations.list")?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair(
                "limit",
                &args.limit.unwrap_or(200).clamp(1, 1000).to_string(),
            );
            if let Some(cursor) = &args.cursor {
                query.append_pair("cursor", cursor);
            }
            if let Some(types) = &args.types {
                let joined: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
                query.append_pair("types", &joined.join(","));
            }
            if let Some(exclude) = args.exclude_archived {
                query.append_pair("exclude_archived", if exclude { "true" } else { "false" });
            }
        }
        let listed: Listed = call_method(context, request(Method::GET, url.as_str())?).await?;
        let next = listed
            .response_metadata
            .map(|m| m.next_cursor)
            .filter(|c| !c.is_empty());
        Ok(ChannelPage {
            channels: listed
                .channels
                .into_iter()
                .map(|c| ChannelSummary {
                    id: c.id,
                    name: c.name,
                    is_private: c.is_private,
                    is_archived: c.is_archived,
                    is_member: c.is_member,
                    topic: c.topic.map(|t| t.value).filter(|t| !t.is_empty()),
                    user: c.user,
                    is_im: c.is_im,
                    is_mpim: c.is_mpim,
                })
                .collect(),
            next_cursor: next,
        })
    }
}

// ---- slack_add_reaction ----

/// Arguments of `slack_add_reaction`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AddReactionArgs {
    /// The channel's id.
    #[schemars(length(min = 1, max = 64))]
    pub channel: String,
    /// The message's `ts`.
    #[schemars(regex(pattern = r"^\d+\.\d+$"))]
    pub timestamp: String,
    /// The emoji's name, without colons (`thumbsup`, `white_check_mark`), with a skin
    /// tone when wanted (`thumbsup::skin-tone-2`).
    #[schemars(regex(pattern = r"^[a-z0-9_+'-]{1,100}(::skin-tone-[2-6])?$"))]
    pub name: String,
}

/// A reaction, as added.
#[derive(Debug, Serialize, JsonSchema)]
#[non_exhaustive]
pub struct ReactionRef {
    /// The channel's id.
    pub channel: String,
    /// The message's `ts`.
    pub timestamp: String,
    /// The emoji's name.
    pub name: String,
}

/// `slack_add_reaction`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct AddReaction;

impl Tool for AddReaction {
    type Args = AddReactionArgs;
    type Output = ReactionRef;

    fn descriptor(&self) -> ToolDescriptor {
        ToolDescriptor::new::<AddReactionArgs>(
            "slack_add_reaction",
            "Add an emoji reaction to a Slack message (adding one that is there already succeeds).",
        )
        .with_title("Add Slack reaction")
        .with_annotations(ToolAnnotations::additive().with_idempotent(true))
        .with_capability(
            const { integrations_core::model::Capability::from_static("reaction.write") },
        )
    }

    async fn call(
        &self,
        args: AddReactionArgs,
        context: &ToolContext,
    ) -> Result<ReactionRef, Error> {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("channel", &args.channel)
            .append_pair("timestamp", &args.timestamp)
            .append_pair("name", &args.name)
            .finish();
        let mut request = request(Method::POST, method_url(context, "reactions.add")?.as_str())?;
        *request.body_mut() = Bytes::from(form);
        request.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        match call_method::<Value>(context, request).await {
            // Slack answers a repeat with `already_reacted`: the reaction is there, which
            // is what the call asked for, so a repeat of this idempotent call succeeds.
            Err(e) if e.code() == "slack.already_reacted" => {}
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        Ok(ReactionRef {
            channel: args.channel,
            timestamp: args.timestamp,
            name: args.name,
        })
    }
}
