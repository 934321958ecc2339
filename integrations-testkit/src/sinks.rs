//! Recording [`AuditSink`] and [`EventSink`] implementations.

use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use integrations_core::Error;
use integrations_core::host::{AuditEvent, AuditSink, EventSink};
use integrations_core::webhook::WebhookEvent;

/// Keeps every audit record, in order.
#[derive(Debug, Default)]
pub struct RecordingAuditSink {
    events: Mutex<Vec<AuditEvent>>,
}

impl RecordingAuditSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every record so far.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The records whose action is `action`.
    pub fn with_action(&self, action: &str) -> Vec<AuditEvent> {
        self.events()
            .into_iter()
            .filter(|e| e.action.as_str() == action)
            .collect()
    }
}

#[async_trait]
impl AuditSink for RecordingAuditSink {
    async fn record(&self, event: AuditEvent) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
    }
}

/// Keeps every delivered webhook event, in order; can be told to fail.
#[derive(Debug, Default)]
pub struct RecordingEventSink {
    events: Mutex<Vec<WebhookEvent>>,
    fail_next: Mutex<u32>,
}

impl RecordingEventSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every event delivered so far.
    pub fn events(&self) -> Vec<WebhookEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Makes the next `n` deliveries fail (to test redelivery).
    pub fn fail_next(&self, n: u32) {
        *self
            .fail_next
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = n;
    }
}

#[async_trait]
impl EventSink for RecordingEventSink {
    async fn deliver(&self, event: &WebhookEvent) -> Result<(), Error> {
        {
            let mut fail = self
                .fail_next
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if *fail > 0 {
                *fail -= 1;
                return Err(crate::codes::testkit::SINK_FAILED
                    .error("the recording event sink was told to fail"));
            }
        }
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event.clone());
        Ok(())
    }
}
