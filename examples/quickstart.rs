//! The quick start: the SDK embedded in a program, offline. Every provider is a mock
//! server on loopback from `integrations-testkit`, and the host (stores, cipher, clock,
//! sinks) is the testkit's in-memory one. Run it with `cargo run --example quickstart`.
//!
//! It walks through: the registry; an OAuth connection to Linear; `linear_create_issue`
//! through the tool runtime and its policy; a signed GitHub webhook ingested and
//! normalized; a sandbox profile with OpenAI, GitHub and Linear compiled; an egress
//! request classified and its credential injected; the Codex MCP config written.
#![allow(clippy::print_stdout, reason = "an example prints what it does")]

use std::sync::Arc;

use bytes::Bytes;
use integrations::core::auth::{
    Authorizations, CompleteAuthorization, StartAuthorization, TokenManager,
};
use integrations::core::compile::{ProfileInput, compile};
use integrations::core::egress::{
    Classification, EgressGate, GRANT_HEADER, GrantKey, GrantKeys, RouteIndex,
};
use integrations::core::host::{Clock as _, ReqwestHttpClient};
use integrations::core::model::{Capability, ConnectionScope, Publication, PublicationScope};
use integrations::core::service::{ConnectionInput, TargetInput};
use integrations::core::tools::{CallContext, Runtime, Session, ToolStatus};
use integrations::core::webhook::Ingest;
use integrations::core::{ConnectionMethodId, PublicationId, TargetId, UserId, WorkspaceId};
use integrations::prelude::*;
use integrations_testkit::mock::api::LinearApi;
use integrations_testkit::mock::oauth::LinearMock;
use integrations_testkit::{Delivery, TestHost, WebhookSigner};
use serde_json::json;

const CALLBACK: &str = "https://app.example.com/oauth/callback";
const PROFILE: &str = include_str!("profiles/agent-sandbox.json");
const GITHUB_DELIVERY: &[u8] = include_bytes!("fixtures/github.issue_comment.created.json");

fn step(n: u32, title: &str) {
    println!("\n== {n}. {title} ==");
}

/// A credential as a log may show it: the scheme and a few characters.
fn redacted(header: &str) -> String {
    let (scheme, value) = header.split_once(' ').unwrap_or(("", header));
    let shown: String = value.chars().take(4).collect();
    format!(
        "{scheme} {shown}… ({} characters, redacted)",
        value.chars().count()
    )
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // 1. The registry of shipped integrations.
    let registry = Arc::new(integrations::definitions::registry());
    step(1, &format!("Registry: {} integrations", registry.len()));
    for entry in registry.iter() {
        let methods: Vec<&str> = entry
            .methods()
            .iter()
            .map(|m| m.method().id.as_str())
            .collect();
        println!(
            "  {:<34} {:<9} tools: {}, methods: {}",
            entry.key().to_string(),
            entry.kind().to_string(),
            entry.tools().len(),
            methods.join(", ")
        );
    }

    // The host: in memory, with a real HTTP client that only ever reaches loopback mocks.
    let test = TestHost::with_http(Arc::new(ReqwestHttpClient::new()?));
    let host = test.host().clone();
    let service = WriteService::new(registry.clone(), host.clone());
    let tenant = TenantId::new("acme")?;

    // 2. An OAuth 2.0 connection to Linear (authorization code with PKCE).
    step(2, "An OAuth connection to Linear");
    let linear = LinearMock::start().await;
    let linear_api = LinearApi::start().await;
    linear_api.serve_with(&linear).await;
    let team = linear_api.add_team("ENG", "Engineering");
    service
        .put_target(
            TargetInput::new(
                tenant.clone(),
                TargetId::new("linear")?,
                "linear::linear-default".parse()?,
            )
            .with_config(linear.target_config())
            .with_secrets(linear.target_secrets()),
        )
        .await?;
    let auth = Authorizations::new(registry.clone(), host.clone());
    let redirect = auth
        .start(
            StartAuthorization::create(
                tenant.clone(),
                TargetId::new("linear")?,
                ConnectionMethodId::new("oauth2")?,
                CALLBACK,
                ConnectionScope::Organization,
            )
            .with_user(UserId::new("ada")?),
        )
        .await?;
    let url = redirect.url.split('?').next().unwrap_or_default();
    println!("  send the user to {url}?… (state and PKCE challenge in the query)");
    let callback = linear.authorize(&redirect.url).map_err(|why| {
        Error::new(
            ErrorKind::Internal,
            "quickstart.consent",
            format!("the mock refused the URL: {why}"),
        )
    })?;
    let connection = auth
        .complete(
            CompleteAuthorization::new(tenant.clone(), CALLBACK, callback)
                .with_user(UserId::new("ada")?),
        )
        .await?;
    println!(
        "  connection {} is {}; organization {}; scopes {}",
        connection.id,
        connection.status.as_str(),
        connection.external_subject.as_deref().unwrap_or("-"),
        connection.granted_scopes.join(",")
    );
    if let Some(set) = test.store.raw_credentials(&tenant, &connection.id) {
        let kinds: Vec<String> = set
            .credentials
            .iter()
            .map(|c| c.credential_type.to_string())
            .collect();
        println!(
            "  stored sealed with key {}: {}",
            integrations_testkit::TEST_KEY_ID,
            kinds.join(", ")
        );
    }

    // 3. `linear_create_issue` through the tool runtime: a write, so its policy asks first.
    step(3, "linear_create_issue through the tool runtime");
    let workspace = WorkspaceId::new("eng")?;
    let mut publication = Publication::new(
        tenant.clone(),
        PublicationId::new("agent-eng")?,
        connection.id.clone(),
        PublicationScope::Workspace {
            workspace: workspace.clone(),
        },
        test.clock.now(),
    );
    publication
        .capabilities
        .insert(Capability::new("issue.create")?);
    host.publications().put_publication(&publication).await?;
    let tokens = Arc::new(TokenManager::new(registry.clone(), host.clone()));
    let runtime = Runtime::new(registry.clone(), host.clone(), tokens.clone());
    let call = CallContext::new(
        Session::new(tenant.clone(), workspace).with_user(UserId::new("ada")?),
        connection.id.clone(),
    )
    .with_publication(PublicationId::new("agent-eng")?);
    let asked = runtime
        .call(
            "linear_create_issue",
            json!({"team_id": team, "title": r#"Flaky test in "auth" \ module"#, "priority": "high"}),
            &call,
        )
        .await;
    println!(
        "  the call waits: {:?} (writes ask; reads run)",
        asked.status
    );
    let Some(approval) = asked.approval else {
        let why = asked.failure.map(|f| f.message).unwrap_or_default();
        return Err(Error::new(
            ErrorKind::Internal,
            "quickstart.unexpected",
            format!("the call did not ask: {why}"),
        ));
    };
    let done = runtime
        .approve(&tenant, &approval.id, &UserId::new("grace")?)
        .await;
    let issue = done.structured_content.unwrap_or_default();
    println!(
        "  approved by grace: {:?} -> {} {:?}",
        done.status,
        issue["identifier"].as_str().unwrap_or("?"),
        issue["title"].as_str().unwrap_or("?")
    );
    assert_eq!(done.status, ToolStatus::Completed);

    // 4. A signed GitHub webhook, ingested and normalized.
    step(4, "A signed GitHub webhook");
    service
        .put_target(
            TargetInput::new(
                tenant.clone(),
                TargetId::new("github")?,
                "github::github-cloud".parse()?,
            )
            .with_secrets(json!({"webhook_secret": "It's a Secret to Everybody"})),
        )
        .await?;
    service
        .put_connection(
            ConnectionInput::new(
                tenant.clone(),
                ConnectionId::new("github-app")?,
                TargetId::new("github")?,
                ConnectionMethodId::new("api-key")?,
            )
            .with_secret("token", "ghp_quickstart_placeholder")
            .with_external_subject("1"),
        )
        .await?;
    let key: DefinitionKey = "github::github-cloud".parse()?;
    let signer = WebhookSigner::for_definition(
        registry.require(&key)?.definition(),
        "It's a Secret to Everybody",
    )
    .ok_or_else(|| Error::internal("GitHub receives webhooks"))?;
    let delivery = signer.sign(
        &Delivery::new(GITHUB_DELIVERY, test.clock.now())
            .with_id("72d3162e-cc78-11e3-81ab-4c9367dc0958")
            .with_event("issue_comment"),
    )?;
    let ingest = Ingest::new(registry.clone(), host.clone())?;
    let ingested = ingest.ingest(delivery.request(&key)).await?;
    if let Some(event) = &ingested.event {
        let subject = event.subject.as_ref();
        println!(
            "  {} -> {} {} on {} (dispatch: {})",
            ingested.response.status,
            event.event_type,
            subject.map_or("-", |s| s.id.as_str()),
            subject.and_then(|s| s.container.as_deref()).unwrap_or("-"),
            serde_json::to_string(&event.dispatch).unwrap_or_default()
        );
    }
    let again = ingest.ingest(delivery.request(&key)).await?;
    println!(
        "  the same delivery again: {} ({}); events delivered: {}",
        again.response.status,
        again.outcome.as_str(),
        test.events.events().len()
    );

    // 5. A sandbox profile with OpenAI, GitHub and Linear, compiled into a runtime plan.
    step(5, "A sandbox profile compiled");
    let plan = compile(&registry, &ProfileInput::from_json(PROFILE)?)?;
    for route in &plan.egress_routes {
        println!(
            "  route {:<22} {:?} {:?}",
            route.id.to_string(),
            route.matcher.hosts,
            route.matcher.path_prefixes
        );
    }
    let artifacts: Vec<&str> = plan.artifacts.iter().map(|a| a.key.as_str()).collect();
    let servers: Vec<&str> = plan.mcp_servers.iter().map(|s| s.name.as_str()).collect();
    println!("  artifacts {artifacts:?}, MCP servers {servers:?}");
    println!("  plan hash {}", plan.hash());

    // 6. An egress request with the sandbox's grant, authorized by the gate, and its
    //    credential injected outside the sandbox.
    step(6, "Egress: grant, authorize and inject");
    service
        .put_target(TargetInput::new(
            tenant.clone(),
            TargetId::new("openai")?,
            "openai::openai-default".parse()?,
        ))
        .await?;
    let openai = service
        .put_connection(
            ConnectionInput::new(
                tenant.clone(),
                ConnectionId::new("openai-key")?,
                TargetId::new("openai")?,
                ConnectionMethodId::new("api-key")?,
            )
            .with_secret("api_key", "sk-quickstart-0123456789abcdef"),
        )
        .await?;
    // The host signs a short grant per route for this sandbox (this tenant, this plan);
    // the sandbox sends it with each request, and the gate (in the egress proxy) checks
    // it, classifies the request, and only then is a credential injected.
    let keys = GrantKeys::new(GrantKey::generate("quickstart")?);
    let gate = EgressGate::for_plan(&plan, keys.clone())?;
    let route = plan
        .egress_routes
        .iter()
        .find(|r| r.matcher.hosts.iter().any(|h| h == "api.openai.com"))
        .ok_or_else(|| Error::internal("the plan routes OpenAI"))?;
    let grant = keys.issue_for_route(
        route,
        gate.audience(),
        &*test.clock,
        std::time::Duration::from_secs(300),
    )?;
    let request = http::Request::post("https://api.openai.com/v1/responses")
        .header("authorization", "Bearer sandbox-has-no-key")
        .header(GRANT_HEADER, grant.expose())
        .body(Bytes::from_static(b"{}"))
        .map_err(|e| Error::internal("a request").with_source(e))?;
    let route = gate.authorize(&request, &*test.clock)?;
    let injected = gate.inject(request, route, &openai, &*tokens).await?;
    let header = injected.headers()["authorization"]
        .to_str()
        .unwrap_or_default();
    println!(
        "  POST https://api.openai.com/v1/responses -> {} -> Authorization: {}",
        route.id,
        redacted(header)
    );
    let index = RouteIndex::from_plan(&plan)?;
    for url in ["https://api.openai.com/v10/models", "https://example.com/"] {
        let outcome = match index.classify("GET", url) {
            Classification::Route(r) => r.id.to_string(),
            Classification::NoMatch => "no match: sent without any credential".to_owned(),
            _ => "ambiguous: refused".to_owned(),
        };
        println!("  GET  {url} -> {outcome}");
    }

    // 7. The Codex MCP config the plan writes into the sandbox.
    step(7, "The Codex MCP config written");
    let codex = plan
        .runtime_client("codex-cli")
        .ok_or_else(|| Error::internal("the plan runs Codex"))?;
    for file in &codex.files {
        if file.path.ends_with("config.toml") {
            println!("  {} (mode {:o}):", file.path, file.mode);
            for line in file.content.lines() {
                println!("    {line}");
            }
        }
    }
    Ok(())
}
