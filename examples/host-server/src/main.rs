//! `cargo run -p host-server`: the example host on SQLite (or PostgreSQL), on
//! `127.0.0.1:$PORT` (default 3000).
//!
//! It stores one target per provider (Linear, GitHub, Slack) for one tenant, with the
//! configuration and secrets found in the environment, and prints the URLs it serves: its
//! connect links are signed start links ([`App::start_link`]), valid for ten minutes
//! (restart it for fresh ones). `POST /tools/{name}` runs nothing outside the demo: this
//! binary has no accounts to authenticate tool calls with (a real host passes its own
//! authenticator to `App::with_tool_auth`).
//! With nothing set, the targets use the providers' defaults and have no OAuth client:
//! the start routes then answer `503 host_server.provider_not_configured` naming the variables to
//! set. A setting that is wrong stops the program with one sentence naming it
//! (`PORT=abc is not a port`). To connect for real, register
//! an app with the provider, set its redirect (callback) URL to the printed one, and set:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `--demo` or `HOST_SERVER_DEMO=1` | off | the offline demo: every provider is a testkit mock on loopback (see [`host_server::demo`]) |
//! | `PORT` | `3000` | the loopback port to listen on (`0`: any free port) |
//! | `PUBLIC_BASE_URL` | `http://127.0.0.1:$PORT` | where browsers and providers reach this server (a tunnel's URL for webhooks) |
//! | `TENANT` | `acme` | the tenant the targets belong to |
//! | `LINEAR_CLIENT_ID`, `LINEAR_CLIENT_SECRET`, `LINEAR_WEBHOOK_SECRET` | | the Linear OAuth app |
//! | `GITHUB_CLIENT_ID`, `GITHUB_CLIENT_SECRET`, `GITHUB_APP_ID`, `GITHUB_APP_SLUG`, `GITHUB_APP_PRIVATE_KEY_PEM`, `GITHUB_WEBHOOK_SECRET` | | the GitHub App |
//! | `SLACK_CLIENT_ID`, `SLACK_CLIENT_SECRET`, `SLACK_APP_ID`, `SLACK_SIGNING_SECRET` | | the Slack app |
//! | `<PROVIDER>_API_BASE_URL`, `<PROVIDER>_WEB_BASE_URL` | the provider's | point a target elsewhere (a mock, a proxy) |
//! | `START_LINK_KEY` | a random key per run | 64 hex digits signing connect links; the same on every instance behind one `PUBLIC_BASE_URL` |
//! | `DATABASE_URL` | `sqlite://integrations.db` | where records are kept (`postgres://…` for several instances) |
//! | `SEALING_KEY` | a key made on first run in `integrations.key` | 64 hex digits sealing secrets at rest |
//!
//! Records survive a restart (see `src/stores.rs`).
//!
//! In the demo, tool calls are authenticated with a bearer token made at start-up for the
//! tenant's workspace `eng`, printed once in the demo's instructions.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example prints what it serves"
)]

use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;
use host_server::{App, McpTokens, router};
use integrations::core::definition::ConnectionMethodKind;
use integrations::core::host::{EventSink, ReqwestHttpClient};
use integrations::core::service::TargetInput;
use integrations::core::tools::Session;
use integrations::core::webhook::WebhookEvent;
use integrations::core::{ConnectionMethodId, Secret, TargetId, WorkspaceId};
use integrations::prelude::*;
use integrations_mcp::McpSession;
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

/// `--demo` on the command line, or `HOST_SERVER_DEMO` set to `1` or `true`. Any other
/// argument is refused: a mistyped `--demo` must not start a server that is not one.
fn demo_requested() -> Result<bool, String> {
    let mut demo = false;
    for arg in std::env::args().skip(1) {
        if arg == "--demo" {
            demo = true;
        } else {
            return Err(format!(
                "unknown argument {arg}: host-server takes only --demo (settings come from the environment)"
            ));
        }
    }
    Ok(demo || var("HOST_SERVER_DEMO").is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true")))
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(sentence) => {
            // Each start-up failure is one sentence naming the setting to fix.
            eprintln!("host-server: {sentence}");
            ExitCode::FAILURE
        }
    }
}

/// The port to listen on: `PORT`, 3000 by default, 0 for any free port.
fn port() -> Result<u16, String> {
    match var("PORT") {
        None => Ok(3000),
        Some(text) => text
            .trim()
            .parse::<u16>()
            .map_err(|_| format!("PORT={text} is not a port (a number from 0 to 65535)")),
    }
}

/// The key signing connect links: `START_LINK_KEY` (64 hex digits), else none (the
/// application makes a random one).
fn link_key() -> Result<Option<[u8; 32]>, String> {
    let Some(text) = var("START_LINK_KEY") else {
        return Ok(None);
    };
    let mut key = [0_u8; 32];
    // The value is a secret: the sentence never repeats it.
    hex::decode_to_slice(text.trim(), &mut key).map_err(|_| {
        "START_LINK_KEY is not 64 hex digits (a 32-byte key; for example: openssl rand -hex 32)"
            .to_owned()
    })?;
    Ok(Some(key))
}

/// The demo's tool-call token: random, printed once in the instructions.
fn demo_token() -> Result<Secret, String> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| "the system random generator failed".to_owned())?;
    Ok(Secret::new(format!("demo_{}", hex::encode(bytes))))
}

/// The workspace the demo's token acts in.
const DEMO_WORKSPACE: &str = "eng";

async fn run() -> Result<(), String> {
    let demo = demo_requested()?;
    let port = port()?;
    let link_key = link_key()?;
    let tenant_text = var("TENANT").unwrap_or_else(|| "acme".to_owned());
    let tenant = TenantId::new(tenant_text.as_str())
        .map_err(|e| format!("TENANT={tenant_text} is not a tenant id: {e}"))?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => format!(
                "port {port} is in use on 127.0.0.1 (another server is running?): stop it or set PORT to a free port"
            ),
            _ => format!("cannot listen on 127.0.0.1:{port} (PORT): {e}"),
        })?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    let public_base = var("PUBLIC_BASE_URL").unwrap_or_else(|| format!("http://{local}"));

    // 1. The host: SQL stores (`src/stores.rs`), sealed with a key kept across runs. Time is the
    //    system clock (the testkit's manual clock would freeze it: authorizations would
    //    never expire and real providers' signed timestamps would all look stale), HTTP is
    //    the default reqwest client (rustls, timeouts, no redirects from token endpoints),
    //    and credentials are sealed with the key of `stores::key_ring_from_env`.
    let internal = |e: Error| format!("the host could not be built: {e}");
    let stores = host_server::stores::connect_from_env().await.map_err(|e| {
        format!(
            "the database at DATABASE_URL (default {}) cannot be used: {e}",
            host_server::stores::DEFAULT_DATABASE_URL
        )
    })?;
    let key_ring = host_server::stores::key_ring_from_env().map_err(|e| {
        format!(
            "the sealing key (SEALING_KEY, else {}) cannot be used: {e}",
            host_server::stores::KEY_FILE
        )
    })?;
    let host = Host::builder()
        .stores(Arc::new(stores))
        .http(Arc::new(ReqwestHttpClient::new().map_err(internal)?))
        .cipher(Arc::new(key_ring))
        .events(Arc::new(PrintEvents))
        .build()
        .map_err(internal)?;
    let registry = Arc::new(integrations::definitions::registry());
    let mut app = App::new(registry.clone(), host.clone(), &public_base)
        .map_err(|e| format!("PUBLIC_BASE_URL={public_base} is not usable: {e}"))?;
    if let Some(key) = link_key {
        app = app.with_link_key(key);
    }

    // 2. The targets, through the write service: validated against each definition's
    //    schemas, secrets sealed. The demo points them at the testkit's mock providers;
    //    otherwise they come from the environment, and an invalid variable stops the
    //    program with one sentence naming it.
    let service = WriteService::new(registry.clone(), host.clone());
    let demo_mocks = if demo {
        Some(host_server::demo::Demo::start(&app.callback_url()).await)
    } else {
        None
    };
    for seed in SEEDS {
        let (config, secrets) = match &demo_mocks {
            Some(mocks) => {
                let target = mocks
                    .targets()
                    .into_iter()
                    .find(|t| t.id == seed.id)
                    .ok_or_else(|| format!("the demo has no {} target", seed.id))?;
                (target.config, target.secrets)
            }
            None => seed_values(seed)?,
        };
        let input = TargetInput::new(
            tenant.clone(),
            TargetId::new(seed.id).map_err(|e| e.to_string())?,
            seed.key.parse().map_err(|e: Error| e.to_string())?,
        )
        .with_config(config)
        .with_secrets(secrets);
        if let Err(e) = service.put_target(input).await {
            return Err(invalid_settings(seed, &e));
        }
        let client_vars = seed
            .config
            .iter()
            .map(|(name, _, _)| *name)
            .chain(seed.secrets.iter().map(|(name, _)| *name))
            .filter(|name| name.ends_with("_CLIENT_ID") || name.ends_with("_CLIENT_SECRET"))
            .collect::<Vec<_>>()
            .join(" and ");
        app = app.with_setup_hint(
            seed.key.parse().map_err(|e: Error| e.to_string())?,
            format!("set {client_vars} (the provider's OAuth app) and restart host-server"),
        );
    }
    app = app.with_demo(demo);
    // Outside the demo no authenticator is given: the tool route answers 401.
    let token = if demo {
        let token = demo_token()?;
        let workspace = WorkspaceId::new(DEMO_WORKSPACE).map_err(|e| e.to_string())?;
        let session = McpSession::new(Session::new(tenant.clone(), workspace));
        let tokens = McpTokens::new().with_token(token.expose(), session);
        app = app.with_tool_auth(Arc::new(tokens));
        Some(token)
    } else {
        None
    };

    // 3. The application, on loopback.
    println!("host-server listening on http://{local}");
    println!(
        "OAuth callback (register it with each provider): {}",
        app.callback_url()
    );
    println!(
        "Connect links are signed and expire in {} minutes: restart host-server for fresh ones.",
        integrations::core::auth::DEFAULT_STATE_TTL.as_secs() / 60
    );
    for seed in SEEDS {
        print_target(&app, &registry, &tenant, seed, demo)?;
    }
    if let (Some(mocks), Some(token)) = (&demo_mocks, &token) {
        print_demo(&app, &tenant, mocks, token)?;
    }

    axum::serve(listener, router(app))
        .with_graceful_shutdown(async {
            // Ctrl-C stops accepting connections and lets requests in flight finish.
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| format!("the server stopped: {e}"))
}

/// What a target offers: its connect links (or the variables to set first) and its
/// webhook URL.
fn print_target(
    app: &App,
    registry: &Registry,
    tenant: &TenantId,
    seed: &Seed,
    demo: bool,
) -> Result<(), String> {
    let key: DefinitionKey = seed.key.parse().map_err(|e: Error| e.to_string())?;
    let entry = registry.require(&key).map_err(|e| e.to_string())?;
    println!(
        "\n{} (target {} of tenant {tenant})",
        entry.metadata().name,
        seed.id
    );
    let client_id = seed
        .config
        .iter()
        .find(|(_, field, _)| *field == "client_id")
        .map(|(name, _, _)| *name);
    let configured = demo || client_id.is_none_or(|name| var(name).is_some());
    for method in entry.methods() {
        let method = method.method();
        if !matches!(
            method.kind,
            ConnectionMethodKind::OAuth2AuthorizationCode | ConnectionMethodKind::Redirect
        ) {
            continue;
        }
        if !configured {
            println!(
                "  connect ({}): set {} first (the provider's OAuth app)",
                method.id,
                client_id.unwrap_or("the client id")
            );
            continue;
        }
        let target = TargetId::new(seed.id).map_err(|e| e.to_string())?;
        println!(
            "  connect ({}): {}",
            method.id,
            app.start_link(&key, tenant, &target, &method.id, None)
        );
    }
    if app.ingest().source(&key).is_some() {
        println!("  webhooks: POST {}", app.webhook_url(&key, None));
    }
    Ok(())
}

/// The demo's three steps, as commands to paste: the only place the tool token is
/// shown.
fn print_demo(
    app: &App,
    tenant: &TenantId,
    mocks: &host_server::demo::Demo,
    token: &Secret,
) -> Result<(), String> {
    let base = app.public_base();
    let link = app.start_link(
        &"linear::linear-default"
            .parse()
            .map_err(|e: Error| e.to_string())?,
        tenant,
        &TargetId::new("linear").map_err(|e| e.to_string())?,
        &ConnectionMethodId::new("oauth2").map_err(|e| e.to_string())?,
        None,
    );
    println!("\nDemo mode: every provider is a mock server on loopback. Try:");
    println!("  1. connect Linear:  curl -sL -c jar -b jar '{link}'");
    println!(
        "  2. a webhook:       export LINEAR_WEBHOOK_SECRET={}",
        host_server::demo::LINEAR_WEBHOOK_SECRET
    );
    // Linear signs a body that carries its send time (`webhookTimestamp`, milliseconds):
    // the demo's saved delivery gets the current one. The command line is built first,
    // so its first build does not age the stamp past Linear's one-minute window.
    println!("                      cargo build -q -p integrations-cli");
    println!(
        "                      sed \"1s/^{{/{{\\\"webhookTimestamp\\\": $(date +%s)000,/\" examples/host-server/demo/linear.comment.json > linear.json"
    );
    println!(
        "                      cargo run -p integrations-cli -- webhook sign linear::linear-default --secret-env LINEAR_WEBHOOK_SECRET --event Comment --body linear.json > headers.txt"
    );
    println!(
        "                      curl -s -H @headers.txt --data-binary @linear.json {base}/webhooks/linear/linear-default"
    );
    println!(
        "  3. a tool call:     curl -s -H 'Authorization: Bearer {}' -H 'content-type: application/json' -d '{{\"connection\": \"<the connection of step 1>\"}}' {base}/tools/linear_list_teams",
        token.expose()
    );
    println!(
        "  (the token acts for tenant {tenant} in workspace {DEMO_WORKSPACE}; the Linear organization is {}; its team ENG has id {})",
        mocks.linear_organization(),
        mocks.linear_team()
    );
    Ok(())
}

/// A target the write service refused, as one sentence naming the variables to fix.
fn invalid_settings(seed: &Seed, error: &Error) -> String {
    let mut named: Vec<String> = Vec::new();
    for issue in error.issues() {
        // `/config/api_base_url/...` or `/secrets/webhook_secret`.
        let mut parts = issue.path.trim_start_matches('/').splitn(3, '/');
        let (section, field) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let variable = match section {
            "config" => seed
                .config
                .iter()
                .find(|(_, f, _)| *f == field)
                .map(|(name, _, _)| *name),
            "secrets" => seed
                .secrets
                .iter()
                .find(|(_, f)| *f == field)
                .map(|(name, _)| *name),
            _ => None,
        };
        let sentence = match variable {
            Some(name) => format!("{name} {}", issue.message),
            None => format!("{} {}", issue.path, issue.message),
        };
        if !named.contains(&sentence) {
            named.push(sentence);
        }
    }
    if named.is_empty() {
        format!("the {} target is invalid: {error}", seed.id)
    } else {
        format!("the {} target is invalid: {}", seed.id, named.join("; "))
    }
}

/// The config and secrets of a seed, from the variables that are set.
fn seed_values(seed: &Seed) -> Result<(Value, Value), String> {
    let mut config = Map::new();
    for (name, field, kind) in seed.config {
        if let Some(value) = var(name) {
            let value = match kind {
                Kind::Text => Value::String(value),
                Kind::Number => Value::from(
                    value
                        .trim()
                        .parse::<u64>()
                        .map_err(|_| format!("{name}={value} is not a number"))?,
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
