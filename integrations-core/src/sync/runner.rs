use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::credential::CredentialSource;
use crate::host::{Host, Sleeper, TokioSleeper};
use crate::lifecycle::{Cause, ConnectionLifecycle, StatusChange};
use crate::loaded::Loader;
use crate::model::{Connection, ConnectionStatus, SyncCheckpoint, SyncLease};
use crate::provider::sync::{SyncMode, SyncPage, SyncRequest};
use crate::provider::tools::DEFAULT_RATE_LIMIT_WAIT;
use crate::{ConnectionId, Error, ErrorKind, Registry, TenantId};

/// How long a run's lease lasts unless renewed (it is renewed after every page and before
/// every rate-limit pause). A runner that died holds its stream this long at most.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(300);

/// How far a run's watermark stays behind the run's start: the skew allowed between the
/// host's clock and the provider's, plus the provider's delay in listing a change.
///
/// A run reads its pages one after another, so a record changed while it runs may be
/// changed after its page was read, while a record read later carries a newer
/// `updated_at`. The next incremental run therefore starts from the newest `updated_at`
/// seen, but never later than this run's start minus this margin (for sources that give
/// [`SyncSource::watermark_at`](crate::sync::SyncSource::watermark_at)): what changed in
/// that window is read twice (sinks upsert by id), never missed.
pub const WATERMARK_MARGIN: Duration = Duration::from_secs(300);

/// The shortest pause after a rate limit, so that a reset already past never makes a
/// busy loop.
pub const MIN_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);

/// The longest a run's own back-off makes it pause after rate limits in a row (a wait
/// the provider gives is always kept, however long).
pub const MAX_RATE_LIMIT_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// The longest wait a provider gives that a run pauses for, holding its stream's lease:
/// past it (a reset header from a skewed clock or a proxy, a `Retry-After` of days) the
/// run ends with the provider's error (its kind `RateLimited`, its wait given) for the
/// host to schedule the run again, rather than sleeping with the stream locked. A
/// primary limit's window is an hour at GitHub and Linear: this leaves five minutes of
/// clock skew.
pub const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(65 * 60);

/// How many rate limits in a row, with no page fetched between them, a run waits out;
/// the next one ends the run with the provider's error (its kind `RateLimited`, its wait
/// given), for the host to schedule the run again later.
pub const MAX_RATE_LIMITS_IN_A_ROW: u32 = 8;

/// Hears a run's progress (a CLI draws it; a host may export metrics).
pub trait SyncObserver: Send + Sync {
    /// A page was written and checkpointed; `report` is the run so far.
    fn page_written(&self, report: &SyncReport) {
        let _ = report;
    }

    /// The provider rate-limited the run; it pauses for `wait`, then fetches the same
    /// page again.
    fn rate_limited(&self, wait: Duration) {
        let _ = wait;
    }
}

struct Silent;

impl SyncObserver for Silent {}

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
    /// How many times the provider's rate limit paused the run.
    pub rate_limit_waits: u64,
    /// How long the run paused for rate limits, in total, in milliseconds.
    pub waited_ms: u64,
}

/// Runs syncs with checkpoints.
#[derive(Clone)]
pub struct SyncRunner {
    registry: Arc<Registry>,
    host: Host,
    credentials: Arc<dyn CredentialSource>,
    sleeper: Arc<dyn Sleeper>,
    observer: Arc<dyn SyncObserver>,
    lease_ttl: Duration,
}

impl std::fmt::Debug for SyncRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncRunner").finish_non_exhaustive()
    }
}

/// The pause after a rate limit the provider said to wait `told` for: `told`, or, for a
/// limit right after another (`last` the pause for it), twice that pause (at most
/// [`MAX_RATE_LIMIT_BACKOFF`]) when that is longer.
fn backoff(told: Duration, last: Option<Duration>) -> Duration {
    match last {
        Some(last) => told.max(last.saturating_mul(2).min(MAX_RATE_LIMIT_BACKOFF)),
        None => told,
    }
}

fn lease_held() -> Error {
    crate::codes::sync::LEASE_HELD
        .error("another run of this stream holds its lease; this run did not start")
}

fn lease_lost() -> Error {
    crate::codes::sync::LEASE_LOST
        .error("this run's lease expired and another run took the stream; this run stopped")
}

fn concurrent_run() -> Error {
    crate::codes::sync::CONCURRENT_RUN
        .error("another run advanced this stream's checkpoint; this run stopped")
}

impl SyncRunner {
    /// The parts of the host the sync runner uses; a host can check them at start-up with
    /// [`Host::require`].
    pub const HOST_PARTS: &'static [crate::host::HostPart] = &[
        crate::host::HostPart::Targets,
        crate::host::HostPart::Connections,
        crate::host::HostPart::Credentials,
        crate::host::HostPart::Checkpoints,
        crate::host::HostPart::Http,
    ];

    /// A runner.
    ///
    /// # Host
    ///
    /// Uses the targets, connections and credentials stores, the checkpoint store
    /// (checkpoints and run leases), the clock, and the HTTP client the source pages
    /// through.
    pub fn new(
        registry: Arc<Registry>,
        host: Host,
        credentials: Arc<dyn CredentialSource>,
    ) -> Self {
        Self {
            registry,
            host,
            credentials,
            sleeper: Arc::new(TokioSleeper::new()),
            observer: Arc::new(Silent),
            lease_ttl: DEFAULT_LEASE_TTL,
        }
    }

    /// Pauses through `sleeper` (default: the tokio timer). Tests pass a manual clock.
    #[must_use]
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Tells `observer` about every page and every rate-limit pause.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn SyncObserver>) -> Self {
        self.observer = observer;
        self
    }

    /// How long a run's lease lasts unless renewed (default [`DEFAULT_LEASE_TTL`]).
    #[must_use]
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
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
        let connection = syncable(
            self.host
                .connections()
                .get_connection(tenant, connection)
                .await?,
        )?;
        let loaded = Loader::new(Arc::clone(&self.registry), self.host.clone())
            .for_connection(connection)
            .await?;
        Ok((loaded.connection, loaded.config, loaded.entry))
    }

    /// Runs `stream` of a connection in `mode` until its last page, or until `max_pages`
    /// pages were written (then a later run resumes).
    ///
    /// A full run resumes an interrupted full run from its saved cursor. An incremental
    /// run fetches what changed since the last completed run's watermark; with no
    /// watermark yet, or while a full run is unfinished, it runs (or resumes) the full run.
    /// An incremental run resumes an interrupted incremental run (stopped by an error, a
    /// crash or `max_pages`) from its saved cursor, with the same `since` and the first
    /// attempt's start; a full run requested meanwhile drops it and starts over. A saved
    /// cursor the source refuses (`sync.invalid_cursor`: expired at the provider, or no
    /// longer fitting the connection's config) is dropped, and the resumed run reads its
    /// pages from the start.
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
        self.run_until(
            tenant,
            connection,
            stream,
            mode,
            sink,
            max_pages,
            std::future::pending(),
        )
        .await
    }

    /// [`run`](Self::run), stopped when `stop` completes (a signal, a shutdown): the page
    /// in progress is dropped (its fetch cancelled; a page being written is written
    /// again by the next run, as sinks upsert), the lease released, and the run ends
    /// with `sync.stopped`. The checkpoint keeps the last page written, so the next run
    /// resumes there. Dropping [`run`](Self::run)'s future instead leaves the lease held
    /// until it expires ([`DEFAULT_LEASE_TTL`]), and the next run waits for it.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run), and `sync.stopped` when `stop` completed first.
    #[allow(clippy::too_many_arguments, reason = "run's arguments and the stop")]
    pub async fn run_until(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        stream: &str,
        mode: SyncMode,
        sink: &dyn RecordSink,
        max_pages: Option<u64>,
        stop: impl std::future::Future<Output = ()> + Send,
    ) -> Result<SyncReport, Error> {
        let (connection, target_config, entry) = self.load(tenant, connection).await?;
        let holder = crate::sealing::random_hex()?;
        let lease = |now: crate::Timestamp| {
            SyncLease::new(
                tenant.clone(),
                connection.id.clone(),
                stream,
                holder.clone(),
                now.saturating_add(self.lease_ttl),
            )
        };
        let now = self.host.clock().now();
        if !self
            .host
            .checkpoints()
            .acquire_sync_lease(&lease(now), now)
            .await?
        {
            return Err(lease_held());
        }
        let result = tokio::select! {
            result = self.run_leased(
                &connection,
                &target_config,
                &entry,
                stream,
                mode,
                sink,
                max_pages,
                &lease,
            ) => result,
            () = stop => Err(crate::codes::sync::STOPPED.error(
                "the run was stopped; the next run resumes from its last saved page",
            )),
        };
        self.release_lease(tenant, &connection.id, stream, &holder)
            .await;
        if let Err(e) = &result
            && e.code() == crate::provider::sync::credential_rejected().code()
        {
            self.mark_rejected(&connection).await;
        }
        result
    }

    /// Gives a stream's lease back; a failure is logged (the lease then expires).
    async fn release_lease(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        stream: &str,
        holder: &str,
    ) {
        if let Err(e) = self
            .host
            .checkpoints()
            .release_sync_lease(tenant, connection, stream, holder)
            .await
        {
            tracing::warn!(
                code = e.code(),
                "could not release a sync lease; it will expire"
            );
        }
    }

    /// Marks an active connection `error` after the provider refused its credential, so
    /// hosts see it needs reconnecting (a connection revoked meanwhile stays revoked).
    async fn mark_rejected(&self, connection: &Connection) {
        let change = StatusChange::of(
            &connection.tenant,
            &connection.id,
            &connection.key,
            ConnectionStatus::Active,
            ConnectionStatus::Error {
                reason: "sync.credential_rejected".to_owned(),
            },
            Cause::Sync,
        )
        .if_unchanged()
        .with_detail("code", "sync.credential_rejected");
        let marked = ConnectionLifecycle::new(self.host.clone())
            .change(change)
            .await;
        if let Err(e) = marked {
            tracing::warn!(code = e.code(), "could not mark a refused connection");
        }
    }

    /// Renews this run's lease until `now + ttl`.
    async fn renew(&self, lease: &SyncLease) -> Result<(), Error> {
        let now = self.host.clock().now();
        if self
            .host
            .checkpoints()
            .acquire_sync_lease(lease, now)
            .await?
        {
            Ok(())
        } else {
            Err(lease_lost())
        }
    }

    #[allow(
        clippy::too_many_arguments,
        clippy::too_many_lines,
        reason = "one run's state, passed once from `run`"
    )]
    async fn run_leased(
        &self,
        connection: &Connection,
        target_config: &crate::schema::Parsed,
        entry: &crate::registry::RegisteredIntegration,
        stream: &str,
        mode: SyncMode,
        sink: &dyn RecordSink,
        max_pages: Option<u64>,
        lease: &(dyn Fn(crate::Timestamp) -> SyncLease + Send + Sync),
    ) -> Result<SyncReport, Error> {
        let tenant = &connection.tenant;
        let source = entry.integration().sync().ok_or_else(|| {
            crate::codes::sync::UNSUPPORTED.error(format!("{} offers no sync", connection.key))
        })?;
        let offered = source
            .streams()
            .into_iter()
            .find(|s| s.name == stream)
            .ok_or_else(|| {
                crate::codes::sync::UNSUPPORTED
                    .error(format!("{} offers no stream {stream}", connection.key))
            })?;
        if mode == SyncMode::Incremental && !offered.incremental {
            return Err(crate::codes::sync::UNSUPPORTED
                .error(format!("the stream {stream} has no incremental mode")));
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
        // An interrupted incremental run read from the watermark still stored (it changes
        // only when a run completes) and saved its cursor: the next incremental one goes on.
        let resuming = match mode {
            SyncMode::Full => checkpoint.in_full_sync,
            SyncMode::Incremental => {
                checkpoint.cursor.is_some()
                    && checkpoint
                        .state
                        .get("incremental_since")
                        .and_then(serde_json::Value::as_str)
                        .is_some_and(|since| checkpoint.watermark.as_deref() == Some(since))
            }
        };
        if !resuming {
            checkpoint.cursor = None;
        }
        let since = match mode {
            SyncMode::Incremental => checkpoint.watermark.clone(),
            SyncMode::Full => None,
        };
        let mut source_state = checkpoint
            .state
            .get("source")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        // The source state a completed run left: what an unfinished run learns (an
        // `ETag` of a first page) is kept only when it completes, as the watermark is.
        let committed_source = source_state.clone();
        let mut run_watermark = if resuming {
            checkpoint
                .state
                .get("run_watermark")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        } else {
            None
        };
        // A resumed run started when its first attempt did: what changed since then may
        // be on a page that attempt read.
        let started = checkpoint
            .state
            .get("run_started_ms")
            .and_then(serde_json::Value::as_i64)
            .filter(|_| resuming)
            .map_or(now, crate::Timestamp::from_unix_millis);
        let ceiling = source.watermark_at(stream, started.saturating_sub(WATERMARK_MARGIN));
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
            rate_limit_waits: 0,
            waited_ms: 0,
        };
        // Rate limits since the last page fetched, and the last pause for them.
        let mut limits_in_a_row = 0;
        let mut last_wait: Option<Duration> = None;
        // What every request of the source carries, as for tools: the definition's
        // default headers and the method's default credential.
        let default_headers = entry.definition().default_headers(target_config)?;
        let default_credential = entry
            .method(&connection.method)
            .and_then(crate::registry::RegisteredMethod::default_credential);
        loop {
            if max_pages.is_some_and(|max| report.pages >= max) {
                return Ok(report);
            }
            let fetched = source
                .fetch_page(SyncRequest {
                    connection,
                    target_config,
                    stream,
                    mode,
                    cursor: checkpoint.cursor.as_deref(),
                    since: since.as_deref(),
                    state: &source_state,
                    http: self.host.http(),
                    credentials: &*self.credentials,
                    clock: self.host.clock(),
                    default_headers: &default_headers,
                    default_credential,
                })
                .await;
            let page = match fetched {
                Ok(page) => page,
                Err(e) if e.kind() == ErrorKind::RateLimited => {
                    // Wait out the provider's reset, holding the lease meanwhile, then
                    // fetch the same page again: the checkpoint has not moved. Limits in
                    // a row (a secondary limit that the wait did not lift) back off
                    // exponentially, as GitHub asks, and end the run after a few.
                    limits_in_a_row += 1;
                    if limits_in_a_row > MAX_RATE_LIMITS_IN_A_ROW {
                        return Err(e);
                    }
                    let told = e.retry_after().unwrap_or(DEFAULT_RATE_LIMIT_WAIT);
                    if told > MAX_RATE_LIMIT_WAIT {
                        tracing::warn!(
                            stream,
                            wait_ms = told.as_millis(),
                            "the provider's rate-limit wait is longer than a run pauses; the run ends"
                        );
                        return Err(e);
                    }
                    let wait = backoff(told.max(MIN_RATE_LIMIT_WAIT), last_wait);
                    last_wait = Some(wait);
                    let now = self.host.clock().now();
                    self.renew(&lease(now.saturating_add(wait))).await?;
                    self.observer.rate_limited(wait);
                    tracing::info!(
                        stream,
                        wait_ms = wait.as_millis(),
                        "sync rate-limited; pausing"
                    );
                    self.sleeper.sleep(wait).await;
                    report.rate_limit_waits += 1;
                    report.waited_ms = report
                        .waited_ms
                        .saturating_add(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
                    continue;
                }
                Err(e)
                    if e.code() == crate::codes::sync::INVALID_CURSOR.as_str()
                        && report.pages == 0
                        && checkpoint.cursor.is_some() =>
                {
                    // The cursor an earlier attempt saved was refused: the provider let
                    // it expire, or the connection's config changed under it. Kept, it
                    // would fail every run; dropped, this run reads its pages from the
                    // start, with the same `since` and start (sinks upsert by id).
                    tracing::warn!(
                        stream,
                        code = e.code(),
                        "the saved sync cursor was refused; the run reads its pages from the start"
                    );
                    checkpoint.cursor = None;
                    continue;
                }
                Err(e) => return Err(e),
            };
            limits_in_a_row = 0;
            last_wait = None;
            // A fetch can outlast the lease (a slow provider, a long first page): before
            // this run's page overwrites what another run wrote meanwhile, check that it
            // still holds the stream and that no one moved the checkpoint.
            self.renew(&lease(self.host.clock().now())).await?;
            // A connection disconnected or forgotten while the page was fetched gets
            // neither the page nor a checkpoint (which would outlive a forgotten one).
            self.still_connected(connection).await?;
            self.still_at(&checkpoint).await?;
            sink.write_page(connection, stream, &page).await?;
            if let Some(state) = &page.state {
                source_state.clone_from(state);
            }
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
                let run_watermark = match (run_watermark.take(), &ceiling) {
                    (Some(seen), Some(ceiling)) if *ceiling < seen => Some(ceiling.clone()),
                    (seen, _) => seen,
                };
                let newest = match (&checkpoint.watermark, &run_watermark) {
                    (Some(old), Some(new)) if old >= new => Some(old.clone()),
                    (_, Some(new)) => Some(new.clone()),
                    // A first run that found nothing still read everything there was at
                    // its start: the next incremental run goes on from there rather than
                    // being a full run again, and again.
                    (None, None) => ceiling.clone(),
                    (old, None) => old.clone(),
                };
                checkpoint.watermark = newest;
                checkpoint.state = if source_state.is_null() {
                    serde_json::Value::Null
                } else {
                    serde_json::json!({ "source": source_state })
                };
            } else {
                // What a resumed run needs besides the cursor (an incremental one, also
                // the watermark it reads from).
                let mut state = serde_json::json!({
                    "run_watermark": run_watermark,
                    "run_started_ms": started.unix_millis(),
                    "source": committed_source,
                });
                if mode == SyncMode::Incremental {
                    state["incremental_since"] = serde_json::json!(since);
                }
                checkpoint.state = state;
            }
            checkpoint.version = self.save(&checkpoint).await?;
            self.observer.page_written(&report);
            if last {
                report.complete = true;
                report.watermark = checkpoint.watermark.clone();
                return Ok(report);
            }
            self.renew(&lease(self.host.clock().now())).await?;
        }
    }

    /// Whether the connection is still stored and active: `auth.connection_not_found`
    /// when it was deleted (forgotten), `auth.connection_not_active` when it was
    /// disconnected or its grant died, since the run started.
    async fn still_connected(&self, connection: &Connection) -> Result<(), Error> {
        syncable(
            self.host
                .connections()
                .get_connection(&connection.tenant, &connection.id)
                .await?,
        )
        .map(drop)
    }

    /// Whether the stored checkpoint is still the one this run saved last (or none, as
    /// when it started): `sync.concurrent_run` when another run moved it.
    async fn still_at(&self, checkpoint: &SyncCheckpoint) -> Result<(), Error> {
        let stored = self
            .host
            .checkpoints()
            .load_checkpoint(
                &checkpoint.tenant,
                &checkpoint.connection,
                &checkpoint.stream,
            )
            .await?;
        let version = stored.map_or(0, |stored| stored.version);
        if version == checkpoint.version {
            Ok(())
        } else {
            Err(concurrent_run())
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
    /// It holds the stream's lease meanwhile, as a run does, so no run writes pages into
    /// the stream it wipes, and it resets the checkpoint before wiping the sink: were the
    /// reset to fail after the wipe, the kept watermark would have later incremental runs
    /// read only changes into an empty stream.
    ///
    /// # Errors
    ///
    /// `sync.lease_held` while a run of the stream holds its lease (nothing is deleted);
    /// `sync.concurrent_run` when the checkpoint moved meanwhile (nothing is deleted);
    /// the sink's and the store's errors (after the reset, a failed wipe leaves records
    /// that the next run, reading in full, writes over).
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
            .ok_or_else(crate::loaded::connection_not_found)?;
        let holder = crate::sealing::random_hex()?;
        let now = self.host.clock().now();
        let lease = SyncLease::new(
            tenant.clone(),
            connection.id.clone(),
            stream,
            holder.clone(),
            now.saturating_add(self.lease_ttl),
        );
        if !self
            .host
            .checkpoints()
            .acquire_sync_lease(&lease, now)
            .await?
        {
            return Err(lease_held());
        }
        let result = self.delete_leased(&connection, stream, sink).await;
        self.release_lease(tenant, &connection.id, stream, &holder)
            .await;
        result
    }

    async fn delete_leased(
        &self,
        connection: &Connection,
        stream: &str,
        sink: &dyn RecordSink,
    ) -> Result<(), Error> {
        if let Some(stored) = self
            .host
            .checkpoints()
            .load_checkpoint(&connection.tenant, &connection.id, stream)
            .await?
        {
            let mut fresh = SyncCheckpoint::new(
                connection.tenant.clone(),
                connection.id.clone(),
                stream,
                self.host.clock().now(),
            );
            fresh.version = stored.version;
            self.save(&fresh).await?;
        }
        sink.delete_stream(connection, stream).await
    }
}

/// The stored connection a run may sync: `auth.connection_not_found` when there is
/// none, `auth.connection_not_active` when it is not active.
fn syncable(stored: Option<Connection>) -> Result<Connection, Error> {
    let connection = stored.ok_or_else(crate::loaded::connection_not_found)?;
    if !connection.is_active() {
        return Err(crate::codes::auth::CONNECTION_NOT_ACTIVE
            .error(format!("the connection is {}", connection.status.as_str())));
    }
    Ok(connection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_in_a_row_back_off_exponentially_up_to_a_cap_never_below_the_wait_given() {
        let minute = Duration::from_secs(60);
        let mut last = None;
        let mut waits = Vec::new();
        for _ in 0..6 {
            let wait = backoff(minute, last);
            waits.push(wait.as_secs());
            last = Some(wait);
        }
        assert_eq!(waits, [60, 120, 240, 480, 900, 900]);
        // A longer wait the provider gives is kept, even past the cap.
        let hour = Duration::from_secs(3600);
        assert_eq!(backoff(hour, Some(minute)), hour);
        assert_eq!(backoff(hour, Some(MAX_RATE_LIMIT_BACKOFF)), hour);
    }
}
