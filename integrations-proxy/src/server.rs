//! [`Proxy`]: the listener, its connections, hot plan reload and graceful shutdown.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use integrations_core::credential::CredentialSource;
use integrations_core::egress::GrantKeys;
use integrations_core::host::Host;
use integrations_core::plan::CompiledRuntimePlan;
use integrations_core::{ConnectionId, Error};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;

use crate::audit::{self, AuditOpen, AuditQueue, AuditReceiver};
use crate::ca::{CertificateAuthority, LeafCache};
use crate::config::ProxyConfig;
use crate::connections::ConnectionCache;
use crate::gate::PlanState;
use crate::handler;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::refusal::Refusal;
use crate::upstream::{self, UpstreamClient};

/// Where the proxy is in its life: serving, draining, or closing everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    Serving,
    Draining,
    Closing,
}

/// Resolves once the proxy has reached `phase` (or a later one).
pub(crate) async fn until(phase: &watch::Receiver<Phase>, wanted: Phase) {
    let mut phase = phase.clone();
    let _ = phase.wait_for(|p| *p >= wanted).await;
}

/// What every connection of one proxy shares.
pub(crate) struct Shared {
    pub(crate) config: Arc<ProxyConfig>,
    plan: watch::Sender<Arc<PlanState>>,
    keys: GrantKeys,
    pub(crate) leaves: LeafCache,
    pub(crate) client: UpstreamClient,
    pub(crate) host: Host,
    pub(crate) credentials: Arc<dyn CredentialSource>,
    pub(crate) connections: ConnectionCache,
    pub(crate) audit: AuditQueue,
    pub(crate) metrics: Metrics,
    pub(crate) phase: watch::Receiver<Phase>,
    /// When a 401 last renewed each connection's credential.
    pub(crate) renewals: ForcedRenewals,
}

/// When a 401 last renewed each connection's credential
/// ([`ProxyConfig::forced_refresh_interval`]).
pub(crate) struct ForcedRenewals {
    last: Mutex<HashMap<ConnectionId, Instant>>,
    interval: Duration,
}

impl ForcedRenewals {
    fn new(interval: Duration) -> Self {
        Self {
            last: Mutex::new(HashMap::new()),
            interval,
        }
    }

    /// Whether a 401 may renew `connection`'s credential now; counted as done when it
    /// may. The map holds only the renewals of the last interval.
    pub(crate) fn allow(&self, connection: &ConnectionId) -> bool {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.retain(|_, at| now.duration_since(*at) < self.interval);
        if last.contains_key(connection) {
            return false;
        }
        last.insert(connection.clone(), now);
        true
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    /// The plan served now. A request reads it once, so a reload applies to the next
    /// request and never drops a connection.
    pub(crate) fn plan(&self) -> Arc<PlanState> {
        Arc::clone(&self.plan.borrow())
    }

    /// Changes each time a plan is loaded: what a blind tunnel watches, since nothing
    /// else re-checks it once open.
    pub(crate) fn plan_changes(&self) -> watch::Receiver<Arc<PlanState>> {
        self.plan.subscribe()
    }
}

/// The egress proxy, configured and not yet listening.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use integrations_core::{Error, Secret};
/// # use integrations_core::auth::TokenManager;
/// # use integrations_core::egress::GrantKeys;
/// # use integrations_core::host::Host;
/// # use integrations_core::plan::CompiledRuntimePlan;
/// use integrations_proxy::{CertificateAuthority, Proxy, ProxyConfig};
/// # async fn run(plan: CompiledRuntimePlan, keys: GrantKeys, host: Host, tokens: Arc<TokenManager>,
/// #              ca_cert: String, ca_key: Secret) -> Result<(), Error> {
/// let ca = CertificateAuthority::from_pem(&ca_cert, &ca_key)?;
/// let proxy = Proxy::new(&plan, keys, ca, host, tokens, ProxyConfig::new())?;
/// let handle = proxy.bind("127.0.0.1:8080".parse().unwrap()).await?;
/// // HTTPS_PROXY=http://sandbox:<grant>@127.0.0.1:8080 in the sandbox, which trusts the CA.
/// handle.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Proxy {
    shared: Arc<Shared>,
    phase: watch::Sender<Phase>,
    audit: AuditReceiver,
    audit_open: AuditOpen,
}

impl Proxy {
    /// A proxy serving `plan`, trusting grants signed by `keys`, intercepting with `ca`,
    /// loading connections from `host` and credentials from `credentials`.
    ///
    /// # Errors
    ///
    /// The route index's errors for a plan that is not valid; `proxy.invalid_root` for
    /// an extra root that does not parse.
    pub fn new(
        plan: &CompiledRuntimePlan,
        keys: GrantKeys,
        ca: CertificateAuthority,
        host: Host,
        credentials: Arc<dyn CredentialSource>,
        config: ProxyConfig,
    ) -> Result<Self, Error> {
        let config = Arc::new(config);
        let state = PlanState::new(plan, keys.clone())?;
        let (phase, watch_phase) = watch::channel(Phase::Serving);
        let (audit, audit_rx, audit_open) = AuditQueue::new(host.clone());
        let renewals = ForcedRenewals::new(config.forced_refresh_interval);
        let shared = Arc::new(Shared {
            client: upstream::client(&config)?,
            leaves: LeafCache::new(Arc::new(ca), config.leaf_ttl),
            connections: ConnectionCache::new(config.connection_recheck),
            audit,
            config,
            plan: watch::Sender::new(Arc::new(state)),
            keys,
            host,
            credentials,
            metrics: Metrics::default(),
            phase: watch_phase,
            renewals,
        });
        Ok(Self {
            shared,
            phase,
            audit: audit_rx,
            audit_open,
        })
    }

    /// Listens on `addr` and serves until shut down.
    ///
    /// # Errors
    ///
    /// `proxy.bind_failed` when the address cannot be bound.
    pub async fn bind(self, addr: SocketAddr) -> Result<ProxyHandle, Error> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            crate::codes::proxy::BIND_FAILED
                .error(format!("the proxy cannot listen on {addr}: {e}"))
                .with_source(e)
        })?;
        self.serve(listener)
    }

    /// Serves on a bound listener.
    ///
    /// # Errors
    ///
    /// `proxy.bind_failed` when the listener has no local address.
    pub fn serve(self, listener: TcpListener) -> Result<ProxyHandle, Error> {
        let local_addr = listener.local_addr().map_err(|e| {
            crate::codes::proxy::BIND_FAILED
                .error("the listener has no address")
                .with_source(e)
        })?;
        let shared = Arc::clone(&self.shared);
        let task = tokio::spawn(accept_loop(listener, shared));
        let audit_writer = tokio::spawn(audit::writer(self.shared.host.clone(), self.audit));
        tracing::info!(target: "integrations::proxy", %local_addr, "egress proxy listening");
        Ok(ProxyHandle {
            local_addr,
            shared: self.shared,
            phase: self.phase,
            task,
            audit_writer,
            audit_open: self.audit_open,
        })
    }
}

/// How many connections past `max_connections` are answered 503 at once; more are
/// closed without an answer.
const REFUSALS_AT_ONCE: usize = 64;

/// How long a connection past the limit may take to send the request head its 503
/// answers.
const REFUSAL_HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// A client connection's place: a slot of `max_connections`, and one of its address's
/// share. Both are given back when the connection and its tunnels have closed.
pub(crate) struct Place {
    _slot: OwnedSemaphorePermit,
    _peer: PeerPlace,
}

/// How many connections each client address holds.
#[derive(Default)]
struct Peers(Mutex<HashMap<IpAddr, usize>>);

/// One connection of `ip` counted in `peers`, until dropped.
struct PeerPlace {
    peers: Arc<Peers>,
    ip: IpAddr,
}

impl Peers {
    /// A place for a connection of `ip`, unless it holds `max` already.
    fn enter(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<PeerPlace> {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(ip).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(PeerPlace {
            peers: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for PeerPlace {
    fn drop(&mut self) {
        let mut held = self.peers.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(shared.config.max_connections));
    let peers = Arc::new(Peers::default());
    // Connections past the limit are answered 503, a few at a time: each waits for a
    // request head, so a flood of idle ones must not hold a task and a descriptor each.
    let refusals = Arc::new(Semaphore::new(REFUSALS_AT_ONCE));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = until(&shared.phase, Phase::Draining) => return,
        };
        let Ok((stream, peer)) = accepted else {
            // Out of descriptors or a reset before accept: back off a little.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        // A place needs a slot and room in the address's share.
        let permit = Arc::clone(&slots)
            .try_acquire_owned()
            .ok()
            .and_then(|slot| {
                let peer = peers.enter(peer.ip(), shared.config.max_connections_per_peer)?;
                Some(Place {
                    _slot: slot,
                    _peer: peer,
                })
            });
        let refusing = if permit.is_some() {
            None
        } else if let Ok(refusing) = Arc::clone(&refusals).try_acquire_owned() {
            Some(refusing)
        } else {
            // Closed at once: the 503s already being given are enough.
            shared
                .metrics
                .count(None, crate::codes::refusal::TOO_MANY_CONNECTIONS.as_str());
            continue;
        };
        tokio::spawn(async move {
            let guard = shared.metrics.connection();
            let io = TokioIo::new(stream);
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(shared.config.header_read_timeout)
                .max_buf_size(shared.config.max_header_bytes.max(8192))
                .keep_alive(true);
            let Some(permit) = permit else {
                shared
                    .metrics
                    .count(None, crate::codes::refusal::TOO_MANY_CONNECTIONS.as_str());
                let service = service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(
                        Refusal::new(
                            http::StatusCode::SERVICE_UNAVAILABLE,
                            crate::codes::refusal::TOO_MANY_CONNECTIONS,
                            "the proxy is serving as many connections as it may, in all or from this address",
                        )
                        .into_response(),
                    )
                });
                let _ = builder
                    .keep_alive(false)
                    .header_read_timeout(
                        shared.config.header_read_timeout.min(REFUSAL_HEAD_TIMEOUT),
                    )
                    .serve_connection(io, service)
                    .await;
                drop(refusing);
                return;
            };
            // Shared with the tunnels this connection opens: a slot is free again only
            // once the connection and every tunnel it upgraded to have closed.
            let slot = Arc::new(permit);
            let service = {
                let shared = Arc::clone(&shared);
                let slot = Arc::clone(&slot);
                service_fn(move |req| {
                    handler::outer(Arc::clone(&shared), req, peer, Arc::clone(&slot))
                })
            };
            let conn = builder.serve_connection(io, service).with_upgrades();
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
            drop((slot, guard));
        });
    }
}

/// A running proxy.
#[derive(Debug)]
pub struct ProxyHandle {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    phase: watch::Sender<Phase>,
    task: JoinHandle<()>,
    audit_writer: JoinHandle<()>,
    /// Keeps the audit queue open while serving.
    audit_open: AuditOpen,
}

impl ProxyHandle {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Live counters and gauges.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.metrics.snapshot()
    }

    /// The hash of the plan served now.
    pub fn plan_hash(&self) -> String {
        self.shared.plan().hash().to_owned()
    }

    /// Replaces the plan. Open connections and intercepted tunnels stay up; their next
    /// request is classified, and its grants checked, by the new plan. A blind tunnel
    /// carries no request to check, so it is closed when the new plan would not have
    /// opened it: none of its grants is valid for the new plan (a grant is bound to the
    /// plan's hash), or a route of the new plan names its host, which must now be
    /// intercepted. The sandbox's next `CONNECT` is judged by the new plan.
    ///
    /// # Errors
    ///
    /// The route index's errors: the old plan keeps being served.
    pub fn reload(&self, plan: &CompiledRuntimePlan) -> Result<(), Error> {
        let state = Arc::new(PlanState::new(plan, self.shared.keys.clone())?);
        let hash = state.hash().to_owned();
        self.shared.plan.send_replace(state);
        tracing::info!(target: "integrations::proxy", plan = %hash, "plan reloaded");
        Ok(())
    }

    /// Stops accepting, lets open connections finish their requests for up to the
    /// grace period, then closes what is left and writes every queued audit record.
    pub async fn shutdown(self) {
        let _ = self.phase.send(Phase::Draining);
        let deadline = tokio::time::Instant::now() + self.shared.config.shutdown_grace;
        loop {
            let snapshot = self.shared.metrics.snapshot();
            if snapshot.connections == 0 && snapshot.tunnels == 0 && snapshot.in_flight == 0 {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.phase.send(Phase::Closing);
        let _ = self.task.await;
        // The writer ends once the requests cut short at closing have written their
        // records (each holds the queue open until its record is queued).
        drop(self.audit_open);
        let _ = self.audit_writer.await;
    }
}
