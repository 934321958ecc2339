//! What a tunnel may carry: the host it was opened for and nothing else (TLS server
//! name, `Host`), idle blind tunnels closed, and those a reloaded plan would not open,
//! upstream connections reused.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use integrations_proxy::ProxyConfig;
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::AsyncReadExt as _;

use crate::support::*;

/// Accepts any certificate: the client below lies about the server name on purpose, so
/// only the proxy's answer matters.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[tokio::test]
async fn a_tls_server_name_naming_another_host_is_refused_without_upstream_contact() {
    let fx = Fixture::start().await;
    let tunnel = open_tunnel(
        fx.proxy().local_addr(),
        "api.openai.com:443",
        basic("sandbox", &fx.grant()),
    )
    .await;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // CONNECT named the managed host; the TLS server name (and Host) name a passthrough
    // host, hoping the credential or the tunnel follows the server name.
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(PASSTHROUGH).unwrap(), tunnel)
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let request = Request::get("/v1/models")
        .header("host", PASSTHROUGH)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::MISDIRECTED_REQUEST);
    assert_eq!(
        response.headers()[integrations_proxy::ERROR_HEADER],
        "proxy.sni_mismatch"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(
        String::from_utf8_lossy(&body).contains("\"proxy.sni_mismatch\""),
        "{body:?}"
    );
    assert_eq!(fx.upstream.connections(), 0);
    assert!(fx.upstream.recorded().is_empty());
    assert_eq!(fx.proxy().metrics().count("-", "proxy.sni_mismatch"), 1);
    let settled = fx.settled().await;
    assert_eq!((settled.connections, settled.tunnels), (0, 0));
}

#[tokio::test]
async fn a_host_header_naming_another_host_is_refused_without_upstream_contact() {
    let fx = Fixture::start().await;
    let client = fx.client(&fx.grant());
    for host in [
        PASSTHROUGH,
        "api.openai.com.evil.test",
        "api.openai.com:8443",
    ] {
        let response = client
            .get("https://api.openai.com/v1/models")
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{host}");
        assert_eq!(code(&response).as_deref(), Some("proxy.host_mismatch"));
        let body = response.text().await.unwrap();
        assert!(body.contains("\"proxy.host_mismatch\""), "{body}");
    }
    // Two `Host` headers, the first the tunnel's: an upstream may read the other.
    let response = client
        .get("https://api.openai.com/v1/models")
        .header("host", "api.openai.com")
        .header("host", "evil.test")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(&response).as_deref(), Some("proxy.host_mismatch"));
    assert_eq!(fx.upstream.connections(), 0);
    assert!(fx.upstream.recorded().is_empty());
}

#[tokio::test]
async fn an_idle_blind_tunnel_is_closed_and_an_active_one_is_not() {
    let fx = Fixture::start_with(Options {
        config: ProxyConfig::new().with_tunnel_idle_timeout(Duration::from_millis(400)),
        ..Options::default()
    })
    .await;
    // Active: requests every 150 ms on one keep-alive tunnel, for longer than the limit.
    let client = fx.client(&fx.grant());
    for _ in 0..5 {
        let response = client
            .get("https://example.test/anything")
            .send()
            .await
            .unwrap();
        assert_eq!(response.text().await.unwrap(), "plain");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let metrics = fx.proxy().metrics();
    assert_eq!(metrics.count("-", "tunnel_blind"), 1);
    assert_eq!(metrics.count("-", "proxy.tunnel_idle"), 0);
    drop(client);

    // Idle: a tunnel that never carries a byte is closed after the limit.
    let mut tunnel = open_tunnel(
        fx.proxy().local_addr(),
        "example.test:443",
        basic("sandbox", &fx.grant()),
    )
    .await;
    let mut byte = [0_u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), tunnel.read(&mut byte))
        .await
        .expect("the proxy closes an idle tunnel");
    assert_eq!(read.unwrap(), 0);
    let settled = fx.settled().await;
    assert_eq!(
        (settled.connections, settled.tunnels, settled.in_flight),
        (0, 0, 0)
    );
    assert_eq!(settled.count("-", "proxy.tunnel_idle"), 1);
}

#[tokio::test]
async fn requests_in_a_tunnel_reuse_one_upstream_connection() {
    let fx = Fixture::start().await;
    let client = fx.client(&fx.grant());
    for _ in 0..5 {
        let response = client
            .get("https://api.openai.com/v1/models")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.bytes().await.unwrap();
    }
    assert_eq!(fx.upstream.recorded().len(), 5);
    assert_eq!(fx.upstream.connections(), 1);
}

#[tokio::test]
async fn open_tunnels_count_against_the_connection_limit() {
    let fx = Fixture::start_with(Options {
        config: ProxyConfig::new().with_max_connections(2),
        ..Options::default()
    })
    .await;
    let addr = fx.proxy().local_addr();
    let auth = basic("sandbox", &fx.grant());
    let intercepted = open_tunnel(addr, "api.openai.com:443", auth.clone()).await;
    let blind = open_tunnel(addr, "example.test:443", auth.clone()).await;
    // Both CONNECTs have been upgraded: their HTTP connections are over, the tunnels not.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, refused, _) = raw_connect(addr, "api.openai.com:443", Some(auth.clone())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.as_deref(), Some("proxy.too_many_connections"));
    drop((intercepted, blind));
    let mut freed = false;
    for _ in 0..100 {
        let (status, _, _) = raw_connect(addr, "example.test:443", Some(auth.clone())).await;
        if status == StatusCode::OK {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(freed, "closed tunnels give their slots back");
}

#[tokio::test]
async fn a_route_to_an_ipv6_literal_works() {
    // Loopback IPv6 is required: this fails, never skips, on a machine without it.
    let pki = Pki::new();
    let v6 = Upstream::start_at(&pki, "[::1]:0", &["::1"]).await;
    let port = v6.addr.port();
    let fx = Fixture::start_with(Options {
        passthrough: false,
        config: ProxyConfig::new().with_extra_root(pki.cert_der()),
        edit_plan: Some(Box::new(move |plan| {
            let route = &mut plan.egress_routes[0];
            route.matcher.hosts = vec!["[::1]".to_owned()];
            route.upstream = route.upstream.replace(OPENAI, &format!("[::1]:{port}"));
        })),
        ..Options::default()
    })
    .await;
    let authority = format!("[::1]:{port}");
    let tunnel = open_tunnel(
        fx.proxy().local_addr(),
        &authority,
        basic("sandbox", &fx.grant()),
    )
    .await;
    // The sandbox verifies the proxy's leaf for the IP address against the proxy CA.
    let mut roots = rustls::RootCertStore::empty();
    {
        use rustls_pki_types::pem::PemObject as _;
        roots
            .add(CertificateDer::from_pem_slice(fx.proxy_ca_pem.as_bytes()).unwrap())
            .unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let ip: std::net::IpAddr = "::1".parse().unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::from(ip), tunnel)
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let request = Request::get("/v1/models")
        .header("host", authority.as_str())
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(status, StatusCode::OK, "{body:?}");
    let recorded = v6.recorded();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0].headers_named("authorization"),
        [format!("Bearer {OPENAI_KEY}")]
    );
}

/// A grant for `plan`'s first route, issued by the fixture's keys, valid an hour.
fn grant_for(fx: &Fixture, plan: &integrations_core::plan::CompiledRuntimePlan) -> String {
    grant_valid_for(fx, plan, Duration::from_secs(3600))
}

/// A grant for `plan`'s first route valid for `ttl`.
fn grant_valid_for(
    fx: &Fixture,
    plan: &integrations_core::plan::CompiledRuntimePlan,
    ttl: Duration,
) -> String {
    use integrations_core::egress::{GrantAudience, GrantClaims};
    use integrations_core::host::Clock as _;
    let claims = GrantClaims::for_route(
        &plan.egress_routes[0],
        &GrantAudience::for_plan(plan),
        fx.test.clock.now(),
        ttl,
    )
    .unwrap();
    fx.keys.issue(&claims).unwrap().expose().to_owned()
}

/// Whether the proxy closed `tunnel` (within five seconds); `false` when it is still
/// open after `open_for`.
async fn closed<T: tokio::io::AsyncRead + Unpin>(tunnel: &mut T, open_for: Duration) -> bool {
    let mut byte = [0_u8; 1];
    match tokio::time::timeout(open_for, tunnel.read(&mut byte)).await {
        Ok(read) => {
            assert_eq!(read.unwrap(), 0, "the tunnel carried no byte");
            true
        }
        Err(_) => false,
    }
}

/// A blind tunnel carries no request the proxy could check against a reloaded plan, so a
/// reload closes those the new plan would not open: none of their grants is for it, or
/// one of its routes names their host (which must now be intercepted). The others, and a
/// reload of the same plan, leave them open.
#[tokio::test]
async fn a_reload_closes_the_blind_tunnels_the_new_plan_would_not_open() {
    let fx = Fixture::start().await;
    let addr = fx.proxy().local_addr();
    let passthrough = format!("{PASSTHROUGH}:443");
    // `other` differs from the fixture's plan (so its hash and grants do), and still
    // leaves the passthrough host blind; `managing` also routes that host.
    let mut other = fx.plan.clone();
    other.egress_routes[0]
        .matcher
        .excluded_path_prefixes
        .push("/v1/organization".to_owned());
    let mut managing = other.clone();
    let mut route = managing.egress_routes[0].clone();
    route.id = integrations_core::plan::RouteId::for_binding(&route.binding, 1);
    route.matcher.hosts = vec![PASSTHROUGH.to_owned()];
    managing.egress_routes.push(route);
    let (old, for_other, for_managing) = (
        fx.grant(),
        grant_for(&fx, &other),
        grant_for(&fx, &managing),
    );

    let mut only_old = open_tunnel(addr, &passthrough, basic("sandbox", &old)).await;
    let mut old_and_other = open_tunnel(
        addr,
        &passthrough,
        basic("sandbox", &format!("{old}~{for_other}")),
    )
    .await;
    let short = Duration::from_millis(300);
    fx.proxy().reload(&fx.plan).unwrap();
    assert!(!closed(&mut only_old, short).await, "same plan: stays");
    assert!(!closed(&mut old_and_other, short).await, "same plan: stays");

    fx.proxy().reload(&other).unwrap();
    let long = Duration::from_secs(5);
    assert!(
        closed(&mut only_old, long).await,
        "no grant for the new plan"
    );
    assert!(!closed(&mut old_and_other, short).await, "a grant for it");

    let mut other_and_managing = open_tunnel(
        addr,
        &passthrough,
        basic("sandbox", &format!("{for_other}~{for_managing}")),
    )
    .await;
    fx.proxy().reload(&managing).unwrap();
    assert!(
        closed(&mut old_and_other, long).await,
        "no grant for the new plan"
    );
    assert!(
        closed(&mut other_and_managing, long).await,
        "its grant holds, but the host is now intercepted"
    );
    let settled = fx.settled().await;
    assert_eq!(settled.tunnels, 0);
    assert_eq!(settled.count("-", "proxy.tunnel_plan_changed"), 3);
    assert_eq!(settled.count("-", "tunnel_blind"), 3);
}

/// After a reload, a blind tunnel lives only as long as its grants valid for the new
/// plan: a long grant for the old plan no longer keeps it open.
#[tokio::test]
async fn after_a_reload_a_blind_tunnel_ends_with_its_grants_for_the_new_plan() {
    let fx = Fixture::start().await;
    let mut other = fx.plan.clone();
    other.egress_routes[0]
        .matcher
        .excluded_path_prefixes
        .push("/v1/organization".to_owned());
    let (long_old, short_new) = (
        fx.grant(),
        grant_valid_for(&fx, &other, Duration::from_secs(1)),
    );
    let mut tunnel = open_tunnel(
        fx.proxy().local_addr(),
        &format!("{PASSTHROUGH}:443"),
        basic("sandbox", &format!("{long_old}~{short_new}")),
    )
    .await;
    fx.proxy().reload(&other).unwrap();
    assert!(
        closed(&mut tunnel, Duration::from_secs(5)).await,
        "the tunnel outlived its only grant for the new plan"
    );
    let settled = fx.settled().await;
    assert_eq!(settled.count("-", "proxy.tunnel_grant_expired"), 1);
    assert_eq!(settled.count("-", "proxy.tunnel_plan_changed"), 0);
}
