//! The Slack bot scopes a target requests by default cover every Web API method the
//! shipped tools and sync call, and every Events API event behind the shipped sync
//! triggers: without them Slack answers `missing_scope` or never sends the event.
//!
//! Required scopes are those of Slack's method and event pages for bot tokens
//! (providers.md §3.3 for `chat.postMessage`, §1.3 for `app_mention`; the others from
//! the same pages): a method that takes `types` needs the read scope of each kind of
//! conversation asked for, and `conversations.history` needs the history scope of each
//! kind the sync lists (public and private channels).

use integrations_definitions::slack::schemas::SlackTargetConfig;
use integrations_testkit::mock::api::Recorded;

/// The read scope of each conversation type a `types` parameter names.
fn read_scope(conversation_type: &str) -> &'static str {
    match conversation_type {
        "public_channel" => "channels:read",
        "private_channel" => "groups:read",
        "mpim" => "mpim:read",
        "im" => "im:read",
        other => panic!("no scope known for the conversation type {other}"),
    }
}

/// The scopes the request needs, by method.
fn required(request: &Recorded) -> Vec<&'static str> {
    let method = request.path.rsplit('/').next().unwrap_or_default();
    let types = request
        .query_param("types")
        .map(str::to_owned)
        .or_else(|| request.form().get("types").cloned())
        // Slack's default for the `types` of both listing methods.
        .unwrap_or_else(|| "public_channel".to_owned());
    match method {
        "auth.test" => Vec::new(),
        "chat.postMessage" => vec!["chat:write"],
        "reactions.add" => vec!["reactions:write"],
        "conversations.list" | "users.conversations" => {
            types.split(',').map(|t| read_scope(t.trim())).collect()
        }
        // The sync reads the history of the public and private channels it listed, and
        // the replies of their threads (the same scopes, by Slack's method page).
        "conversations.history" | "conversations.replies" => {
            vec!["channels:history", "groups:history"]
        }
        other => panic!("the Slack method {other} is not in the scope table: add it"),
    }
}

/// The Events API subscriptions behind each shipped sync trigger, with their scopes.
fn trigger_scopes(pattern: &str) -> Vec<&'static str> {
    match pattern {
        // `message.channels` and `message.groups`: messages of the public and private
        // channels the `messages` stream reads.
        "slack.message.*" => vec!["channels:history", "groups:history"],
        other => panic!("the Slack trigger {other} is not in the scope table: add it"),
    }
}

fn default_scopes() -> Vec<String> {
    let config: SlackTargetConfig = serde_json::from_value(serde_json::json!({})).unwrap();
    config.bot_scopes
}

/// Asserts the default scopes cover every request in `requests` (at least one).
pub(crate) fn assert_default_scopes_cover(requests: &[Recorded]) {
    assert!(!requests.is_empty(), "no Slack request was made");
    let granted = default_scopes();
    for request in requests {
        for scope in required(request) {
            assert!(
                granted.iter().any(|g| g == scope),
                "{} needs {scope}, which the default bot scopes {granted:?} lack",
                request.path
            );
        }
    }
}

#[test]
fn the_default_scopes_cover_the_shipped_sync_triggers_and_app_mentions() {
    let granted = default_scopes();
    let mut needed = vec!["app_mentions:read"];
    for (pattern, _) in integrations_definitions::slack::sync_triggers().rules() {
        needed.extend(trigger_scopes(pattern));
    }
    for scope in needed {
        assert!(
            granted.iter().any(|g| g == scope),
            "the default bot scopes {granted:?} lack {scope}"
        );
    }
}
