//! `cargo run -p host-server`: the example host on SQLite (or PostgreSQL), on
//! `127.0.0.1:$PORT` (default 3000).
//!
//! It stores one target per provider (Linear, GitHub, Slack) for one tenant, with the
//! configuration and secrets found in the environment, and prints the URLs it serves.
//! With nothing set, the targets use the providers' defaults and have no OAuth client:
//! the start routes then answer which setting is missing. To connect for real, register
//! an app with the provider, set its redirect (callback) URL to the printed one, and set:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `PORT` | `3000` | the loopback port to listen on |
//! | `PUBLIC_BASE_URL` | `http://127.0.0.1:$PORT` | where browsers and providers reach this server (a tunnel's URL for webhooks) |
//! | `TENANT` | `acme` | the tenant the targets belong to |
//! | `LINEAR_CLIENT_ID`, `LINEAR_CLIENT_SECRET`, `LINEAR_WEBHOOK_SECRET` | | the Linear OAuth app |
//! | `GITHUB_CLIENT_ID`, `GITHUB_CLIENT_SECRET`, `GITHUB_APP_ID`, `GITHUB_APP_SLUG`, `GITHUB_APP_PRIVATE_KEY_PEM`, `GITHUB_WEBHOOK_SECRET` | | the GitHub App |
//! | `SLACK_CLIENT_ID`, `SLACK_CLIENT_SECRET`, `SLACK_APP_ID`, `SLACK_SIGNING_SECRET` | | the Slack app |
//! | `<PROVIDER>_API_BASE_URL`, `<PROVIDER>_WEB_BASE_URL` | the provider's | point a target elsewhere (a mock, a proxy) |
//!
//! | `DATABASE_URL` | `sqlite://integrations.db` | where records are kept (`postgres://…` for several instances) |
//! | `SEALING_KEY` | a key made on first run in `integrations.key` | 64 hex digits sealing secrets at rest |
//!
//! Records survive a restart (see `src/stores.rs`).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example prints what it serves"
)]

use std::sync::Arc;

use async_trait::async_trait;
use host_server::{App, router};
use integrations::core::TargetId;
use integrations::core::definition::ConnectionMethodKind;
use integrations::core::host::{EventSink, ReqwestHttpClient};
use integrations::core::service::TargetInput;
use integrations::core::webhook::WebhookEvent;
use integrations::prelude::*;
use serde_json::{Map, Value};

/// How an environment variable's text becomes a config value.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Number,
}

/// A target to store: its id and definition, and which variables fill which fields.
struct Seed {
    id: &'static str,
    key: &'static str,
    config: &'static [(&'static str, &'static str, Kind)],
    secrets: &'static [(&'static str, &'static str)],
}

const SEEDS: &[Seed] = &[
    Seed {
        id: "linear",
        key: "linear::linear-default",
        config: &[
            ("LINEAR_CLIENT_ID", "client_id", Kind::Text),
            ("LINEAR_API_BASE_URL", "api_base_url", Kind::Text),
            ("LINEAR_WEB_BASE_URL", "web_base_url", Kind::Text),
        ],
        secrets: &[
            ("LINEAR_CLIENT_SECRET", "client_secret"),
            ("LINEAR_WEBHOOK_SECRET", "webhook_secret"),
        ],
    },
    Seed {
        id: "github",
        key: "github::github-cloud",
        config: &[
            ("GITHUB_CLIENT_ID", "client_id", Kind::Text),
            ("GITHUB_APP_ID", "app_id", Kind::Number),
            ("GITHUB_APP_SLUG", "app_slug", Kind::Text),
            ("GITHUB_API_BASE_URL", "api_base_url", Kind::Text),
            ("GITHUB_WEB_BASE_URL", "web_base_url", Kind::Text),
        ],
        secrets: &[
            ("GITHUB_CLIENT_SECRET", "client_secret"),
            ("GITHUB_APP_PRIVATE_KEY_PEM", "app_private_key_pem"),
            ("GITHUB_WEBHOOK_SECRET", "webhook_secret"),
        ],
    },
    Seed {
        id: "slack",
        key: "slack::slack-default",
        config: &[
            ("SLACK_CLIENT_ID", "client_id", Kind::Text),
            ("SLACK_APP_ID", "app_id", Kind::Text),
            ("SLACK_API_BASE_URL", "api_base_url", Kind::Text),
            ("SLACK_WEB_BASE_URL", "web_base_url", Kind::Text),
        ],
        secrets: &[
            ("SLACK_CLIENT_SECRET", "client_secret"),
            ("SLACK_SIGNING_SECRET", "signing_secret"),
        ],
    },
];

/// Prints every verified, deduplicated webhook event: where a real host would enqueue it.
struct PrintEvents;

#[async_trait]
impl EventSink for PrintEvents {
    async fn deliver(&self, event: &WebhookEvent) -> Result<(), Error> {
        println!(
            "event {} ({}) for connection {} of {}",
            event.event_type, event.external_event_id, event.connection, event.tenant
        );
        Ok(())
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = var("PORT").map_or(Ok(3000), |p| p.parse())?;
    let public_base = var("PUBLIC_BASE_URL").unwrap_or_else(|| format!("http://127.0.0.1:{port}"));
    let tenant = TenantId::new(var("TENANT").unwrap_or_else(|| "acme".to_owned()))?;

    // 1. The host: SQL stores (`src/stores.rs`), sealed with a key kept across runs. Time is the
    //    system clock (the testkit's manual clock would freeze it: authorizations would
    //    never expire and real providers' signed timestamps would all look stale), HTTP is
    //    the default reqwest client (rustls, timeouts, no redirects from token endpoints),
    //    and credentials are sealed with the key of `stores::key_ring_from_env`.
    let host = Host::builder()
        .stores(Arc::new(host_server::stores::connect_from_env().await?))
        .http(Arc::new(ReqwestHttpClient::new()?))
        .cipher(Arc::new(host_server::stores::key_ring_from_env()?))
        .events(Arc::new(PrintEvents))
        .build()?;
    let registry = Arc::new(integrations::definitions::registry());

    // 2. The targets, through the write service: validated against each definition's
    //    schemas, secrets sealed. An invalid variable stops the program with every issue.
    let service = WriteService::new(registry.clone(), host.clone());
    for seed in SEEDS {
        let (config, secrets) = seed_values(seed)?;
        let input = TargetInput::new(tenant.clone(), TargetId::new(seed.id)?, seed.key.parse()?)
            .with_config(config)
            .with_secrets(secrets);
        if let Err(e) = service.put_target(input).await {
            eprintln!("the {} target is invalid:", seed.id);
            for issue in e.issues() {
                eprintln!("  {issue}");
            }
            return Err(e.into());
        }
    }

    // 3. The application, on loopback.
    let app = App::new(registry.clone(), host, &public_base)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("host-server listening on http://{}", listener.local_addr()?);
    println!(
        "OAuth callback (register it with each provider): {}",
        app.callback_url()
    );
    for seed in SEEDS {
        let key: DefinitionKey = seed.key.parse()?;
        let entry = registry.require(&key)?;
        println!(
            "\n{} (target {} of tenant {tenant})",
            entry.metadata().name,
            seed.id
        );
        for method in entry.methods() {
            let method = method.method();
            if matches!(
                method.kind,
                ConnectionMethodKind::OAuth2AuthorizationCode | ConnectionMethodKind::Redirect
            ) {
                let query = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("tenant", tenant.as_str())
                    .append_pair("target", seed.id)
                    .append_pair("method", method.id.as_str())
                    .finish();
                println!(
                    "  connect ({}): {}/oauth/{}/{}/start?{query}",
                    method.id,
                    app.public_base(),
                    key.family(),
                    key.variant(),
                );
            }
        }
        if app.ingest().source(&key).is_some() {
            println!("  webhooks: POST {}", app.webhook_url(&key, None));
        }
    }

    axum::serve(listener, router(app))
        .with_graceful_shutdown(async {
            // Ctrl-C stops accepting connections and lets requests in flight finish.
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// The config and secrets of a seed, from the variables that are set.
fn seed_values(seed: &Seed) -> Result<(Value, Value), Box<dyn std::error::Error>> {
    let mut config = Map::new();
    for (name, field, kind) in seed.config {
        if let Some(value) = var(name) {
            let value = match kind {
                Kind::Text => Value::String(value),
                Kind::Number => Value::from(
                    value
                        .parse::<u64>()
                        .map_err(|_| format!("{name} must be a number"))?,
                ),
            };
            config.insert((*field).to_owned(), value);
        }
    }
    let mut secrets = Map::new();
    for (name, field) in seed.secrets {
        if let Some(value) = var(name) {
            secrets.insert((*field).to_owned(), Value::String(value));
        }
    }
    Ok((Value::Object(config), Value::Object(secrets)))
}
