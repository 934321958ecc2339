//! The audit queue: injected requests are audited by a writer task, so a slow audit
//! store (a database insert) never sits in a request's path. Nothing is dropped: a full
//! queue makes the request wait, and once the writer has stopped, records are written
//! in place.

use integrations_core::host::{AuditEvent, Host};
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

    /// Queues `event` (waits while the queue is full); writes it in place when the
    /// writer has stopped.
    pub(crate) async fn record(&self, event: AuditEvent) {
        if let Err(mpsc::error::SendError(event)) = self.tx.send(event).await {
            self.host.audit().record(event).await;
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
