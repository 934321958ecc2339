//! Mock provider servers on loopback, built on wiremock.
//!
//! [`MockProvider`] starts a server with a catch-all responder at the lowest priority:
//! any request no mock expected is answered `599` and recorded, and the test fails with
//! a readable list of them (when the provider is dropped, or at
//! [`MockProvider::assert_no_unexpected`]). Request bodies are never printed, since they
//! may carry secrets.

pub mod api;
pub mod oauth;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A mock provider server on loopback that fails the test on unexpected requests.
#[derive(Debug)]
pub struct MockProvider {
    /// Always `Some` until dropped.
    server: Option<MockServer>,
    uri: String,
    unexpected: Arc<Mutex<Vec<String>>>,
}

struct CatchAll {
    unexpected: Arc<Mutex<Vec<String>>>,
}

fn describe(request: &Request) -> String {
    let mut line = format!("{} {}", request.method, request.url.path());
    let keys: Vec<String> = request
        .url
        .query_pairs()
        .map(|(k, _)| k.into_owned())
        .collect();
    if !keys.is_empty() {
        let _ = write!(line, "?{}", keys.join("&"));
    }
    line
}

impl Respond for CatchAll {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let line = describe(request);
        self.unexpected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line.clone());
        ResponseTemplate::new(599)
            .set_body_string(format!("integrations-testkit: no mock expected {line}"))
    }
}

impl MockProvider {
    /// Starts a server on a free loopback port with the catch-all mounted.
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let unexpected = Arc::new(Mutex::new(Vec::new()));
        Mock::given(any())
            .respond_with(CatchAll {
                unexpected: unexpected.clone(),
            })
            .with_priority(u8::MAX)
            .named("catch-all for unexpected requests")
            .mount(&server)
            .await;
        Self {
            uri: server.uri(),
            server: Some(server),
            unexpected,
        }
    }

    /// The base URI (`http://127.0.0.1:<port>`).
    pub fn uri(&self) -> String {
        self.uri.clone()
    }

    /// The wiremock server, to mount mocks on.
    pub fn server(&self) -> &MockServer {
        self.server
            .as_ref()
            .unwrap_or_else(|| unreachable!("the server is taken only when the mock is dropped"))
    }

    /// The requests no mock expected, as `METHOD /path?query-keys`.
    pub fn unexpected_requests(&self) -> Vec<String> {
        self.unexpected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Fails the test when any request was unexpected.
    ///
    /// # Panics
    ///
    /// When a request reached the catch-all.
    pub fn assert_no_unexpected(&self) {
        let unexpected = self.unexpected_requests();
        assert!(
            unexpected.is_empty(),
            "the mock provider at {} received requests no mock expected:\n  {}",
            self.uri(),
            unexpected.join("\n  ")
        );
    }
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        // wiremock's `MockServer` checks its mocks when dropped, with a nested `block_on`
        // over a tokio lock. Dropped inside a tokio task whose cooperative budget is spent
        // (a test that just awaited hundreds of tasks), that lock answers "pending, poll
        // again" forever and the drop spins. A fresh thread has no budget to exhaust.
        if let Some(server) = self.server.take() {
            let dropped = std::thread::spawn(move || drop(server)).join();
            // A failed wiremock expectation panics there (its message is printed): fail
            // here too.
            assert!(
                dropped.is_ok() || std::thread::panicking(),
                "the wiremock server at {} failed its expectations",
                self.uri
            );
        }
        if !std::thread::panicking() {
            self.assert_no_unexpected();
        }
    }
}
