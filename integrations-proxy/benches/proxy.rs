//! A request through the egress proxy beside the same request sent directly to the same
//! local TLS upstream, in one run: keep-alive clients, a small JSON body. The proxied
//! path adds a grant check, classification, a credential lookup (the token manager's
//! cache), injection, a second TLS hop and a second HTTP/1.1 parse. Goal: at most 1.5×
//! the direct latency. Then the throughput of 100 concurrent keep-alive clients, both
//! ways.
//!
//! The floor of any TLS-intercepting proxy is measured in the same run: `relay` is a bare
//! relay built from the same parts (hyper's HTTP/1.1 server with `CONNECT` upgrades,
//! tokio-rustls with a leaf minted ahead of time, hyper-util's pooled client over
//! hyper-rustls) that forwards each request with a fixed header and nothing else: no
//! grant, no classification, no credential lookup, no audit. `proxied / relay` is what
//! this proxy's own work costs; `relay / direct` is what a second TLS hop costs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::{TokioExecutor, TokioIo};
use integrations_core::auth::TokenManager;
use integrations_core::compile::{ProfileInput, compile};
use integrations_core::egress::{GrantAudience, GrantKey, GrantKeys};
use integrations_core::service::{ConnectionInput, TargetInput, WriteService};
use integrations_core::{ConnectionId, ConnectionMethodId, TargetId, TenantId};
use integrations_proxy::{CertificateAuthority, Proxy, ProxyConfig, ProxyHandle, UpstreamOverride};
use integrations_testkit::TestHost;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use tokio::runtime::Runtime;

const BEARER: &str = "Bearer sk-bench-0123456789abcdef";

const URL: &str = "https://api.openai.com/v1/models";
const BODY: &[u8] = br#"{"object":"list","data":[{"id":"gpt-5","object":"model","created":1754425777,"owned_by":"system"}]}"#;
const PROFILE: &str = r#"{
  "tenant": "acme", "profile": "bench", "version": 1,
  "targets": [{"id": "openai", "key": "openai::openai-default"}],
  "connections": [{"id": "openai-key", "target": "openai", "method": "api-key"}],
  "bindings": [{"id": "agent", "kind": "agent", "connection": "openai-key",
                "config": {"runtime": "codex-cli", "model": "gpt-5-codex"}}]
}"#;

struct Setup {
    direct: reqwest::Client,
    proxied: reqwest::Client,
    relayed: reqwest::Client,
    upstream_ca: String,
    proxy_ca: String,
    proxy_url: String,
    relay_ca: String,
    relay_url: String,
    upstream: SocketAddr,
    _proxy: ProxyHandle,
    _test: TestHost,
}

/// A TLS acceptor for `names` with a leaf signed by a fresh CA, and that CA's PEM.
fn tls_server(names: &[&str]) -> (tokio_rustls::TlsAcceptor, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.subject_alt_names = names
        .iter()
        .map(|n| SanType::DnsName((*n).try_into().unwrap()))
        .collect();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    (
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        ca_cert.pem(),
    )
}

async fn upstream(names: &[&str]) -> (SocketAddr, String) {
    let (acceptor, ca_pem) = tls_server(names);
    let addr = serve_loopback(move |tcp| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = service_fn(|req: Request<Incoming>| async move {
                let ok = req
                    .headers()
                    .get("authorization")
                    .is_some_and(|v| v.as_bytes() == BEARER.as_bytes());
                let mut response = Response::new(Full::new(Bytes::from_static(BODY)));
                if !ok {
                    *response.status_mut() = http::StatusCode::UNAUTHORIZED;
                }
                Ok::<_, std::convert::Infallible>(response)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        }
    })
    .await;
    (addr, ca_pem)
}

/// Accepts TCP connections on a loopback port (no Nagle delay) and hands each to `serve`
/// on its own task.
async fn serve_loopback<F, Fut>(serve: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            tokio::spawn(serve(tcp));
        }
    });
    addr
}

/// Resolves every name to the bench's upstream.
#[derive(Clone)]
struct ToUpstream(SocketAddr);

impl tower_service::Service<Name> for ToUpstream {
    type Response = std::iter::Once<SocketAddr>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Name) -> Self::Future {
        std::future::ready(Ok(std::iter::once(self.0)))
    }
}

/// The floor: a bare TLS-intercepting relay from the proxy's own parts (see the module
/// docs). Returns its address and the CA its leaf is signed by.
async fn relay(upstream: SocketAddr, upstream_ca: &str) -> (SocketAddr, String) {
    let (acceptor, ca_pem) = tls_server(&["api.openai.com"]);
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add({
            use rustls_pki_types::pem::PemObject as _;
            rustls_pki_types::CertificateDer::from_pem_slice(upstream_ca.as_bytes()).unwrap()
        })
        .unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut http = HttpConnector::new_with_resolver(ToUpstream(upstream));
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    let client: Client<_, Incoming> = Client::builder(TokioExecutor::new()).build(https);
    let addr = serve_loopback(move |tcp| {
        let (acceptor, client) = (acceptor.clone(), client.clone());
        async move {
            // The outer connection: one CONNECT, then the tunnel is TLS to us.
            let connect = service_fn(move |req: Request<Incoming>| {
                let (acceptor, client) = (acceptor.clone(), client.clone());
                async move {
                    tokio::spawn(async move {
                        let Ok(upgraded) = hyper::upgrade::on(req).await else {
                            return;
                        };
                        let Ok(tls) = acceptor.accept(TokioIo::new(upgraded)).await else {
                            return;
                        };
                        let forward = service_fn(move |mut req: Request<Incoming>| {
                            let client = client.clone();
                            async move {
                                let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
                                *req.uri_mut() =
                                    format!("https://api.openai.com{path}").parse().unwrap();
                                req.headers_mut().insert(
                                    http::header::AUTHORIZATION,
                                    http::HeaderValue::from_static(BEARER),
                                );
                                client.request(req).await
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(tls), forward)
                            .await;
                    });
                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), connect)
                .with_upgrades()
                .await;
        }
    })
    .await;
    (addr, ca_pem)
}

/// How a bench client reaches the upstream.
#[derive(Clone, Copy)]
enum Path {
    Direct,
    Proxied,
    Relayed,
}

impl Setup {
    fn client(&self, path: Path) -> reqwest::Client {
        let builder = reqwest::Client::builder().tls_certs_only([
            reqwest::Certificate::from_pem(self.upstream_ca.as_bytes()).unwrap(),
            reqwest::Certificate::from_pem(self.proxy_ca.as_bytes()).unwrap(),
            reqwest::Certificate::from_pem(self.relay_ca.as_bytes()).unwrap(),
        ]);
        match path {
            Path::Proxied => builder.proxy(reqwest::Proxy::all(&self.proxy_url).unwrap()),
            Path::Relayed => builder.proxy(reqwest::Proxy::all(&self.relay_url).unwrap()),
            Path::Direct => {
                // The direct client holds the key itself, as a sandbox without the proxy would.
                let mut headers = http::HeaderMap::new();
                headers.insert(
                    http::header::AUTHORIZATION,
                    http::HeaderValue::from_static(BEARER),
                );
                builder
                    .no_proxy()
                    .default_headers(headers)
                    .resolve("api.openai.com", self.upstream)
            }
        }
        .build()
        .unwrap()
    }
}

async fn setup() -> Setup {
    let (upstream, upstream_ca) = upstream(&["api.openai.com"]).await;
    let test = TestHost::new();
    let registry = Arc::new(integrations_definitions::registry());
    let service = WriteService::new(registry.clone(), test.host().clone());
    let tenant = TenantId::new("acme").unwrap();
    service
        .put_target(TargetInput::new(
            tenant.clone(),
            TargetId::new("openai").unwrap(),
            "openai::openai-default".parse().unwrap(),
        ))
        .await
        .unwrap();
    service
        .put_connection(
            ConnectionInput::new(
                tenant,
                ConnectionId::new("openai-key").unwrap(),
                TargetId::new("openai").unwrap(),
                ConnectionMethodId::new("api-key").unwrap(),
            )
            .with_secret("api_key", BEARER.trim_start_matches("Bearer ")),
        )
        .await
        .unwrap();
    let plan = compile(&registry, &ProfileInput::from_json(PROFILE).unwrap()).unwrap();
    // As `integrations proxy` runs it: the proxy audits each injected request itself, so
    // the token manager's own usage record is off.
    let tokens = Arc::new(TokenManager::new(registry, test.host().clone()).with_usage_audit(false));
    let keys = GrantKeys::new(GrantKey::generate("k1").unwrap());
    let grant = keys
        .issue_for_route(
            &plan.egress_routes[0],
            &GrantAudience::for_plan(&plan),
            &*test.clock,
            Duration::from_secs(3600),
        )
        .unwrap();
    let generated = CertificateAuthority::generate("bench CA").unwrap();
    let ca = CertificateAuthority::from_pem(&generated.cert_pem, &generated.key_pem).unwrap();
    let upstream_der = {
        use rustls_pki_types::pem::PemObject as _;
        rustls_pki_types::CertificateDer::from_pem_slice(upstream_ca.as_bytes()).unwrap()
    };
    let config = ProxyConfig::new()
        .allow_loopback(true)
        .with_extra_root(upstream_der)
        .with_upstream_override("api.openai.com", UpstreamOverride::tls(upstream))
        .unwrap();
    let proxy = Proxy::new(&plan, keys, ca, test.host().clone(), tokens, config)
        .unwrap()
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (relay, relay_ca) = relay(upstream, &upstream_ca).await;
    let mut setup = Setup {
        direct: reqwest::Client::new(),
        proxied: reqwest::Client::new(),
        relayed: reqwest::Client::new(),
        upstream_ca,
        proxy_ca: generated.cert_pem,
        proxy_url: format!("http://sandbox:{}@{}", grant.expose(), proxy.local_addr()),
        relay_ca,
        relay_url: format!("http://{relay}"),
        upstream,
        _proxy: proxy,
        _test: test,
    };
    setup.direct = setup.client(Path::Direct);
    setup.proxied = setup.client(Path::Proxied);
    setup.relayed = setup.client(Path::Relayed);
    setup
}

async fn get(client: &reqwest::Client) {
    let response = client.get(URL).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len(), BODY.len());
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let setup = rt.block_on(setup());
    // Warm both paths (TLS handshakes, pools, the token cache).
    rt.block_on(async {
        get(&setup.direct).await;
        get(&setup.proxied).await;
        get(&setup.relayed).await;
    });

    let mut group = c.benchmark_group("proxy/request");
    group.bench_function("direct", |b| {
        b.to_async(&rt).iter(|| get(&setup.direct));
    });
    group.bench_function("proxied", |b| {
        b.to_async(&rt).iter(|| get(&setup.proxied));
    });
    group.bench_function("relay", |b| {
        b.to_async(&rt).iter(|| get(&setup.relayed));
    });
    group.finish();

    let clients = |path| (0..100).map(|_| setup.client(path)).collect::<Vec<_>>();
    let (direct, proxied, relayed) = (
        clients(Path::Direct),
        clients(Path::Proxied),
        clients(Path::Relayed),
    );
    let mut group = c.benchmark_group("proxy/throughput_100_clients");
    group.throughput(Throughput::Elements(100));
    for (name, clients) in [
        ("direct", &direct),
        ("proxied", &proxied),
        ("relay", &relayed),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let tasks: Vec<_> = clients
                    .iter()
                    .map(|client| {
                        let client = client.clone();
                        tokio::spawn(async move { get(&client).await })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
