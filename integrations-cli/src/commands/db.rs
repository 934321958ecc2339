//! `integrations db migrate`: brings a database to this release's schema. It is the
//! deploy step the serving commands expect to have run: `mcp serve`, `proxy` and
//! `sync run` never change a schema (a host of an older release would then be locked
//! out of its own database).

use std::process::ExitCode;

use integrations_core::Error;
use integrations_sqlx::SqlStores;

/// `integrations db ...`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum DbCommand {
    /// Apply the migrations a database lacks, creating a SQLite file that does not exist
    /// yet: a deploy step, safe to run from several processes at once. A database
    /// migrated by a newer release is refused and left as it is
    /// (`store.schema_too_new`). Prints what it did (created, migrated, or nothing) and
    /// the schema version the database is at.
    Migrate(MigrateArgs),
}

/// The arguments of `db migrate`. Its `Debug` does not show the database URL (it may
/// hold the password).
#[derive(clap::Args)]
pub(crate) struct MigrateArgs {
    /// The database: `sqlite://FILE` (created when absent) or `postgres://USER@HOST/DB`
    /// (default: the `DATABASE_URL` environment variable; keep a password there or in
    /// `PGPASSWORD`, not in this flag, which shows in `ps` and shell history)
    // The value is never shown in `--help`: it may hold the database's password.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    database_url: Option<String>,
    /// Print what was done as one JSON object on stdout (`outcome`: `created`,
    /// `migrated`, `current` or `unknown`; `schema_version`), for scripts.
    #[arg(long)]
    json: bool,
}

impl std::fmt::Debug for MigrateArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MigrateArgs")
            .field("database_url", &self.database_url.as_ref().map(|_| ".."))
            .field("json", &self.json)
            .finish()
    }
}

/// Runs `integrations db <command>`.
///
/// # Errors
///
/// `cli.database_url_missing` (usage) without a URL; the store's errors
/// (`store.unsupported_url`, `store.unavailable`, `store.schema_too_new`,
/// `store.migration_failed`), each with its exit code in `report.rs`.
pub(crate) fn run(command: DbCommand) -> Result<ExitCode, Error> {
    let DbCommand::Migrate(args) = command;
    let url = args
        .database_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            crate::codes::cli::DATABASE_URL_MISSING
                .error("give --database-url URL (or set DATABASE_URL): the database to migrate")
        })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal("the async runtime could not start").with_source(e))?;
    let (before, version) = runtime.block_on(async {
        // What was there, as the serving commands would find it: the report says what
        // this run changed (as far as this process saw: another migrating at the same
        // moment may have done it). Any other answer (a SQLite file another process is
        // setting up answers busy at once) is left to `connect`, which waits it out and
        // reports what it must.
        let before = match SqlStores::open(url).await {
            Ok(stores) => {
                stores.close().await;
                Before::Current
            }
            Err(e) if e.code() == integrations_sqlx::codes::store::DATABASE_NOT_FOUND.as_str() => {
                Before::Absent
            }
            Err(e) if e.code() == integrations_sqlx::codes::store::SCHEMA_OUTDATED.as_str() => {
                Before::Outdated
            }
            Err(_) => Before::Unknown,
        };
        let stores = SqlStores::connect(url).await?;
        let version = stores.schema_version().await;
        stores.close().await;
        Ok::<_, Error>((before, version?))
    })?;
    if args.json {
        let outcome = match before {
            Before::Absent => "created",
            Before::Outdated => "migrated",
            Before::Current => "current",
            Before::Unknown => "unknown",
        };
        out!(
            "{}",
            serde_json::json!({"outcome": outcome, "schema_version": version})
        );
        return Ok(ExitCode::SUCCESS);
    }
    match before {
        Before::Absent => out!("created the database at schema version {version}, this release's"),
        Before::Outdated => {
            out!("migrated the database to schema version {version}, this release's");
        }
        Before::Current => {
            out!("the database is at schema version {version}, this release's: nothing to do");
        }
        Before::Unknown => out!("the database is at schema version {version}, this release's"),
    }
    Ok(ExitCode::SUCCESS)
}

/// What `db migrate` found before it ran.
enum Before {
    /// No SQLite file: it is created.
    Absent,
    /// Empty, or at an older schema: it is migrated.
    Outdated,
    /// At this release's schema: nothing changes.
    Current,
    /// Not known (busy, say): only the version reached is reported.
    Unknown,
}
