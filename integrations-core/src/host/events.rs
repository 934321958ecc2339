//! [`EventSink`]: where verified, normalized webhook events go.

use async_trait::async_trait;

use crate::Error;
use crate::model::WebhookEvent;

/// Receives each verified, normalized, deduplicated webhook event once.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Delivers one event (to a queue, a workflow engine, a channel).
    ///
    /// # Errors
    ///
    /// Whatever the sink reports; the ingest pipeline answers the provider with a 5xx so
    /// it retries.
    async fn deliver(&self, event: &WebhookEvent) -> Result<(), Error>;
}
