//! Test support for the integrations SDK.
//!
//! * [`TestHost`]: a complete in-memory host ([`MemoryStore`] with real compare-and-swap
//!   and take-once semantics, [`ManualClock`], [`RecordingAuditSink`],
//!   [`RecordingEventSink`], a fixed AES-GCM test key) that never touches the network.
//! * Closure HTTP clients: [`integrations_core::host::from_fn`], and [`offline_http`].
//! * [`mock::MockProvider`]: a loopback mock server that fails the test, readably, on any
//!   request nobody expected.
//! * [`mock::api`]: mock Linear, GitHub (cloud and Enterprise Server), Slack and OpenAI
//!   APIs that check each request's shape, and [`mock::api::FakeTokenManager`], a token
//!   manager stand-in that refreshes through a real token endpoint.
//! * [`tool_formats`]: checks of exported tool declarations against the MCP, OpenAI
//!   strict, Anthropic and Gemini rules.
//! * [`mock::oauth`]: GitHub, Linear and Slack token endpoints (and identity calls) with
//!   each provider's quirks, PKCE checks, rotating refresh tokens and failure modes; and
//!   [`mock::oauth::OAuth2Mock`], which does what any provider's `OAuth2Spec` declares.
//! * [`assert_secret_free`]: proves a secret is in no `Display`, `Debug` or source of an
//!   error, verbatim, encoded (hex, base64, URL) or in part.
//! * [`WebhookSigner`] (re-exported from `integrations_core::webhook`): signed webhook
//!   deliveries for any definition's webhook source.
//! * [`store_conformance`]: the semantics every [`Stores`](integrations_core::host::Stores)
//!   implementation must have (compare-and-swap, take-once, dedup, tenant isolation,
//!   purge), as one call a host runs against its own stores.
//!
//! ```
//! use integrations_testkit::TestHost;
//! use integrations_core::host::Clock;
//! use std::time::Duration;
//!
//! let test = TestHost::new();
//! let before = test.host().clock().now();
//! test.clock.advance(Duration::from_secs(600));
//! assert_eq!(test.host().clock().now().duration_since(before), Duration::from_secs(600));
//! ```

mod clock;
pub mod codes;
pub mod conformance;
mod harness;
mod host;
mod memory;
pub mod mock;
mod record_sink;
mod secrets;
mod sinks;
pub mod store_conformance;
pub mod tool_formats;

pub use clock::ManualClock;
pub use harness::{HARNESS_ID, WebhookHarness};
pub use host::{TEST_KEY_ID, TestHost, offline_http};
/// The webhook signer lives in `integrations_core::webhook`; re-exported here for tests.
pub use integrations_core::webhook::{Delivery, SignedDelivery, WebhookSigner};
pub use memory::MemoryStore;
pub use record_sink::MemoryRecordSink;
pub use secrets::{
    PARTIAL_LEN, assert_debug_secret_free, assert_secret_free, assert_text_secret_free,
};
pub use sinks::{RecordingAuditSink, RecordingEventSink};
