use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::source::{SyncMode, SyncPage, SyncRequest};
use crate::credential::CredentialSource;
use crate::host::Host;
use crate::model::{Connection, SyncCheckpoint};
use crate::{ConnectionId, Error, ErrorKind, Registry, TenantId};

/// Where synced records go: the host's own storage.
#[async_trait]
pub trait RecordSink: Send + Sync {
    /// Writes one page: upsert its records and remove its deleted ids. Pages may be
    /// delivered more than once after a crash; writes must be idempotent.
    ///
    /// # Errors
    ///
    /// Storage errors; the checkpoint is not advanced.
    async fn write_page(
        &self,
        connection: &Connection,
        stream: &str,
        page: &SyncPage,
    ) -> Result<(), Error>;

    /// Removes every record of a stream of a connection (a sync deleted).
    ///
    /// # Errors
    ///
    /// Storage errors.
    async fn delete_stream(&self, connection: &Connection, stream: &str) -> Result<(), Error>;
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SyncReport {
    /// Pages written.
    pub pages: u64,
    /// Records upserted.
    pub records: u64,
    /// Records deleted.
    pub deleted: u64,
    /// Whether the run reached the last page.
    pub complete: bool,
    /// The watermark after the run.
    pub watermark: Option<String>,
}

/// Runs syncs with checkpoints.
#[derive(Clone)]
pub struct SyncRunner {
    registry: Arc<Registry>,
    host: Host,
    credentials: Arc<dyn CredentialSource>,
}

impl std::fmt::Debug for SyncRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncRunner").finish_non_exhaustive()
    }
}

fn concurrent_run() -> Error {
    Error::conflict(
        "sync.concurrent_run",
        "another run advanced this stream's checkpoint; this run stopped",
    )
}

impl SyncRunner {
    /// A runner.
    pub fn new(
        registry: Arc<Registry>,
        host: Host,
        credentials: Arc<dyn CredentialSource>,
    ) -> Self {
        Self {
            registry,
            host,
            credentials,
        }
    }

    async fn load(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<
        (
            Connection,
            crate::schema::Parsed,
            Arc<crate::registry::RegisteredIntegration>,
        ),
        Error,
    > {
        let connection = self
            .host
            .connections()
            .get_connection(tenant, connection)
            .await?
            .ok_or_else(|| {
                Error::not_found("sync.connection_not_found", "the connection does not exist")
            })?;
        if !connection.is_active() {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                "sync.connection_not_active",
                format!("the connection is {}", connection.status.as_str()),
            ));
        }
        let entry = self.registry.require(&connection.key)?.clone();
        let target = self
            .host
            .targets()
            .get_target(tenant, &connection.target)
            .await?
            .ok_or_else(|| {
                Error::not_found(
                    "sync.target_not_found",
                    "the connection's target does not exist",
                )
            })?;
        let config = entry
            .target_config()
            .parse(&target.config)
            .map_err(|issues| {
                Error::invalid_input(
                    "sync.invalid_target_config",
                    "the target's stored config no longer validates",
                    issues,
                )
            })?;
        Ok((connection, config, entry))
    }

    /// Runs `stream` of a connection in `mode` until its last page, or until `max_pages`
    /// pages were written (then a later run resumes).
    ///
    /// A full run resumes an interrupted full run from its saved cursor. An incremental
    /// run fetches what changed since the last completed run's watermark; with no
    /// watermark yet, or while a full run is unfinished, it runs (or resumes) the full run.
    ///
    /// # Errors
    ///
    /// `sync.unsupported` when the provider has no such stream or no incremental mode;
    /// `sync.concurrent_run` when another run advanced the checkpoint; the source's and
    /// the sink's errors (the checkpoint keeps the last page written).
    pub async fn run(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        stream: &str,
        mode: SyncMode,
        sink: &dyn RecordSink,
        max_pages: Option<u64>,
    ) -> Result<SyncReport, Error> {
        let (connection, target_config, entry) = self.load(tenant, connection).await?;
        let source = entry.integration().sync().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                "sync.unsupported",
                format!("{} offers no sync", connection.key),
            )
        })?;
        let offered = source
            .streams()
            .into_iter()
            .find(|s| s.name == stream)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidInput,
                    "sync.unsupported",
                    format!("{} offers no stream {stream}", connection.key),
                )
            })?;
        if mode == SyncMode::Incremental && !offered.incremental {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "sync.unsupported",
                format!("the stream {stream} has no incremental mode"),
            ));
        }

        let now = self.host.clock().now();
        let mut checkpoint = self
            .host
            .checkpoints()
            .load_checkpoint(tenant, &connection.id, stream)
            .await?
            .unwrap_or_else(|| {
                SyncCheckpoint::new(tenant.clone(), connection.id.clone(), stream, now)
            });
        // An incremental run with no completed run behind it is a full run, and an
        // interrupted full run is finished before anything else.
        let mode = if checkpoint.in_full_sync || checkpoint.watermark.is_none() {
            SyncMode::Full
        } else {
            mode
        };
        let resuming = checkpoint.in_full_sync && mode == SyncMode::Full;
        if !resuming {
            checkpoint.cursor = None;
        }
        let since = match mode {
            SyncMode::Incremental => checkpoint.watermark.clone(),
            SyncMode::Full => None,
        };
        let mut run_watermark = if resuming {
            checkpoint
                .state
                .get("run_watermark")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        } else {
            None
        };
        if mode == SyncMode::Full && !checkpoint.in_full_sync {
            checkpoint.in_full_sync = true;
            checkpoint.updated_at = self.host.clock().now();
            checkpoint.version = self.save(&checkpoint).await?;
        }

        let mut report = SyncReport {
            pages: 0,
            records: 0,
            deleted: 0,
            complete: false,
            watermark: checkpoint.watermark.clone(),
        };
        loop {
            if max_pages.is_some_and(|max| report.pages >= max) {
                return Ok(report);
            }
            let page = source
                .fetch_page(SyncRequest {
                    connection: &connection,
                    target_config: &target_config,
                    stream,
                    mode,
                    cursor: checkpoint.cursor.as_deref(),
                    since: since.as_deref(),
                    http: self.host.http(),
                    credentials: &*self.credentials,
                    clock: self.host.clock(),
                })
                .await?;
            sink.write_page(&connection, stream, &page).await?;
            report.pages += 1;
            report.records += page.records.len() as u64;
            report.deleted += page.deleted.len() as u64;
            for record in &page.records {
                if let Some(at) = &record.updated_at
                    && run_watermark.as_ref().is_none_or(|w| at > w)
                {
                    run_watermark = Some(at.clone());
                }
            }
            let last = page.next_cursor.is_none();
            checkpoint.cursor = page.next_cursor.clone();
            checkpoint.updated_at = self.host.clock().now();
            if last {
                checkpoint.in_full_sync = false;
                let newest = match (&checkpoint.watermark, &run_watermark) {
                    (Some(old), Some(new)) if old >= new => Some(old.clone()),
                    (_, Some(new)) => Some(new.clone()),
                    (old, None) => old.clone(),
                };
                checkpoint.watermark = newest;
                checkpoint.state = serde_json::Value::Null;
            } else if mode == SyncMode::Full {
                checkpoint.state = serde_json::json!({ "run_watermark": run_watermark });
            }
            checkpoint.version = self.save(&checkpoint).await?;
            if last {
                report.complete = true;
                report.watermark = checkpoint.watermark.clone();
                return Ok(report);
            }
        }
    }

    async fn save(&self, checkpoint: &SyncCheckpoint) -> Result<u64, Error> {
        self.host
            .checkpoints()
            .save_checkpoint(checkpoint)
            .await
            .map_err(|e| if e.is_conflict() { concurrent_run() } else { e })
    }

    /// Deletes a stream's synced data and its checkpoint, so the next run starts over.
    ///
    /// # Errors
    ///
    /// The sink's and the store's errors.
    pub async fn delete(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        stream: &str,
        sink: &dyn RecordSink,
    ) -> Result<(), Error> {
        let connection = self
            .host
            .connections()
            .get_connection(tenant, connection)
            .await?
            .ok_or_else(|| {
                Error::not_found("sync.connection_not_found", "the connection does not exist")
            })?;
        sink.delete_stream(&connection, stream).await?;
        if let Some(mut checkpoint) = self
            .host
            .checkpoints()
            .load_checkpoint(tenant, &connection.id, stream)
            .await?
        {
            let fresh = SyncCheckpoint::new(
                tenant.clone(),
                connection.id.clone(),
                stream,
                self.host.clock().now(),
            );
            let version = checkpoint.version;
            checkpoint = fresh;
            checkpoint.version = version;
            self.save(&checkpoint).await?;
        }
        Ok(())
    }
}
