//! The audit queue: injected requests are audited by a writer task, so a slow audit
//! store (a database insert) never sits in a request's path. Nothing is dropped: a full
//! queue makes the request wait, and once the writer has stopped, records are written
//! in place. A request sent with a credential is audited even when it fails or the
//! sandbox goes away before the answer ([`CredentialUse`]).

use std::time::Instant;

use http::StatusCode;
use integrations_core::host::{AuditEvent, AuditOutcome, Host};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, watch};

use crate::server::{Phase, until};

/// How many audit records may wait for the writer.
const QUEUE: usize = 4096;

/// The sending side, shared by every request.
#[derive(Debug)]
pub(crate) struct AuditQueue {
    tx: mpsc::Sender<AuditEvent>,
    host: Host,
}

/// The receiving side, until the proxy starts serving.
pub(crate) type AuditReceiver = mpsc::Receiver<AuditEvent>;

impl AuditQueue {
    pub(crate) fn new(host: Host) -> (Self, AuditReceiver) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Self { tx, host }, rx)
    }

    /// Starts the record of a request about to be sent with a credential: `event` with
    /// every detail known before sending.
    pub(crate) fn begin(&self, event: AuditEvent, started: Instant) -> CredentialUse {
        CredentialUse {
            event: Some(event),
            started,
            retried: false,
            tx: self.tx.clone(),
            host: self.host.clone(),
        }
    }
}

/// Queues `event` (waits while the queue is full); writes it in place when the writer
/// has stopped.
async fn record(tx: &mpsc::Sender<AuditEvent>, host: &Host, event: AuditEvent) {
    if let Err(mpsc::error::SendError(event)) = tx.send(event).await {
        host.audit().record(event).await;
    }
}

/// The audit record of one request handed to the upstream client with a credential.
/// [`finish`](Self::finish) writes it with the outcome; if the request is dropped
/// first (the sandbox closed its connection while waiting), it is written on drop with
/// the outcome `proxy.outcome_unknown`. Either way, exactly one record per request.
#[derive(Debug)]
pub(crate) struct CredentialUse {
    event: Option<AuditEvent>,
    started: Instant,
    retried: bool,
    tx: mpsc::Sender<AuditEvent>,
    host: Host,
}

impl CredentialUse {
    /// Notes that the request was sent a second time (the 401 retry).
    pub(crate) fn retried(&mut self) {
        self.retried = true;
    }

    /// Writes the record: `outcome`, and the upstream's `status` when it answered.
    pub(crate) async fn finish(mut self, outcome: AuditOutcome, status: Option<StatusCode>) {
        if let Some(event) = self.complete(outcome, status) {
            record(&self.tx, &self.host, event).await;
        }
    }

    fn complete(
        &mut self,
        outcome: AuditOutcome,
        status: Option<StatusCode>,
    ) -> Option<AuditEvent> {
        let mut event = self.event.take()?;
        event.at = self.host.clock().now();
        event.outcome = outcome;
        if let Some(status) = status {
            event = event.with_detail("status", status.as_str());
        }
        Some(
            event
                .with_detail("retried", self.retried.to_string())
                .with_detail("elapsed_ms", self.started.elapsed().as_millis().to_string()),
        )
    }
}

impl Drop for CredentialUse {
    fn drop(&mut self) {
        let unknown = AuditOutcome::Failure {
            code: crate::codes::proxy::OUTCOME_UNKNOWN.as_str().to_owned(),
        };
        let Some(event) = self.complete(unknown, None) else {
            return;
        };
        if let Err(TrySendError::Full(event) | TrySendError::Closed(event)) =
            self.tx.try_send(event)
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let (tx, host) = (self.tx.clone(), self.host.clone());
            runtime.spawn(async move { record(&tx, &host, event).await });
        }
    }
}

/// Writes queued records until the proxy closes, then everything still queued.
pub(crate) async fn writer(host: Host, mut rx: AuditReceiver, phase: watch::Receiver<Phase>) {
    loop {
        tokio::select! {
            biased;
            event = rx.recv() => match event {
                Some(event) => host.audit().record(event).await,
                None => return,
            },
            () = until(&phase, Phase::Closing) => break,
        }
    }
    rx.close();
    while let Some(event) = rx.recv().await {
        host.audit().record(event).await;
    }
}
