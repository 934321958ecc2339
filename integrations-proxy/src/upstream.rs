//! The client the proxy forwards with: pooled keep-alive connections over TLS (webpki
//! roots plus the host's extra roots), resolving through [`destination::resolve`] so
//! every upstream address is checked and test overrides apply.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

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
            // Port 0: the connector puts the URI's port on resolved addresses; an override
            // keeps its own.
            destination::resolve(name.as_str(), 0, &config)
                .await
                .map(Vec::into_iter)
                .map_err(DestinationRefused)
        })
    }
}

pub(crate) type UpstreamClient = Client<HttpsConnector<HttpConnector<Resolver>>, ProxyBody>;

/// The pooled upstream client.
pub(crate) fn client(config: &Arc<ProxyConfig>) -> Result<UpstreamClient, Error> {
    let mut http = HttpConnector::new_with_resolver(Resolver {
        config: Arc::clone(config),
    });
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(config.connect_timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(client_config(&config.extra_roots)?)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
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
