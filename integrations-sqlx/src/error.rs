//! sqlx errors as [`integrations_core::Error`]s with stable codes.

use integrations_core::Error;
use sqlx::error::ErrorKind as DbErrorKind;

/// The database could not be reached, was busy, or dropped the connection: retrying may
/// succeed. Whether a write took effect is not known when the connection broke after
/// the statement (or `COMMIT`) was sent: PostgreSQL may have committed it and lost the
/// reply. The message says so; the crate docs list which operations are safe to retry.
pub(crate) fn unavailable(source: sqlx::Error) -> Error {
    crate::codes::store::UNAVAILABLE.error("the database is unreachable, busy, or dropped the connection; retry later. A write may have been applied if the connection broke after it was sent: read it back, or retry only an idempotent or compare-and-swap operation",
    )
    .with_source(source)
}

/// Maps a sqlx error: connection failures to [`ErrorKind::Unavailable`], unique
/// violations to [`ErrorKind::Conflict`], the rest to [`Error::storage`].
pub(crate) fn map(error: sqlx::Error) -> Error {
    if map_is_unavailable(&error) {
        return unavailable(error);
    }
    if let sqlx::Error::Database(db) = &error
        && db.kind() == DbErrorKind::UniqueViolation
    {
        return integrations_core::codes::store::DUPLICATE
            .error("a record with this key already exists")
            .with_source(error);
    }
    Error::storage(error)
}

/// Whether retrying may succeed: the connection failed or the database is busy.
pub(crate) fn map_is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => temporary_code(&db.code().unwrap_or_default()),
        _ => false,
    }
}

/// Database error codes that mean "try again": SQLite's busy and locked (after the busy
/// timeout), PostgreSQL's serialization failure, deadlock, shutdowns and too many
/// connections.
fn temporary_code(code: &str) -> bool {
    matches!(
        code,
        // SQLite primary and extended result codes for SQLITE_BUSY / SQLITE_LOCKED.
        "5" | "6" | "261" | "262" | "517" | "773"
        // PostgreSQL SQLSTATEs.
        | "40001" | "40P01" | "53300" | "57P01" | "57P02" | "57P03" | "08000" | "08003"
        | "08006"
    )
}

/// A unique violation mapped to a specific conflict, other errors as [`map`].
pub(crate) fn map_duplicate(
    error: sqlx::Error,
    code: integrations_core::Code,
    message: &'static str,
) -> Error {
    let mapped = map(error);
    if mapped.code() == integrations_core::codes::store::DUPLICATE {
        code.error(message)
    } else {
        mapped
    }
}

/// A stored value that cannot be read back: the row was written by something else.
pub(crate) fn corrupt(what: &'static str) -> Error {
    // The parser's message is left out: it may quote stored values.
    crate::codes::store::CORRUPT_RECORD.error(format!(
        "a stored {what} cannot be read back; it was not written by this crate"
    ))
}

/// A column whose value is not of the type this crate writes there.
pub(crate) fn corrupt_column(column: &str) -> Error {
    // The decoder's message is left out: it may quote the stored value.
    crate::codes::store::CORRUPT_RECORD.error(format!(
        "the stored column {column} cannot be read back; it was not written by this crate"
    ))
}

/// A number the schema keeps as a signed 64-bit integer.
pub(crate) fn to_i64(value: u64) -> Result<i64, Error> {
    i64::try_from(value).map_err(|_| too_large())
}

/// A version or count past what can be stored (or incremented).
pub(crate) fn too_large() -> Error {
    crate::codes::store::NUMBER_TOO_LARGE
        .error("a version or count is larger than the database can store")
}

/// Free text bound as a SQL text value, refused when it holds a NUL character:
/// PostgreSQL cannot store one in a text column (SQLite could), so both backends refuse
/// it up front, before anything is written. `what` names the value, never quotes it.
pub(crate) fn text<'a>(what: &'static str, value: &'a str) -> Result<&'a str, Error> {
    if value.contains('\0') {
        return Err(integrations_core::codes::store::INVALID_TEXT.error(format!(
            "a {what} contains a NUL character, which the database cannot store; nothing was written"
        )));
    }
    Ok(value)
}

/// [`text`] for an optional value.
pub(crate) fn opt_text<'a>(
    what: &'static str,
    value: Option<&'a str>,
) -> Result<Option<&'a str>, Error> {
    value.map(|value| text(what, value)).transpose()
}

/// A stored version or count read back.
pub(crate) fn to_u64(value: i64) -> Result<u64, Error> {
    u64::try_from(value).map_err(|_| corrupt("version"))
}
