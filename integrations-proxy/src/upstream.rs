//! The client the proxy forwards with: pooled keep-alive connections over TLS (webpki
//! roots plus the host's extra roots), connecting through [`Checked`] so every upstream
//! address (resolved, IP literal or override) is checked and overrides apply.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use integrations_core::Error;

use crate::body::ProxyBody;
use crate::config::ProxyConfig;
use crate::destination;
use crate::refusal::Refusal;
use crate::tls::client_config;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A resolution the destination rules refused; found again in the client's error chain.
#[derive(Debug)]
pub(crate) struct DestinationRefused(pub(crate) Refusal);

impl std::fmt::Display for DestinationRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for DestinationRefused {}

/// Resolves upstream names with the destination rules.
#[derive(Debug, Clone)]
pub(crate) struct Resolver {
    config: Arc<ProxyConfig>,
}

impl tower_service::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = DestinationRefused;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let config = Arc::clone(&self.config);
        Box::pin(async move {
            // Port 0: the connector puts the URI's port on resolved addresses. (Overrides
            // and IP literals never get here: `Checked` settles them.)
            destination::resolve(name.as_str(), 0, &config)
                .await
                .map(Vec::into_iter)
                .map_err(DestinationRefused)
        })
    }
}

pub(crate) type UpstreamClient = Client<HttpsConnector<Checked>, ProxyBody>;

/// The TCP connector under TLS, deciding the address of every upstream connection
/// before it is made. `HttpConnector` connects to an IP-literal host without asking its
/// resolver, and puts a URL's explicit port on whatever the resolver returns, so this
/// wrapper settles both first:
/// - a host with an override connects to the override's address and port, whatever
///   port the URL names (the address is checked like any other);
/// - an IP-literal host is checked by the destination rules, as a tunnel's is;
/// - a name goes to the [`Resolver`], which checks every address it resolves to.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    config: Arc<ProxyConfig>,
    inner: HttpConnector<Resolver>,
}

impl Checked {
    /// Where `uri` really connects: `None` to resolve its host by name, else the URI
    /// with the address to connect to, or the refusal of that address.
    fn settle(&self, uri: &Uri) -> Result<Option<Uri>, Refusal> {
        let Some(host) = uri.host() else {
            return Ok(None);
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Some(over) = self.config.overrides.get(bare) {
            destination::check(over.addr.ip(), &self.config)?;
            let mut parts = uri.clone().into_parts();
            parts.authority = over.addr.to_string().parse().ok();
            parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
            return Ok(Uri::from_parts(parts).ok());
        }
        if let Ok(ip) = bare.parse::<IpAddr>() {
            destination::check(ip, &self.config)?;
        }
        Ok(None)
    }
}

impl tower_service::Service<Uri> for Checked {
    type Response = <HttpConnector<Resolver> as tower_service::Service<Uri>>::Response;
    type Error = BoxError;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let uri = match self.settle(&uri) {
            Ok(settled) => settled.unwrap_or(uri),
            Err(refusal) => {
                return Box::pin(std::future::ready(Err(DestinationRefused(refusal).into())));
            }
        };
        let connecting = self.inner.call(uri);
        Box::pin(async move { connecting.await.map_err(Into::into) })
    }
}

/// The pooled upstream client.
pub(crate) fn client(config: &Arc<ProxyConfig>) -> Result<UpstreamClient, Error> {
    let mut http = HttpConnector::new_with_resolver(Resolver {
        config: Arc::clone(config),
    });
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(config.connect_timeout));
    let checked = Checked {
        config: Arc::clone(config),
        inner: http,
    };
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(client_config(&config.extra_roots)?)
        .https_or_http()
        .enable_http1()
        .wrap_connector(checked);
    Ok(Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(https))
}

/// The refusal for a failed upstream call: the destination rule that refused it, or
/// 502.
pub(crate) fn refusal_for(error: &hyper_util::client::legacy::Error) -> Refusal {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<DestinationRefused>() {
            return refused.0.clone();
        }
        source = e.source();
    }
    if error.is_connect() {
        Refusal::bad_gateway(
            crate::codes::refusal::UPSTREAM_UNREACHABLE,
            "the upstream could not be reached",
        )
    } else {
        Refusal::bad_gateway(
            crate::codes::refusal::UPSTREAM_FAILED,
            "the upstream connection failed",
        )
    }
}
