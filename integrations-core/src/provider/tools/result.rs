//! [`ToolResult`]: the outcome of a call in MCP `CallToolResult` shape.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::model::ApprovalRequest;
use crate::{Error, ErrorKind, ValidationIssue};

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolStatus {
    /// The tool ran and succeeded.
    Completed,
    /// The call failed: bad arguments, a policy or capability refusal, a provider error.
    Failed,
    /// The policy is `ask`: nothing ran; the call waits in an approval request.
    ApprovalRequired,
}

/// One content block of a result. MCP has more kinds (images, resources); tools of this
/// SDK return text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolContent {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
}

impl ToolContent {
    /// A text block.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text { text: text.into() }
    }

    fn to_mcp(&self) -> Value {
        match self {
            Self::Text { text } => json!({"type": "text", "text": text}),
        }
    }
}

/// Why a call failed, with the stable code of the error behind it. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolFailure {
    /// The class of failure.
    pub kind: ErrorKind,
    /// The stable code (`tool.invalid_arguments`, `tool.rate_limited`, `slack.not_in_channel`).
    pub code: String,
    /// A safe message.
    pub message: String,
    /// How long to wait before retrying, for temporary failures that say so.
    pub retry_after: Option<Duration>,
    /// Every problem with the arguments, each naming its field by JSON Pointer.
    pub issues: Vec<ValidationIssue>,
}

impl ToolFailure {
    /// The failure of `error`.
    pub fn from_error(error: &Error) -> Self {
        Self {
            kind: error.kind(),
            code: error.code().to_owned(),
            message: error.message().to_owned(),
            retry_after: error.retry_after(),
            issues: error.issues().to_vec(),
        }
    }

    /// Whether retrying later may succeed.
    pub fn is_temporary(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Unavailable | ErrorKind::RateLimited | ErrorKind::Storage
        )
    }

    fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut text = format!("Error {}: {}", self.code, self.message);
        for issue in &self.issues {
            let path = if issue.path.is_empty() {
                "/"
            } else {
                &issue.path
            };
            let _ = write!(text, "\n- {path}: {} ({})", issue.message, issue.code);
        }
        if let Some(wait) = self.retry_after {
            let _ = write!(text, "\nRetry after {} s.", wait.as_secs().max(1));
        }
        text
    }

    fn to_json(&self) -> Value {
        let mut out = json!({
            "kind": self.kind.as_str(),
            "code": self.code,
            "message": self.message,
            "retryable": self.is_temporary(),
        });
        if let Some(wait) = self.retry_after {
            out["retryAfterSeconds"] = json!(wait.as_secs_f64());
        }
        if !self.issues.is_empty() {
            out["issues"] = Value::Array(
                self.issues
                    .iter()
                    .map(|i| json!({"code": i.code, "path": i.path, "message": i.message}))
                    .collect(),
            );
        }
        out
    }
}

/// Where a trimmed result continues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Continuation {
    /// The cursor to pass to [`Runtime::continue_result`](crate::tools::Runtime::continue_result)
    /// (or, for an agent, to the `integrations_continue_result` tool).
    pub cursor: String,
    /// The JSON Pointer of the list or text this page was cut from: the result's largest,
    /// or, on a page of an item too large for one page, the list or text inside the item
    /// (`/docs/3/body`).
    pub pointer: String,
    /// How many more pages there are.
    pub remaining_pages: usize,
}

/// The outcome of a call, in the shape of MCP's `CallToolResult` ([`to_mcp`](Self::to_mcp)),
/// with typed details for the host: the failure, the approval request, the continuation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolResult {
    /// How the call ended.
    pub status: ToolStatus,
    /// Content blocks for the model.
    pub content: Vec<ToolContent>,
    /// The structured result (conforming to the tool's output schema), on success.
    pub structured_content: Option<Value>,
    /// Why it failed. Boxed, like [`approval`](Self::approval): a result is moved through
    /// every layer of a call, and the common one succeeds.
    pub failure: Option<Box<ToolFailure>>,
    /// The approval request the call waits in. Boxed: it is rare and large, and a result
    /// is moved through every layer of a call.
    pub approval: Option<Box<ApprovalRequest>>,
    /// Where a trimmed result continues.
    pub continuation: Option<Continuation>,
}

impl ToolResult {
    /// A successful result: `structured` as structured content and as JSON text.
    pub fn success(structured: Value) -> Self {
        let text = json_text(&structured);
        Self::success_with_text(structured, text)
    }

    /// [`success`](Self::success) with the JSON text of `structured` already made.
    pub(crate) fn success_with_text(structured: Value, text: String) -> Self {
        Self {
            status: ToolStatus::Completed,
            content: vec![ToolContent::text(text)],
            structured_content: Some(structured),
            failure: None,
            approval: None,
            continuation: None,
        }
    }

    /// A failed result carrying `error`'s code, safe message and issues.
    pub fn failure(error: &Error) -> Self {
        let failure = ToolFailure::from_error(error);
        Self {
            status: ToolStatus::Failed,
            content: vec![ToolContent::text(failure.text())],
            structured_content: None,
            failure: Some(Box::new(failure)),
            approval: None,
            continuation: None,
        }
    }

    /// A result saying the call waits for approval in `request`.
    pub fn approval_required(request: ApprovalRequest) -> Self {
        let text = format!(
            "This call of {} needs a person's approval and has not run. Approval request {} expires at {}.",
            request.tool,
            request.id,
            request.expires_at.to_rfc3339()
        );
        Self {
            status: ToolStatus::ApprovalRequired,
            content: vec![ToolContent::text(text)],
            structured_content: None,
            failure: None,
            approval: Some(Box::new(request)),
            continuation: None,
        }
    }

    /// Whether it is an error result in MCP terms (`isError`): a failure, or a call that
    /// did not run because it waits for approval.
    pub fn is_error(&self) -> bool {
        self.status != ToolStatus::Completed
    }

    /// The failure's code, when it failed.
    pub fn error_code(&self) -> Option<&str> {
        self.failure.as_ref().map(|f| f.code.as_str())
    }

    /// The result as MCP `CallToolResult` JSON: `content`, `structuredContent` when there
    /// is one, `isError`, and under `_meta` the failure, approval or continuation details
    /// that are not part of the tool's output schema.
    pub fn to_mcp(&self) -> Value {
        let mut out = Map::new();
        out.insert("resultType".into(), json!("complete"));
        out.insert(
            "content".into(),
            Value::Array(self.content.iter().map(ToolContent::to_mcp).collect()),
        );
        if let Some(structured) = &self.structured_content {
            out.insert("structuredContent".into(), structured.clone());
        }
        out.insert("isError".into(), json!(self.is_error()));
        let mut meta = Map::new();
        if let Some(failure) = &self.failure {
            meta.insert("integrations/error".into(), failure.to_json());
        } else if self.status == ToolStatus::ApprovalRequired {
            // Every `isError` result carries a stable code.
            let waiting = crate::codes::tool::APPROVAL_REQUIRED
                .error("the call needs a person's approval and has not run");
            meta.insert(
                "integrations/error".into(),
                ToolFailure::from_error(&waiting).to_json(),
            );
        }
        if let Some(approval) = &self.approval {
            meta.insert(
                "integrations/approval".into(),
                json!({
                    "id": approval.id.as_str(),
                    "tool": approval.tool,
                    "expiresAt": approval.expires_at.to_rfc3339(),
                }),
            );
        }
        if let Some(continuation) = &self.continuation {
            meta.insert(
                "integrations/continuation".into(),
                json!({
                    "cursor": continuation.cursor,
                    "pointer": continuation.pointer,
                    "remainingPages": continuation.remaining_pages,
                }),
            );
        }
        if !meta.is_empty() {
            out.insert("_meta".into(), Value::Object(meta));
        }
        Value::Object(out)
    }
}

/// `value` as JSON text, written straight into bytes: `Value`'s `Display` goes through the
/// `fmt` machinery, a third of the cost of a small result's text.
pub(crate) fn json_text(value: &Value) -> String {
    // Serializing a `Value` cannot fail: its keys are strings and its numbers finite.
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_results_text_is_its_compact_json() {
        let value = json!({
            "title": "Quote \"this\", a tab\t, \u{1F600} and </script>",
            "nested": {"list": [1, -2.5, null, true, {"": []}]},
            "long": "x".repeat(300),
        });
        let text = json_text(&value);
        assert_eq!(text, value.to_string());
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value);
        let result = ToolResult::success(value.clone());
        assert_eq!(result.to_mcp()["content"][0]["text"], value.to_string());
    }

    #[test]
    fn results_have_the_mcp_shape() {
        let ok = ToolResult::success(json!({"temperature": 22.5}));
        let mcp = ok.to_mcp();
        assert_eq!(mcp["resultType"], "complete");
        assert_eq!(mcp["content"][0]["type"], "text");
        assert_eq!(mcp["content"][0]["text"], r#"{"temperature":22.5}"#);
        assert_eq!(mcp["structuredContent"]["temperature"], 22.5);
        assert_eq!(mcp["isError"], false);
        assert!(mcp.get("_meta").is_none());

        let err = Error::invalid_input(
            "tool.invalid_arguments",
            "the arguments do not match the tool's input schema",
            vec![ValidationIssue::new(
                "schema.required",
                "/title",
                "this field is required",
            )],
        );
        let failed = ToolResult::failure(&err);
        let mcp = failed.to_mcp();
        assert_eq!(mcp["isError"], true);
        assert!(mcp.get("structuredContent").is_none());
        let text = mcp["content"][0]["text"].as_str().unwrap();
        assert!(text.contains("tool.invalid_arguments"), "{text}");
        assert!(text.contains("/title: this field is required"), "{text}");
        assert_eq!(
            mcp["_meta"]["integrations/error"]["issues"][0]["path"],
            "/title"
        );
        assert_eq!(mcp["_meta"]["integrations/error"]["retryable"], false);
    }
}
