//! Managed webhooks for Linear connections: `webhookCreate` / `webhookDelete` through the
//! GraphQL API, found again with the `webhooks` query.
//!
//! The hook covers the team the connection's config names (`webhook_team`, an id or a key
//! such as `ENG`: `teamId`), else the connection's whole organization
//! (`allPublicTeams: true`), for the resource types the shipped sync streams and agents
//! use (`Issue`, `Comment`, `Project`). A team Linear does not know is refused by Linear
//! (`Entity not found: Team`) and the connection keeps no hook. Linear accepts a signing secret in `WebhookCreateInput.secret` (and
//! generates one when none is given); the SDK always sends the secret it generated and
//! keeps sealed, so deliveries are verified without reading the secret back. Creating
//! webhooks needs an admin: a personal API key of an admin, or an OAuth token with the
//! `admin` scope; Linear answers others with `FORBIDDEN`.
//!
//! A hook already delivering to the connection's URL is kept when it covers the scope the
//! config names, and brought up to date with `webhookUpdate` (the secret, enabled, the
//! resource types): one Linear disabled after failed deliveries, or left from a
//! registration whose secret was since deleted, works again. One of another scope (the
//! config's `webhook_team` changed) is deleted and created anew, since Linear cannot move
//! a hook to another team.

use async_trait::async_trait;
use http::Method;
use integrations_core::definition::ConnectionMethodKind;
use integrations_core::tools::{RequestAuth, json_request, status_error};
use integrations_core::webhook::{HookRemoval, HookRequest, RegisteredHook, WebhookRegistrar};
use integrations_core::{Error, Secret};
use serde::Deserialize;
use serde_json::{Value, json};

use super::schemas::{LinearConnectionConfig, LinearTargetConfig};
use super::tools::{GraphQlResponse, RATE_LIMIT, graphql_failure, rejected};

/// Lists the organization's webhooks, a page at a time.
pub const WEBHOOKS: &str = "query Webhooks($first: Int!, $after: String) {
  webhooks(first: $first, after: $after) {
    nodes { id url enabled allPublicTeams team { id key } }
    pageInfo { hasNextPage endCursor }
  }
}";

/// Updates a webhook (its team cannot change).
pub const WEBHOOK_UPDATE: &str =
    "mutation WebhookUpdate($id: String!, $input: WebhookUpdateInput!) {
  webhookUpdate(id: $id, input: $input) {
    success
    webhook { id url enabled }
  }
}";

/// Creates a webhook.
pub const WEBHOOK_CREATE: &str = "mutation WebhookCreate($input: WebhookCreateInput!) {
  webhookCreate(input: $input) {
    success
    webhook { id url enabled }
  }
}";

/// Deletes a webhook.
pub const WEBHOOK_DELETE: &str = "mutation WebhookDelete($id: String!) {
  webhookDelete(id: $id) {
    success
  }
}";

/// The resource types a managed hook subscribes to.
pub const RESOURCE_TYPES: &[&str] = &["Issue", "Comment", "Project"];

/// The label the SDK gives the hooks it creates.
pub const LABEL: &str = "integrations (managed)";

/// The most webhooks looked through for an existing one (pages of 50).
const MAX_PAGES: usize = 20;

/// Brings the kept hook `id` to what a new one would be: the connection's `secret`,
/// enabled, the managed resource types and label.
async fn update(request: &HookRequest<'_>, id: &str, secret: &Secret) -> Result<(), Error> {
    let input = json!({
        "resourceTypes": RESOURCE_TYPES,
        "label": LABEL,
        "secret": secret.expose(),
        "enabled": true,
    });
    let updated: Updated = serde_json::from_value(
        graphql(
            request,
            WEBHOOK_UPDATE,
            json!({"id": id, "input": input}),
            "webhookUpdate",
        )
        .await?,
    )
    .map_err(|_| unexpected())?;
    if updated.success {
        Ok(())
    } else {
        Err(crate::codes::webhook::REGISTRATION_FAILED.error("Linear did not update the webhook"))
    }
}

/// The Linear registrar.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct LinearHooks;

fn auth(request: &HookRequest<'_>) -> RequestAuth {
    let auth = match request.method {
        ConnectionMethodKind::ApiKey => {
            RequestAuth::raw_header(request.credential.clone(), "Authorization")
        }
        _ => RequestAuth::bearer(request.credential.clone()),
    };
    auth.with_rejection(rejected)
}

fn unexpected() -> Error {
    crate::codes::webhook::UNEXPECTED_RESPONSE
        .error("Linear answered with a body that is not the GraphQL result expected")
}

/// Runs one operation; returns `data.<root>`, or the error of any `errors[]` entry.
async fn graphql(
    request: &HookRequest<'_>,
    document: &str,
    variables: Value,
    root: &str,
) -> Result<Value, Error> {
    let config = request.target_config.get::<LinearTargetConfig>()?;
    let url = config.api_base_url.url().path("graphql").build()?;
    let http_request = json_request(
        Method::POST,
        url.as_str(),
        &json!({"query": document, "variables": variables}),
    )?;
    let response = request.http.send(http_request, &auth(request)).await?;
    if let Some(limited) = RATE_LIMIT.check(&response, request.now) {
        return Err(limited);
    }
    let body: Option<GraphQlResponse> = serde_json::from_slice(response.body()).ok();
    // Any `errors[]` entry fails the operation, even beside partial `data`.
    if let Some(failure) = graphql_failure(body.as_ref()) {
        return Err(failure);
    }
    if !response.status().is_success() {
        return Err(status_error(response.status()));
    }
    body.and_then(|b| b.data)
        .and_then(|mut d| d.get_mut(root).map(Value::take))
        .ok_or_else(unexpected)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Hook {
    id: String,
    /// `null` for an OAuth application's webhook, which delivers to the URL configured
    /// on the OAuth client (Linear's schema: `Webhook.url: String`).
    url: Option<String>,
    #[serde(default)]
    all_public_teams: bool,
    #[serde(default)]
    team: Option<Team>,
}

#[derive(Deserialize)]
struct Team {
    id: String,
    key: String,
}

impl Hook {
    /// Whether the hook covers what `webhook_team` names: that team (by id or key), or
    /// the whole organization when it names none.
    fn covers(&self, webhook_team: Option<&str>) -> bool {
        match (webhook_team, &self.team) {
            (None, None) => self.all_public_teams,
            (Some(wanted), Some(team)) => team.id == wanted || team.key == wanted,
            _ => false,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HookPage {
    nodes: Vec<Hook>,
    page_info: PageInfo,
}

#[derive(Deserialize)]
struct Created {
    success: bool,
    webhook: Option<Hook>,
}

#[derive(Deserialize)]
struct Deleted {
    success: bool,
}

#[derive(Deserialize)]
struct Updated {
    success: bool,
}

/// The organization's webhook delivering to `url`, if there is one.
async fn find(request: &HookRequest<'_>, url: &str) -> Result<Option<Hook>, Error> {
    find_where(request, |h| h.url.as_deref() == Some(url)).await
}

/// The first listed webhook `wanted` picks, if there is one.
async fn find_where(
    request: &HookRequest<'_>,
    wanted: impl Fn(&Hook) -> bool,
) -> Result<Option<Hook>, Error> {
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page: HookPage = serde_json::from_value(
            graphql(
                request,
                WEBHOOKS,
                json!({"first": 50, "after": after}),
                "webhooks",
            )
            .await?,
        )
        .map_err(|_| unexpected())?;
        if let Some(hook) = page.nodes.into_iter().find(|h| wanted(h)) {
            return Ok(Some(hook));
        }
        match page.page_info {
            PageInfo {
                has_next_page: true,
                end_cursor: Some(cursor),
            } => after = Some(cursor),
            _ => return Ok(None),
        }
    }
    Ok(None)
}

#[async_trait]
impl WebhookRegistrar for LinearHooks {
    async fn register(
        &self,
        request: &HookRequest<'_>,
        secret: &Secret,
    ) -> Result<RegisteredHook, Error> {
        let config = request.connection_config.get::<LinearConnectionConfig>()?;
        if let Some(hook) = find(request, request.url).await? {
            if hook.covers(config.webhook_team.as_deref()) {
                update(request, &hook.id, secret).await?;
                return Ok(RegisteredHook::existing(hook.id));
            }
            // Another scope: Linear cannot move a hook to another team.
            self.unregister(request, &hook.id).await?;
        }
        let mut input = json!({
            "url": request.url,
            "resourceTypes": RESOURCE_TYPES,
            "label": LABEL,
            "secret": secret.expose(),
        });
        match &config.webhook_team {
            Some(team) => input["teamId"] = json!(team),
            None => input["allPublicTeams"] = json!(true),
        }
        let created: Created = serde_json::from_value(
            graphql(
                request,
                WEBHOOK_CREATE,
                json!({"input": input}),
                "webhookCreate",
            )
            .await?,
        )
        .map_err(|_| unexpected())?;
        match created {
            Created {
                success: true,
                webhook: Some(hook),
            } => Ok(RegisteredHook::created(hook.id)),
            _ => Err(crate::codes::webhook::REGISTRATION_FAILED
                .error("Linear did not create the webhook")),
        }
    }

    async fn unregister(
        &self,
        request: &HookRequest<'_>,
        hook_id: &str,
    ) -> Result<HookRemoval, Error> {
        let deleted = graphql(
            request,
            WEBHOOK_DELETE,
            json!({"id": hook_id}),
            "webhookDelete",
        )
        .await;
        match deleted {
            Ok(value) => {
                let deleted: Deleted = serde_json::from_value(value).map_err(|_| unexpected())?;
                if deleted.success {
                    Ok(HookRemoval::Deleted)
                } else {
                    Err(crate::codes::webhook::UNREGISTRATION_FAILED
                        .error("Linear did not delete the webhook"))
                }
            }
            // Linear answers an unknown id with `Entity not found` (`INPUT_ERROR` or
            // `ENTITY_NOT_FOUND`), and an id it cannot read as one with another input
            // error; the hook may be gone either way, so ask again to be sure.
            Err(e)
                if e.is_not_found()
                    || e.code() == integrations_core::codes::tool::UPSTREAM_REJECTED =>
            {
                // Looked up by id: a hook with its URL and another id (registered
                // since) is not it.
                match find_where(request, |h| h.id == hook_id).await? {
                    Some(_) => Err(e),
                    None => Ok(HookRemoval::AlreadyGone),
                }
            }
            Err(e) => Err(e),
        }
    }
}
