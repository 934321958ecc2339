//! SQL stores for the integrations SDK: every store trait of
//! [`integrations_core::host`] on SQLite (the embedded default: one file, shared safely by
//! several processes) or PostgreSQL (many instances of a host on one database), plus
//! [`SqlRecordSink`], a sync sink that keeps synced records as JSON.
//!
//! ```no_run
//! # async fn run() -> Result<(), integrations_core::Error> {
//! use std::sync::Arc;
//! use integrations_core::host::{AesGcmKeyRing, Host};
//! use integrations_sqlx::SqlStores;
//!
//! let stores = SqlStores::connect("sqlite://integrations.db").await?;
//! let host = Host::builder()
//!     .stores(Arc::new(stores))
//!     .cipher(Arc::new(AesGcmKeyRing::generate("k1")?))
//!     .build()?;
//! # let _ = host; Ok(()) }
//! ```
//!
//! # Schema
//!
//! The schema is embedded: forward-only numbered migrations per backend
//! (`migrations/sqlite`, `migrations/postgres`), recorded in sqlx's `_sqlx_migrations`
//! table (sqlx's default, which it cannot rename: a host's own sqlx migrations belong in
//! another SQLite file or PostgreSQL schema; on PostgreSQL, name this crate's schema in
//! its URL, `postgres://…/app?options[search_path]=integrations`). [`SqlStores::connect`] applies the missing ones; [`SqlStores::open`] applies
//! nothing, never creates a SQLite file (`store.database_not_found`) and refuses a
//! database that is behind (`store.schema_outdated`), for hosts that migrate in a deploy
//! step with [`SqlStores::migrate`] and for tools serving another program's database. Both refuse a database whose
//! schema is newer than this crate (`store.schema_too_new`) before writing anything.
//! The crate README lists the tables.
//!
//! # Semantics
//!
//! Each operation is one statement or one transaction (but `put_approval_call`: a few
//! single statements, each atomic, retried while an expired record gives way), with the
//! semantics of the testkit's `MemoryStore`: credentials and checkpoints are saved with compare-and-swap on a version
//! column, `take_*` is `DELETE … RETURNING` (of any number of concurrent takers, in any
//! number of processes, exactly one gets the record; an entry expired by the caller's
//! `now` is deleted by the same statement and reported absent), and `record_event_if_new` is
//! `INSERT … ON CONFLICT DO NOTHING`. Every primary key starts with the tenant. Sealed
//! secrets are stored only as their key id and ciphertext bytes.
//!
//! # Errors
//!
//! A database that cannot be reached (refused connection, pool timeout, a connection
//! dropped mid-statement, a locked SQLite file past the busy timeout) gives a temporary
//! [`ErrorKind::Unavailable`](integrations_core::ErrorKind::Unavailable) error with code
//! `store.unavailable`: retrying may succeed, and nothing is ever half-written (each
//! operation is one statement or one transaction). Whether a write took effect is known
//! when the statement was never sent (unreachable database, pool timeout, SQLite busy:
//! nothing was written), but not when the connection broke after it was sent: PostgreSQL
//! may have committed it (an autocommit statement or the `COMMIT`) and lost the reply.
//! Then:
//!
//! * safe to retry, the outcome is the same: the `put_*` upserts of targets, connections,
//!   bindings and publications, `set_connection_status`, every `delete_*`, `forget_event`,
//!   `purge_*`, `acquire_sync_lease`/`release_sync_lease` by the same holder, and
//!   [`SqlRecordSink`]'s pages and stream deletes;
//! * compare-and-swap (`swap_credentials`, `save_checkpoint`,
//!   `set_connection_status_if`): a retry of an applied write gets
//!   `store.version_conflict` (or no row): reload and compare before acting on it;
//! * not repeatable: a `take_*` whose reply was lost has taken the record (a retry
//!   reports it absent); `put_oauth_state`, `put_approval` and `put_continuation` retried
//!   may get their `store.duplicate_*` code; `record_event_if_new` retried may report an
//!   event its first attempt recorded as already seen.
//!
//! A unique violation gives [`ErrorKind::Conflict`](integrations_core::ErrorKind::Conflict).
//! Any other database failure is [`Error::storage`](integrations_core::Error::storage).
//!
//! # Features
//!
//! * `sqlite` (default): SQLite, compiled in (no system library needed).
//! * `postgres`: PostgreSQL, TLS through rustls with aws-lc-rs.

mod backend;
pub mod codes;
mod error;
mod schema;
mod sink;
mod stores;

pub use self::backend::{Backend, SqlStores};
pub use self::schema::SCHEMA_VERSION;
pub use self::sink::SqlRecordSink;
