//! The conformance suite fails each check a broken definition breaks, and passes a sound
//! one: a suite that cannot fail would prove nothing.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use integrations_core::definition::{
    CompileInput, ConnectionMethod, IdentityCheck, IntegrationDefinition, Metadata, OAuth2Spec,
    SecretField,
};
use integrations_core::model::{Capability, CredentialType};
use integrations_core::plan::{AuthInjection, BindingPlan, RuntimeClient};
use integrations_core::provider::{GrantRevoker, IntegrationProvider, RevokeContext};
use integrations_core::schema::ConfigSpec;
use integrations_core::sync::{SyncPage, SyncRequest, SyncSource, SyncStream};
use integrations_core::tools::{
    Tool, ToolAnnotations, ToolContext, ToolDescriptor, ToolExecutor, ToolPolicy, ToolSet,
};
use integrations_core::webhook::{
    Classification, EventRoute, EventType, Handshake, HmacHexScheme, InboundRequest,
    NormalizeContext, Normalized, Routing, WebhookHandler, WebhookResponse, WebhookSource,
};
use integrations_core::{
    DefinitionKey, Error, ErrorKind, IntegrationKind, Secret, Timestamp, ValidationIssue,
};
use integrations_testkit::conformance::{Check, Conformance, Outcome, WebhookSample};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What to break.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Break {
    BlankName,
    BadExample,
    OAuthWithoutSecretField,
    RedirectWithoutFlow,
    RevokerForApiKey,
    ReadToolNotReadOnly,
    WriteToolRunsUnasked,
    ToolWithoutCapability,
    ToolsWithoutExecutor,
    UnexportableTool,
    NonDeterministicCompile,
    HandshakesUnverified,
    NormalizeFails,
    PlainStringSecret,
    /// Classification refuses unsigned deliveries and unknown tickets with a 404 before
    /// any signature is checked: a refusal, but one that proves nothing about the
    /// signature.
    RefusesBeforeVerifying,
    /// An OAuth 2.0 method whose data never names a client id: no connection can start.
    OAuthWithoutClientId,
    /// Two sync streams with one name.
    DuplicateStream,
    /// A sync stream named "".
    EmptyStreamName,
    /// Incremental streams keep the default `watermark_at` (a warning, not a failure).
    StreamsWithoutWatermark,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "read through the schema and Debug only")]
struct TargetConfig {
    #[schemars(url)]
    site_url: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "read through the schema and Debug only")]
struct TargetSecrets {
    webhook_secret: Secret,
    #[serde(default)]
    client_secret: Option<Secret>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "read through the schema and Debug only")]
struct LeakySecrets {
    webhook_secret: Secret,
    /// A secret kept in a plain string: printed by Debug.
    #[serde(default)]
    api_password: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "read through the schema and Debug only")]
struct BindingConfig {
    project: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TicketArgs {
    id: String,
}

#[derive(Serialize, JsonSchema)]
struct Ticket {
    id: String,
}

/// A recursive type: no strict-mode export can express it.
#[derive(Deserialize, JsonSchema)]
#[allow(dead_code, reason = "read through the schema and Debug only")]
struct Tree {
    children: Vec<Tree>,
}

struct GetTicket {
    breaks: BTreeSet<Break>,
}

impl Tool for GetTicket {
    type Args = TicketArgs;
    type Output = Ticket;

    fn descriptor(&self) -> ToolDescriptor {
        let annotations = if self.breaks.contains(&Break::ReadToolNotReadOnly) {
            ToolAnnotations::additive()
        } else {
            ToolAnnotations::read_only()
        };
        let mut d = ToolDescriptor::new::<TicketArgs>("tracker_get_ticket", "Get a ticket.")
            .with_annotations(annotations);
        if !self.breaks.contains(&Break::ToolWithoutCapability) {
            d = d.with_capability(Capability::new("ticket.read").unwrap());
        }
        d
    }

    async fn call(&self, args: TicketArgs, _context: &ToolContext) -> Result<Ticket, Error> {
        Ok(Ticket { id: args.id })
    }
}

struct CloseTicket {
    breaks: BTreeSet<Break>,
}

impl Tool for CloseTicket {
    type Args = TicketArgs;
    type Output = Ticket;

    fn descriptor(&self) -> ToolDescriptor {
        let mut d = ToolDescriptor::new::<TicketArgs>("tracker_close_ticket", "Close a ticket.")
            .with_annotations(ToolAnnotations::idempotent_update())
            .with_capability(Capability::new("ticket.update").unwrap());
        if self.breaks.contains(&Break::WriteToolRunsUnasked) {
            d = d.with_policy(ToolPolicy::Auto);
        }
        d
    }

    async fn call(&self, args: TicketArgs, _context: &ToolContext) -> Result<Ticket, Error> {
        Ok(Ticket { id: args.id })
    }
}

struct Tracker {
    breaks: BTreeSet<Break>,
    tools: ToolSet,
    compiles: AtomicU64,
}

impl Tracker {
    fn new(breaks: &[Break]) -> Arc<Self> {
        let breaks: BTreeSet<Break> = breaks.iter().copied().collect();
        let tools = ToolSet::new()
            .with(GetTicket {
                breaks: breaks.clone(),
            })
            .with(CloseTicket {
                breaks: breaks.clone(),
            });
        Arc::new(Self {
            breaks,
            tools,
            compiles: AtomicU64::new(0),
        })
    }

    fn has(&self, b: Break) -> bool {
        self.breaks.contains(&b)
    }
}

impl IntegrationDefinition for Tracker {
    fn key(&self) -> DefinitionKey {
        "tracker::cloud".parse().unwrap()
    }
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Connector
    }
    fn metadata(&self) -> Metadata {
        let name = if self.has(Break::BlankName) {
            " "
        } else {
            "Tracker"
        };
        Metadata::new(name, "Tickets in Tracker.", "tracker", "productivity")
    }
    fn target_config(&self) -> ConfigSpec {
        let spec = ConfigSpec::of::<TargetConfig>()
            .with_example(json!({"site_url": "https://t.example.com"}));
        if self.has(Break::BadExample) {
            spec.with_example(json!({"site_url": 42}))
        } else {
            spec
        }
    }
    fn target_secrets(&self) -> ConfigSpec {
        if self.has(Break::PlainStringSecret) {
            ConfigSpec::of::<LeakySecrets>().with_example(
                json!({"webhook_secret": "whs-example-1", "api_password": "hunter2-password"}),
            )
        } else {
            ConfigSpec::of::<TargetSecrets>()
                .with_example(json!({"webhook_secret": "whs-example-1"}))
        }
    }
    fn binding_config(&self) -> ConfigSpec {
        ConfigSpec::of::<BindingConfig>().with_example(json!({"project": "ENG"}))
    }
    fn connection_methods(&self) -> Vec<ConnectionMethod> {
        let mut methods = vec![
            ConnectionMethod::api_key(
                "api-key",
                "API token",
                vec![SecretField::new(
                    "api_token",
                    "API token",
                    CredentialType::API_KEY,
                )],
            )
            .unwrap(),
        ];
        if self.has(Break::OAuthWithoutSecretField) {
            let spec = OAuth2Spec::new(
                "https://t.example.com/oauth/authorize",
                "https://t.example.com/oauth/token",
            )
            .with_client_secret_field("oauth_secret");
            methods.push(
                ConnectionMethod::oauth2_authorization_code("oauth2", "Sign in", spec).unwrap(),
            );
        }
        if self.has(Break::OAuthWithoutClientId) {
            let spec = OAuth2Spec::new(
                "https://t.example.com/oauth/authorize",
                "https://t.example.com/oauth/token",
            );
            methods.push(
                ConnectionMethod::oauth2_authorization_code("oauth2", "Sign in", spec).unwrap(),
            );
        }
        if self.has(Break::RedirectWithoutFlow) {
            methods.push(ConnectionMethod::redirect("install", "Install the app").unwrap());
        }
        methods
    }
    fn compile_binding(
        &self,
        _input: &CompileInput<'_>,
    ) -> Result<BindingPlan, Vec<ValidationIssue>> {
        let mut client = RuntimeClient::new("tracker-cli");
        if self.has(Break::NonDeterministicCompile) {
            let n = self.compiles.fetch_add(1, Ordering::SeqCst);
            client = client.with_env("TRACKER_RUN", n.to_string());
        }
        Ok(BindingPlan::new().with_runtime_client(client))
    }
    fn webhook_source(&self) -> Option<WebhookSource> {
        Some(
            WebhookSource::new(HmacHexScheme::new("x-tracker-signature").with_prefix("sha256="))
                .with_target_secret("webhook_secret")
                .with_delivery_header("x-tracker-delivery"),
        )
    }
    fn tool_catalog(&self) -> Vec<ToolDescriptor> {
        let mut tools = self.tools.descriptors();
        if self.has(Break::UnexportableTool) {
            tools.push(
                ToolDescriptor::new::<Tree>("tracker_list_trees", "List trees.")
                    .with_annotations(ToolAnnotations::read_only())
                    .with_capability(Capability::new("ticket.read").unwrap()),
            );
        }
        tools
    }
}

#[derive(Deserialize)]
struct Delivery<'a> {
    #[serde(borrow)]
    account: &'a str,
}

impl WebhookHandler for Tracker {
    fn classify(&self, request: &InboundRequest<'_>) -> Result<Classification, Error> {
        if self.has(Break::HandshakesUnverified) {
            // The bug DESIGN warns of: answering before verifying.
            return Ok(Classification::Handshake(Handshake::unverified(
                WebhookResponse::text(http::StatusCode::OK, "ok"),
            )));
        }
        if self.has(Break::RefusesBeforeVerifying)
            && (request.headers.get("x-tracker-signature").is_none()
                || !request.body.ends_with(br#""Broken"}}"#))
        {
            return Err(Error::not_found(
                "webhook.connection_not_found",
                "no connection knows this ticket",
            ));
        }
        let delivery: Delivery<'_> = serde_json::from_slice(request.body).map_err(|_| {
            Error::new(
                ErrorKind::InvalidInput,
                "webhook.invalid_payload",
                "not a Tracker delivery",
            )
        })?;
        let id = request.headers.get("x-tracker-delivery").ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                "webhook.missing_header",
                "no delivery id",
            )
        })?;
        Ok(Classification::Event(EventRoute::new(
            Routing::subject(delivery.account),
            id,
        )))
    }

    fn normalize(
        &self,
        _request: &InboundRequest<'_>,
        _context: &NormalizeContext<'_>,
    ) -> Result<Normalized, Error> {
        if self.has(Break::NormalizeFails) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "webhook.invalid_payload",
                "cannot normalize",
            ));
        }
        Ok(Normalized::new(
            EventType::new("tracker.ticket.updated").unwrap(),
            "ticket.updated",
        ))
    }
}

/// A revoker that never runs (the disconnect engine asks only OAuth 2.0 methods).
struct NeverAsked;

#[async_trait::async_trait]
impl GrantRevoker for NeverAsked {
    async fn revoke(
        &self,
        _context: &RevokeContext<'_>,
    ) -> Result<integrations_core::auth::RemoteRevocation, Error> {
        Ok(integrations_core::auth::RemoteRevocation::Revoked)
    }
}

#[async_trait::async_trait]
impl SyncSource for Tracker {
    fn streams(&self) -> Vec<SyncStream> {
        let mut streams = vec![
            SyncStream::new("tickets", true),
            SyncStream::new("projects", false),
        ];
        if self.has(Break::DuplicateStream) {
            streams.push(SyncStream::new("tickets", false));
        }
        if self.has(Break::EmptyStreamName) {
            streams.push(SyncStream::new("", false));
        }
        streams
    }

    async fn fetch_page(&self, _request: SyncRequest<'_>) -> Result<SyncPage, Error> {
        Ok(SyncPage::new(Vec::new(), None))
    }

    fn watermark_at(&self, _stream: &str, at: Timestamp) -> Option<String> {
        (!self.has(Break::StreamsWithoutWatermark)).then(|| at.to_rfc3339())
    }
}

impl IntegrationProvider for Tracker {
    fn sync(&self) -> Option<&dyn SyncSource> {
        Some(self)
    }
    fn webhooks(&self) -> Option<&dyn WebhookHandler> {
        Some(self)
    }
    fn grant_revoker(
        &self,
        method: &integrations_core::ConnectionMethodId,
    ) -> Option<&dyn GrantRevoker> {
        (self.has(Break::RevokerForApiKey) && method.as_str() == "api-key")
            .then_some(&NeverAsked as &dyn GrantRevoker)
    }
    fn tools(&self) -> Option<&dyn ToolExecutor> {
        if self.has(Break::ToolsWithoutExecutor) {
            None
        } else {
            Some(&self.tools)
        }
    }
}

fn sample() -> WebhookSample {
    WebhookSample::new(
        br#"{"account":"acct-1","ticket":{"id":"T-1","title":"Broken"}}"#.to_vec(),
        Timestamp::from_unix_seconds(1_750_000_000),
    )
}

async fn report(breaks: &[Break]) -> integrations_testkit::conformance::Report {
    Conformance::new(Tracker::new(breaks))
        .with_webhook_sample(sample())
        .run()
        .await
}

fn failed(report: &integrations_testkit::conformance::Report) -> BTreeSet<Check> {
    report.failures().into_iter().map(|(c, _)| c).collect()
}

#[tokio::test]
async fn a_sound_definition_passes_every_check() {
    let report = report(&[]).await;
    report.assert_passed();
    for check in Check::ALL {
        assert_eq!(report.outcome(check), Some(&Outcome::Passed), "{check}");
    }
}

#[tokio::test]
async fn each_break_fails_exactly_the_checks_it_should() {
    let cases: &[(Break, &[Check])] = &[
        (Break::BlankName, &[Check::Identity]),
        (Break::BadExample, &[Check::Identity, Check::Schemas]),
        (Break::OAuthWithoutSecretField, &[Check::ConnectionMethods]),
        (Break::RedirectWithoutFlow, &[Check::ConnectionMethods]),
        (Break::RevokerForApiKey, &[Check::ConnectionMethods]),
        (Break::ReadToolNotReadOnly, &[Check::ToolRules]),
        (Break::WriteToolRunsUnasked, &[Check::ToolRules]),
        (Break::ToolWithoutCapability, &[Check::ToolRules]),
        (Break::ToolsWithoutExecutor, &[Check::ToolRules]),
        (Break::UnexportableTool, &[Check::ToolExports]),
        (Break::NonDeterministicCompile, &[Check::CompileDeterminism]),
        // The pipeline no longer reads a delivery it could verify first, so through the
        // harness's endpoint route such a handler's unsigned and tampered deliveries are
        // refused on their signatures; the unsigned check also asks the handler itself,
        // as a payload-routed delivery would be asked before verification, and catches
        // the bug there.
        (
            Break::HandshakesUnverified,
            &[Check::WebhookRejectsUnsigned],
        ),
        (Break::NormalizeFails, &[Check::WebhookAcceptsSigned]),
        // Refused, but not by the signature: the old checks counted any error. The
        // pipeline now verifies a delivery before its handler reads it wherever the route
        // names every secret (the harness's endpoint route does), so such a handler can
        // no longer answer an unsigned delivery for another reason there: the checks
        // see the signature refusal they require.
        (Break::RefusesBeforeVerifying, &[]),
        (Break::PlainStringSecret, &[Check::SecretsRedacted]),
        (Break::OAuthWithoutClientId, &[Check::ConnectionMethods]),
        (Break::DuplicateStream, &[Check::SyncStreams]),
        (Break::EmptyStreamName, &[Check::SyncStreams]),
        (Break::StreamsWithoutWatermark, &[]),
    ];
    for (broken, expected) in cases {
        let report = report(&[*broken]).await;
        let expected: BTreeSet<Check> = expected.iter().copied().collect();
        assert_eq!(
            failed(&report),
            expected,
            "{broken:?}: {:#?}",
            report.failures()
        );
    }
}

#[tokio::test]
async fn failures_are_readable() {
    let report = report(&[Break::PlainStringSecret, Break::WriteToolRunsUnasked]).await;
    let message = std::panic::catch_unwind(|| report.assert_passed()).unwrap_err();
    let text = message.downcast_ref::<String>().unwrap();
    assert!(text.contains("tracker::cloud does not conform"), "{text}");
    assert!(text.contains("secrets_redacted"), "{text}");
    assert!(text.contains("api_password is a plain string"), "{text}");
    assert!(
        text.contains("tracker_close_ticket: a tool that writes must not run without asking"),
        "{text}"
    );
    assert!(
        !text.contains("hunter2-password"),
        "the report never quotes a secret"
    );
}

#[tokio::test]
async fn webhooks_need_a_sample_and_tools_are_optional() {
    let without_sample = Conformance::new(Tracker::new(&[])).run().await;
    let Some(Outcome::Failed(problems)) = without_sample.outcome(Check::WebhookAcceptsSigned)
    else {
        panic!("a definition with webhooks and no sample fails");
    };
    assert!(problems[0].contains("give the suite a sample delivery"));
}

/// A provider that keeps every default of the traits: no config, no secrets, no tools,
/// no webhooks; one API-key method, identity-checked.
struct Minimal;

impl IntegrationDefinition for Minimal {
    fn key(&self) -> DefinitionKey {
        "minimal::cloud".parse().unwrap()
    }
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Connector
    }
    fn metadata(&self) -> Metadata {
        Metadata::new(
            "Minimal",
            "The least a provider declares.",
            "minimal",
            "other",
        )
    }
    fn connection_methods(&self) -> Vec<ConnectionMethod> {
        vec![
            ConnectionMethod::api_key(
                "api-key",
                "API key",
                vec![SecretField::new(
                    "api_key",
                    "API key",
                    CredentialType::API_KEY,
                )],
            )
            .unwrap(),
        ]
    }
    fn identity_check(
        &self,
        _method: &ConnectionMethod,
        _target_config: &integrations_core::schema::Parsed,
    ) -> Option<IdentityCheck> {
        Some(IdentityCheck::get(
            "https://minimal.example.com/v1/me",
            AuthInjection::Bearer,
        ))
    }
}

impl IntegrationProvider for Minimal {}

#[tokio::test]
async fn the_traits_own_defaults_conform() {
    let report = Conformance::new(Arc::new(Minimal)).run().await;
    report.assert_passed();
    assert_eq!(report.outcome(Check::Schemas), Some(&Outcome::Passed));
    assert!(report.warnings().is_empty(), "{:?}", report.warnings());
}

#[tokio::test]
async fn an_api_key_method_without_an_identity_check_is_a_warning() {
    let report = report(&[]).await;
    assert!(report.passed());
    let warnings = report.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].0, Check::ConnectionMethods);
    assert!(
        warnings[0].1[0].contains("api-key: an API-key method without an identity check"),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn a_handler_refusing_before_verifying_is_answered_by_the_signature_on_endpoint_routes() {
    // Verify-before-read: the unsigned and tampered deliveries never reach the broken
    // classification, so the refusals the checks see are the signature's own.
    let report = report(&[Break::RefusesBeforeVerifying]).await;
    for check in [Check::WebhookRejectsUnsigned, Check::WebhookRejectsTampered] {
        assert_eq!(report.outcome(check), Some(&Outcome::Passed), "{check}");
    }
}

#[tokio::test]
async fn an_oauth_method_whose_data_names_no_client_id_fails_and_says_why() {
    let report = report(&[Break::OAuthWithoutClientId]).await;
    let Some(Outcome::Failed(problems)) = report.outcome(Check::ConnectionMethods) else {
        panic!("{:?}", report.outcome(Check::ConnectionMethods));
    };
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("oauth2: the OAuth 2.0 data names no client id")
            && problems[0].contains("IntegrationDefinition::oauth2 must set OAuth2Spec::client_id"),
        "{problems:?}"
    );
}

/// The target config of a definition whose OAuth client id is optional, read by `oauth2`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "read through the schema and Debug only")]
struct OAuthTarget {
    #[schemars(url)]
    site_url: String,
    #[serde(default)]
    client_id: Option<String>,
}

/// A definition whose OAuth client id comes from the target config (when `reads` is set)
/// or never (a definition that forgot to override `oauth2`).
struct OAuthTracker {
    reads: bool,
    examples: Vec<serde_json::Value>,
}

impl IntegrationDefinition for OAuthTracker {
    fn key(&self) -> DefinitionKey {
        "tracker::oauth".parse().unwrap()
    }
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Connector
    }
    fn metadata(&self) -> Metadata {
        Metadata::new("Tracker", "Tickets in Tracker.", "tracker", "productivity")
    }
    fn target_config(&self) -> ConfigSpec {
        self.examples
            .iter()
            .fold(ConfigSpec::of::<OAuthTarget>(), |spec, example| {
                spec.with_example(example.clone())
            })
    }
    fn target_secrets(&self) -> ConfigSpec {
        ConfigSpec::of::<TargetSecrets>().with_example(json!({"webhook_secret": "whs-example-1"}))
    }
    fn connection_methods(&self) -> Vec<ConnectionMethod> {
        let spec = OAuth2Spec::new(
            "https://t.example.com/oauth/authorize",
            "https://t.example.com/oauth/token",
        );
        vec![ConnectionMethod::oauth2_authorization_code("oauth2", "Sign in", spec).unwrap()]
    }
    fn oauth2(
        &self,
        method: &ConnectionMethod,
        target_config: &integrations_core::schema::Parsed,
    ) -> Option<OAuth2Spec> {
        let spec = method.oauth2.clone()?;
        if !self.reads {
            return Some(spec);
        }
        let target = target_config.get::<OAuthTarget>().ok()?;
        Some(spec.with_client_id(target.client_id.clone()))
    }
}

impl IntegrationProvider for OAuthTracker {}

#[tokio::test]
async fn a_client_id_is_looked_for_in_every_target_config_example() {
    let with_id = json!({"site_url": "https://t.example.com", "client_id": "trk_client"});
    let without_id = json!({"site_url": "https://t.example.com"});
    let cases = [
        // Read from the config, named by the second example only.
        (true, vec![without_id.clone(), with_id.clone()], true),
        // Read from the config, named by no example, but the schema takes one.
        (true, vec![without_id.clone()], true),
        // Never read: the examples name one in vain.
        (false, vec![with_id.clone()], false),
        (false, vec![without_id, with_id], false),
    ];
    for (reads, examples, passes) in cases {
        let report = Conformance::new(Arc::new(OAuthTracker {
            reads,
            examples: examples.clone(),
        }))
        .run()
        .await;
        assert_eq!(
            report.outcome(Check::ConnectionMethods) == Some(&Outcome::Passed),
            passes,
            "reads={reads} {examples:?}: {:?}",
            report.failures()
        );
    }
}

#[tokio::test]
async fn sync_streams_are_named_once_and_incremental_ones_bound_their_watermark() {
    for (broken, problem) in [
        (
            Break::DuplicateStream,
            "the sync stream tickets is declared twice",
        ),
        (Break::EmptyStreamName, "a sync stream has an empty name"),
    ] {
        let report = report(&[broken]).await;
        let Some(Outcome::Failed(problems)) = report.outcome(Check::SyncStreams) else {
            panic!("{broken:?}: {:?}", report.outcome(Check::SyncStreams));
        };
        assert!(problems.iter().any(|p| p.contains(problem)), "{problems:?}");
    }
    let report = report(&[Break::StreamsWithoutWatermark]).await;
    assert_eq!(report.outcome(Check::SyncStreams), Some(&Outcome::Passed));
    let warnings: Vec<_> = report
        .warnings()
        .into_iter()
        .filter(|(check, _)| *check == Check::SyncStreams)
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(
        warnings[0].1.len(),
        1,
        "only the incremental stream: {warnings:?}"
    );
    assert!(
        warnings[0].1[0]
            .starts_with("tickets: an incremental stream that keeps the default watermark_at"),
        "{warnings:?}"
    );
    // Without sync there is nothing to check.
    let minimal = Conformance::new(Arc::new(Minimal)).run().await;
    assert_eq!(minimal.outcome(Check::SyncStreams), Some(&Outcome::Passed));
}
