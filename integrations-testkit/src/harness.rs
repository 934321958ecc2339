//! [`WebhookHarness`]: a definition's webhook pipeline on an in-memory host, ready for
//! deliveries.

use std::sync::Arc;

use integrations_core::model::Connection;
use integrations_core::service::{TargetInput, WriteService};
use integrations_core::webhook::{
    Classification, InboundRequest, Ingest, Ingested, WebhookRequest, WebhookSource,
};
use integrations_core::{
    ConnectionId, DefinitionKey, Error, Registry, Secret, TargetId, TenantId, Timestamp,
};
use serde_json::json;

use crate::{TestHost, WebhookSigner};

/// The tenant, target, connection and endpoint key the harness uses.
pub const HARNESS_ID: &str = "harness";

/// Runs deliveries through the real [`Ingest`] pipeline of one definition, on a
/// [`TestHost`] holding one target (the definition's first target-config example, the
/// signing secret in the first target-secret field its webhook source names) and one
/// connection, routed by the endpoint key [`HARNESS_ID`] and, for each delivery, by the
/// subject the provider's classification reads from it.
///
/// The conformance suite uses it; tests can too.
#[derive(Debug)]
pub struct WebhookHarness {
    test: TestHost,
    registry: Arc<Registry>,
    key: DefinitionKey,
    source: WebhookSource,
    secret: Secret,
    ingest: Ingest,
}

fn no_webhooks(key: &DefinitionKey) -> Error {
    crate::codes::harness::NO_WEBHOOKS.error(format!("{key} receives no webhooks"))
}

impl WebhookHarness {
    /// A harness for `key` whose target holds `secret`, with the host's clock at `now`.
    ///
    /// # Errors
    ///
    /// `registry.unknown_definition`; `harness.no_webhooks` when the definition declares
    /// no webhook source or handler; `harness.no_target_secret` when its source keeps no
    /// secret in the target; the target's validation issues.
    pub async fn new(
        registry: Arc<Registry>,
        key: &DefinitionKey,
        secret: Secret,
        now: Timestamp,
    ) -> Result<Self, Error> {
        Self::with_test_host(registry, key, secret, now, TestHost::new()).await
    }

    /// As [`new`](Self::new), on a given test host (its HTTP client, stores and sinks).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub async fn with_test_host(
        registry: Arc<Registry>,
        key: &DefinitionKey,
        secret: Secret,
        now: Timestamp,
        test: TestHost,
    ) -> Result<Self, Error> {
        let entry = registry.require(key)?.clone();
        let source = entry
            .definition()
            .webhook_source()
            .ok_or_else(|| no_webhooks(key))?;
        if entry.integration().webhooks().is_none() {
            return Err(no_webhooks(key));
        }
        let field = source
            .target_secret_fields()
            .first()
            .cloned()
            .ok_or_else(|| {
                crate::codes::harness::NO_TARGET_SECRET
                    .error(format!("{key} keeps no webhook secret in its target"))
            })?;
        test.clock.set(now);
        let config = entry
            .target_config()
            .spec()
            .examples()
            .first()
            .cloned()
            .unwrap_or_else(|| json!({}));
        WriteService::new(registry.clone(), test.host().clone())
            .put_target(
                TargetInput::new(tenant(), TargetId::new(HARNESS_ID)?, key.clone())
                    .with_config(config)
                    .with_secrets(json!({ field: secret.expose() })),
            )
            .await?;
        let ingest = Ingest::new(registry.clone(), test.host().clone())?;
        Ok(Self {
            test,
            registry,
            key: key.clone(),
            source,
            secret,
            ingest,
        })
    }

    /// The test host (its event sink, stores and clock).
    pub fn test_host(&self) -> &TestHost {
        &self.test
    }

    /// Moves the host's clock.
    pub fn set_now(&self, now: Timestamp) {
        self.test.clock.set(now);
    }

    /// A signer with the harness's secret.
    pub fn signer(&self) -> WebhookSigner {
        WebhookSigner::new(self.source.clone(), self.secret.clone())
    }

    /// The definition's webhook source.
    pub fn source(&self) -> &WebhookSource {
        &self.source
    }

    /// Runs one delivery (its headers and raw body) through the pipeline.
    ///
    /// # Errors
    ///
    /// The pipeline's errors, with their stable codes (`webhook.signature_mismatch`,
    /// `webhook.timestamp_out_of_window`, ...); the provider's classification errors.
    pub async fn deliver(&self, request: WebhookRequest) -> Result<Ingested, Error> {
        let entry = self.registry.require(&self.key)?;
        let handler = entry
            .integration()
            .webhooks()
            .ok_or_else(|| no_webhooks(&self.key))?;
        let inbound = InboundRequest::new(&self.key, &request.headers, &request.body);
        // A delivery that does not classify gets a connection without a subject: the
        // pipeline verifies it before reading it, as on a host's endpoint route.
        let subject = match handler.classify(&inbound) {
            Ok(Classification::Event(route)) => route.routing.subject,
            Ok(Classification::Handshake(handshake)) => handshake.routing.subject,
            _ => None,
        };
        let method = entry
            .methods()
            .first()
            .map(|m| m.method().id.clone())
            .ok_or_else(|| Error::internal("a registered definition has no connection method"))?;
        let now = integrations_core::host::Clock::now(&*self.test.clock);
        let mut connection = Connection::new(
            tenant(),
            ConnectionId::new(HARNESS_ID)?,
            TargetId::new(HARNESS_ID)?,
            self.key.clone(),
            method,
            now,
        );
        connection.external_subject = subject;
        connection.endpoint_key = Some(HARNESS_ID.to_owned());
        self.test
            .host()
            .connections()
            .put_connection(&connection)
            .await?;
        self.ingest.ingest(request.with_endpoint(HARNESS_ID)).await
    }
}

fn tenant() -> TenantId {
    TenantId::new(HARNESS_ID).unwrap_or_else(|e| panic!("{e}"))
}
