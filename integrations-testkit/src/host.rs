//! [`TestHost`]: a complete in-memory host.

use std::sync::Arc;

use integrations_core::host::{
    AesGcmKeyRing, Host, HttpClient, HttpRequest, HttpResponse, from_fn,
};

use crate::{ManualClock, MemoryStore, RecordingAuditSink, RecordingEventSink};

/// The key id of the test key ring.
pub const TEST_KEY_ID: &str = "testkit-key-1";

/// An in-memory host: [`MemoryStore`], a [`ManualClock`], recording sinks, an AES-GCM key
/// ring with a fixed test key, and an HTTP client (by default one that refuses every
/// request, so a test never reaches the network by accident).
///
/// The parts stay reachable, so tests can move the clock, read the store directly and
/// inspect audit records.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TestHost {
    /// The stores.
    pub store: Arc<MemoryStore>,
    /// The clock.
    pub clock: Arc<ManualClock>,
    /// The audit sink.
    pub audit: Arc<RecordingAuditSink>,
    /// The webhook event sink.
    pub events: Arc<RecordingEventSink>,
    /// The key ring.
    pub keys: Arc<AesGcmKeyRing>,
    host: Host,
}

impl Default for TestHost {
    fn default() -> Self {
        Self::new()
    }
}

impl TestHost {
    /// A host whose HTTP client refuses every request.
    pub fn new() -> Self {
        Self::with_http(Arc::new(offline_http()))
    }

    /// A host with the given HTTP client.
    ///
    /// # Panics
    ///
    /// Never in practice: the fixed test key and a complete builder cannot fail.
    pub fn with_http(http: Arc<dyn HttpClient>) -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::default());
        let audit = Arc::new(RecordingAuditSink::new());
        let events = Arc::new(RecordingEventSink::new());
        let keys = Arc::new(AesGcmKeyRing::new(TEST_KEY_ID, [0x42; 32]).expect("valid test key"));
        let host = Host::builder()
            .stores(store.clone())
            .http(http)
            .cipher(keys.clone())
            .clock(clock.clone())
            .audit(audit.clone())
            .events(events.clone())
            .build()
            .expect("a complete test host");
        Self {
            store,
            clock,
            audit,
            events,
            keys,
            host,
        }
    }

    /// A copy of this host (same stores, clock, sinks and keys) with another HTTP client.
    /// Two hosts sharing stores model two instances of one application.
    ///
    /// # Panics
    ///
    /// Never in practice, as [`with_http`](Self::with_http).
    #[must_use]
    pub fn sharing_stores_with_http(&self, http: Arc<dyn HttpClient>) -> Self {
        let host = Host::builder()
            .stores(self.store.clone())
            .http(http)
            .cipher(self.keys.clone())
            .clock(self.clock.clone())
            .audit(self.audit.clone())
            .events(self.events.clone())
            .build()
            .expect("a complete test host");
        Self {
            host,
            ..self.clone()
        }
    }

    /// The host, for the engines.
    pub fn host(&self) -> &Host {
        &self.host
    }
}

/// An HTTP client that fails every request with a message naming it: for tests that
/// must not touch the network.
pub fn offline_http() -> impl HttpClient {
    from_fn(|request: HttpRequest| async move {
        Err::<HttpResponse, _>(crate::codes::testkit::OFFLINE.error(format!(
            "the test host is offline: unexpected {} {}{}",
            request.method(),
            request.uri().host().unwrap_or("?"),
            request.uri().path()
        )))
    })
}
