//! The fixture: a local TLS upstream that records what it receives (speaking like
//! OpenAI: JSON model list, 401 error objects, server-sent events), the compiled plan of
//! a sandbox profile with an OpenAI key, the proxy in front, and clients configured only
//! with the proxy URL and CA.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use integrations_core::auth::TokenManager;
use integrations_core::compile::{ProfileInput, compile};
use integrations_core::credential::CredentialSource;
use integrations_core::egress::{GrantAudience, GrantClaims, GrantKey, GrantKeys};
use integrations_core::host::Clock as _;
use integrations_core::plan::CompiledRuntimePlan;
use integrations_core::service::{ConnectionInput, TargetInput, WriteService};
use integrations_core::{ConnectionId, ConnectionMethodId, TargetId, TenantId};
use integrations_proxy::{CertificateAuthority, Proxy, ProxyConfig, ProxyHandle, UpstreamOverride};
use integrations_testkit::TestHost;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};

pub(crate) const OPENAI_KEY: &str = "sk-proxy-test-0123456789abcdef";
pub(crate) const OPENAI: &str = "api.openai.com";
pub(crate) const PASSTHROUGH: &str = "example.test";

pub(crate) const PROFILE: &str = r#"{
  "tenant": "acme", "profile": "proxy-test", "version": 1,
  "targets": [{"id": "openai", "key": "openai::openai-default"}],
  "connections": [{"id": "openai-key", "target": "openai", "method": "api-key"}],
  "bindings": [{"id": "agent", "kind": "agent", "connection": "openai-key",
                "config": {"runtime": "codex-cli", "model": "gpt-5-codex"}}]
}"#;

type Body = BoxBody<Bytes, std::io::Error>;

/// A test CA for upstream servers.
pub(crate) struct Pki {
    pub(crate) cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    pub(crate) fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "upstream test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    pub(crate) fn cert_der(&self) -> rustls_pki_types::CertificateDer<'static> {
        use rustls_pki_types::pem::PemObject as _;
        rustls_pki_types::CertificateDer::from_pem_slice(self.cert_pem.as_bytes()).unwrap()
    }

    fn server_config(&self, names: &[&str]) -> Arc<rustls::ServerConfig> {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.subject_alt_names = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*n).try_into().unwrap()),
            })
            .collect();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let private = rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], private)
        .unwrap();
        Arc::new(config)
    }
}

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
}

impl Recorded {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

#[derive(Default)]
pub(crate) struct UpstreamState {
    recorded: Mutex<Vec<Recorded>>,
    accepted: Mutex<HashSet<String>>,
    pub(crate) sse_step: Notify,
    pub(crate) open_streams: AtomicI64,
    pub(crate) upload_started: Notify,
    pub(crate) uploaded: AtomicU64,
    /// TCP connections accepted.
    pub(crate) connections: AtomicU64,
}

/// The local TLS upstream.
pub(crate) struct Upstream {
    pub(crate) addr: SocketAddr,
    pub(crate) state: Arc<UpstreamState>,
}

impl Upstream {
    pub(crate) async fn start(pki: &Pki) -> Self {
        Self::start_at(pki, "127.0.0.1:0", &[OPENAI, PASSTHROUGH]).await
    }

    /// An upstream listening on `addr` with a certificate for `names` (IP addresses
    /// become IP subject alternative names).
    pub(crate) async fn start_at(pki: &Pki, addr: &str, names: &[&str]) -> Self {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(UpstreamState::default());
        state.accepted.lock().unwrap().insert(OPENAI_KEY.to_owned());
        let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config(names));
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = service_fn(move |req| handle(Arc::clone(&state), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self { addr, state }
    }

    pub(crate) fn recorded(&self) -> Vec<Recorded> {
        self.state.recorded.lock().unwrap().clone()
    }

    /// How many TCP connections the upstream accepted.
    pub(crate) fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }

    pub(crate) fn accept_only(&self, key: &str) {
        let mut accepted = self.state.accepted.lock().unwrap();
        accepted.clear();
        accepted.insert(key.to_owned());
    }
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from(value.to_string()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
        .headers_mut()
        .insert("x-request-id", "req_0123456789abcdef".parse().unwrap());
    response
}

fn delta(n: usize) -> Bytes {
    Bytes::from(format!(
        "event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\"delta\":\"token{n}\"}}\n\n"
    ))
}

struct OpenStream(Arc<UpstreamState>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.open_streams.fetch_sub(1, Ordering::SeqCst);
    }
}

fn sse(rx: mpsc::Receiver<Bytes>, guard: Option<OpenStream>) -> Response<Body> {
    let body = StreamBody::new(stream::unfold((rx, guard), |(mut rx, guard)| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok(Frame::data(chunk)), (rx, guard)))
    }));
    let mut response = Response::new(BodyExt::boxed(body));
    response
        .headers_mut()
        .insert("content-type", "text/event-stream".parse().unwrap());
    response
}

use http_body_util::BodyExt;

async fn handle(
    state: Arc<UpstreamState>,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::convert::Infallible> {
    state.recorded.lock().unwrap().push(Recorded {
        method: req.method().to_string(),
        path: req
            .uri()
            .path_and_query()
            .map(ToString::to_string)
            .unwrap_or_default(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("<binary>").to_owned()))
            .collect(),
    });
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|key| state.accepted.lock().unwrap().contains(key));
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    if path.starts_with("/v1/") && !authorized {
        return Ok(json(
            StatusCode::UNAUTHORIZED,
            &serde_json::json!({"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
        ));
    }
    let response = match path.as_str() {
        "/v1/models" => json(
            StatusCode::OK,
            &serde_json::json!({"object": "list", "data": [{"id": "gpt-5", "object": "model", "created": 1_754_425_777, "owned_by": "system"}]}),
        ),
        "/v1/responses" => {
            let (tx, rx) = mpsc::channel(4);
            let gated = query.contains("gated");
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                for n in 0..3 {
                    if n > 0 {
                        if gated {
                            state.sse_step.notified().await;
                        } else {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                    if tx.send(delta(n)).await.is_err() {
                        return;
                    }
                }
                let _ = tx.send(Bytes::from_static(b"data: [DONE]\n\n")).await;
            });
            sse(rx, None)
        }
        "/v1/hang" => {
            let (tx, rx) = mpsc::channel(4);
            state.open_streams.fetch_add(1, Ordering::SeqCst);
            let guard = OpenStream(Arc::clone(&state));
            tokio::spawn(async move {
                let _ = tx.send(delta(0)).await;
                tx.closed().await;
            });
            sse(rx, Some(guard))
        }
        "/echo-redirect" => {
            // Keeps the query, as many APIs do when they redirect.
            let mut response = json(StatusCode::MOVED_PERMANENTLY, &serde_json::json!({}));
            let target = format!("https://{OPENAI}{}", req.uri().path_and_query().unwrap());
            for name in ["location", "content-location", "refresh"] {
                response.headers_mut().insert(name, target.parse().unwrap());
            }
            response
        }
        "/v1/posing" => {
            // An upstream whose answer looks like one of the proxy's refusals.
            let mut response = json(
                StatusCode::PROXY_AUTHENTICATION_REQUIRED,
                &serde_json::json!({}),
            );
            let headers = response.headers_mut();
            headers.insert(
                integrations_proxy::ERROR_HEADER,
                "egress.grant_expired".parse().unwrap(),
            );
            headers.insert(
                "proxy-authenticate",
                "Basic realm=\"upstream\"".parse().unwrap(),
            );
            response
        }
        "/v1/slow" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            json(StatusCode::OK, &serde_json::json!({}))
        }
        "/v1/upload" => {
            let mut body = req.into_body();
            let mut total = 0_u64;
            let mut signalled = false;
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else { break };
                if let Some(data) = frame.data_ref() {
                    total += data.len() as u64;
                    if !signalled && total >= 1 << 20 {
                        signalled = true;
                        state.upload_started.notify_one();
                    }
                }
            }
            state.uploaded.store(total, Ordering::SeqCst);
            json(StatusCode::OK, &serde_json::json!({"bytes": total}))
        }
        _ => {
            let mut response = Response::new(Empty::new().map_err(|never| match never {}).boxed());
            *response.body_mut() = Full::new(Bytes::from_static(b"plain"))
                .map_err(|never| match never {})
                .boxed();
            response
        }
    };
    Ok(response)
}

/// Changes the compiled plan before the proxy serves it (and grants are issued).
pub(crate) type PlanEdit = Box<dyn FnOnce(&mut CompiledRuntimePlan) + Send>;

pub(crate) struct Options {
    pub(crate) passthrough: bool,
    pub(crate) edit_plan: Option<PlanEdit>,
    pub(crate) allow_loopback: bool,
    pub(crate) openai_addr: Option<SocketAddr>,
    pub(crate) credentials: Option<Arc<dyn CredentialSource>>,
    pub(crate) config: ProxyConfig,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            passthrough: true,
            edit_plan: None,
            allow_loopback: true,
            openai_addr: None,
            credentials: None,
            config: ProxyConfig::new(),
        }
    }
}

pub(crate) struct Fixture {
    pub(crate) test: TestHost,
    pub(crate) plan: CompiledRuntimePlan,
    pub(crate) keys: GrantKeys,
    pub(crate) proxy: Option<ProxyHandle>,
    pub(crate) upstream: Upstream,
    pub(crate) pki: Pki,
    pub(crate) proxy_ca_pem: String,
}

pub(crate) async fn plan_and_host() -> (TestHost, CompiledRuntimePlan, Arc<TokenManager>) {
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
            .with_secret("api_key", OPENAI_KEY),
        )
        .await
        .unwrap();
    let plan = compile(&registry, &ProfileInput::from_json(PROFILE).unwrap()).unwrap();
    let tokens = Arc::new(TokenManager::new(registry, test.host().clone()));
    (test, plan, tokens)
}

/// Every tracing event of every test in this binary, captured by one global subscriber
/// (installed by the first fixture) so tests can prove no secret is ever logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();

fn init_logs() -> &'static Captured {
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        captured
    })
}

/// Everything logged so far by every test.
pub(crate) fn logs() -> String {
    String::from_utf8_lossy(&init_logs().0.lock().unwrap()).into_owned()
}

impl Fixture {
    pub(crate) async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub(crate) async fn start_with(options: Options) -> Self {
        init_logs();
        let pki = Pki::new();
        let upstream = Upstream::start(&pki).await;
        let (test, mut plan, tokens) = plan_and_host().await;
        if let Some(edit) = options.edit_plan {
            edit(&mut plan);
        }
        let keys = GrantKeys::new(GrantKey::generate("k1").unwrap());
        let generated = CertificateAuthority::generate("proxy test CA").unwrap();
        let ca = CertificateAuthority::from_pem(&generated.cert_pem, &generated.key_pem).unwrap();
        let mut config = options
            .config
            .allow_loopback(options.allow_loopback)
            .with_extra_root(pki.cert_der())
            .with_upstream_override(
                OPENAI,
                UpstreamOverride::tls(options.openai_addr.unwrap_or(upstream.addr)),
            )
            .unwrap();
        if options.passthrough {
            config = config
                .with_passthrough_host(PASSTHROUGH)
                .unwrap()
                .with_upstream_override(PASSTHROUGH, UpstreamOverride::tls(upstream.addr))
                .unwrap();
        }
        let credentials = options.credentials.unwrap_or(tokens);
        let proxy = Proxy::new(
            &plan,
            keys.clone(),
            ca,
            test.host().clone(),
            credentials,
            config,
        )
        .unwrap()
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
        Self {
            test,
            plan,
            keys,
            proxy: Some(proxy),
            upstream,
            pki,
            proxy_ca_pem: generated.cert_pem,
        }
    }

    pub(crate) fn proxy(&self) -> &ProxyHandle {
        self.proxy.as_ref().unwrap()
    }

    pub(crate) fn claims(&self) -> GrantClaims {
        GrantClaims::for_route(
            &self.plan.egress_routes[0],
            &GrantAudience::for_plan(&self.plan),
            self.test.clock.now(),
            Duration::from_secs(3600),
        )
        .unwrap()
    }

    pub(crate) fn grant(&self) -> String {
        self.keys.issue(&self.claims()).unwrap().expose().to_owned()
    }

    pub(crate) fn proxy_url(&self, grant: &str) -> String {
        format!("http://sandbox:{grant}@{}", self.proxy().local_addr())
    }

    /// A client configured only with the proxy URL and the two CAs (the proxy's, and the
    /// upstream's for blind tunnels).
    pub(crate) fn client(&self, grant: &str) -> reqwest::Client {
        reqwest::Client::builder()
            .proxy(reqwest::Proxy::all(self.proxy_url(grant)).unwrap())
            .tls_certs_only([
                reqwest::Certificate::from_pem(self.proxy_ca_pem.as_bytes()).unwrap(),
                reqwest::Certificate::from_pem(self.pki.cert_pem.as_bytes()).unwrap(),
            ])
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap()
    }

    /// Waits until the proxy has no connection, tunnel or request in flight.
    pub(crate) async fn settled(&self) -> integrations_proxy::MetricsSnapshot {
        for _ in 0..500 {
            let m = self.proxy().metrics();
            if m.connections == 0 && m.tunnels == 0 && m.in_flight == 0 {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.proxy().metrics()
    }
}

/// A raw `CONNECT` through hyper's client: the status, the error code header and body.
pub(crate) async fn raw_connect(
    proxy: SocketAddr,
    authority: &str,
    proxy_authorization: Option<String>,
) -> (StatusCode, Option<String>, String) {
    let tcp = tokio::net::TcpStream::connect(proxy).await.unwrap();
    raw_connect_on(tcp, authority, proxy_authorization).await
}

/// [`raw_connect`] on a connection already open to the proxy.
pub(crate) async fn raw_connect_on(
    tcp: tokio::net::TcpStream,
    authority: &str,
    proxy_authorization: Option<String>,
) -> (StatusCode, Option<String>, String) {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn.with_upgrades());
    let mut request = Request::connect(authority)
        .header("host", authority)
        .body(Empty::<Bytes>::new())
        .unwrap();
    if let Some(value) = proxy_authorization {
        request
            .headers_mut()
            .insert("proxy-authorization", value.parse().unwrap());
    }
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    let code = response
        .headers()
        .get(integrations_proxy::ERROR_HEADER)
        .map(|v| v.to_str().unwrap().to_owned());
    if status.is_success() {
        return (status, code, String::new());
    }
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, code, String::from_utf8_lossy(&body).into_owned())
}

/// A `CONNECT` tunnel through the proxy, opened with `proxy_authorization`.
pub(crate) async fn open_tunnel(
    proxy: SocketAddr,
    authority: &str,
    proxy_authorization: String,
) -> TokioIo<hyper::upgrade::Upgraded> {
    let tcp = tokio::net::TcpStream::connect(proxy).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn.with_upgrades());
    let request = Request::connect(authority)
        .header("host", authority)
        .header("proxy-authorization", proxy_authorization)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    TokioIo::new(hyper::upgrade::on(response).await.unwrap())
}

/// A plain-HTTP request in absolute form (`GET url`) with a `Host` header for each of
/// `hosts`, as a sandbox can write it: the status and refusal code.
pub(crate) async fn raw_absolute_get(
    proxy: SocketAddr,
    url: &str,
    hosts: &[&str],
    proxy_authorization: String,
) -> (StatusCode, Option<String>) {
    let tcp = tokio::net::TcpStream::connect(proxy).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut request = Request::get(url);
    for host in hosts {
        request = request.header("host", *host);
    }
    let request = request
        .header("proxy-authorization", proxy_authorization)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let code = response
        .headers()
        .get(integrations_proxy::ERROR_HEADER)
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status(), code)
}

pub(crate) fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// The refusal code header of a response.
pub(crate) fn code(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(integrations_proxy::ERROR_HEADER)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// The proxy's `credential.used` records (`via=egress_proxy`), once there are at least
/// `wanted` of them (or after two seconds), and after a short pause for strays.
pub(crate) async fn proxied_records(
    fx: &Fixture,
    wanted: usize,
) -> Vec<integrations_core::host::AuditEvent> {
    let read = || {
        fx.test
            .audit
            .with_action("credential.used")
            .into_iter()
            .filter(|e| e.detail.get("via").map(String::as_str) == Some("egress_proxy"))
            .collect::<Vec<_>>()
    };
    for _ in 0..200 {
        if read().len() >= wanted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    read()
}
