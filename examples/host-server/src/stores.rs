//! Where the host server keeps its records: SQLite by default
//! ([`DEFAULT_DATABASE_URL`], created on first run), PostgreSQL when `DATABASE_URL` says
//! so (`postgres://…`: several instances of the server then share OAuth state and
//! coordinate refreshes). Sealed secrets need the same key on every run and instance:
//! `SEALING_KEY` (64 hex digits), else a key file made on first run ([`KEY_FILE`]).

use std::path::Path;

use integrations::core::host::AesGcmKeyRing;
use integrations::prelude::Error;
use integrations_sqlx::SqlStores;

/// The database used when `DATABASE_URL` is not set: a SQLite file in the working
/// directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://integrations.db";

/// The key file used when `SEALING_KEY` is not set.
pub const KEY_FILE: &str = "integrations.key";

/// The stores at `DATABASE_URL` (or [`DEFAULT_DATABASE_URL`]), migrated.
///
/// # Errors
///
/// The store's connection and migration errors (`store.unavailable`,
/// `store.schema_too_new`, ...).
pub async fn connect_from_env() -> Result<SqlStores, Error> {
    let url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
    SqlStores::connect(&url).await
}

/// The sealing key: `SEALING_KEY` (64 hex digits), else the key in [`KEY_FILE`], made on
/// first run (readable by the owner only). The key ring names the key by a digest of it
/// ([`AesGcmKeyRing::from_hex`]), so the CLI's serving commands given the same key
/// (`SEALING_KEY` or `--key-file integrations.key`) open this server's records.
///
/// # Errors
///
/// `crypto.invalid_key` when the variable or the file does not hold 64 hex digits;
/// `host_server.key_file` when the file cannot be read or written.
pub fn key_ring_from_env() -> Result<AesGcmKeyRing, Error> {
    let hex = match std::env::var("SEALING_KEY").ok().filter(|k| !k.is_empty()) {
        Some(hex) => hex,
        None => key_file(Path::new(KEY_FILE))?,
    };
    AesGcmKeyRing::from_hex(&hex)
}

fn key_file(path: &Path) -> Result<String, Error> {
    let failed = |_| {
        Error::configuration(
            "host_server.key_file",
            "the sealing key file cannot be read or written",
        )
    };
    if path.exists() {
        return std::fs::read_to_string(path).map_err(failed);
    }
    let mut key = [0_u8; 32];
    getrandom::fill(&mut key).map_err(|_| Error::internal("the system random generator failed"))?;
    let hex = hex::encode(key);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(failed)?;
    std::io::Write::write_all(&mut file, hex.as_bytes()).map_err(failed)?;
    Ok(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_made_once_and_read_back() {
        let path = std::env::temp_dir().join(format!("host-server-key-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let first = key_file(&path).unwrap();
        assert_eq!(key_file(&path).unwrap(), first);
        assert_eq!(first.len(), 64);
        assert!(AesGcmKeyRing::from_hex(&first).is_ok());
        std::fs::remove_file(&path).unwrap();
    }
}
