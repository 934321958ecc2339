//! The overhead of `tools::Runtime::call` (look-up, argument validation, policy, dispatch,
//! audit) around a tool that does nothing, beside a floor: validating the same arguments
//! against the same compiled schema, the one step no runtime can skip.
//!
//! Run with `cargo bench --bench tools`; compare the medians of `runtime_call_noop` and
//! `floor_validate_arguments` (the floor of issue 15's goal). `floor_validate_and_convert`
//! adds the conversions any typed tool needs (arguments in, output and its text out), so
//! `runtime_call_noop` minus it is what the runtime itself adds.
//! `runtime_call_noop_rotating_sessions` is the same call made by 32 users in turn through
//! one connection: every call builds its own tool context (none is kept for its ids).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use criterion::{Criterion, criterion_group, criterion_main};
use integrations::core::credential::{CredentialRequest, CredentialSource, ResolvedCredential};
use integrations::core::definition::{
    ConnectionMethod, IntegrationDefinition, Metadata, SecretField,
};
use integrations::core::host::{AesGcmKeyRing, Host, TracingAuditSink};
use integrations::core::model::{Connection, CredentialType, Target};
use integrations::core::provider::IntegrationProvider;
use integrations::core::tools::{
    CallContext, Runtime, Session, Tool, ToolAnnotations, ToolContext, ToolDescriptor,
    ToolExecutor, ToolSet, ToolStatus,
};
use integrations::core::{
    ConnectionId, ConnectionMethodId, DefinitionKey, Error, IntegrationKind, Registry, Secret,
    TargetId, TenantId, Timestamp, UserId, WorkspaceId,
};
use integrations_testkit::{ManualClock, MemoryStore, offline_http};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Arguments of the no-op tool: a few fields, like a real tool's.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PingArgs {
    /// A message.
    #[schemars(length(min = 1, max = 200))]
    message: String,
    /// How many times.
    #[serde(default)]
    #[schemars(range(min = 1, max = 10))]
    count: Option<u8>,
    /// Tags.
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// Its result.
#[derive(Serialize, JsonSchema)]
struct Pong {
    ok: bool,
}

struct Ping;

impl Tool for Ping {
    type Args = PingArgs;
    type Output = Pong;

    fn descriptor(&self) -> ToolDescriptor {
        ToolDescriptor::new::<PingArgs>("bench_get_ping", "Does nothing.")
            .with_annotations(ToolAnnotations::read_only())
    }

    async fn call(&self, args: PingArgs, _context: &ToolContext) -> Result<Pong, Error> {
        let _ = (args.message, args.count, args.tags);
        Ok(Pong { ok: true })
    }
}

struct Bench {
    tools: ToolSet,
}

impl IntegrationDefinition for Bench {
    fn key(&self) -> DefinitionKey {
        "bench::default".parse().expect("valid key")
    }
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Connector
    }
    fn metadata(&self) -> Metadata {
        Metadata::new("Bench", "A benchmark integration.", "bench", "testing")
    }
    fn connection_methods(&self) -> Vec<ConnectionMethod> {
        vec![
            ConnectionMethod::api_key(
                "api-key",
                "Key",
                vec![SecretField::new("key", "Key", CredentialType::API_KEY)],
            )
            .expect("valid method"),
        ]
    }
    fn tool_catalog(&self) -> Vec<ToolDescriptor> {
        self.tools.descriptors()
    }
}

impl IntegrationProvider for Bench {
    fn tools(&self) -> Option<&dyn ToolExecutor> {
        Some(&self.tools)
    }
}

/// The no-op tool never asks for a credential.
struct NoCredentials;

#[async_trait]
impl CredentialSource for NoCredentials {
    async fn credential(&self, _: &CredentialRequest<'_>) -> Result<ResolvedCredential, Error> {
        Err(Error::not_found("credential.not_found", "none"))
    }
    async fn credential_rejected(
        &self,
        _: &CredentialRequest<'_>,
        _: &Secret,
    ) -> Result<Option<ResolvedCredential>, Error> {
        Ok(None)
    }
}

fn setup(rt: &tokio::runtime::Runtime) -> (Runtime, Arc<Registry>, CallContext) {
    let mut registry = Registry::new();
    registry
        .register(Arc::new(Bench {
            tools: ToolSet::new().with(Ping),
        }))
        .expect("registers");
    let registry = Arc::new(registry);
    let store = Arc::new(MemoryStore::new());
    let host = Host::builder()
        .stores(store)
        .http(Arc::new(offline_http()))
        .cipher(Arc::new(AesGcmKeyRing::new("bench", [7; 32]).expect("key")))
        .clock(Arc::new(ManualClock::default()))
        // Audit stays on (it is part of every call), recorded nowhere.
        .audit(Arc::new(TracingAuditSink::new()))
        .build()
        .expect("a complete host");
    let tenant = TenantId::new("acme").expect("id");
    let key: DefinitionKey = "bench::default".parse().expect("key");
    let now = Timestamp::from_unix_seconds(1_790_000_000);
    let target = Target::new(
        tenant.clone(),
        TargetId::new("t").expect("id"),
        key.clone(),
        now,
    );
    let connection = Connection::new(
        tenant.clone(),
        ConnectionId::new("c").expect("id"),
        target.id.clone(),
        key,
        ConnectionMethodId::new("api-key").expect("id"),
        now,
    );
    rt.block_on(async {
        host.targets().put_target(&target).await.expect("stored");
        host.connections()
            .put_connection(&connection)
            .await
            .expect("stored");
    });
    let runtime = Runtime::new(registry.clone(), host, Arc::new(NoCredentials));
    let call = CallContext::new(
        Session::new(tenant, WorkspaceId::new("w").expect("id")),
        connection.id,
    );
    (runtime, registry, call)
}

fn arguments() -> Value {
    json!({"message": "hello", "count": 3, "tags": ["a", "b"]})
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (runtime, registry, call) = setup(&rt);
    let check = rt.block_on(runtime.call("bench_get_ping", arguments(), &call));
    assert_eq!(check.status, ToolStatus::Completed, "{check:?}");

    let mut group = c.benchmark_group("tools");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("runtime_call_noop", |b| {
        b.to_async(&rt).iter(|| async {
            let result = runtime
                .call(black_box("bench_get_ping"), black_box(arguments()), &call)
                .await;
            black_box(result)
        });
    });
    // The runtime shares a tool context between the calls with the same ids and tool;
    // here each call is another user's, one of 32 taking turns through one connection,
    // so no call finds its context kept.
    let rotating: Vec<CallContext> = (0..32)
        .map(|i| {
            let session = Session::new(call.session.tenant.clone(), call.session.workspace.clone())
                .with_user(UserId::new(format!("user-{i}")).expect("id"));
            CallContext::new(session, call.connection.clone())
        })
        .collect();
    let mut turn = 0;
    group.bench_function("runtime_call_noop_rotating_sessions", |b| {
        b.to_async(&rt).iter(|| {
            turn = (turn + 1) % rotating.len();
            let call = &rotating[turn];
            let runtime = &runtime;
            async move {
                let result = runtime
                    .call(black_box("bench_get_ping"), black_box(arguments()), call)
                    .await;
                black_box(result)
            }
        });
    });
    let entry = registry
        .get(&"bench::default".parse().expect("key"))
        .expect("registered");
    let tool = entry.tool("bench_get_ping").expect("the tool");
    group.bench_function("floor_validate_arguments", |b| {
        b.iter(|| black_box(tool.input.validate(black_box(&arguments()))));
    });
    // A second, wider floor: what any runtime of typed tools over JSON does besides
    // validating, with no store, policy or audit: the arguments into the tool's type,
    // its output into JSON, and that JSON into the result's text.
    group.bench_function("floor_validate_and_convert", |b| {
        b.iter(|| {
            let arguments = arguments();
            let issues = tool.input.validate(black_box(&arguments));
            let args: PingArgs = serde_json::from_value(arguments).expect("valid");
            let _ = (args.message, args.count, args.tags);
            let output = serde_json::to_value(Pong { ok: true }).expect("encodes");
            let text = output.to_string();
            black_box((issues, output, text))
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
