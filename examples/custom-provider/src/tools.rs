//! Two tools: `jira_get_issue` (reads, runs) and `jira_add_comment` (writes, asks).

use integrations_core::provider::prelude::*;

use crate::{JiraConnection, JiraTarget};

pub(crate) fn tool_set() -> ToolSet {
    ToolSet::new().with(GetIssue).with(AddComment)
}

/// `{site}/rest/api/2/issue/{issue}`.
fn issue_url(context: &ToolContext, issue: &str) -> Result<UrlBuilder> {
    let site = &context.target_config().get::<JiraTarget>()?.site_url;
    Ok(site.url().path("rest/api/2/issue").arg("/issue", issue))
}

/// Sends with Jira Cloud's HTTP Basic (the account email and the API token) and reads the
/// JSON answer.
async fn send<T: DeserializeOwned>(context: &ToolContext, request: HttpRequest) -> Result<T> {
    let connection = context.connection_config().get::<JiraConnection>()?;
    let auth = RequestAuth::new(
        CredentialSelector::of_type(CredentialType::API_KEY),
        AuthInjection::Basic {
            username: Some(connection.email.clone()),
        },
    );
    let response = context.http().send(request, &auth).await?;
    if !response.status().is_success() {
        return Err(status_error(response.status()));
    }
    read_json(&response)
}

/// Arguments of `jira_get_issue`.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "integrations_core::reexports::serde", deny_unknown_fields)]
#[schemars(crate = "integrations_core::reexports::schemars")]
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

/// The parts of Jira's issue body the tool reads.
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
        .with_capability(const { Capability::from_static("issue.read") })
    }

    async fn call(&self, args: GetIssueArgs, context: &ToolContext) -> Result<Issue> {
        let url = issue_url(context, &args.issue)?.build()?;
        let body: IssueBody = send(context, request(Method::GET, url.as_str())?).await?;
        Ok(Issue {
            key: body.key,
            summary: body.fields.summary,
            status: body.fields.status.map(|s| s.name),
        })
    }
}

/// Arguments of `jira_add_comment`.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "integrations_core::reexports::serde", deny_unknown_fields)]
#[schemars(crate = "integrations_core::reexports::schemars")]
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
            .with_capability(const { Capability::from_static("comment.write") })
    }

    async fn call(&self, args: AddCommentArgs, context: &ToolContext) -> Result<Comment> {
        let url = issue_url(context, &args.issue)?.path("comment").build()?;
        let body = json!({ "body": args.body });
        send(context, json_request(Method::POST, url.as_str(), &body)?).await
    }
}
