//! Slack sync: the `messages` stream, of every channel the connection's bot or user is in.
//!
//! A run first lists the member conversations (`users.conversations`,
//! `types=public_channel,private_channel`, `exclude_archived=true`, `limit=200`, every
//! page), then reads each channel's `conversations.history` (`limit=200`, newest first,
//! `cursor` from `response_metadata.next_cursor`; the empty string ends). An incremental
//! run reads from its watermark (exclusive; less the thread lookback, below): the newest
//! `ts` of the last completed run, but never later than that run's start minus
//! [`WATERMARK_MARGIN`](integrations_core::sync::WATERMARK_MARGIN), so a message posted
//! in a channel read early in a run is not hidden by a newer one in a channel read
//! later. The channel list and the position in it travel in the cursor, so a resumed
//! run reads the same channels. A channel the bot joined since the last run (not among
//! those the checkpoint says were read in full) is read without `oldest`. A listed channel
//! whose history answers `not_in_channel` or `channel_not_found` (left, removed or
//! deleted since the listing) is passed over, and read in full if the bot rejoins.
//!
//! Thread replies: `conversations.history` lists top-level messages and thread parents
//! (with `reply_count` and `latest_reply`), and of the replies only those also sent to
//! the channel (`reply_broadcast`). After each history page, the run reads the replies
//! of the threads that page listed (`conversations.replies`, `ts=<parent>`, `limit=200`,
//! every page) before the next history page, so the cursor holds at most one page's
//! threads. The parent, and the replies also sent to the channel, come from the history
//! and are not repeated. A thread whose parent is gone (`thread_not_found`) is passed
//! over; Slack keeps a deleted parent that has replies as a `tombstone` message, whose
//! replies are still read. An incremental run reads the history from the target's
//! `thread_lookback_days` (default 1) before the watermark, keeps as records the
//! messages after the watermark and the parents of threads with replies after it (their
//! `reply_count` and `latest_reply` changed), and reads those replies: replies to a
//! thread whose parent is older than the lookback are left to the Events API (`message`
//! events with `thread_ts`). `thread_replies: false` in the target config turns reading
//! replies off. A token Slack does not let read replies (its method page says bot
//! tokens may not in channels; `not_allowed_token_type`, `missing_scope`) reads no
//! thread for the rest of the run, which completes with the history, and says so in the
//! host's log (the replies it skipped come later only while their thread is within the
//! lookback; a full sync reads the rest).
//!
//! Record ids are `<channel>:<ts>`; `updated_at` is the message `ts`. Deletes: a deleted
//! message is simply gone from the history, and an edit keeps its `ts`, so neither is
//! seen by an incremental read; they arrive as Events API events (`message` with
//! subtype `message_deleted` / `message_changed`), which a host applies (or it deletes
//! the stream and runs a full sync).
//!
//! Rate limits: HTTP 429 with `Retry-After` (seconds), per method and workspace.
//! `users.conversations` is tier 3; `conversations.history` and `conversations.replies`
//! are tier 3 for Marketplace and internal apps, but 1 request a minute with at most 15
//! messages a page for apps distributed outside the Marketplace (new installations from
//! 2025-05-29, existing ones from 2026-03-03). For those, every thread costs a minute
//! and every day of lookback a minute per 15 messages of each channel: set
//! `thread_lookback_days` to 0, or `thread_replies` to false. See `docs/sync.md` for the
//! sources.

use std::collections::BTreeSet;
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use http::Method;
use integrations_core::definition::IntegrationDefinition;
use integrations_core::host::HttpResponse;
use integrations_core::plan::CredentialSelector;
use integrations_core::sync::{
    SyncMode, SyncPage, SyncRecord, SyncRequest, SyncSource, SyncStream,
};
use integrations_core::tools::{RateLimitRule, RequestAuth, request as new_request};
use integrations_core::{Error, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Slack;
use super::schemas::SlackTargetConfig;
use crate::sync_support;

/// Items per call: what Slack recommends at most.
pub const LIMIT: u32 = 200;

static RATE_LIMIT: LazyLock<RateLimitRule> =
    LazyLock::new(|| RateLimitRule::new().with_default_wait(Duration::from_secs(60)));

fn streams() -> Vec<SyncStream> {
    vec![SyncStream::new("messages", true)]
}

/// Where a run is: the channels listed at its start, which one, its history cursor, and
/// the threads of the history page last read whose replies are still to read.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    channels: Vec<String>,
    at: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    /// The channel's history is read; its threads may not be yet.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    history_done: bool,
    /// The parents (`ts`) of the threads to read, in the channel at `at`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    threads: Vec<String>,
    /// The replies cursor of the first of `threads`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replies: Option<String>,
    /// Slack refused to let this token read replies: the run reads no more threads.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    no_replies: bool,
    /// The `oldest` the channel's history is asked with, from its first page on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    oldest: Option<String>,
    /// The channels this run passed over (gone for the token): each page takes them out
    /// of the source state's `read` again, since a resumed run starts from the state of
    /// the last completed one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    passed_over: Vec<String>,
    /// The channels this run read in full: each page adds them to `read` again, for the
    /// same reason, so a run resumed after an interruption still counts them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    read: Vec<String>,
}

impl Cursor {
    fn next_channel(&mut self) {
        self.at += 1;
        self.next = None;
        self.history_done = false;
        self.threads.clear();
        self.replies = None;
        self.oldest = None;
    }
}

/// Kept with the checkpoint: the channels whose whole history the stream has read (in a
/// full run, or as a newcomer in an incremental one). An incremental run reads any other
/// channel it lists (one the bot joined since) in full: what was posted there before the
/// watermark was never read.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    #[serde(default)]
    read: BTreeSet<String>,
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    response_metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct Conversations {
    channels: Vec<Conversation>,
}

#[derive(Deserialize)]
struct Conversation {
    id: String,
}

#[derive(Default, Deserialize)]
struct History {
    messages: Vec<Value>,
}

/// Slack refuses a dead token with HTTP 200 and `ok: false`.
fn rejected(response: &HttpResponse) -> bool {
    response.status() == http::StatusCode::UNAUTHORIZED
        || serde_json::from_slice::<Envelope>(response.body()).is_ok_and(|e| {
            !e.ok
                && matches!(
                    e.error.as_deref(),
                    Some(
                        "invalid_auth"
                            | "not_authed"
                            | "token_expired"
                            | "token_revoked"
                            | "account_inactive"
                    )
                )
        })
}

struct Call<'a, 'r> {
    request: &'a SyncRequest<'r>,
    config: &'a SlackTargetConfig,
    auth: RequestAuth,
}

impl Call<'_, '_> {
    /// Calls `method` with `query`; the body and the next cursor (`None` at the end).
    async fn get<T: for<'de> Deserialize<'de>>(
        &self,
        method: &str,
        query: &[(&str, &str)],
    ) -> Result<(T, Option<String>), Error> {
        self.answer(method, query)
            .await?
            .map_err(|code| refused(method, &code))
    }

    /// Slack's answer to `method`: the body and the next cursor, or the error code of an
    /// `ok: false` answer (the caller decides what it means).
    async fn answer<T: for<'de> Deserialize<'de>>(
        &self,
        method: &str,
        query: &[(&str, &str)],
    ) -> Result<Result<(T, Option<String>), String>, Error> {
        let mut url = self.config.api_base_url.url().path(method).build()?;
        url.query_pairs_mut().extend_pairs(query);
        let response = self
            .request
            .send(new_request(Method::GET, url.as_str())?, &self.auth)
            .await?;
        if let Some(limited) = RATE_LIMIT.check(&response, self.request.clock.now()) {
            let wait = limited.retry_after().unwrap_or(Duration::from_secs(60));
            return Err(crate::codes::sync::RATE_LIMITED
                .error(format!(
                    "Slack's rate limit for {method} was reached; retry after {} s",
                    wait.as_secs()
                ))
                .with_retry_after(wait));
        }
        if !response.status().is_success() {
            return Err(sync_support::status("Slack", response.status()));
        }
        let envelope: Envelope = serde_json::from_slice(response.body())
            .map_err(|_| sync_support::unexpected("Slack", response.status()))?;
        if !envelope.ok {
            let code: String = envelope
                .error
                .unwrap_or_default()
                .chars()
                .filter(|c| c.is_ascii_lowercase() || *c == '_')
                .take(64)
                .collect();
            return Ok(Err(code));
        }
        let body = serde_json::from_slice(response.body())
            .map_err(|_| sync_support::unexpected("Slack", response.status()))?;
        let next = envelope
            .response_metadata
            .and_then(|m| m.next_cursor)
            .filter(|c| !c.is_empty());
        Ok(Ok((body, next)))
    }

    /// Every conversation the token is a member of.
    async fn channels(&self) -> Result<Vec<String>, Error> {
        let mut channels = Vec::new();
        let mut cursor: Option<String> = None;
        let limit = LIMIT.to_string();
        loop {
            let mut query = vec![
                ("types", "public_channel,private_channel"),
                ("exclude_archived", "true"),
                ("limit", limit.as_str()),
            ];
            if let Some(c) = &cursor {
                query.push(("cursor", c.as_str()));
            }
            let (page, next): (Conversations, _) = self.get("users.conversations", &query).await?;
            channels.extend(page.channels.into_iter().map(|c| c.id));
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(channels),
            }
        }
    }
}

/// The error of an `ok: false` answer to `method` with Slack's error `code`.
fn refused(method: &str, code: &str) -> Error {
    if code == "invalid_cursor" {
        // Slack's cursors expire: a resumed run then starts its pages over.
        return integrations_core::codes::sync::INVALID_CURSOR.error(format!(
            "Slack no longer accepts the cursor given to {method} (invalid_cursor)"
        ));
    }
    // Slack reports its own outages as HTTP 200 with `ok: false`: the same outage as a
    // 5xx, and retried as one.
    if matches!(
        code,
        "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout"
    ) {
        return crate::codes::sync::PROVIDER_UNAVAILABLE.error(format!(
            "Slack could not answer {method} just now (error {code}); the next run retries the page"
        ));
    }
    crate::codes::sync::PROVIDER_ERROR.error(format!(
        "Slack answered {method} with ok:false, error {code}"
    ))
}

#[async_trait]
impl SyncSource for Slack {
    fn streams(&self) -> Vec<SyncStream> {
        streams()
    }

    /// A message's `ts` is Slack's clock when it was posted.
    fn watermark_at(&self, _stream: &str, at: Timestamp) -> Option<String> {
        Some(format!("{}.000000", at.unix_seconds()))
    }

    async fn fetch_page(&self, request: SyncRequest<'_>) -> Result<SyncPage, Error> {
        if request.stream != "messages" {
            return Err(sync_support::unknown_stream(
                "Slack",
                request.stream,
                &streams(),
            ));
        }
        let config = request.target_config.get::<SlackTargetConfig>()?;
        let (selector, _): (CredentialSelector, _) =
            sync_support::credential(&self.connection_methods(), request.connection)?;
        let call = Call {
            request: &request,
            config,
            auth: RequestAuth::bearer(selector).with_rejection(rejected),
        };
        let mut cursor: Cursor = match request.cursor {
            Some(c) => sync_support::decode_cursor("Slack", c)?,
            None => Cursor {
                channels: call.channels().await?,
                at: 0,
                next: None,
                history_done: false,
                threads: Vec::new(),
                replies: None,
                no_replies: false,
                oldest: None,
                passed_over: Vec::new(),
                read: Vec::new(),
            },
        };
        let Some(channel) = cursor.channels.get(cursor.at).cloned() else {
            return Ok(SyncPage::new(Vec::new(), None));
        };
        let mut state: State = serde_json::from_value(request.state.clone()).unwrap_or_default();
        let mut changed = sync_support::reconcile_read(
            &mut state.read,
            &cursor.channels,
            &cursor.passed_over,
            &cursor.read,
        );
        let since = match request.mode {
            SyncMode::Incremental if state.read.contains(&channel) => request.since,
            _ => None,
        };
        // Threads turned off since the cursor was saved: the ones it holds are not read.
        if !config.thread_replies {
            cursor.threads.clear();
            cursor.replies = None;
        }
        let read = if !cursor.threads.is_empty() {
            call.replies(&channel, since, &mut cursor).await?
        } else if cursor.history_done {
            // Only threads were left in this channel, and they were turned off: its
            // history is read, the run goes on to the next channel.
            Read::Records(Vec::new())
        } else {
            call.history(&channel, since, &mut cursor).await?
        };
        let records = match read {
            Read::Records(records) => records,
            // The bot left the channel, or it was deleted, since the run listed it:
            // nothing more can be read there, and the next run will not list it. (A run
            // that failed here would fail again each time it resumed.) Joined again, it
            // is read in full.
            Read::Gone => {
                cursor.next_channel();
                changed |= state.read.remove(&channel);
                cursor.passed_over.push(channel.clone());
                Vec::new()
            }
        };
        if cursor.history_done && cursor.threads.is_empty() {
            cursor.next_channel();
            changed |= state.read.insert(channel.clone());
            cursor.read.push(channel);
        }
        let more = cursor.at < cursor.channels.len();
        let next_cursor = if more {
            Some(sync_support::encode_cursor("Slack", &cursor)?)
        } else {
            None
        };
        let page = SyncPage::new(records, next_cursor);
        Ok(sync_support::with_state_if(page, changed, &state))
    }
}

/// What one call read in a channel.
enum Read {
    Records(Vec<SyncRecord>),
    /// The channel is gone for this token (`not_in_channel`, `channel_not_found`).
    Gone,
}

/// Whether Slack's `code` says the channel is gone for this token.
fn channel_gone(code: &str) -> bool {
    code == "not_in_channel" || code == "channel_not_found"
}

/// A Slack `ts` (`1700000000.000100`) as microseconds; `None` when it is not one.
fn micros(ts: &str) -> Option<u128> {
    let (secs, fraction) = ts.split_once('.').unwrap_or((ts, "0"));
    let fraction = format!("{fraction:0<6}");
    Some(secs.parse::<u128>().ok()? * 1_000_000 + fraction.get(..6)?.parse::<u128>().ok()?)
}

/// Whether `ts` is later than `since` (everything is, without a `since`). A `ts` that is
/// not one counts as later: it is kept as a full read keeps it, never dropped unseen.
fn newer(ts: &str, since: Option<&str>) -> bool {
    since.is_none_or(|since| match (micros(ts), micros(since)) {
        (Some(ts), Some(since)) => ts > since,
        _ => true,
    })
}

/// `since` moved `days` earlier, as a `ts`; `since` itself when it is not a `ts`.
fn earlier(since: &str, days: u32) -> String {
    match micros(since) {
        Some(at) => {
            let at = at.saturating_sub(u128::from(days) * 86_400 * 1_000_000);
            format!("{}.{:06}", at / 1_000_000, at % 1_000_000)
        }
        None => since.to_owned(),
    }
}

/// `message` as the record of `channel`'s stream; `None` without a `ts`.
fn record(channel: &str, mut message: Value) -> Result<SyncRecord, Error> {
    let Some(ts) = message.get("ts").and_then(Value::as_str).map(str::to_owned) else {
        return Err(sync_support::unexpected("Slack", http::StatusCode::OK));
    };
    message["channel"] = json!(channel);
    Ok(SyncRecord::new(
        format!("{channel}:{ts}"),
        Some(ts),
        message,
    ))
}

impl Call<'_, '_> {
    /// A page of `channel`'s history: the messages newer than `since`, and the threads
    /// to read next (those whose latest reply is newer than `since`). An incremental
    /// read goes back the target's `thread_lookback_days` before `since` for those
    /// threads, and keeps only the newer messages as records.
    async fn history(
        &self,
        channel: &str,
        since: Option<&str>,
        cursor: &mut Cursor,
    ) -> Result<Read, Error> {
        let limit = LIMIT.to_string();
        let reading_threads = self.config.thread_replies && !cursor.no_replies;
        // The lookback is for threads: none when the run reads none. Decided at the
        // channel's first page and kept in the cursor, so every page of the channel is
        // asked with the query its cursor was given for.
        if cursor.next.is_none() {
            let days = if reading_threads {
                self.config.thread_lookback_days
            } else {
                0
            };
            cursor.oldest = since.map(|since| earlier(since, days));
        }
        let oldest = cursor.oldest.clone();
        let mut query = vec![("channel", channel), ("limit", limit.as_str())];
        if let Some(oldest) = &oldest {
            query.push(("oldest", oldest));
        }
        if let Some(next) = &cursor.next {
            query.push(("cursor", next.as_str()));
        }
        let (history, next) = match self
            .answer::<History>("conversations.history", &query)
            .await?
        {
            Ok(answer) => answer,
            Err(code) if channel_gone(&code) => return Ok(Read::Gone),
            Err(code) => return Err(refused("conversations.history", &code)),
        };
        let mut records = Vec::with_capacity(history.messages.len());
        for message in history.messages {
            let ts = message
                .get("ts")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let latest = message.get("latest_reply").and_then(Value::as_str);
            let parent = message.get("thread_ts").and_then(Value::as_str) == Some(ts)
                && message.get("reply_count").and_then(Value::as_u64) > Some(0);
            // Without `latest_reply` (Slack sends it with every parent) only a full read
            // counts the thread as new: an incremental one would read it on every run.
            let replied = parent
                && match (since, latest) {
                    (None, _) => true,
                    (Some(_), latest) => latest.is_some_and(|latest| newer(latest, since)),
                };
            if replied && reading_threads {
                cursor.threads.push(ts.to_owned());
            }
            // A parent with new replies is sent again: its `reply_count` and
            // `latest_reply` changed.
            if replied || newer(ts, since) {
                records.push(record(channel, message)?);
            }
        }
        cursor.history_done = next.is_none();
        cursor.next = next;
        Ok(Read::Records(records))
    }

    /// A page of the replies of the first thread the cursor holds: those newer than
    /// `since`, without the parent (the history gave it) or the replies also sent to
    /// the channel (the history gave them too).
    async fn replies(
        &self,
        channel: &str,
        since: Option<&str>,
        cursor: &mut Cursor,
    ) -> Result<Read, Error> {
        let thread = cursor.threads[0].clone();
        let limit = LIMIT.to_string();
        let mut query = vec![
            ("channel", channel),
            ("ts", thread.as_str()),
            ("limit", limit.as_str()),
        ];
        if let Some(since) = since {
            query.push(("oldest", since));
        }
        if let Some(next) = &cursor.replies {
            query.push(("cursor", next.as_str()));
        }
        let (replies, next) = match self
            .answer::<History>("conversations.replies", &query)
            .await?
        {
            Ok(answer) => answer,
            Err(code) if channel_gone(&code) => return Ok(Read::Gone),
            // The parent is gone (deleted with no reply left) since the history listed it.
            Err(code) if code == "thread_not_found" => (History::default(), None),
            // Slack's method page says bot tokens may not read channel threads: the run
            // goes on with the history alone rather than failing at every resume.
            Err(code) if code == "not_allowed_token_type" || code == "missing_scope" => {
                tracing::warn!(
                    code = code.as_str(),
                    "Slack refused conversations.replies to this token: this run reads no thread replies"
                );
                cursor.no_replies = true;
                cursor.threads.clear();
                cursor.replies = None;
                return Ok(Read::Records(Vec::new()));
            }
            Err(code) => return Err(refused("conversations.replies", &code)),
        };
        let mut records = Vec::with_capacity(replies.messages.len());
        for message in replies.messages {
            let ts = message
                .get("ts")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let broadcast =
                message.get("subtype").and_then(Value::as_str) == Some("thread_broadcast");
            if ts != thread && !broadcast && newer(ts, since) {
                records.push(record(channel, message)?);
            }
        }
        if next.is_none() {
            cursor.threads.remove(0);
        }
        cursor.replies = next;
        Ok(Read::Records(records))
    }
}

#[cfg(test)]
mod tests {
    use integrations_core::ErrorKind;

    use super::refused;

    /// Slack's own outages come as HTTP 200 with `ok: false`: retried as a 5xx is, not
    /// reported as the provider's answer.
    #[test]
    fn slack_outages_answered_ok_false_are_temporary() {
        for code in [
            "internal_error",
            "fatal_error",
            "service_unavailable",
            "request_timeout",
        ] {
            let error = refused("conversations.history", code);
            assert_eq!(error.code(), "sync.provider_unavailable", "{code}");
            assert_eq!(error.kind(), ErrorKind::Unavailable, "{code}");
            assert!(error.is_temporary(), "{code}");
        }
        let refused_for_good = refused("conversations.history", "missing_scope");
        assert_eq!(refused_for_good.code(), "sync.provider_error");
        assert!(!refused_for_good.is_temporary());
    }
}
