//! Upstream failures, the 401 retry, hot reload and graceful shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::StreamExt as _;
use http::StatusCode;
use integrations_core::credential::{CredentialRequest, CredentialSource, ResolvedCredential};
use integrations_core::host::AuditOutcome;
use integrations_core::{Error, Secret};

use crate::support::*;

#[tokio::test]
async fn an_upstream_that_is_down_gets_502_quickly() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let fx = Fixture::start_with(Options {
        openai_addr: Some(closed),
        ..Options::default()
    })
    .await;
    let started = Instant::now();
    let response = fx
        .client(&fx.grant())
        .get("https://api.openai.com/v1/models")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(
        code(&response).as_deref(),
        Some("proxy.upstream_unreachable")
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(fx.settled().await.in_flight, 0);
}

/// A credential source whose first credential the provider has revoked.
#[derive(Default)]
struct Rotating {
    rejected: AtomicUsize,
}

#[async_trait]
impl CredentialSource for Rotating {
    async fn credential(
        &self,
        _request: &CredentialRequest<'_>,
    ) -> Result<ResolvedCredential, Error> {
        Ok(ResolvedCredential::new(Secret::new("sk-stale"), None))
    }

    async fn credential_rejected(
        &self,
        _request: &CredentialRequest<'_>,
        rejected: &Secret,
    ) -> Result<Option<ResolvedCredential>, Error> {
        assert_eq!(rejected.expose(), "sk-stale");
        self.rejected.fetch_add(1, Ordering::SeqCst);
        Ok(Some(ResolvedCredential::new(Secret::new("sk-fresh"), None)))
    }
}

#[tokio::test]
async fn a_401_forces_one_refresh_and_one_retry_for_idempotent_methods_only() {
    let source = Arc::new(Rotating::default());
    let fx = Fixture::start_with(Options {
        credentials: Some(source.clone()),
        ..Options::default()
    })
    .await;
    fx.upstream.accept_only("sk-fresh");
    let client = fx.client(&fx.grant());
    let response = client
        .get("https://api.openai.com/v1/models")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen: Vec<String> = fx
        .upstream
        .recorded()
        .iter()
        .map(|r| r.header("authorization").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(seen, ["Bearer sk-stale", "Bearer sk-fresh"]);
    assert_eq!(source.rejected.load(Ordering::SeqCst), 1);

    // POST is not idempotent: the 401 goes back as is, with no second attempt.
    let response = client
        .post("https://api.openai.com/v1/responses")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(fx.upstream.recorded().len(), 3);
    assert_eq!(source.rejected.load(Ordering::SeqCst), 1);

    // The source hands out the refused credential again, and the upstream refuses it
    // again: within the renewal interval the 401 goes back as it came, without a second
    // renewal (a sandbox calling an endpoint that never takes that kind of credential
    // must not renew it at every request).
    let response = client
        .get("https://api.openai.com/v1/models")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(fx.upstream.recorded().len(), 4);
    assert_eq!(source.rejected.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_reloaded_plan_applies_to_open_tunnels_without_dropping_them() {
    let fx = Fixture::start().await;
    let client = fx.client(&fx.grant());
    let url = "https://api.openai.com/v1/models";
    assert_eq!(
        client.get(url).send().await.unwrap().status(),
        StatusCode::OK
    );
    let old_hash = fx.proxy().plan_hash();

    let mut without = fx.plan.clone();
    without.egress_routes.clear();
    fx.proxy().reload(&without).unwrap();
    assert_ne!(fx.proxy().plan_hash(), old_hash);
    let response = client.get(url).send().await.unwrap();
    // Grants are bound to the plan they were issued for (tenant and hash): the open
    // tunnel stays, and the old grant is refused under the new plan.
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(&response).as_deref(), Some("egress.grant_audience"));

    fx.proxy().reload(&fx.plan).unwrap();
    assert_eq!(
        client.get(url).send().await.unwrap().status(),
        StatusCode::OK
    );
    // One tunnel carried all three requests.
    assert_eq!(fx.proxy().metrics().count("-", "tunnel_intercepted"), 1);
    assert_eq!(fx.proxy().metrics().tunnels, 1);
    assert_eq!(fx.upstream.recorded().len(), 2);
}

#[tokio::test]
async fn shutdown_lets_an_open_stream_finish_and_refuses_new_connections() {
    let mut fx = Fixture::start().await;
    let client = fx.client(&fx.grant());
    let mut response = client
        .post("https://api.openai.com/v1/responses?gated=1")
        .body("{}")
        .send()
        .await
        .unwrap();
    let first = response.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("token0"));
    let addr = fx.proxy().local_addr();
    let proxy = fx.proxy.take().unwrap();
    let shutdown = tokio::spawn(proxy.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    fx.upstream.state.sse_step.notify_one();
    let second = response.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&second).contains("token1"));
    fx.upstream.state.sse_step.notify_one();
    let rest = response.text().await.unwrap();
    assert!(rest.contains("token2") && rest.contains("[DONE]"), "{rest}");
    drop(client);
    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .unwrap()
        .unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn a_slow_upstream_gets_504() {
    let fx = Fixture::start_with(Options {
        config: integrations_proxy::ProxyConfig::new()
            .with_response_timeout(Duration::from_millis(300)),
        ..Options::default()
    })
    .await;
    let response = fx
        .client(&fx.grant())
        .get("https://api.openai.com/v1/slow")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(code(&response).as_deref(), Some("proxy.upstream_timeout"));
    // The credential left with the request: its use is audited, as a failure.
    let records = proxied_records(&fx, 1).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(
        records[0].outcome,
        AuditOutcome::Failure {
            code: "proxy.upstream_timeout".to_owned()
        }
    );
    assert_eq!(records[0].detail["path"], "/v1/slow");
}

#[tokio::test]
async fn a_sandbox_that_hangs_up_while_waiting_still_leaves_one_audit_record() {
    let fx = Fixture::start().await;
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(fx.proxy_url(&fx.grant())).unwrap())
        .tls_certs_only([reqwest::Certificate::from_pem(fx.proxy_ca_pem.as_bytes()).unwrap()])
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let error = client
        .get("https://api.openai.com/v1/slow")
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    drop(client);
    let records = proxied_records(&fx, 1).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(
        records[0].outcome,
        AuditOutcome::Failure {
            code: "proxy.outcome_unknown".to_owned()
        }
    );
    assert!(!format!("{records:?}").contains(OPENAI_KEY));
}

#[tokio::test]
async fn connections_beyond_the_limit_get_503_and_huge_heads_are_refused() {
    let fx = Fixture::start_with(Options {
        config: integrations_proxy::ProxyConfig::new().with_max_connections(1),
        ..Options::default()
    })
    .await;
    let addr = fx.proxy().local_addr();
    let held = tokio::net::TcpStream::connect(addr).await.unwrap();
    for _ in 0..100 {
        if fx.proxy().metrics().connections == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, refused, _) = raw_connect(
        addr,
        "api.openai.com:443",
        Some(basic("sandbox", &fx.grant())),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.as_deref(), Some("proxy.too_many_connections"));
    drop(held);
    fx.settled().await;

    let huge = "x".repeat(200 * 1024);
    let response = fx
        .client(&fx.grant())
        .get("https://api.openai.com/v1/models")
        .header("x-padding", huge)
        .send()
        .await;
    match response {
        Ok(response) => assert_eq!(
            response.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        ),
        Err(e) => assert!(e.is_request() || e.is_connect(), "{e}"),
    }
    assert!(fx.upstream.recorded().is_empty());
}

/// One address holds at most its share of the connections: past it, its next one is
/// answered 503 while other addresses' are served, and a closed one frees its place.
#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let fx = Fixture::start_with(Options {
        config: integrations_proxy::ProxyConfig::new().with_max_connections_per_peer(2),
        ..Options::default()
    })
    .await;
    let addr = fx.proxy().local_addr();
    let first = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _second = tokio::net::TcpStream::connect(addr).await.unwrap();
    for _ in 0..100 {
        if fx.proxy().metrics().connections == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let auth = Some(basic("sandbox", &fx.grant()));
    let (status, refused, _) = raw_connect(addr, "api.openai.com:443", auth.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.as_deref(), Some("proxy.too_many_connections"));
    // Far from the global limit: another address is served (loopback has many).
    let other = tokio::net::TcpSocket::new_v4().unwrap();
    other.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let other = other.connect(addr).await.unwrap();
    let (status, _, _) = raw_connect_on(other, "example.test:443", auth.clone()).await;
    assert_eq!(status, StatusCode::OK);
    drop(first);
    for _ in 0..100 {
        if fx.proxy().metrics().connections <= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, _, _) = raw_connect(addr, "example.test:443", auth).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a closed connection frees its place"
    );
}

/// Connections past the limit are answered 503 a few at a time (each waits for a request
/// head); past those, they are closed at once, so idle ones cannot pile up.
#[tokio::test]
async fn a_flood_of_idle_connections_past_the_limit_is_closed_at_once() {
    use tokio::io::AsyncReadExt as _;

    let fx = Fixture::start_with(Options {
        config: integrations_proxy::ProxyConfig::new().with_max_connections(1),
        ..Options::default()
    })
    .await;
    let addr = fx.proxy().local_addr();
    let _held = tokio::net::TcpStream::connect(addr).await.unwrap();
    for _ in 0..100 {
        if fx.proxy().metrics().connections == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Sixty-four idle connections wait to be answered 503...
    let mut waiting = Vec::new();
    for _ in 0..64 {
        waiting.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    // ...and the next is closed without an answer.
    let mut closed = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0_u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), closed.read(&mut buf))
        .await
        .expect("closed at once, not left waiting for a request head");
    assert_eq!(read.unwrap_or(0), 0);
    // A waiting one is still answered.
    let (status, refused, _) = raw_connect_on(
        waiting.pop().unwrap(),
        "api.openai.com:443",
        Some(basic("sandbox", &fx.grant())),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.as_deref(), Some("proxy.too_many_connections"));
    assert!(fx.upstream.recorded().is_empty());
}

/// A proxy rechecking connections every 200 ms that served one request through the
/// route's connection; then `change` is made to the stored connection elsewhere, and the
/// recheck passes. The next request's answer.
async fn after_the_connection_changed_elsewhere(
    change: impl FnOnce(&mut integrations_core::model::Connection),
) -> (Fixture, reqwest::Response) {
    use integrations_core::{ConnectionId, TenantId};

    let fx = Fixture::start_with(Options {
        config: integrations_proxy::ProxyConfig::new()
            .with_connection_recheck(Duration::from_millis(200)),
        ..Options::default()
    })
    .await;
    let client = fx.client(&fx.grant());
    let models = || client.get("https://api.openai.com/v1/models").send();
    assert_eq!(models().await.unwrap().status(), StatusCode::OK);

    let store = fx.test.host().connections();
    let tenant = TenantId::new("acme").unwrap();
    let id = ConnectionId::new("openai-key").unwrap();
    let mut connection = store.get_connection(&tenant, &id).await.unwrap().unwrap();
    change(&mut connection);
    store.put_connection(&connection).await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;

    let response = models().await.unwrap();
    (fx, response)
}

#[tokio::test]
async fn a_connection_revoked_elsewhere_stops_being_injected_within_the_recheck() {
    use integrations_core::model::ConnectionStatus;

    let (fx, response) = after_the_connection_changed_elsewhere(|connection| {
        connection.status = ConnectionStatus::Revoked {
            reason: "revoked by the operator".to_owned(),
        };
    })
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        code(&response).as_deref(),
        Some("auth.connection_not_active")
    );
    assert_eq!(fx.upstream.recorded().len(), 1);
}

/// A connection of another integration stored under the route's connection id (the
/// route's deleted, another made in its place before the plan was reloaded) is not the
/// route's: its credential, though of the route's credential type, is never sent.
#[tokio::test]
async fn a_connection_of_another_integration_under_the_routes_id_gets_nothing() {
    let (fx, response) = after_the_connection_changed_elsewhere(|connection| {
        connection.key = "linear::linear-default".parse().unwrap();
    })
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        code(&response).as_deref(),
        Some("egress.connection_mismatch")
    );
    assert_eq!(
        fx.upstream.recorded().len(),
        1,
        "nothing more went upstream"
    );
}

#[tokio::test]
async fn shutdown_writes_every_queued_audit_record() {
    let mut fx = Fixture::start().await;
    let client = fx.client(&fx.grant());
    for _ in 0..20 {
        let response = client
            .get("https://api.openai.com/v1/models")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    drop(client);
    fx.proxy.take().unwrap().shutdown().await;
    let proxied = fx
        .test
        .audit
        .with_action("credential.used")
        .into_iter()
        .filter(|e| e.detail.get("via").map(String::as_str) == Some("egress_proxy"))
        .count();
    assert_eq!(proxied, 20);
}

/// A request still waiting for its upstream when the grace period ends is cut short,
/// and its record (`proxy.outcome_unknown`) is written before `shutdown` returns: the
/// host may exit right after it. On two workers, as a host runs the proxy: the cut
/// request's record races the audit writer's end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_writes_the_record_of_a_request_it_cuts_short() {
    let mut fx = Fixture::start_with(Options {
        config: integrations_proxy::ProxyConfig::new()
            .with_shutdown_grace(Duration::from_millis(100)),
        ..Options::default()
    })
    .await;
    let client = fx.client(&fx.grant());
    let waiting =
        tokio::spawn(async move { client.get("https://api.openai.com/v1/slow").send().await });
    for _ in 0..500 {
        if fx.proxy().metrics().in_flight == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        fx.proxy().metrics().in_flight,
        1,
        "the request reached the upstream"
    );
    fx.proxy.take().unwrap().shutdown().await;
    // Read at once: nothing may still be on its way.
    let records: Vec<_> = fx
        .test
        .audit
        .with_action("credential.used")
        .into_iter()
        .filter(|e| e.detail.get("via").map(String::as_str) == Some("egress_proxy"))
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(
        records[0].outcome,
        AuditOutcome::Failure {
            code: "proxy.outcome_unknown".to_owned()
        }
    );
    assert!(
        waiting.await.unwrap().is_err(),
        "the sandbox's request was cut"
    );
}

#[tokio::test]
async fn a_buffered_body_that_trickles_past_the_timeout_gets_408() {
    let fx = Fixture::start_with(Options {
        config: integrations_proxy::ProxyConfig::new()
            .with_body_read_timeout(Duration::from_millis(300)),
        ..Options::default()
    })
    .await;
    // Ten bytes declared, three sent, then nothing.
    let trickle = futures_util::stream::once(async {
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"abc"))
    })
    .chain(futures_util::stream::pending());
    let started = Instant::now();
    let response = fx
        .client(&fx.grant())
        .get("https://api.openai.com/v1/models")
        .header("content-length", "10")
        .body(reqwest::Body::wrap_stream(trickle))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(code(&response).as_deref(), Some("proxy.body_timeout"));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(fx.upstream.recorded().is_empty());
}
