//! The host server driven over real HTTP on loopback: each test binds the router to
//! `127.0.0.1:0`, serves it from a spawned task, talks to it with reqwest (redirects off,
//! as a test plays the browser's part by hand), and shuts it down at the end.
//!
//! * `oauth`: OAuth connections (Linear, authorization code with PKCE) and GitHub App
//!   installations, start to callback, with the token exchanges going over loopback to
//!   the testkit's mock providers; replays, foreign sessions, refusals; start links that
//!   are unsigned, changed or expired.
//! * `tools`: the tool route, authenticated by a bearer token whose session it acts for.
//! * `binary`: the `host-server` binary itself: start-up errors, signed connect links
//!   (and links without a client id), one JSON error shape, and the offline `--demo` end
//!   to end.
//! * `webhooks`: signed GitHub deliveries delivered once, duplicates, tampering, the body
//!   limit, and Slack's challenge.

mod binary;
mod mcp;
mod oauth;
mod stores;
mod tools;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use host_server::{App, SESSION_COOKIE, router};
use integrations::core::host::Clock;
use integrations::core::service::{ConnectionInput, TargetInput};
use integrations::core::{ConnectionId, ConnectionMethodId, TargetId, Timestamp, UserId};
use integrations::prelude::*;
use integrations_testkit::{SignedDelivery, TestHost};
use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const TENANT: &str = "acme";

fn tenant() -> TenantId {
    TenantId::new(TENANT).unwrap()
}

/// A test fixture, copied into this crate's `tests/fixtures/`.
fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// A value of a URL's query.
fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The path and query of the start link `app` signs for connecting the tenant's `target`
/// with `method` (as `user`, when given): what the browser asks for.
fn start_path(app: &App, key: &str, target: &str, method: &str, user: Option<&str>) -> String {
    let user = user.map(|u| UserId::new(u).unwrap());
    let link = app.start_link(
        &key.parse().unwrap(),
        &tenant(),
        &TargetId::new(target).unwrap(),
        &ConnectionMethodId::new(method).unwrap(),
        user.as_ref(),
    );
    let url = url::Url::parse(&link).unwrap();
    assert!(link.starts_with(app.public_base()), "{link}");
    format!("{}?{}", url.path(), url.query().unwrap())
}

/// The application serving on loopback, the in-memory host behind it, and a client.
struct Server {
    base: String,
    app: App,
    test: TestHost,
    client: reqwest::Client,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(test: TestHost) -> Self {
        Self::start_with(test, |app| app).await
    }

    /// Binds an ephemeral loopback port first, so the application's public base (and
    /// with it the OAuth redirect URI) is the address it really serves.
    async fn start_with(test: TestHost, configure: impl FnOnce(App) -> App) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let registry = Arc::new(integrations::definitions::registry());
        let app = configure(App::new(registry, test.host().clone(), &base).unwrap());
        let (shutdown, stop) = oneshot::channel::<()>();
        let serve = axum::serve(listener, router(app.clone())).with_graceful_shutdown(async {
            let _ = stop.await;
        });
        let task = tokio::spawn(async move { serve.await });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            base,
            app,
            test,
            client,
            shutdown,
            task,
        }
    }

    /// Stops accepting, lets requests in flight finish, and checks the server ended well.
    async fn stop(self) {
        drop(self.client);
        self.shutdown.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server shuts down")
            .unwrap()
            .unwrap();
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn now(&self) -> Timestamp {
        self.test.host().clock().now()
    }

    fn service(&self) -> WriteService {
        WriteService::new(self.app.registry().clone(), self.test.host().clone())
    }

    async fn put_target(&self, id: &str, key: &str, config: Value, secrets: Value) {
        self.service()
            .put_target(
                TargetInput::new(tenant(), TargetId::new(id).unwrap(), key.parse().unwrap())
                    .with_config(config)
                    .with_secrets(secrets),
            )
            .await
            .unwrap();
    }

    /// An API-key connection routed by an external subject or an endpoint key.
    async fn put_connection(
        &self,
        id: &str,
        target: &str,
        secret: (&str, &str),
        subject: Option<&str>,
        endpoint: Option<&str>,
    ) {
        let mut input = ConnectionInput::new(
            tenant(),
            ConnectionId::new(id).unwrap(),
            TargetId::new(target).unwrap(),
            "api-key".parse().unwrap(),
        )
        .with_secret(secret.0, secret.1);
        if let Some(subject) = subject {
            input = input.with_external_subject(subject);
        }
        if let Some(endpoint) = endpoint {
            input = input.with_endpoint_key(endpoint);
        }
        self.service().put_connection(input).await.unwrap();
    }

    /// `GET path`, sending `cookie` (`name=value`) as the browser would.
    async fn get(&self, path: &str, cookie: Option<&str>) -> Answer {
        let mut request = self.client.get(self.url(path));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        Answer::read(request.send().await.unwrap()).await
    }

    /// `POST path` with a signed delivery's headers and exact body bytes.
    async fn post(&self, path: &str, delivery: &SignedDelivery) -> Answer {
        let mut request = self.client.post(self.url(path));
        for (name, value) in &delivery.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        Answer::read(request.body(delivery.body.clone()).send().await.unwrap()).await
    }
}

/// A response, read whole.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    async fn read(response: reqwest::Response) -> Self {
        Self {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await.unwrap().to_vec(),
        }
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.text()))
    }

    /// The stable code of an error answer.
    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error answer: {}", self.text()))
            .to_owned()
    }

    /// The session cookie set by a start answer, as the browser sends it back.
    fn session_cookie(&self) -> String {
        let set = self.header("set-cookie");
        let pair = set.split(';').next().unwrap();
        assert!(pair.starts_with(&format!("{SESSION_COOKIE}=")), "{set}");
        pair.to_owned()
    }

    /// Fails when the answer carries any of `secrets`.
    fn assert_free_of(&self, secrets: &[String]) {
        let text = format!("{:?} {}", self.headers, self.text());
        for secret in secrets {
            assert!(!text.contains(secret.as_str()), "an answer leaks a secret");
        }
    }
}
