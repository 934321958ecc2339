//! The embedded migrations and the schema version check.

use integrations_core::Error;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{AnyConnection, AnyPool, Connection as _};

use crate::Backend;
use crate::error;

/// The schema version this crate writes: the number of the last embedded migration.
/// A database at a higher version is refused (`store.schema_too_new`).
pub const SCHEMA_VERSION: i64 = 7;

#[cfg(feature = "sqlite")]
static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
#[cfg(feature = "postgres")]
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

pub(crate) fn migrator(backend: Backend) -> &'static Migrator {
    match backend {
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => &SQLITE,
        #[cfg(feature = "postgres")]
        Backend::Postgres => &POSTGRES,
        #[allow(unreachable_patterns)]
        _ => unreachable!("Backend::from_url accepts only enabled backends"),
    }
}

/// The version of the last applied migration, 0 when none was.
pub(crate) async fn version(pool: &AnyPool, backend: Backend) -> Result<i64, Error> {
    let mut conn = pool.acquire().await.map_err(error::map)?;
    version_on(&mut conn, backend).await
}

/// [`version`] on one connection (or in one transaction).
async fn version_on(conn: &mut AnyConnection, backend: Backend) -> Result<i64, Error> {
    let exists = match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) FROM pg_catalog.pg_tables \
             WHERE tablename = '_sqlx_migrations' AND schemaname = current_schema()"
        }
    };
    let tables: i64 = sqlx::query_scalar(exists)
        .persistent(false)
        .fetch_one(&mut *conn)
        .await
        .map_err(error::map)?;
    if tables == 0 {
        return Ok(0);
    }
    sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
        .persistent(false)
        .fetch_one(&mut *conn)
        .await
        .map_err(error::map)
}

/// Applies the missing migrations on `conn`. On SQLite, sqlx's migration lock does
/// nothing, so two processes would both read the old version and the second would fail
/// creating a table the first created: all the migrations run in one `BEGIN IMMEDIATE`
/// transaction instead (sqlx runs each in a savepoint inside it), which holds SQLite's
/// write lock from its start. A racing process waits for the lock (the busy timeout),
/// then reads the applied migrations anew and has nothing left to do. SQLite's DDL is
/// transactional, so a failure leaves the database as it was before the call.
pub(crate) async fn run(backend: Backend, conn: &mut AnyConnection) -> Result<(), Error> {
    let migrator = migrator(backend);
    match backend {
        Backend::Sqlite => {
            let mut tx = conn
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(error::map)?;
            // Another process may have migrated while this one waited for the lock.
            check_not_newer(version_on(&mut tx, backend).await?)?;
            migrator.run_direct(&mut *tx).await.map_err(migrate_error)?;
            tx.commit().await.map_err(error::map)
        }
        Backend::Postgres => migrator.run_direct(conn).await.map_err(migrate_error),
    }
}

/// Refuses a schema this crate does not know.
pub(crate) fn check_not_newer(version: i64) -> Result<(), Error> {
    if version > SCHEMA_VERSION {
        return Err(crate::codes::store::SCHEMA_TOO_NEW.error(format!(
                "the database schema is at version {version}, newer than this crate's {SCHEMA_VERSION}: it was migrated by a newer release (upgrade integrations-sqlx), or another sqlx migrator shares its `_sqlx_migrations` table (keep the host's own migrations in another SQLite file or PostgreSQL schema); nothing was written"
            ),
        ));
    }
    Ok(())
}

pub(crate) fn migrate_error(source: MigrateError) -> Error {
    match source {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _)
            if error::map_is_unavailable(&e) =>
        {
            error::unavailable(e)
        }
        other => crate::codes::store::MIGRATION_FAILED.error("a schema migration failed and was rolled back; the database is at the previous version",
        )
        .with_source(other),
    }
}
