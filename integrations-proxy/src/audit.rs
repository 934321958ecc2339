//! The audit queue: injected requests are audited by a writer task, so a slow audit
//! store (a database insert) never sits in a request's path. Nothing is dropped: a full
//! queue makes the request wait, and a request sent with a credential is audited even
//! when it fails or the sandbox goes away before the answer ([`CredentialUse`]). Every
//! record being made holds the queue open, and the writer stops only when the queue is
//! closed and empty, so a proxy that shuts down writes the records of the requests it
//! cut short before it returns.

use std::time::Instant;

use http::StatusCode;
use integrations_core::host::{AuditEvent, AuditOutcome, Host};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// How many audit records may wait for the writer.
const QUEUE: usize = 4096;

/// The sending side, shared by every request. It holds the queue weakly: the queue
/// stays open while the proxy serves ([`AuditOpen`]) or a record is being made.
#[derive(Debug)]
pub(crate) struct AuditQueue {
    tx: mpsc::WeakSender<AuditEvent>,
    host: Host,
}

/// The receiving side, until the proxy starts serving.
pub(crate) type AuditReceiver = mpsc::Receiver<AuditEvent>;

/// Keeps the queue open while the proxy serves; dropped when it shuts down, after which
/// the writer ends once the last record being made is written.
#[derive(Debug)]
pub(crate) struct AuditOpen {
    _tx: mpsc::Sender<AuditEvent>,
}

impl AuditQueue {
    pub(crate) fn new(host: Host) -> (Self, AuditReceiver, AuditOpen) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let queue = Self {
            tx: tx.downgrade(),
            host,
        };
        (queue, rx, AuditOpen { _tx: tx })
    }

    /// Starts the record of a request about to be sent with a credential: `event` with
    /// every detail known before sending.
    pub(crate) fn begin(&self, event: AuditEvent, started: Instant) -> CredentialUse {
        CredentialUse {
            event: Some(event),
            started,
            retried: false,
            tx: self.tx.upgrade(),
            host: self.host.clone(),
        }
    }
}

/// Queues `event` (waits while the queue is full); writes it in place when there is no
/// queue (a request begun after the proxy shut down).
async fn record(tx: Option<mpsc::Sender<AuditEvent>>, host: Host, event: AuditEvent) {
    let event = match tx {
        Some(tx) => match tx.send(event).await {
            Ok(()) => return,
            Err(mpsc::error::SendError(event)) => event,
        },
        None => event,
    };
    host.audit().record(event).await;
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
    /// Holds the queue open until the record is queued; `None` once the proxy has shut
    /// down.
    tx: Option<mpsc::Sender<AuditEvent>>,
    host: Host,
}

impl CredentialUse {
    /// Notes that the request was sent a second time (the 401 retry).
    pub(crate) fn retried(&mut self) {
        self.retried = true;
    }

    /// Writes the record: `outcome`, and the upstream's `status` when it answered.
    pub(crate) async fn finish(mut self, outcome: AuditOutcome, status: Option<StatusCode>) {
        // A place in the queue first, while the event is still here: if this future is
        // dropped while the queue is full, `drop` writes the record.
        let permit = match &self.tx {
            Some(tx) => tx.clone().reserve_owned().await.ok(),
            None => None,
        };
        let Some(event) = self.complete(outcome, status) else {
            return;
        };
        match permit {
            Some(permit) => {
                permit.send(event);
            }
            None => record(None, self.host.clone(), event).await,
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
        let tx = self.tx.take();
        let event = match &tx {
            Some(queue) => match queue.try_send(event) {
                Ok(()) => return,
                Err(TrySendError::Full(event) | TrySendError::Closed(event)) => event,
            },
            None => event,
        };
        // The queue is full (or gone): a task waits for room, holding the queue open so
        // the writer is still there to take the record.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(record(tx, self.host.clone(), event));
        }
    }
}

/// Writes queued records until the queue is closed (the proxy shut down and no record
/// is being made any more) and empty.
pub(crate) async fn writer(host: Host, mut rx: AuditReceiver) {
    while let Some(event) = rx.recv().await {
        host.audit().record(event).await;
    }
}
