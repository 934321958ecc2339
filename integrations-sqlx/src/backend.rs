//! [`SqlStores`]: the pool, the backend, connecting and migrating.

use std::fmt;
use std::time::Duration;

use integrations_core::Error;
use sqlx::any::{AnyArguments, AnyPoolOptions};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Executor as _, Transaction};

use crate::error;
use crate::schema;

/// Which database a [`SqlStores`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// SQLite (`sqlite://path/to/file.db`).
    Sqlite,
    /// PostgreSQL (`postgres://user@host/db`).
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](integrations_core::ErrorKind::Configuration) (`store.unsupported_url`) when the URL names no
    /// backend this build supports. The message never repeats the URL (it may hold a
    /// password).
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        match scheme {
            #[cfg(feature = "sqlite")]
            "sqlite" => Ok(Self::Sqlite),
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => Ok(Self::Postgres),
            _ => Err(crate::codes::store::UNSUPPORTED_URL.error(format!(
                "the database URL must start with {}; check the URL and the crate features",
                supported()
            ))),
        }
    }

    /// The backend's name as in the migrations folder: `sqlite` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

fn supported() -> &'static str {
    match (cfg!(feature = "sqlite"), cfg!(feature = "postgres")) {
        (true, true) => "sqlite: or postgres:",
        (true, false) => "sqlite: (enable the postgres feature for PostgreSQL)",
        (false, true) => "postgres: (enable the sqlite feature for SQLite)",
        (false, false) => "a backend enabled by a feature (sqlite or postgres)",
    }
}

/// Per SQLite connection: wait up to 30 s for another writer (another connection or
/// process) before a statement fails with `store.unavailable`, and sync the WAL at every
/// commit (`FULL`). With `NORMAL`, a commit acknowledged just before a power loss or an
/// OS crash can be lost (SQLite documents it): a rotated refresh token, a taken
/// approval or a webhook dedup record could come back or vanish.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 30000; PRAGMA synchronous = FULL;";

/// How long [`SqlStores::connect`] keeps trying a SQLite set-up that another process
/// holds up.
const SQLITE_SETUP_PATIENCE: Duration = Duration::from_secs(30);

/// Every store trait on one SQL database; also the [`SqlRecordSink`](crate::SqlRecordSink)
/// constructor. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct SqlStores {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    prepared: bool,
}

impl fmt::Debug for SqlStores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL is left out: it may hold a password.
        f.debug_struct("SqlStores")
            .field("backend", &self.backend)
            .field("connections", &self.pool.size())
            .field("prepared_statements", &self.prepared)
            .finish_non_exhaustive()
    }
}

impl SqlStores {
    /// Connects to `url` (`sqlite://integrations.db`, `postgres://…`), refuses a schema
    /// newer than this crate, and applies the missing migrations. A SQLite file is
    /// created when absent (unless the URL sets `mode=`), and put in WAL mode.
    ///
    /// # Errors
    ///
    /// `store.unsupported_url` (configuration), `store.unavailable` when the database
    /// cannot be reached, `store.schema_too_new` (configuration) when the database was
    /// migrated by a newer version of this crate (nothing is written then),
    /// `store.isolation_unsupported` (configuration) for a PostgreSQL database whose
    /// transactions default to REPEATABLE READ or SERIALIZABLE (nothing is written then),
    /// storage errors from a migration.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let sqlite = Backend::from_url(url)? == Backend::Sqlite;
        let deadline = tokio::time::Instant::now() + SQLITE_SETUP_PATIENCE;
        let mut pause = Duration::from_millis(10);
        loop {
            let attempt = async {
                let stores = Self::connect_pool(url, Opening::ToMigrate).await?;
                stores.migrate().await?;
                Ok::<_, Error>(stores)
            }
            .await;
            match attempt {
                // SQLite answers "busy" without waiting out the busy timeout where
                // waiting could deadlock (another process switching the new file to WAL
                // or migrating it at the same moment); it asks for the whole step to
                // be tried again.
                Err(error)
                    if sqlite
                        && error.code() == crate::codes::store::UNAVAILABLE.as_str()
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                result => return result,
            }
        }
    }

    /// Connects to `url` without changing the schema: refuses a database that is behind
    /// (`store.schema_outdated`, also an empty one) or ahead (`store.schema_too_new`) of
    /// this crate, and never creates a SQLite file (`store.database_not_found`, nothing
    /// created; a URL that sets `mode=` itself keeps its mode). For hosts that run
    /// [`migrate`](Self::migrate) in a deploy step, and for tools that serve the records
    /// another program owns (the command line's `mcp serve`, `proxy` and `sync run`),
    /// where a mistyped path must be reported and a schema never changed.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect), plus `store.schema_outdated` (configuration), and
    /// `store.database_not_found` (not found) when the SQLite file, or its directory,
    /// does not exist or cannot be opened.
    pub async fn open(url: &str) -> Result<Self, Error> {
        Self::connect_pool(url, Opening::AsItIs).await
    }

    /// Applies the migrations the database lacks. Refuses, before writing anything, a
    /// database whose schema is newer than this crate.
    ///
    /// Safe to run from several processes at once: on PostgreSQL each migration runs in
    /// its own transaction under sqlx's advisory lock; on SQLite (where sqlx takes no
    /// lock) all of them run in one transaction that holds the write lock from its start
    /// (`BEGIN IMMEDIATE`), so a second process waits (up to the 30 s busy timeout), then
    /// finds them applied. Either way they run on a connection of their own, closed
    /// afterwards: a lock a failed migration left is released with its session, never
    /// returned to the pool.
    ///
    /// # Errors
    ///
    /// `store.schema_too_new` (configuration); `store.unavailable`; `store.migration_failed`
    /// (storage) when a migration fails (that migration is rolled back; on SQLite, every
    /// migration of this call is).
    pub async fn migrate(&self) -> Result<(), Error> {
        let version = self.schema_version().await?;
        schema::check_not_newer(version)?;
        if version == schema::SCHEMA_VERSION {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await.map_err(error::map)?;
        let result = schema::run(self.backend, &mut conn).await;
        // Closed, not returned to the pool: a session-level lock dies with it. A failure
        // to close changes nothing the migrations did.
        let _ = conn.close().await;
        result
    }

    /// The schema version the database is at (0: never migrated).
    ///
    /// # Errors
    ///
    /// `store.unavailable`; storage errors.
    pub async fn schema_version(&self) -> Result<i64, Error> {
        schema::version(&self.pool, self.backend).await
    }

    /// Whether statements are prepared once per connection and kept (the default), or
    /// parsed anew at each call.
    ///
    /// Prepared statements save PostgreSQL a parse and a round trip per operation: each
    /// operation is then one round trip (see the crate README's figures). They are
    /// named per connection, which a pooler in transaction mode must track: `PgBouncer`
    /// does from version 1.21 when `max_prepared_statements` is above zero. Turned off,
    /// every statement is sent unnamed, keeping nothing on the server connection, at
    /// one more round trip per statement; this does **not** make a pooler in
    /// transaction mode that cannot track them safe: sqlx sends an unnamed statement's
    /// `Parse` and its `Bind`/`Execute` in two exchanges, each ended by a `Sync`, and such
    /// a pooler may route the second to another server connection. Behind one, connect
    /// directly or in session mode instead. SQLite has no server; preparing there only
    /// saves compiling the statement again.
    #[must_use]
    pub fn with_prepared_statements(mut self, prepared: bool) -> Self {
        self.prepared = prepared;
        self
    }

    /// Whether statements are prepared and kept per connection
    /// ([`with_prepared_statements`](Self::with_prepared_statements)).
    pub fn prepared_statements(&self) -> bool {
        self.prepared
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool, for a host's own tables or checks. The store tables are this
    /// crate's: write to them only through the store traits.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes every connection; later calls fail with `store.unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The pool of `url`, opened as `opening` says. The schema version is checked before
    /// anything is written (WAL mode included), so a refused database is left as it was.
    async fn connect_pool(url: &str, opening: Opening) -> Result<Self, Error> {
        let create = opening == Opening::ToMigrate;
        let backend = Backend::from_url(url)?;
        sqlx::any::install_default_drivers();
        let url = match backend {
            Backend::Sqlite => sqlite_url(url, create),
            Backend::Postgres => url.to_owned(),
        };
        let mut options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        if backend == Backend::Sqlite {
            options = options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(SQLITE_PRAGMAS).await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(&url).await.map_err(|e| {
            if !create && backend == Backend::Sqlite && cannot_open(&e) {
                return crate::codes::store::DATABASE_NOT_FOUND.error(
                    "no SQLite database at the URL's path: the file or its directory does not exist (or cannot be opened), and it is not created here; check the path",
                );
            }
            connect_error(e)
        })?;
        let stores = Self {
            pool,
            backend,
            prepared: true,
        };
        if backend == Backend::Postgres {
            stores.check_isolation().await?;
        }
        let version = stores.schema_version().await?;
        schema::check_not_newer(version)?;
        if opening == Opening::AsItIs && version < schema::SCHEMA_VERSION {
            return Err(crate::codes::store::SCHEMA_OUTDATED.error(format!(
                    "the database schema is at version {version}, this crate needs {}; run SqlStores::migrate (or connect with SqlStores::connect)",
                    schema::SCHEMA_VERSION
                ),
            ));
        }
        if backend == Backend::Sqlite {
            stores.enable_wal().await?;
        }
        Ok(stores)
    }

    /// Refuses a PostgreSQL database whose transactions default to another level than
    /// READ COMMITTED: each conditional write is one statement that, blocked by a
    /// concurrent one, reads the row again when it is let go and answers "lost" (a
    /// version conflict, `false`, `None`); under REPEATABLE READ or SERIALIZABLE it
    /// fails with a serialization error instead, which callers would take for an
    /// outage (a refreshed token's rotation lost with it).
    async fn check_isolation(&self) -> Result<(), Error> {
        let level: String = sqlx::query_scalar("SHOW transaction_isolation")
            .fetch_one(&self.pool)
            .await
            .map_err(error::map)?;
        // PostgreSQL runs READ UNCOMMITTED as READ COMMITTED.
        if level.eq_ignore_ascii_case("read committed")
            || level.eq_ignore_ascii_case("read uncommitted")
        {
            return Ok(());
        }
        self.pool.close().await;
        Err(crate::codes::store::ISOLATION_UNSUPPORTED.error(format!(
            "the database's transactions default to {level}; these stores need READ COMMITTED: set default_transaction_isolation to 'read committed' for the role or database, or in the URL (options[default_transaction_isolation]=read%5C%20committed)"
        )))
    }

    /// WAL lets readers and one writer work at once across processes. The mode is
    /// persistent in the file, so it is set only when not set yet.
    async fn enable_wal(&self) -> Result<(), Error> {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&self.pool)
            .await
            .map_err(error::map)?;
        if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&self.pool)
                .await
                .map_err(error::map)?;
        }
        Ok(())
    }

    /// A query, prepared and cached per connection unless
    /// [`with_prepared_statements`](Self::with_prepared_statements) turned that off.
    pub(crate) fn query<'q>(&self, sql: &'q str) -> Query<'q, Any, AnyArguments<'q>> {
        sqlx::query(sql).persistent(self.prepared)
    }

    /// Begins a transaction; on SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so that two writers never deadlock upgrading read locks.
    pub(crate) async fn begin(&self) -> Result<Transaction<'static, Any>, Error> {
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        self.pool.begin_with(begin).await.map_err(error::map)
    }
}

/// How [`SqlStores`] opens a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opening {
    /// To bring it to this crate's schema ([`SqlStores::connect`]): a missing SQLite file
    /// is created, and an older schema is accepted (the caller migrates it).
    ToMigrate,
    /// As it is ([`SqlStores::open`]): no file is created, and the schema must be this
    /// crate's.
    AsItIs,
}

/// A SQLite URL that opens the file read-write, creating it when absent if `create`,
/// unless the URL sets its own mode.
fn sqlite_url(url: &str, create: bool) -> String {
    let mode = if create { "mode=rwc" } else { "mode=rw" };
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&{mode}")
    } else {
        format!("{url}?{mode}")
    }
}

/// Whether SQLite refused to open the file (`SQLITE_CANTOPEN`, 14, and its extended
/// codes): missing, a missing directory, or not openable.
fn cannot_open(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(e) = error else {
        return false;
    };
    e.code()
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == 14)
}

fn connect_error(source: sqlx::Error) -> Error {
    match source {
        sqlx::Error::Configuration(_) => crate::codes::store::INVALID_URL.error("the database URL cannot be used; check its form and options",
        ),
        sqlx::Error::Database(_) => crate::codes::store::CONNECT_REFUSED.error("the database refused the connection: check the user, password and database name (PostgreSQL) or that the file's directory exists (SQLite)",
        )
        .with_source(source),
        other => error::map(other),
    }
}
