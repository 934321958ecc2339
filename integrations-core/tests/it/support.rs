//! A configurable integration for tests: every part can be swapped to build broken
//! definitions.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use integrations_core::definition::{
    BindingContext, ConnectionMethod, IdentityCheck, IntegrationDefinition, Metadata, SecretField,
};
use integrations_core::host::{AesGcmKeyRing, Clock, ConnectionQuery, ConnectionStore, Host};
use integrations_core::model::{Connection, ConnectionStatus, CredentialType};
use integrations_core::provider::IntegrationProvider;
use integrations_core::schema::{ConfigSpec, Parsed};
use integrations_core::tools::{ToolAnnotations, ToolDescriptor};
use integrations_core::{
    ConnectionId, DefinitionKey, Error, IntegrationKind, Secret, TenantId, Timestamp,
    ValidationIssue,
};
use integrations_testkit::{MemoryStore, TestHost};
use schemars::JsonSchema;
use serde::Deserialize;

/// The target config of the test integration.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "fields are read through the schema, not directly")]
pub(crate) struct TrackerTarget {
    /// Site URL.
    #[schemars(url)]
    pub site_url: String,
    /// Projects bindings may use.
    #[serde(default)]
    pub projects: Vec<String>,
}

/// The target secrets.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "fields are read through the schema, not directly")]
pub(crate) struct TrackerSecrets {
    /// Webhook secret.
    pub webhook_secret: Secret,
}

/// The binding config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrackerBinding {
    /// The project.
    #[schemars(length(min = 1))]
    pub project: String,
}

/// Tool arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code, reason = "fields are read through the schema, not directly")]
pub(crate) struct CreateTicket {
    /// Title.
    pub title: String,
}

#[derive(Clone)]
pub(crate) struct TestIntegration {
    pub key: DefinitionKey,
    pub kind: IntegrationKind,
    pub metadata: Metadata,
    pub target_config: ConfigSpec,
    pub methods: Vec<ConnectionMethod>,
    pub tools: Vec<ToolDescriptor>,
    /// The identity check of every API-key method; none by default.
    pub identity: Option<IdentityCheck>,
}

impl TestIntegration {
    pub(crate) fn new(key: &str) -> Self {
        let key: DefinitionKey = key.parse().unwrap();
        let family = key.family().replace('-', "_");
        Self {
            kind: IntegrationKind::Connector,
            metadata: Metadata::new("Tracker", "Tickets in Tracker.", "tracker", "productivity"),
            target_config: ConfigSpec::of::<TrackerTarget>()
                .with_example(serde_json::json!({"site_url": "https://t.example.com"})),
            methods: vec![
                ConnectionMethod::api_key(
                    "api-key",
                    "API token",
                    vec![
                        SecretField::new("api_token", "API token", CredentialType::API_KEY)
                            .with_expected_prefix("trk_"),
                    ],
                )
                .unwrap(),
            ],
            tools: vec![
                ToolDescriptor::new::<CreateTicket>(
                    format!("{family}_create_ticket"),
                    "Create a ticket.",
                )
                .with_annotations(ToolAnnotations::additive()),
            ],
            identity: None,
            key,
        }
    }

    pub(crate) fn arc(self) -> Arc<Self> {
        Arc::new(self)
    }
}

impl IntegrationDefinition for TestIntegration {
    fn key(&self) -> DefinitionKey {
        self.key.clone()
    }
    fn kind(&self) -> IntegrationKind {
        self.kind
    }
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }
    fn target_config(&self) -> ConfigSpec {
        self.target_config.clone()
    }
    fn target_secrets(&self) -> ConfigSpec {
        ConfigSpec::of::<TrackerSecrets>()
    }
    fn binding_config(&self) -> ConfigSpec {
        ConfigSpec::of::<TrackerBinding>()
    }
    fn connection_methods(&self) -> Vec<ConnectionMethod> {
        self.methods.clone()
    }
    fn validate_binding(&self, context: &BindingContext<'_>) -> Vec<ValidationIssue> {
        let target = context.target.config.get::<TrackerTarget>().unwrap();
        let binding = context.binding_config.get::<TrackerBinding>().unwrap();
        if target.projects.contains(&binding.project) {
            Vec::new()
        } else {
            vec![ValidationIssue::new(
                "tracker.unknown_project",
                "/project",
                "the target does not offer this project",
            )]
        }
    }
    fn tool_catalog(&self) -> Vec<ToolDescriptor> {
        self.tools.clone()
    }
    fn identity_check(&self, _: &ConnectionMethod, _: &Parsed) -> Option<IdentityCheck> {
        self.identity.clone()
    }
}

impl IntegrationProvider for TestIntegration {}

/// What another writer does to a stored connection: `None` deletes it.
pub(crate) type Meddle = Box<dyn FnOnce(Connection) -> Option<Connection> + Send>;

/// What happens between a writer's read and its careful write.
enum Interference {
    /// Another writer changes the stored record.
    Meddle(Meddle),
    /// Another writer creates this record first (at a create's insert).
    CreateFirst(Box<Connection>),
    /// Another writer changes the record right after a create inserted it.
    AfterInsert(Meddle),
    /// The careful write fails (a store error), writing nothing.
    Fail,
    /// The careful write is applied, then its answer is lost (a store error).
    LoseAnswer,
    /// The writer stalls: it says it arrived, then waits to proceed.
    Stall {
        arrived: Arc<tokio::sync::Notify>,
        proceed: Arc<tokio::sync::Notify>,
    },
}

/// A connection store over a [`MemoryStore`] where something happens between a writer's
/// read and its write, at the first `put_connection_if_unchanged` (the careful write),
/// before it compares: another writer changes the record ([`new`](Self::new)), or the
/// writer stalls until the test lets it go on ([`stalling`](Self::stalling)). Or, at the
/// first write of a new record (a create's insert), another writer creates the record
/// first ([`creating_first`](Self::creating_first)).
pub(crate) struct Meddling {
    pub(crate) inner: Arc<MemoryStore>,
    interference: Mutex<Option<Interference>>,
}

impl Meddling {
    /// Runs `meddle` on the stored record (`None` deletes it) before the careful write.
    pub(crate) fn new(inner: Arc<MemoryStore>, meddle: Meddle) -> Arc<Self> {
        Self::with(inner, Interference::Meddle(meddle))
    }

    /// At the careful write, notifies `arrived` and waits for `proceed` before writing.
    pub(crate) fn stalling(
        inner: Arc<MemoryStore>,
        arrived: Arc<tokio::sync::Notify>,
        proceed: Arc<tokio::sync::Notify>,
    ) -> Arc<Self> {
        Self::with(inner, Interference::Stall { arrived, proceed })
    }

    /// The first careful write fails with a store error, writing nothing.
    pub(crate) fn failing(inner: Arc<MemoryStore>) -> Arc<Self> {
        Self::with(inner, Interference::Fail)
    }

    /// The first careful write is applied, and a store error answers it.
    pub(crate) fn losing_answer(inner: Arc<MemoryStore>) -> Arc<Self> {
        Self::with(inner, Interference::LoseAnswer)
    }

    /// Stores `other` (another writer's create of the same id) right before the first
    /// write of a new record (`put_connection_if_absent`, or a blind `put_connection`).
    pub(crate) fn creating_first(inner: Arc<MemoryStore>, other: Connection) -> Arc<Self> {
        Self::with(inner, Interference::CreateFirst(Box::new(other)))
    }

    /// Runs `meddle` on the record a create inserted, right after the insert (`None`
    /// deletes it).
    pub(crate) fn after_insert(inner: Arc<MemoryStore>, meddle: Meddle) -> Arc<Self> {
        Self::with(inner, Interference::AfterInsert(meddle))
    }

    fn with(inner: Arc<MemoryStore>, interference: Interference) -> Arc<Self> {
        Arc::new(Self {
            inner,
            interference: Mutex::new(Some(interference)),
        })
    }

    /// Stores the other writer's record, when that is the interference and it has not
    /// happened yet.
    async fn create_first(&self) -> Result<(), Error> {
        let other = {
            let mut interference = self.interference.lock().unwrap();
            match interference.take() {
                Some(Interference::CreateFirst(other)) => Some(other),
                kept => {
                    *interference = kept;
                    None
                }
            }
        };
        match other {
            Some(other) => self.inner.put_connection(&other).await,
            None => Ok(()),
        }
    }

    /// Whether the interference happened.
    pub(crate) fn meddled(&self) -> bool {
        self.interference.lock().unwrap().is_none()
    }
}

#[async_trait]
impl ConnectionStore for Meddling {
    async fn get_connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<Connection>, Error> {
        self.inner.get_connection(tenant, id).await
    }
    async fn put_connection(&self, connection: &Connection) -> Result<(), Error> {
        self.create_first().await?;
        self.inner.put_connection(connection).await
    }
    async fn put_connection_if_absent(&self, connection: &Connection) -> Result<bool, Error> {
        self.create_first().await?;
        let inserted = self.inner.put_connection_if_absent(connection).await?;
        let meddle = {
            let mut interference = self.interference.lock().unwrap();
            match interference.take() {
                Some(Interference::AfterInsert(meddle)) if inserted => Some(meddle),
                kept => {
                    *interference = kept;
                    None
                }
            }
        };
        if let Some(meddle) = meddle {
            match meddle(connection.clone()) {
                Some(changed) => self.inner.put_connection(&changed).await?,
                None => {
                    self.inner
                        .delete_connection(&connection.tenant, &connection.id)
                        .await?;
                }
            }
        }
        Ok(inserted)
    }
    async fn list_connections(&self, tenant: &TenantId) -> Result<Vec<Connection>, Error> {
        self.inner.list_connections(tenant).await
    }
    async fn delete_connection(&self, tenant: &TenantId, id: &ConnectionId) -> Result<bool, Error> {
        self.inner.delete_connection(tenant, id).await
    }
    async fn find_connections(&self, query: &ConnectionQuery) -> Result<Vec<Connection>, Error> {
        self.inner.find_connections(query).await
    }
    async fn set_connection_status(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        status: ConnectionStatus,
        now: Timestamp,
    ) -> Result<Option<Connection>, Error> {
        self.inner
            .set_connection_status(tenant, id, status, now)
            .await
    }
    async fn set_connection_status_if(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        expected: &ConnectionStatus,
        status: ConnectionStatus,
        now: Timestamp,
    ) -> Result<Option<Connection>, Error> {
        self.inner
            .set_connection_status_if(tenant, id, expected, status, now)
            .await
    }
    async fn put_connection_if_unchanged(
        &self,
        read: &Connection,
        connection: &Connection,
    ) -> Result<bool, Error> {
        let interference = self.interference.lock().unwrap().take();
        match interference {
            Some(Interference::Meddle(meddle)) => {
                if let Some(stored) = self
                    .inner
                    .get_connection(&connection.tenant, &connection.id)
                    .await?
                {
                    match meddle(stored) {
                        Some(changed) => self.inner.put_connection(&changed).await?,
                        None => {
                            self.inner
                                .delete_connection(&connection.tenant, &connection.id)
                                .await?;
                        }
                    }
                }
            }
            Some(Interference::Stall { arrived, proceed }) => {
                arrived.notify_one();
                proceed.notified().await;
            }
            Some(Interference::Fail) => {
                return Err(integrations_core::codes::store::FAILED.error("the database is down"));
            }
            Some(Interference::LoseAnswer) => {
                self.inner
                    .put_connection_if_unchanged(read, connection)
                    .await?;
                return Err(integrations_core::codes::store::FAILED
                    .error("the connection was lost after the commit"));
            }
            // For a create's insert; this is an update.
            Some(create @ (Interference::CreateFirst(_) | Interference::AfterInsert(_))) => {
                *self.interference.lock().unwrap() = Some(create);
            }
            None => {}
        }
        self.inner
            .put_connection_if_unchanged(read, connection)
            .await
    }
}

/// `test`'s host with `connections` as its connection store.
pub(crate) fn host_with_connections(
    test: &TestHost,
    connections: Arc<dyn ConnectionStore>,
) -> Host {
    Host::builder()
        .stores(test.store.clone())
        .connections(connections)
        .http(test.host().http_arc())
        .cipher(test.keys.clone() as Arc<AesGcmKeyRing>)
        .clock(test.clock.clone() as Arc<dyn Clock>)
        .audit(test.audit.clone())
        .build()
        .unwrap()
}
