//! A sandbox that holds no secret reaches a provider through the egress proxy.
//!
//! Offline: the provider is the testkit's OpenAI mock on loopback (it answers 401 to any
//! key but the one the host stored), the host is the testkit's in-memory one. The
//! "sandbox" is an HTTP client configured with exactly two things, the `HTTPS_PROXY`
//! URL (its egress grant as proxy credentials) and the proxy's CA certificate, and it
//! lists OpenAI's models with a key it never held.
//!
//! Run it with `cargo run -p integrations-proxy --example proxy-sandbox`.
#![allow(clippy::print_stdout, reason = "an example prints what it does")]

use std::sync::Arc;
use std::time::Duration;

use integrations_core::auth::TokenManager;
use integrations_core::compile::{ProfileInput, compile};
use integrations_core::egress::{GrantAudience, GrantKey, GrantKeys};
use integrations_core::host::ReqwestHttpClient;
use integrations_core::service::{ConnectionInput, TargetInput, WriteService};
use integrations_core::{ConnectionId, ConnectionMethodId, Error, TargetId, TenantId};
use integrations_proxy::{CertificateAuthority, Proxy, ProxyConfig, UpstreamOverride};
use integrations_testkit::TestHost;
use integrations_testkit::mock::api::OpenAiApi;

const KEY: &str = "sk-held-by-the-host-0123456789abcdef";
const PROFILE: &str = r#"{
  "tenant": "acme", "profile": "sandbox", "version": 1,
  "targets": [{"id": "openai", "key": "openai::openai-default"}],
  "connections": [{"id": "openai-key", "target": "openai", "method": "api-key"}],
  "bindings": [{"id": "agent", "kind": "agent", "connection": "openai-key",
                "config": {"runtime": "codex-cli", "model": "gpt-5-codex"}}]
}"#;

fn internal(what: &'static str) -> impl FnOnce(reqwest::Error) -> Error {
    move |e| Error::internal(what).with_source(e)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // The provider, and the host that holds its key.
    let openai = OpenAiApi::start().await;
    openai.accept_key(KEY);
    let test = TestHost::with_http(Arc::new(ReqwestHttpClient::new()?));
    let registry = Arc::new(integrations_definitions::registry());
    let service = WriteService::new(registry.clone(), test.host().clone());
    let tenant = TenantId::new("acme")?;
    service
        .put_target(TargetInput::new(
            tenant.clone(),
            TargetId::new("openai")?,
            "openai::openai-default".parse()?,
        ))
        .await?;
    service
        .put_connection(
            ConnectionInput::new(
                tenant,
                ConnectionId::new("openai-key")?,
                TargetId::new("openai")?,
                ConnectionMethodId::new("api-key")?,
            )
            .with_secret("api_key", KEY),
        )
        .await?;

    // The control plane: the compiled plan, a grant for its route, a CA for the proxy.
    let plan = compile(&registry, &ProfileInput::from_json(PROFILE)?)?;
    let route = &plan.egress_routes[0];
    println!("plan {} routes {}", &plan.hash()[..12], route.id);
    let keys = GrantKeys::new(GrantKey::generate("2026-12")?);
    let grant = keys.issue_for_route(
        route,
        &GrantAudience::for_plan(&plan),
        &*test.clock,
        Duration::from_secs(600),
    )?;
    let ca = CertificateAuthority::generate("sandbox egress CA")?;

    // The proxy, outside the sandbox. The mock speaks plain HTTP on loopback; a real
    // deployment needs no override.
    let mock = openai
        .provider()
        .uri()
        .trim_start_matches("http://")
        .parse()
        .map_err(|_| Error::internal("the mock has a socket address"))?;
    let config = ProxyConfig::new()
        .allow_loopback(true)
        .with_upstream_override("api.openai.com", UpstreamOverride::plaintext(mock))?;
    let tokens = Arc::new(TokenManager::new(registry, test.host().clone()));
    let proxy = Proxy::new(
        &plan,
        keys,
        CertificateAuthority::from_pem(&ca.cert_pem, &ca.key_pem)?,
        test.host().clone(),
        tokens,
        config,
    )?
    .bind(
        "127.0.0.1:0"
            .parse()
            .map_err(|_| Error::internal("an address"))?,
    )
    .await?;

    // The sandbox: HTTPS_PROXY and the CA certificate, nothing else.
    let https_proxy = format!("http://sandbox:{}@{}", grant.expose(), proxy.local_addr());
    println!(
        "sandbox env: HTTPS_PROXY=http://sandbox:<grant, {} characters>@{}",
        grant.expose().len(),
        proxy.local_addr()
    );
    let sandbox = reqwest::Client::builder()
        .proxy(reqwest::Proxy::https(&https_proxy).map_err(internal("a proxy URL"))?)
        .tls_certs_only([reqwest::Certificate::from_pem(ca.cert_pem.as_bytes())
            .map_err(internal("the CA certificate"))?])
        .build()
        .map_err(internal("a client"))?;
    let response = sandbox
        .get("https://api.openai.com/v1/models")
        .header("authorization", "Bearer sk-the-sandbox-has-no-key")
        .send()
        .await
        .map_err(internal("the request"))?;
    let status = response.status();
    let body = response.text().await.map_err(internal("the body"))?;
    println!("GET https://api.openai.com/v1/models -> {status}");
    println!("  {body}");
    assert!(status.is_success() && !body.contains(KEY));
    let seen = openai.requests();
    println!(
        "the provider saw {} request(s), authenticated with the host's key: {}",
        seen.len(),
        seen.iter()
            .all(|r| r.headers.get("authorization").map(String::as_str)
                == Some(&format!("Bearer {KEY}")))
    );

    let refused = sandbox
        .get("https://api.openai.com/v10/models")
        .send()
        .await
        .map_err(internal("the request"))?;
    println!(
        "GET https://api.openai.com/v10/models -> {} {}",
        refused.status(),
        refused
            .headers()
            .get(integrations_proxy::ERROR_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    );
    proxy.shutdown().await;
    Ok(())
}
