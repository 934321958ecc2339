//! The conformance suite: one call a provider author puts in their own tests.
//!
//! ```no_run
//! # async fn run(my_integration: std::sync::Arc<dyn integrations_core::provider::Integration>) {
//! use integrations_core::Timestamp;
//! use integrations_testkit::conformance::{Conformance, WebhookSample};
//!
//! Conformance::new(my_integration)
//!     .with_webhook_sample(
//!         WebhookSample::new(br#"{"event":"issue_updated","issue":{"id":"1"}}"#.to_vec(), Timestamp::from_unix_seconds(1_750_000_000))
//!             .with_event("issue_updated"),
//!     )
//!     .run()
//!     .await
//!     .assert_passed();
//! # }
//! ```
//!
//! A definition that keeps every default of the traits (no config, no secrets, no tools,
//! no webhooks) passes: the default specs carry `{}` as their example.
//!
//! It checks, each as a named [`Check`]:
//!
//! * **identity**: the key, the metadata, and that a registry accepts the definition;
//! * **schemas**: every config schema compiles, has examples, and every example parses;
//! * **connection methods**: consistent with their auth data (OAuth endpoints for the
//!   example target, a client id that [`oauth2`] reads from some target-config example,
//!   secret fields, redirect flows the provider implements, grant revokers only for
//!   OAuth 2.0 authorization-code methods); an API-key method without an identity check
//!   is a warning ([`Report::warnings`]): its keys are stored unverified and its
//!   connections name no external subject;
//! * **tool rules**: names, descriptions, schemas, annotations consistent with the verb,
//!   default policies (writes never run unasked), capabilities, an executor;
//! * **tool exports**: every tool exports validly to MCP, OpenAI strict, Anthropic and
//!   Gemini;
//! * **compile**: every binding example compiles, twice identically, to a plan with a
//!   stable hash;
//! * **sync streams**: a sync source offers at least one stream, each with a name of its
//!   own; an incremental stream that keeps the default
//!   [`watermark_at`](integrations_core::sync::SyncSource::watermark_at) is a warning (a
//!   record changed during a run can be missed). A provider without sync passes;
//! * **webhooks**: a signed delivery is accepted; unsigned and tampered ones are refused
//!   with a signature error code (a refusal for any other reason, such as a 404 for a
//!   connection, fails the check), stale ones as out of their window (for schemes without a
//!   timestamp, a replay is deduplicated instead);
//! * **secrets redacted**: target secrets are declared as secrets, and neither a parsed
//!   config's `Debug` nor a validation message shows one.
//!
//! [`oauth2`]: integrations_core::definition::IntegrationDefinition::oauth2

mod compile_check;
mod definition_checks;
mod sync_checks;
mod tool_checks;
mod webhook_checks;

use std::fmt;
use std::fmt::Write as _;
use std::sync::Arc;

use integrations_core::Timestamp;
use integrations_core::provider::Integration;

/// One check of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Check {
    /// The key, the metadata, registration.
    Identity,
    /// Config schemas compile and their examples parse.
    Schemas,
    /// Connection methods are consistent with their auth data.
    ConnectionMethods,
    /// Tool names, annotations, policies and capabilities follow the rules.
    ToolRules,
    /// Every tool exports validly to every format.
    ToolExports,
    /// `compile_binding` is deterministic.
    CompileDeterminism,
    /// Sync streams are named once each; incremental ones bound their watermark.
    SyncStreams,
    /// A signed delivery is accepted.
    WebhookAcceptsSigned,
    /// An unsigned delivery is refused.
    WebhookRejectsUnsigned,
    /// A tampered delivery is refused.
    WebhookRejectsTampered,
    /// A stale delivery is refused (or, without a timestamp, a replay is deduplicated).
    WebhookRejectsStale,
    /// Secrets are declared as such and never printed.
    SecretsRedacted,
}

impl Check {
    /// Every check, in the order they run.
    pub const ALL: [Check; 12] = [
        Check::Identity,
        Check::Schemas,
        Check::ConnectionMethods,
        Check::ToolRules,
        Check::ToolExports,
        Check::CompileDeterminism,
        Check::SyncStreams,
        Check::WebhookAcceptsSigned,
        Check::WebhookRejectsUnsigned,
        Check::WebhookRejectsTampered,
        Check::WebhookRejectsStale,
        Check::SecretsRedacted,
    ];

    /// The check's name (`identity`, `webhook_rejects_tampered`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Schemas => "schemas",
            Self::ConnectionMethods => "connection_methods",
            Self::ToolRules => "tool_rules",
            Self::ToolExports => "tool_exports",
            Self::CompileDeterminism => "compile_determinism",
            Self::SyncStreams => "sync_streams",
            Self::WebhookAcceptsSigned => "webhook_accepts_signed",
            Self::WebhookRejectsUnsigned => "webhook_rejects_unsigned",
            Self::WebhookRejectsTampered => "webhook_rejects_tampered",
            Self::WebhookRejectsStale => "webhook_rejects_stale",
            Self::SecretsRedacted => "secrets_redacted",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// It passed.
    Passed,
    /// It failed, with every problem found.
    Failed(Vec<String>),
    /// It does not apply (a definition without webhooks), with why.
    Skipped(String),
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckResult {
    /// The check.
    pub check: Check,
    /// Its outcome.
    pub outcome: Outcome,
    /// What the check found worth fixing that does not fail it (an API-key method
    /// without an identity check stores keys unverified).
    pub warnings: Vec<String>,
}

impl CheckResult {
    fn new(check: Check, outcome: Outcome) -> Self {
        Self {
            check,
            outcome,
            warnings: Vec::new(),
        }
    }
}

/// The suite's results for one definition.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The definition, `family::variant`.
    pub key: String,
    /// One result per check, in [`Check::ALL`] order.
    pub results: Vec<CheckResult>,
}

impl Report {
    /// The outcome of one check.
    pub fn outcome(&self, check: Check) -> Option<&Outcome> {
        self.results
            .iter()
            .find(|r| r.check == check)
            .map(|r| &r.outcome)
    }

    /// Whether no check failed.
    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }

    /// The failed checks and their problems.
    pub fn failures(&self) -> Vec<(Check, &[String])> {
        self.results
            .iter()
            .filter_map(|r| match &r.outcome {
                Outcome::Failed(problems) => Some((r.check, problems.as_slice())),
                _ => None,
            })
            .collect()
    }

    /// The warnings of every check, by check.
    pub fn warnings(&self) -> Vec<(Check, &[String])> {
        self.results
            .iter()
            .filter(|r| !r.warnings.is_empty())
            .map(|r| (r.check, r.warnings.as_slice()))
            .collect()
    }

    /// Fails the test with a readable list of every failed check and problem.
    ///
    /// # Panics
    ///
    /// When a check failed.
    pub fn assert_passed(&self) {
        let failures = self.failures();
        if failures.is_empty() {
            return;
        }
        let mut text = format!("{} does not conform:\n", self.key);
        for (check, problems) in failures {
            let _ = writeln!(text, "  {check}:");
            for problem in problems {
                let _ = writeln!(text, "    - {problem}");
            }
        }
        panic!("{text}");
    }
}

/// A delivery the provider would send, to check the webhook handler with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookSample {
    /// The body, byte for byte.
    pub body: Vec<u8>,
    /// When it is sent: the signed timestamp, and the verifier's clock. For schemes that
    /// sign a timestamp inside the body (Linear), the body's own time.
    pub at: Timestamp,
    /// The event name for providers that send it in a header.
    pub event: Option<String>,
    /// The content type, when not the default for the body.
    pub content_type: Option<String>,
}

impl WebhookSample {
    /// A sample body sent at `at`.
    pub fn new(body: impl Into<Vec<u8>>, at: Timestamp) -> Self {
        Self {
            body: body.into(),
            at,
            event: None,
            content_type: None,
        }
    }

    /// Sets the event name.
    #[must_use]
    pub fn with_event(mut self, event: impl Into<String>) -> Self {
        self.event = Some(event.into());
        self
    }

    /// Sets the content type.
    #[must_use]
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }
}

/// The suite, configured for one integration.
#[derive(Clone)]
pub struct Conformance {
    integration: Arc<dyn Integration>,
    webhook_samples: Vec<WebhookSample>,
}

impl fmt::Debug for Conformance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conformance")
            .field("key", &self.integration.key())
            .field("webhook_samples", &self.webhook_samples.len())
            .finish()
    }
}

impl Conformance {
    /// The suite for `integration`.
    pub fn new(integration: Arc<dyn Integration>) -> Self {
        Self {
            integration,
            webhook_samples: Vec::new(),
        }
    }

    /// Adds a delivery the webhook checks sign and send. A definition that receives
    /// webhooks needs at least one.
    #[must_use]
    pub fn with_webhook_sample(mut self, sample: WebhookSample) -> Self {
        self.webhook_samples.push(sample);
        self
    }

    /// Runs every check; never panics (see [`Report::assert_passed`]).
    pub async fn run(&self) -> Report {
        let integration = &self.integration;
        let (methods, method_warnings) = definition_checks::connection_methods(&**integration);
        let mut connection_methods = CheckResult::new(Check::ConnectionMethods, methods);
        connection_methods.warnings = method_warnings;
        let (streams, stream_warnings) = sync_checks::streams(&**integration);
        let mut sync_streams = CheckResult::new(Check::SyncStreams, streams);
        sync_streams.warnings = stream_warnings;
        let mut results = vec![
            CheckResult::new(Check::Identity, definition_checks::identity(integration)),
            CheckResult::new(Check::Schemas, definition_checks::schemas(&**integration)),
            connection_methods,
            CheckResult::new(Check::ToolRules, tool_checks::rules(&**integration)),
            CheckResult::new(Check::ToolExports, tool_checks::exports(&**integration)),
            CheckResult::new(
                Check::CompileDeterminism,
                compile_check::determinism(integration),
            ),
            sync_streams,
        ];
        let webhooks = webhook_checks::run(integration, &self.webhook_samples).await;
        for (check, outcome) in webhooks {
            results.push(CheckResult::new(check, outcome));
        }
        results.push(CheckResult::new(
            Check::SecretsRedacted,
            definition_checks::secrets_redacted(&**integration),
        ));
        Report {
            key: integration.key().to_string(),
            results,
        }
    }
}

/// The outcome of a list of problems.
fn outcome(problems: Vec<String>) -> Outcome {
    if problems.is_empty() {
        Outcome::Passed
    } else {
        Outcome::Failed(problems)
    }
}
