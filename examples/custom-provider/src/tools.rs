//! Two tools: `jira_get_issue` (reads, runs) and `jira_add_comment` (writes, asks).

use integrations_core::provider::prelude::*;

use crate::{JiraConnection, JiraTarget};

pub(crate) fn tool_set() -> ToolSet {
    ToolSet::new()
        .with_fn(
            ToolDescriptor::new::<GetIssueArgs>(
                "jira_get_issue",
                "Get a Jira issue by key: summary and status.",
            )
            .with_title("Get Jira issue")
            .with_annotations(ToolAnnotations::read_only())
            .with_capability(const { Capability::from_static("issue.read") }),
            get_issue,
        )
        .with_fn(
            ToolDescriptor::new::<AddCommentArgs>(
                "jira_add_comment",
                "Add a comment to a Jira issue.",
            )
            .with_title("Comment on Jira issue")
            .with_annotations(ToolAnnotations::additive())
            .with_capability(const { Capability::from_static("comment.write") }),
            add_comment,
        )
}

/// `{site}/rest/api/2/issue/{issue}`.
fn issue_url(context: &ToolContext, issue: &str) -> Result<UrlBuilder> {
    let site = &context.target_config().get::<JiraTarget>()?.site_url;
    Ok(site.url().path("rest/api/2/issue").arg("/issue", issue))
}

/// Sends with Jira Cloud's HTTP Basic (the account email and the API token) and reads the
/// JSON answer.
async fn send<T: DeserializeOwned>(context: &ToolContext, request: HttpRequest) -> Result<T> {
    let email = &context.connection_config().get::<JiraConnection>()?.email;
    let auth = RequestAuth::basic(CredentialSelector::of_type(CredentialType::API_KEY), email);
    context.http().fetch(request, &auth).await
}

/// Arguments of `jira_get_issue`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GetIssueArgs {
    /// The issue key (`ENG-42`).
    #[schemars(regex(pattern = r"^[A-Z][A-Z0-9_]+-[0-9]+$"))]
    issue: String,
}

/// An issue.
#[derive(Serialize, JsonSchema)]
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
struct IssueBody {
    key: String,
    fields: IssueFields,
}

#[derive(Deserialize)]
struct IssueFields {
    summary: String,
    status: Option<Named>,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

/// `jira_get_issue`.
async fn get_issue(args: GetIssueArgs, context: ToolContext) -> Result<Issue> {
    let url = issue_url(&context, &args.issue)?.build()?;
    let body: IssueBody = send(&context, request(Method::GET, url.as_str())?).await?;
    Ok(Issue {
        key: body.key,
        summary: body.fields.summary,
        status: body.fields.status.map(|s| s.name),
    })
}

/// Arguments of `jira_add_comment`.
#[derive(Deserialize, JsonSchema)]
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
pub(crate) struct Comment {
    /// The comment id.
    id: String,
}

/// `jira_add_comment`.
async fn add_comment(args: AddCommentArgs, context: ToolContext) -> Result<Comment> {
    let url = issue_url(&context, &args.issue)?.path("comment").build()?;
    let body = json!({ "body": args.body });
    send(&context, json_request(Method::POST, url.as_str(), &body)?).await
}
