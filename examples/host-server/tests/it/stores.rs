//! The server on SQL stores: its state survives a restart on one SQLite file, and an
//! OAuth flow started on one instance completes on another over PostgreSQL.

use std::sync::Arc;

use host_server::{App, router};
use integrations::core::auth::TokenManager;
use integrations::core::host::{AesGcmKeyRing, ReqwestHttpClient};
use integrations::core::model::ConnectionStatus;
use integrations::core::service::TargetInput;
use integrations::core::{ConnectionId, TargetId};
use integrations::prelude::*;
use integrations_sqlx::SqlStores;
use integrations_testkit::mock::oauth::LinearMock;

use super::{start_path, tenant};

fn keys() -> Arc<AesGcmKeyRing> {
    Arc::new(AesGcmKeyRing::new("host-server", [9; 32]).unwrap())
}

fn host(stores: SqlStores) -> Host {
    Host::builder()
        .stores(Arc::new(stores))
        .http(Arc::new(ReqwestHttpClient::new().unwrap()))
        .cipher(keys())
        .events(Arc::new(integrations_testkit::RecordingEventSink::new()))
        .build()
        .unwrap()
}

/// One instance of the server on `stores`, answering on its own port but advertising
/// `public_base` (instances behind one load balancer share it).
struct Instance {
    app: App,
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Instance {
    async fn start(stores: SqlStores, public_base: Option<&str>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let registry = Arc::new(integrations::definitions::registry());
        let app = App::new(registry, host(stores), public_base.unwrap_or(&base)).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serve = axum::serve(listener, router(app.clone())).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        Self {
            app,
            base,
            stop,
            task: tokio::spawn(async move { serve.await }),
        }
    }

    async fn shut_down(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut request = client.get(format!("{}{path}", self.base));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
    }
}

async fn put_linear_target(app: &App, mock: &LinearMock) {
    WriteService::new(app.registry().clone(), app.host().clone())
        .put_target(
            TargetInput::new(
                tenant(),
                TargetId::new("linear").unwrap(),
                "linear::linear-default".parse().unwrap(),
            )
            .with_config(mock.target_config())
            .with_secrets(mock.target_secrets()),
        )
        .await
        .unwrap();
}

/// Start on `first` (with a link it signed), consent at the mock, callback on `second`:
/// the connection id.
async fn connect(first: &Instance, second: &Instance, mock: &LinearMock) -> ConnectionId {
    let link = start_path(
        &first.app,
        "linear::linear-default",
        "linear",
        "oauth2",
        Some("alice"),
    );
    let start = first.get(&link, None).await;
    assert_eq!(start.status(), 302);
    let location = start.headers()["location"].to_str().unwrap().to_owned();
    let cookie = start.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let query = mock.authorize(&location).unwrap();
    let done = second
        .get(&format!("/oauth/callback?{query}"), Some(&cookie))
        .await;
    assert_eq!(done.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&done.text().await.unwrap()).unwrap();
    ConnectionId::new(body["connection"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn a_connection_survives_a_restart_on_one_sqlite_file() {
    let mock = LinearMock::start().await;
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("host-server-restart-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let url = format!("sqlite://{}", path.display());

    let stores = SqlStores::connect(&url).await.unwrap();
    let first = Instance::start(stores.clone(), None).await;
    put_linear_target(&first.app, &mock).await;
    let id = connect(&first, &first, &mock).await;
    first.shut_down().await;
    stores.close().await;

    // A new process: new pool, new app, the same file and key.
    let second = Instance::start(SqlStores::connect(&url).await.unwrap(), None).await;
    let connection = second
        .app
        .host()
        .connections()
        .get_connection(&tenant(), &id)
        .await
        .unwrap()
        .expect("the connection survived the restart");
    assert_eq!(connection.status, ConnectionStatus::Active);
    // Usable: its sealed token opens and is the one the provider issued.
    let token = TokenManager::new(second.app.registry().clone(), second.app.host().clone())
        .access_token(&connection)
        .await
        .unwrap();
    assert!(
        mock.issued_secrets()
            .contains(&token.value.expose().to_owned())
    );
    second.shut_down().await;
}

#[tokio::test]
#[allow(
    clippy::print_stderr,
    reason = "the one line saying how to run a skipped test"
)]
async fn oauth_started_on_one_instance_completes_on_another_over_postgres() {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but DATABASE_URL is not set: .ci/run starts PostgreSQL with scripts/postgres"
        );
        eprintln!("skipping: set DATABASE_URL, for example: eval \"$(scripts/postgres start)\"");
        return;
    };
    // A fresh schema of our own.
    let admin = SqlStores::connect(&url).await.unwrap();
    let schema = format!("host_server_{}", std::process::id());
    sqlx_schema(&admin, &schema).await;
    let separator = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{separator}options[search_path]={schema}");

    let mock = LinearMock::start().await;
    let first = Instance::start(SqlStores::connect(&url).await.unwrap(), None).await;
    let public = first.app.public_base().to_owned();
    let second = Instance::start(SqlStores::connect(&url).await.unwrap(), Some(&public)).await;
    put_linear_target(&first.app, &mock).await;
    let id = connect(&first, &second, &mock).await;
    let on_first = first
        .app
        .host()
        .connections()
        .get_connection(&tenant(), &id)
        .await
        .unwrap();
    assert!(
        on_first.is_some(),
        "instance 1 sees the connection instance 2 made"
    );
    first.shut_down().await;
    second.shut_down().await;
}

async fn sqlx_schema(admin: &SqlStores, schema: &str) {
    for sql in [
        format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"),
        format!("CREATE SCHEMA \"{schema}\""),
    ] {
        sqlx::query(&sql).execute(admin.pool()).await.unwrap();
    }
}
