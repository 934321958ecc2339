//! Two tools: `jira_get_issue` (reads, runs) and `jira_add_comment` (writes, asks).

use integrations_core::model::Capability;
use integrations_core::plan::{AuthInjection, CredentialSelector};
use integrations_core::reexports::http::Method;
use integrations_core::reexports::schemars::JsonSchema;
use integrations_core::reexports::serde::{Deserialize, Serialize};
use integrations_core::reexports::serde_json::json;
use integrations_core::tools::{
    RequestAuth, Tool, ToolAnnotations, ToolContext, ToolDescriptor, ToolSet, api_url,
    json_request, read_json, request, status_error,
};
use integrations_core::{Error, model::CredentialType};

use crate::{JiraConnection, JiraTarget};

pub(crate) fn tool_set() -> ToolSet {
    ToolSet::new().with(GetIssue).with(AddComment)
}

fn capability(name: &str) -> Capability {
    Capability::new(name).unwrap_or_else(|e| panic!("{e}"))
}

/// Jira Cloud: HTTP Basic with the account email and the API token.
fn auth(context: &ToolContext) -> Result<RequestAuth, Error> {
    let connection = context.connection_config().get::<JiraConnection>()?;
    Ok(RequestAuth::new(
        CredentialSelector::of_type(CredentialType::API_KEY),
        AuthInjection::Basic {
            username: Some(connection.email.clone()),
        },
    ))
}

/// Arguments of `jira_get_issue`.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "integrations_core::reexports::serde")]
#[schemars(crate = "integrations_core::reexports::schemars")]
#[serde(deny_unknown_fields)]
pub(crate) struct GetIssueArgs {
    /// The issue key (`ENG-42`).
    #[schemars(regex(pattern = r"^[A-Z][A-Z0-9_]+-[0-9]+$"))]
    issue: String,
}

/// An issue.
#[derive(Serialize, JsonSchema)]
#[serde(crate = "integrations_core::reexports::serde")]
#[schemars(crate = "integrations_core::reexports::schemars")]
pub(crate) struct Issue {
    /// The key.
    key: String,
    /// The summary.
    summary: String,
    /// The status name.
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(crate = "integrations_core::reexports::serde")]
struct IssueBody {
    key: String,
    fields: IssueFields,
}

#[derive(Deserialize)]
#[serde(crate = "integrations_core::reexports::serde")]
struct IssueFields {
    summary: String,
    status: Option<Named>,
}

#[derive(Deserialize)]
#[serde(crate = "integrations_core::reexports::serde")]
struct Named {
    name: String,
}

struct GetIssue;

impl Tool for GetIssue {
    type Args = GetIssueArgs;
    type Output = Issue;

    fn descriptor(&self) -> ToolDescriptor {
        ToolDescriptor::new::<GetIssueArgs>(
            "jira_get_issue",
            "Get a Jira issue by key: summary and status.",
        )
        .with_title("Get Jira issue")
        .with_annotations(ToolAnnotations::read_only())
        .with_capability(capability("issue.read"))
    }

    async fn call(&self, args: GetIssueArgs, context: &ToolContext) -> Result<Issue, Error> {
        let site = &context.target_config().get::<JiraTarget>()?.site_url;
        let url = api_url(
            site,
            &[
                ("", "rest"),
                ("", "api"),
                ("", "2"),
                ("", "issue"),
                ("/issue", &args.issue),
            ],
        )?;
        let response = context
            .http()
            .send(request(Method::GET, url.as_str())?, &auth(context)?)
            .await?;
        if !response.status().is_success() {
            return Err(status_error(response.status()));
        }
        let body: IssueBody = read_json(&response)?;
        Ok(Issue {
            key: body.key,
            summary: body.fields.summary,
            status: body.fields.status.map(|s| s.name),
        })
    }
}

/// Arguments of `jira_add_comment`.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "integrations_core::reexports::serde")]
#[schemars(crate = "integrations_core::reexports::schemars")]
#[serde(deny_unknown_fields)]
pub(crate) struct AddCommentArgs {
    /// The issue key (`ENG-42`).
    #[schemars(regex(pattern = r"^[A-Z][A-Z0-9_]+-[0-9]+$"))]
    issue: String,
    /// The comment, in Jira wiki markup.
    #[schemars(length(min = 1, max = 32_000))]
    body: String,
}

/// A created comment.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(crate = "integrations_core::reexports::serde")]
#[schemars(crate = "integrations_core::reexports::schemars")]
pub(crate) struct Comment {
    /// The comment id.
    id: String,
}

struct AddComment;

impl Tool for AddComment {
    type Args = AddCommentArgs;
    type Output = Comment;

    fn descriptor(&self) -> ToolDescriptor {
        ToolDescriptor::new::<AddCommentArgs>("jira_add_comment", "Add a comment to a Jira issue.")
            .with_title("Comment on Jira issue")
            .with_annotations(ToolAnnotations::additive())
            .with_capability(capability("comment.write"))
    }

    async fn call(&self, args: AddCommentArgs, context: &ToolContext) -> Result<Comment, Error> {
        let site = &context.target_config().get::<JiraTarget>()?.site_url;
        let url = api_url(
            site,
            &[
                ("", "rest"),
                ("", "api"),
                ("", "2"),
                ("", "issue"),
                ("/issue", &args.issue),
                ("", "comment"),
            ],
        )?;
        let body = json!({ "body": args.body });
        let response = context
            .http()
            .send(
                json_request(Method::POST, url.as_str(), &body)?,
                &auth(context)?,
            )
            .await?;
        if !response.status().is_success() {
            return Err(status_error(response.status()));
        }
        read_json(&response)
    }
}
