//! `integrations sync run KEY STREAM --connection ID --tenant T`: one sync run of a stored
//! connection, into the database's `sync_records` table, with progress.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use integrations_core::auth::TokenManager;
use integrations_core::host::{Host, ReqwestHttpClient};
use integrations_core::sync::{SyncMode, SyncObserver, SyncReport, SyncRunner};
use integrations_core::{ConnectionId, Error, TenantId};

use super::stores::StoreArgs;

/// `integrations sync ...`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum SyncCommand {
    /// Run one stream of a stored connection into the database's synced records: an
    /// incremental run (a full one the first time, or to finish an interrupted full run;
    /// an interrupted incremental run goes on from its last page), or a full run with
    /// `--full`. Progress (records, pages, rate-limit waits) goes to a progress bar when
    /// stderr is a terminal, else one line per page (on stdout, on stderr with `--json`).
    Run(RunArgs),
}

/// The arguments of `sync run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The definition, `family::variant` (the connection's own).
    key: String,
    /// The stream (`issues`, `comments`, `projects`, `pull_requests`, `messages`).
    stream: String,
    /// The connection id.
    #[arg(long)]
    connection: String,
    /// The tenant owning the connection (no default: a connection id means something only
    /// within its tenant).
    #[arg(long)]
    tenant: String,
    /// Read every record, not only what changed since the last run.
    #[arg(long)]
    full: bool,
    /// Print the run's report as one JSON object on stdout (`records`, `deleted`,
    /// `pages`, `rate_limit_waits`, `waited_ms`, `watermark`), for scripts; progress
    /// lines go to stderr.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

fn usage(code: integrations_core::Code, message: String) -> Error {
    code.error(message)
}

/// Runs `integrations sync <command>`.
///
/// # Errors
///
/// Usage errors (`cli.usage`, unknown key or stream), the stores' errors and the run's
/// (`sync.lease_held`, `sync.credential_rejected`, ...), each with its exit code in
/// `report.rs`.
pub(crate) fn run(command: SyncCommand) -> Result<ExitCode, Error> {
    let SyncCommand::Run(args) = command;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal("the async runtime could not start").with_source(e))?;
    let report = runtime.block_on(sync_run(&args))?;
    if args.json {
        out!(
            "{}",
            serde_json::json!({
                "key": args.key,
                "stream": args.stream,
                "records": report.records,
                "deleted": report.deleted,
                "pages": report.pages,
                "rate_limit_waits": report.rate_limit_waits,
                "waited_ms": report.waited_ms,
                "watermark": report.watermark,
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    out!(
        "synced {} {}: {}, {} deleted, {}, {} ({} ms), watermark {}",
        args.key,
        args.stream,
        crate::report::count(to_usize(report.records), "record", "records"),
        report.deleted,
        crate::report::count(to_usize(report.pages), "page", "pages"),
        crate::report::count(
            to_usize(report.rate_limit_waits),
            "rate-limit wait",
            "rate-limit waits"
        ),
        report.waited_ms,
        report.watermark.as_deref().unwrap_or("none"),
    );
    Ok(ExitCode::SUCCESS)
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

async fn sync_run(args: &RunArgs) -> Result<SyncReport, Error> {
    let (registry, key) = super::lookup(&args.key)?;
    let tenant = TenantId::new(args.tenant.clone())?;
    let connection_id = ConnectionId::new(args.connection.clone())?;
    let open = args.store.open().await?;
    let host = Host::builder()
        .stores(open.stores.clone())
        .cipher(open.keys.clone())
        .http(Arc::new(ReqwestHttpClient::new()?))
        .build()?;
    let connection = host
        .connections()
        .get_connection(&tenant, &connection_id)
        .await?
        .ok_or_else(|| {
            integrations_core::codes::auth::CONNECTION_NOT_FOUND.error(format!(
                "the tenant {tenant} has no connection {connection_id}"
            ))
        })?;
    if connection.key != key {
        return Err(usage(
            crate::codes::cli::USAGE,
            format!(
                "the connection {} is a {} connection, not {key}",
                connection.id, connection.key
            ),
        ));
    }
    let registry = Arc::new(registry);
    let tokens = Arc::new(TokenManager::new(registry.clone(), host.clone()));
    let progress = Arc::new(Progress::new(args.json));
    let runner = SyncRunner::new(registry, host, tokens).with_observer(progress.clone());
    let sink = open.stores.record_sink();
    let mode = if args.full {
        SyncMode::Full
    } else {
        SyncMode::Incremental
    };
    // Ctrl-C or SIGTERM stops the run and gives its lease back, so the next run starts
    // at once and resumes from the last page written (killed outright, the lease would
    // hold the stream until it expired).
    let result = runner
        .run_until(
            &tenant,
            &connection_id,
            &args.stream,
            mode,
            &sink,
            None,
            stop_signal(),
        )
        .await;
    progress.finish();
    open.stores.close().await;
    result
}

/// Completes at Ctrl-C or SIGTERM; never when the signals cannot be received (the
/// run then ends as it would have).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut interrupt), Ok(mut terminate)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Shows a run's progress: a bar on a terminal, plain lines otherwise (on stderr when
/// stdout is kept for the JSON report).
struct Progress {
    bar: Option<ProgressBar>,
    to_stderr: bool,
}

impl Progress {
    fn new(to_stderr: bool) -> Self {
        // indicatif draws on stderr: a bar only when that is a terminal.
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed} {msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar.set_message("starting");
            bar
        });
        Self { bar, to_stderr }
    }

    fn line(&self, line: &str) {
        if self.to_stderr {
            eprintln!("{line}");
        } else {
            note!("{line}");
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl SyncObserver for Progress {
    fn page_written(&self, report: &SyncReport) {
        let line = format!(
            "{}, {} deleted, {}, {}",
            crate::report::count(to_usize(report.records), "record", "records"),
            report.deleted,
            crate::report::count(to_usize(report.pages), "page", "pages"),
            crate::report::count(
                to_usize(report.rate_limit_waits),
                "rate-limit wait",
                "rate-limit waits"
            ),
        );
        if let Some(bar) = &self.bar {
            bar.set_message(line);
        } else {
            self.line(&format!("page {}: {line}", report.pages));
        }
    }

    fn rate_limited(&self, wait: Duration) {
        let line = format!(
            "rate limited by the provider: waiting {} ms",
            wait.as_millis()
        );
        if let Some(bar) = &self.bar {
            bar.set_message(line);
        } else {
            self.line(&line);
        }
    }
}
