//! The catalogue of the error codes this crate emits (codes of the store contract shared
//! with every store, such as `store.duplicate_state`, are in
//! [`integrations_core::codes::store`]).

integrations_core::error_codes! {
    /// Codes of the SQL stores.
    pub mod store {
        CONNECT_REFUSED = "store.connect_refused", Configuration, "The database refused the connection: check the user, password and database name (PostgreSQL) or that the file's directory exists (SQLite).";
        CORRUPT_RECORD = "store.corrupt_record", Storage, "A stored record cannot be read back; it was not written by this crate.";
        DATABASE_NOT_FOUND = "store.database_not_found", NotFound, "No SQLite database at the URL's path (`SqlStores::open` creates none): the file or its directory does not exist or cannot be opened; check the path.";
        INVALID_URL = "store.invalid_url", Configuration, "The database URL cannot be used; check its form and options.";
        ISOLATION_UNSUPPORTED = "store.isolation_unsupported", Configuration, "The PostgreSQL database's transactions default to an isolation level other than READ COMMITTED, on which the stores' conditional writes rely (under REPEATABLE READ or SERIALIZABLE a lost race fails instead of being answered); set `default_transaction_isolation` to `read committed` for the role or database, or in the URL (`options[default_transaction_isolation]=read%5C%20committed`, the space escaped). Nothing was written.";
        MIGRATION_FAILED = "store.migration_failed", Storage, "A schema migration failed and was rolled back; the database is at the previous version.";
        NUMBER_TOO_LARGE = "store.number_too_large", InvalidInput, "A version or count is larger than the database can store.";
        SCHEMA_OUTDATED = "store.schema_outdated", Configuration, "The database schema is older than this crate needs; run `SqlStores::migrate` (or connect with `SqlStores::connect`).";
        SCHEMA_TOO_NEW = "store.schema_too_new", Configuration, "The database schema was migrated by a newer release of this crate; upgrade integrations-sqlx (nothing was written).";
        UNAVAILABLE = "store.unavailable", Unavailable, "The database is unreachable, busy, or dropped the connection; retry later. A write may have been applied if the connection broke after it was sent (PostgreSQL can commit and lose the reply): retry idempotent and compare-and-swap operations, read back the others.";
        UNSUPPORTED_URL = "store.unsupported_url", Configuration, "The database URL's scheme is not one this build supports; check the URL and the crate features.";
    }
}
