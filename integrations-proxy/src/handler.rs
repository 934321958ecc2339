//! What the proxy does with each request: `CONNECT` (intercept, tunnel blind, or
//! refuse), absolute-form plain HTTP, and the requests inside an intercepted tunnel.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, PROXY_AUTHORIZATION};
use http::{HeaderMap, HeaderName, Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt as _, Empty, Full, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::upgrade::Upgraded;
use hyper_util::rt::{TokioIo, TokioTimer};
use integrations_core::Timestamp;
use integrations_core::credential::CredentialRequest;
use integrations_core::host::{AuditAction, AuditEvent, AuditOutcome};
use integrations_core::plan::CompiledRoute;
use percent_encoding::percent_decode;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::Instrument as _;

use crate::body::{Guarded, ProxyBody, boxed};
use crate::destination;
use crate::gate::{Grants, PlanState, host_of, prepare, uri_host};
use crate::refusal::Refusal;
use crate::server::{Phase, Shared, until};
use crate::tunnel::{Activity, Watched};
use crate::upstream::refusal_for;

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
];

fn empty() -> ProxyBody {
    boxed(Empty::<Bytes>::new())
}

/// Serves one request on a client connection.
pub(crate) async fn outer(
    shared: Arc<Shared>,
    request: Request<Incoming>,
    _peer: SocketAddr,
    slot: Slot,
) -> Result<Response<ProxyBody>, Infallible> {
    let result = if request.method() == Method::CONNECT {
        connect(Arc::clone(&shared), request, slot).await
    } else {
        absolute(Arc::clone(&shared), request).await
    };
    Ok(result.unwrap_or_else(|refusal| refuse(&shared, None, refusal)))
}

fn refuse(shared: &Shared, route: Option<&str>, refusal: Refusal) -> Response<ProxyBody> {
    shared.metrics.count(route, &refusal.code);
    tracing::info!(
        target: "integrations::proxy",
        route = route.unwrap_or("-"),
        status = refusal.status.as_u16(),
        code = %refusal.code,
        "request refused"
    );
    refusal.into_response()
}

enum Mode {
    Intercept(Arc<rustls::ServerConfig>),
    Blind(TcpStream),
}

/// A client connection's place under [`ProxyConfig::max_connections`](crate::ProxyConfig)
/// and its address's share, held by the connection and by every tunnel it opens.
pub(crate) type Slot = Arc<crate::server::Place>;

async fn connect(
    shared: Arc<Shared>,
    request: Request<Incoming>,
    slot: Slot,
) -> Result<Response<ProxyBody>, Refusal> {
    let bad = || {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            crate::codes::refusal::BAD_CONNECT,
            "CONNECT names host:port",
        )
    };
    let authority = request.uri().authority().ok_or_else(bad)?.clone();
    let port = authority.port_u16().ok_or_else(bad)?;
    let host = host_of(authority.host())?;
    let grants = Grants::from_header(request.headers().get(PROXY_AUTHORIZATION))?;
    // Watched from before the plan is read, so a blind tunnel also hears of a reload
    // that lands while it opens.
    let mut plans = shared.plan_changes();
    let plan = Arc::clone(&plans.borrow_and_update());
    let expires_at = plan.verify(&grants, shared.host.clock())?;
    let mode = if let Some(ports) = plan.managed_ports(&host) {
        if !ports.contains(&port) {
            return Err(Refusal::forbidden(
                crate::codes::refusal::PORT_NOT_ALLOWED,
                format!("the routes of {host} do not use port {port}"),
            ));
        }
        let config = shared
            .leaves
            .config_for(&host)
            .map_err(|e| Refusal::with_status(StatusCode::INTERNAL_SERVER_ERROR, &e))?;
        Mode::Intercept(config)
    } else if shared.config.passthrough_hosts.contains(&host) {
        passthrough_port(&shared.config, &host, port)?;
        let addrs = destination::resolve(&host, port, &shared.config).await?;
        let stream = tokio::time::timeout(
            shared.config.connect_timeout,
            TcpStream::connect(addrs.as_slice()),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| {
            Refusal::bad_gateway(
                crate::codes::refusal::UPSTREAM_UNREACHABLE,
                "the destination could not be reached",
            )
        })?;
        let _ = stream.set_nodelay(true);
        Mode::Blind(stream)
    } else {
        return Err(Refusal::forbidden(
            crate::codes::refusal::HOST_NOT_ALLOWED,
            format!("the plan has no route or passthrough for {host}"),
        ));
    };
    let outcome = match &mode {
        Mode::Intercept(_) => "tunnel_intercepted",
        Mode::Blind(_) => "tunnel_blind",
    };
    shared.metrics.count(None, outcome);
    let tunnel = shared.metrics.tunnel();
    tokio::spawn(
        async move {
            let Ok(upgraded) = hyper::upgrade::on(request).await else {
                return;
            };
            match mode {
                Mode::Intercept(config) => {
                    intercept(shared, upgraded, (host, port), config, grants).await;
                }
                Mode::Blind(stream) => {
                    let opened = Opened {
                        host,
                        grants,
                        expires_at,
                        plans,
                    };
                    blind(&shared, upgraded, stream, opened).await;
                }
            }
            drop((tunnel, slot));
        }
        .in_current_span(),
    );
    Ok(Response::new(empty()))
}

/// What a blind tunnel was opened for, and with.
struct Opened {
    host: String,
    grants: Grants,
    /// When the last of its grants expires.
    expires_at: Timestamp,
    /// The plans loaded since the one it was opened under.
    plans: watch::Receiver<Arc<PlanState>>,
}

/// Carries bytes both ways until either side closes, the tunnel idles, the proxy
/// closes, the grants it was opened with expire (nothing else authorizes a blind
/// tunnel's traffic, so it ends with them), or a reloaded plan would not open it.
async fn blind(shared: &Shared, upgraded: Upgraded, stream: TcpStream, mut opened: Opened) {
    let activity = Activity::new();
    let mut client = Watched::new(TokioIo::new(upgraded), &activity);
    let mut upstream = Watched::new(stream, &activity);
    let copy = tokio::io::copy_bidirectional(&mut client, &mut upstream);
    tokio::pin!(copy);
    // When the last of its grants valid for the plan served now expires.
    let mut deadline = opened.expires_at;
    loop {
        let valid_for = deadline.duration_since(shared.host.clock().now());
        tokio::select! {
            _ = &mut copy => return,
            () = activity.idle_for(shared.config.tunnel_idle_timeout) => {
                shared.metrics.count(None, "proxy.tunnel_idle");
                tracing::info!(target: "integrations::proxy", "idle blind tunnel closed");
                return;
            }
            () = tokio::time::sleep(valid_for) => {
                shared.metrics.count(None, "proxy.tunnel_grant_expired");
                tracing::info!(target: "integrations::proxy", "blind tunnel closed: its grants expired");
                return;
            }
            () = until(&shared.phase, Phase::Closing) => return,
            // The sender lives in `shared`, which outlives this tunnel.
            Ok(()) = opened.plans.changed() => {
                let plan = Arc::clone(&opened.plans.borrow_and_update());
                match plan.verify(&opened.grants, shared.host.clock()) {
                    // Still opened under the new plan: until its grants for it expire.
                    Ok(expires_at) if plan.managed_ports(&opened.host).is_none() => {
                        deadline = expires_at;
                    }
                    _ => {
                        shared.metrics.count(None, "proxy.tunnel_plan_changed");
                        tracing::info!(target: "integrations::proxy", "blind tunnel closed: the reloaded plan does not allow it");
                        return;
                    }
                }
            }
        }
    }
}

async fn intercept(
    shared: Arc<Shared>,
    upgraded: Upgraded,
    (host, port): (String, u16),
    config: Arc<rustls::ServerConfig>,
    grants: Grants,
) {
    let accept = TlsAcceptor::from(config).accept(TokioIo::new(upgraded));
    let Ok(Ok(stream)) = tokio::time::timeout(shared.config.header_read_timeout, accept).await
    else {
        return;
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.config.header_read_timeout)
        .max_buf_size(shared.config.max_header_bytes.max(8192));
    if let Some(sni) = stream.get_ref().1.server_name()
        && host_of(sni).ok().as_deref() != Some(host.as_str())
    {
        // The client asked the TLS layer for another host than it named in CONNECT:
        // answer its first request with the refusal, contact no upstream, close.
        let service = service_fn(|_request| {
            let refusal = Refusal::new(
                StatusCode::MISDIRECTED_REQUEST,
                crate::codes::refusal::SNI_MISMATCH,
                "the TLS server name differs from the CONNECT host",
            );
            std::future::ready(Ok::<_, Infallible>(refuse(&shared, None, refusal)))
        });
        let conn = builder
            .keep_alive(false)
            .serve_connection(TokioIo::new(stream), service);
        let _ = tokio::time::timeout(shared.config.header_read_timeout, conn).await;
        return;
    }
    let service = {
        let shared = Arc::clone(&shared);
        service_fn(move |request| {
            let shared = Arc::clone(&shared);
            let host = host.clone();
            let grants = grants.clone();
            async move {
                let result = inner(Arc::clone(&shared), request, (&host, port), &grants).await;
                Ok::<_, Infallible>(result.unwrap_or_else(|r| refuse(&shared, None, r)))
            }
        })
    };
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = until(&shared.phase, Phase::Draining) => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                _ = conn.as_mut() => {}
                () = until(&shared.phase, Phase::Closing) => {}
            }
        }
    }
}

/// The request's one `Host` header, if any; `Err` for several (an upstream may read
/// another than the first).
fn one_host(headers: &HeaderMap) -> Result<Option<&http::HeaderValue>, ()> {
    let mut hosts = headers.get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        (host, None) => Ok(host),
        _ => Err(()),
    }
}

/// Whether `authority` names the tunnel's `host` (and its `port`, when it names one).
fn names_tunnel(authority: &str, host: &str, port: u16) -> Result<bool, Refusal> {
    let Ok(authority) = authority.parse::<http::uri::Authority>() else {
        return Ok(false);
    };
    Ok(host_of(authority.host())? == host && authority.port_u16().is_none_or(|p| p == port))
}

/// A request inside an intercepted tunnel to `host:port`.
async fn inner(
    shared: Arc<Shared>,
    request: Request<Incoming>,
    (host, port): (&str, u16),
    grants: &Grants,
) -> Result<Response<ProxyBody>, Refusal> {
    let mismatch = || {
        Refusal::forbidden(
            crate::codes::refusal::HOST_MISMATCH,
            "the request names another host than the tunnel",
        )
    };
    if let Some(value) = one_host(request.headers()).map_err(|()| mismatch())? {
        let named = value.to_str().map_err(|_| mismatch())?;
        if !names_tunnel(named, host, port)? {
            return Err(mismatch());
        }
    }
    if let Some(authority) = request.uri().authority()
        && !names_tunnel(authority.as_str(), host, port)?
    {
        return Err(mismatch());
    }
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str)
        .to_owned();
    let plan = shared.plan();
    forward_managed(&shared, &plan, request, host, &path, grants).await
}

/// An absolute-form request (plain HTTP).
async fn absolute(
    shared: Arc<Shared>,
    mut request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Refusal> {
    let uri = request.uri().clone();
    let (Some("http"), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            crate::codes::refusal::NOT_A_PROXY_REQUEST,
            "send CONNECT host:port or an absolute http:// URL",
        ));
    };
    let host = host_of(authority.host())?;
    let grants = Grants::from_header(request.headers().get(PROXY_AUTHORIZATION))?;
    let plan = shared.plan();
    plan.verify(&grants, shared.host.clock())?;
    if let Some(ports) = plan.managed_ports(&host) {
        // As for CONNECT, a port the routes do not use is refused; plain HTTP's own
        // port (named or not) is the scheme's, and the request goes to the route's
        // upstream.
        if let Some(port) = authority.port_u16()
            && port != 80
            && !ports.contains(&port)
        {
            return Err(Refusal::forbidden(
                crate::codes::refusal::PORT_NOT_ALLOWED,
                format!("the routes of {host} do not use port {port}"),
            ));
        }
        let path = uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str)
            .to_owned();
        return forward_managed(&shared, &plan, request, &host, &path, &grants).await;
    }
    if !shared.config.passthrough_hosts.contains(&host) {
        return Err(Refusal::forbidden(
            crate::codes::refusal::HOST_NOT_ALLOWED,
            format!("the plan has no route or passthrough for {host}"),
        ));
    }
    let port = authority.port_u16().unwrap_or(80);
    passthrough_port(&shared.config, &host, port)?;
    // The upstream reads `Host` (a proxy must not forward another than the URL's): one
    // naming another host would reach it at this host's address (a shared front end).
    let named = one_host(request.headers()).map(|value| {
        value.map(|value| {
            value
                .to_str()
                .ok()
                .is_some_and(|named| names_tunnel(named, &host, port).unwrap_or(false))
        })
    });
    if !matches!(named, Ok(None | Some(true))) {
        return Err(Refusal::forbidden(
            crate::codes::refusal::HOST_MISMATCH,
            "the Host header names another host than the request's URL",
        ));
    }
    strip_hop_by_hop(request.headers_mut());
    let (mut parts, body) = request.into_parts();
    parts.version = Version::HTTP_11;
    let guard = shared.metrics.in_flight();
    let response = send(&shared, Request::from_parts(parts, boxed(body))).await?;
    shared.metrics.count(None, "passthrough");
    Ok(respond(response, guard))
}

/// The sandbox's answer to a store failure behind `route`: `proxy.store_failed` with a
/// fixed message; the error, with its source (a database's own message), goes to the
/// host's log.
fn store_failed(
    route: &CompiledRoute,
    what: &'static str,
    error: &integrations_core::Error,
) -> Refusal {
    tracing::warn!(
        target: "integrations::proxy",
        route = %route.id,
        code = error.code(),
        error = error.message(),
        source = std::error::Error::source(error).map(ToString::to_string),
        "{what}"
    );
    Refusal::bad_gateway(
        crate::codes::refusal::STORE_FAILED,
        format!("{what}; retry"),
    )
}

/// Refuses a port of a passthrough host the config does not open.
fn passthrough_port(config: &crate::ProxyConfig, host: &str, port: u16) -> Result<(), Refusal> {
    if config.passthrough_ports.contains(&port) {
        return Ok(());
    }
    Err(Refusal::forbidden(
        crate::codes::refusal::PORT_NOT_ALLOWED,
        format!("passthrough hosts such as {host} are not reached on port {port}"),
    ))
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(PROXY_AUTHORIZATION);
}

fn respond(response: Response<Incoming>, guard: crate::metrics::GaugeGuard) -> Response<ProxyBody> {
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    // Only the proxy's own refusals carry its code, and it asks for no authentication:
    // an upstream's would pass for a refusal (an expired grant, say) to the sandbox.
    parts.headers.remove(crate::refusal::ERROR_HEADER);
    parts.headers.remove(http::header::PROXY_AUTHENTICATE);
    Response::from_parts(parts, boxed(Guarded::new(body, guard)))
}

async fn send(shared: &Shared, request: Request<ProxyBody>) -> Result<Response<Incoming>, Refusal> {
    match tokio::time::timeout(
        shared.config.response_timeout,
        shared.client.request(request),
    )
    .await
    {
        Err(_) => Err(Refusal::new(
            StatusCode::GATEWAY_TIMEOUT,
            crate::codes::refusal::UPSTREAM_TIMEOUT,
            "the upstream did not answer in time",
        )),
        Ok(Err(e)) => Err(refusal_for(&e)),
        Ok(Ok(response)) => Ok(response),
    }
}

/// What a forwarded request is made from, kept so it can be made twice (401 retry).
struct Template {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

impl Template {
    fn build(
        &self,
        shared: &Shared,
        route: &CompiledRoute,
        credential: &integrations_core::Secret,
        body: ProxyBody,
    ) -> Result<Request<ProxyBody>, Refusal> {
        let mut probe = Request::new(Bytes::new());
        *probe.method_mut() = self.method.clone();
        *probe.uri_mut() = self.uri.clone();
        *probe.headers_mut() = self.headers.clone();
        let mut parts = prepare(probe, route, credential)?;
        strip_hop_by_hop(&mut parts.headers);
        parts.version = Version::HTTP_11;
        if let Some(upstream_host) = parts.uri.host()
            && shared
                .config
                .overrides
                .get(upstream_host)
                .is_some_and(|o| o.plaintext)
        {
            let mut uri = parts.uri.clone().into_parts();
            uri.scheme = Some(http::uri::Scheme::HTTP);
            parts.uri = Uri::from_parts(uri).map_err(|_| {
                Refusal::bad_gateway(
                    integrations_core::codes::egress::INVALID_UPSTREAM,
                    "the upstream is not a URL",
                )
            })?;
        }
        Ok(Request::from_parts(parts, body))
    }
}

/// The path a credential use is audited under: the request's path as the route was
/// matched on it and as it goes upstream (dot segments resolved, no query), not as the
/// sandbox wrote it. A request whose path did not normalize never gets here (it was
/// refused before); were one to, its raw path is kept.
fn audited_path(method: &str, host: &str, path_and_query: &str) -> String {
    let path = path_and_query.split('?').next().unwrap_or_default();
    integrations_core::egress::RequestTarget::new(method, host, path)
        .map_or_else(|_| path.to_owned(), |target| target.path().to_owned())
}

/// Whether a response header holds `secret`: as is, percent-encoded once or twice (a
/// redirect that keeps a query-injected key in `Location`, a `Link` or `Refresh`
/// echoing the URL, one that encodes it again), or in base64 (an upstream echoing the
/// `Authorization: Basic` it was sent, standard or URL-safe alphabet). Every header is
/// checked, not only those that carry URLs.
fn leaks(headers: &HeaderMap, secret: &integrations_core::Secret) -> bool {
    let secret = secret.expose().as_bytes();
    if secret.is_empty() {
        return false;
    }
    let holds = |haystack: &[u8]| haystack.windows(secret.len()).any(|w| w == secret);
    headers.values().any(|value| {
        let raw = value.as_bytes();
        holds(raw)
            || base64_decodings(raw).any(|d| holds(&d))
            || percent_decodings(raw).any(|d| holds(&d) || base64_decodings(&d).any(|b| holds(&b)))
    })
}

/// `raw` percent-decoded once and twice, each with and without `+` read as a space (as a
/// query string carries it).
fn percent_decodings(raw: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let encoded = |bytes: &[u8]| bytes.iter().any(|b| matches!(b, b'%' | b'+'));
    let decode = |bytes: &[u8], plus: bool| -> Vec<u8> {
        if plus {
            let spaced: Vec<u8> = bytes
                .iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect();
            percent_decode(&spaced).collect()
        } else {
            percent_decode(bytes).collect()
        }
    };
    [false, true]
        .into_iter()
        .filter(move |_| encoded(raw))
        .flat_map(move |plus| {
            let once = decode(raw, plus);
            let twice = encoded(&once).then(|| decode(&once, plus));
            std::iter::once(once).chain(twice)
        })
}

/// The base64 words of `raw` decoded: each run of base64 characters (either alphabet;
/// padding ends a word) of at least four, decoded from each of its first four offsets
/// (a word may be glued to a prefix, as `x_<base64>`), trailing bits allowed.
fn base64_decodings(raw: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    use base64::Engine as _;
    use base64::alphabet::{STANDARD, URL_SAFE};
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let config = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    let engines = [
        GeneralPurpose::new(&STANDARD, config),
        GeneralPurpose::new(&URL_SAFE, config),
    ];
    raw.split(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_')))
        .filter(|word| word.len() >= 4)
        .flat_map(|word| (0..4).filter_map(move |skip| word.get(skip..)))
        .map(|word| {
            // A length of 4n + 1 holds no whole byte in its last character.
            let whole = if word.len() % 4 == 1 {
                word.len() - 1
            } else {
                word.len()
            };
            &word[..whole]
        })
        .filter(|word| word.len() >= 4)
        .flat_map(move |word| {
            engines
                .clone()
                .into_iter()
                .filter_map(move |engine| engine.decode(word).ok())
        })
}

fn secret_in_response() -> Refusal {
    Refusal::bad_gateway(
        crate::codes::refusal::SECRET_IN_RESPONSE,
        "the upstream's response headers hold the injected credential",
    )
}

/// Methods retried once after a 401. `TRACE` is not one: it is never forwarded.
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    )
}

/// Methods never sent with a credential, whatever the route allows: `TRACE` and `TRACK`
/// make an upstream echo the request (credential included) back, and `CONNECT` inside
/// an intercepted tunnel would open a tunnel the proxy cannot see into.
/// Compared without regard to case: the matcher refuses a lower-case method, and this
/// never depends on it.
fn refuses_credential(method: &Method) -> bool {
    ["TRACE", "TRACK", "CONNECT"]
        .iter()
        .any(|refused| method.as_str().eq_ignore_ascii_case(refused))
}

/// Classifies, injects and forwards a request to a managed host.
async fn forward_managed(
    shared: &Arc<Shared>,
    plan: &PlanState,
    request: Request<Incoming>,
    host: &str,
    path: &str,
    grants: &Grants,
) -> Result<Response<ProxyBody>, Refusal> {
    let started = Instant::now();
    if refuses_credential(request.method()) {
        return Err(Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            crate::codes::refusal::METHOD_REFUSED,
            format!("{} is never sent with a credential", request.method()),
        ));
    }
    let route = plan.authorize(request.method(), host, path, grants, shared.host.clock())?;
    let span = tracing::info_span!(
        target: "integrations::proxy",
        "egress",
        route = %route.id,
        method = %request.method(),
        host = %host,
        status = tracing::field::Empty,
    );
    let id = route.id.as_str();
    async move {
        match forward_route(shared, plan, request, host, path, route, started).await {
            Ok(response) => {
                tracing::Span::current().record("status", response.status().as_u16());
                tracing::info!(target: "integrations::proxy", "request forwarded");
                shared.metrics.count(Some(id), "forwarded");
                Ok(response)
            }
            Err(refusal) => Ok(refuse(shared, Some(id), refusal)),
        }
    }
    .instrument(span)
    .await
}

async fn forward_route(
    shared: &Arc<Shared>,
    plan: &PlanState,
    request: Request<Incoming>,
    host: &str,
    path: &str,
    route: &CompiledRoute,
    started: Instant,
) -> Result<Response<ProxyBody>, Refusal> {
    let connection = shared
        .connections
        .get(&shared.host, plan.tenant(), &route.connection)
        .await
        .map_err(|e| store_failed(route, "the route's connection could not be read", &e))?
        .ok_or_else(|| {
            Refusal::forbidden(
                integrations_core::codes::auth::CONNECTION_NOT_FOUND,
                format!("the connection of route {} does not exist", route.id),
            )
        })?;
    // The check `inject` makes: the route's connection (not another integration's made
    // under its id), and active.
    integrations_core::egress::check_connection(route, &connection)
        .map_err(|e| Refusal::with_status(StatusCode::FORBIDDEN, &e))?;
    let wanted = CredentialRequest::new(&connection, &route.credential);
    let credential = shared.credentials.credential(&wanted).await.map_err(|e| {
        if e.kind() == integrations_core::ErrorKind::Storage {
            store_failed(route, "the route's credential could not be read", &e)
        } else {
            Refusal::with_status(StatusCode::BAD_GATEWAY, &e)
        }
    })?;

    let (parts, body) = request.into_parts();
    let template = Template {
        method: parts.method,
        uri: format!("https://{}{path}", uri_host(host))
            .parse()
            .map_err(|_| {
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    integrations_core::codes::egress::INVALID_REQUEST,
                    "the request URL is not valid",
                )
            })?,
        headers: parts.headers,
    };
    let limit = shared.config.retry_body_limit;
    let declared = template
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let replayable = is_idempotent(&template.method)
        && (body.is_end_stream() || declared.is_some_and(|n| n <= limit));
    let (first_body, kept) = if replayable {
        let collect = Limited::new(body, limit).collect();
        let bytes = tokio::time::timeout(shared.config.body_read_timeout, collect)
            .await
            .map_err(|_| {
                Refusal::new(
                    StatusCode::REQUEST_TIMEOUT,
                    crate::codes::refusal::BODY_TIMEOUT,
                    "the request body did not arrive in time",
                )
            })?
            .map_err(|_| {
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    crate::codes::refusal::BODY_FAILED,
                    "the request body could not be read",
                )
            })?
            .to_bytes();
        (boxed(Full::new(bytes.clone())), Some(bytes))
    } else {
        (boxed(body), None)
    };

    let request = template.build(shared, route, &credential.value, first_body)?;
    let guard = shared.metrics.in_flight();
    // From here the credential has left: the request is audited whatever happens next,
    // even if this future is dropped (the sandbox closed its connection).
    let mut used = shared.audit.begin(
        AuditEvent::new(
            shared.host.clock().now(),
            plan.tenant().clone(),
            AuditAction::CREDENTIAL_USED,
            AuditOutcome::Success,
        )
        .with_key(route.definition.clone())
        .with_connection(route.connection.clone())
        .with_detail("via", "egress_proxy")
        .with_detail("route", route.id.as_str())
        .with_detail("method", template.method.as_str())
        .with_detail("host", host)
        .with_detail("path", audited_path(template.method.as_str(), host, path))
        .with_detail("plan", plan.hash()),
        started,
    );
    // A refusal comes with the upstream's status when the upstream answered.
    let exchange = async {
        let unanswered = |refusal| (refusal, None);
        let mut response = send(shared, request).await.map_err(unanswered)?;
        if response.status() == StatusCode::UNAUTHORIZED
            && let Some(bytes) = kept
            && shared.renewals.allow(&route.connection)
            && let Ok(Some(fresh)) = shared
                .credentials
                .credential_rejected(&wanted, &credential.value)
                .await
        {
            drop(response);
            used.retried();
            let retry = template
                .build(shared, route, &fresh.value, boxed(Full::new(bytes)))
                .map_err(unanswered)?;
            response = send(shared, retry).await.map_err(unanswered)?;
            if leaks(response.headers(), &fresh.value) {
                return Err((secret_in_response(), Some(response.status())));
            }
        } else if leaks(response.headers(), &credential.value) {
            return Err((secret_in_response(), Some(response.status())));
        }
        Ok::<_, (Refusal, Option<StatusCode>)>(response)
    };
    let response = match exchange.await {
        Ok(response) => response,
        Err((refusal, status)) => {
            let code = refusal.code.clone();
            used.finish(AuditOutcome::Failure { code }, status).await;
            return Err(refusal);
        }
    };
    let status = response.status();
    let outcome = if status.is_client_error() || status.is_server_error() {
        AuditOutcome::Failure {
            code: format!("upstream.status_{}", status.as_u16()),
        }
    } else {
        AuditOutcome::Success
    };
    used.finish(outcome, Some(status)).await;
    Ok(respond(response, guard))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_found_raw_and_percent_encoded_in_any_header() {
        let secret = integrations_core::Secret::new("k/y+z 1");
        for value in [
            "https://h/x?key=k/y+z 1",
            "https://h/x?key=k%2Fy%2Bz%201",
            "https://h/x?key=k%2fy%2bz+1",
            "<https://h/x?key=k%2Fy%2Bz%201>; rel=next",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert("link", http::HeaderValue::from_str(value).unwrap());
            assert!(leaks(&headers, &secret), "{value}");
        }
        let mut headers = HeaderMap::new();
        headers.insert("location", http::HeaderValue::from_static("/x?key=k%2Fy%"));
        assert!(!leaks(&headers, &secret));
    }

    #[test]
    fn a_secret_is_found_encoded_twice_and_in_base64() {
        use base64::Engine as _;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let secret = integrations_core::Secret::new("ghs_k?y>z~1");
        let basic = STANDARD.encode("x-access-token:ghs_k?y>z~1");
        let url_safe = URL_SAFE_NO_PAD.encode("{\"token\":\"ghs_k?y>z~1\"}");
        for value in [
            // Percent-encoded twice, as a redirect that encodes its whole target does.
            "https://h/login?next=%2Fx%3Fkey%3Dghs_k%253Fy%253Ez~1".to_owned(),
            format!("Basic {basic}"),
            format!("session={url_safe}; Path=/"),
            basic.clone(),
            // Base64 carried in a query string, its `/`, `+` and `=` percent-encoded.
            format!(
                "https://h/cb?token={}",
                STANDARD
                    .encode("ghs_k?y>z~1")
                    .replace('/', "%2F")
                    .replace('+', "%2B")
                    .replace('=', "%3D")
            ),
            // Glued to a prefix, off the four-character boundary.
            format!("x_{}", URL_SAFE_NO_PAD.encode("user:ghs_k?y>z~1")),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert("x-echo", http::HeaderValue::from_str(&value).unwrap());
            assert!(leaks(&headers, &secret), "{value}");
        }
        // Base64 of something else, and of the secret's first half only, is no leak.
        for value in [
            format!("Basic {}", STANDARD.encode("x-access-token:another")),
            format!("Basic {}", STANDARD.encode("ghs_k?y")),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert("x-echo", http::HeaderValue::from_str(&value).unwrap());
            assert!(!leaks(&headers, &secret), "{value}");
        }
    }
}
