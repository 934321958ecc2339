//! The stored records the serving commands (`mcp serve`, `proxy`, `sync run`) work on: a
//! database given by `--database-url` (or `DATABASE_URL`) and the key that seals its
//! secrets.
//!
//! The sealing key is read from `--key-file`, else from the `SEALING_KEY` environment
//! variable (a flag given on the command line wins over the environment, as
//! `--database-url` does over `DATABASE_URL`); never from a flag's value, which other users of the machine could read in
//! the process list. It must be the key of the host that wrote the records: the key ring
//! names a key by a digest of it (`AesGcmKeyRing::from_hex`), so every process given the
//! same key opens the same records.

use std::path::PathBuf;
use std::sync::Arc;

use integrations_core::Error;
use integrations_core::host::AesGcmKeyRing;
use integrations_sqlx::SqlStores;

/// Where the records live, as flags shared by the serving commands. Its `Debug` does not
/// show the database URL (it may hold the password).
#[derive(Clone, Default, clap::Args)]
pub(crate) struct StoreArgs {
    /// The database holding connections and credentials, as a host wrote it:
    /// `sqlite://FILE` (an existing file; none is created) or `postgres://USER@HOST/DB`
    /// (default: the `DATABASE_URL` environment variable; keep a password there or in
    /// `PGPASSWORD`, not in this flag, which shows in `ps` and shell history)
    // The value is never shown in `--help`: it may hold the database's password.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub(crate) database_url: Option<String>,
    /// A file holding the sealing keys the host sealed with, one a line: `ID=HEX` (the
    /// key id the host gave `AesGcmKeyRing::new`) or 64 hex digits alone (a key named as
    /// `AesGcmKeyRing::from_hex` names it); the first seals, the others only open; when
    /// not given, the keys are the `SEALING_KEY` environment variable, in the same form
    #[arg(long, value_name = "PATH")]
    pub(crate) key_file: Option<PathBuf>,
}

impl std::fmt::Debug for StoreArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreArgs")
            .field("database_url", &self.database_url.as_ref().map(|_| ".."))
            .field("key_file", &self.key_file)
            .finish()
    }
}

/// The opened stores and the key ring that opens their sealed secrets.
pub(crate) struct OpenStores {
    /// The stores, migrated to this version's schema.
    pub(crate) stores: Arc<SqlStores>,
    /// The key ring of the key file or `SEALING_KEY`.
    pub(crate) keys: Arc<AesGcmKeyRing>,
}

impl StoreArgs {
    /// Whether a database was named.
    pub(crate) fn is_given(&self) -> bool {
        self.database_url
            .as_deref()
            .is_some_and(|u| !u.trim().is_empty())
    }

    /// Opens the database and reads the sealing key. These commands serve what a host
    /// stored, so the database must be the host's, at this release's schema
    /// ([`SqlStores::open`]): a mistyped path is reported, never answered with a new,
    /// empty database, and the schema is never changed (migrating it would lock out a
    /// host of an older release, which refuses a newer schema).
    ///
    /// # Errors
    ///
    /// `cli.database_url_missing` (usage) without a URL; `cli.sealing_key_missing` (usage)
    /// without `SEALING_KEY` or `--key-file`; `cli.unreadable_file` when the key file
    /// cannot be read; `crypto.invalid_key` when the key is not 64 hex digits;
    /// `store.database_not_found` (usage) when the SQLite file does not exist;
    /// `store.schema_outdated` when the database is empty or at an older schema; the
    /// store's own errors (`store.unsupported_url`, `store.unavailable`,
    /// `store.schema_too_new`, ...).
    pub(crate) async fn open(&self) -> Result<OpenStores, Error> {
        let url = self
            .database_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                crate::codes::cli::DATABASE_URL_MISSING.error("give --database-url URL (or set DATABASE_URL): the connections and credentials live there",
                )
            })?;
        let keys = self.key_ring()?;
        let stores = SqlStores::open(url).await.map_err(|e| {
            if e.code() == integrations_sqlx::codes::store::SCHEMA_OUTDATED.as_str() {
                // The library's message points at its own API; say what to do here.
                integrations_sqlx::codes::store::SCHEMA_OUTDATED.error(format!(
                    "the database is empty or at an older schema than this command's (version {}): it never migrates a host's database; check the URL, then run `integrations db migrate` or start the host that owns the database once (it migrates)",
                    integrations_sqlx::SCHEMA_VERSION
                ))
            } else {
                e
            }
        })?;
        Ok(OpenStores {
            stores: Arc::new(stores),
            keys: Arc::new(keys),
        })
    }

    /// The key ring of `--key-file`, else of `SEALING_KEY` (both as
    /// [`AesGcmKeyRing::from_lines`] reads them): the flag, typed for this run, wins over
    /// a variable the environment may hold for another database.
    fn key_ring(&self) -> Result<AesGcmKeyRing, Error> {
        if let Some(path) = &self.key_file {
            let keys = zeroize::Zeroizing::new(
                std::fs::read_to_string(path).map_err(|e| crate::io::unreadable(path, e))?,
            );
            return AesGcmKeyRing::from_lines(&keys);
        }
        let keys = zeroize::Zeroizing::new(std::env::var("SEALING_KEY").unwrap_or_default());
        if keys.trim().is_empty() {
            return Err(crate::codes::cli::SEALING_KEY_MISSING.error("set SEALING_KEY (64 hex digits, or ID=HEX with the host's key id) or give --key-file PATH: the key that sealed the stored secrets",
            ));
        }
        AesGcmKeyRing::from_lines(&keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_url_never_prints() {
        let args = StoreArgs {
            database_url: Some("postgres://app:pw-SECRET-77@db.internal/records".to_owned()),
            key_file: None,
        };
        let shown = format!("{args:?}");
        assert!(!shown.contains("pw-SECRET-77"), "{shown}");
        assert!(shown.contains("database_url: Some(\"..\")"), "{shown}");
    }

    /// A host that named its keys (and rotated one out) is opened with the same lines.
    #[test]
    fn a_key_file_names_the_hosts_keys_the_first_sealing() {
        use integrations_core::TenantId;
        use integrations_core::host::{Aad, SecretCipher};

        let host = AesGcmKeyRing::new("2026-10", [1; 32])
            .unwrap()
            .rotate("2026-11", [2; 32])
            .unwrap();
        let aad = Aad::new(
            &TenantId::new("acme").unwrap(),
            "credential",
            "c",
            "api_key",
        );
        let sealed = host.seal(b"sk-live", &aad).unwrap();
        let key_file = temp("named.keys");
        std::fs::write(
            &key_file,
            format!("2026-11={}\n2026-10={}\n", "02".repeat(32), "01".repeat(32)),
        )
        .unwrap();
        let args = StoreArgs {
            database_url: None,
            key_file: Some(key_file.clone()),
        };
        let ring = args.key_ring().unwrap();
        std::fs::remove_file(&key_file).unwrap();
        assert_eq!(ring.primary_key_id(), "2026-11");
        assert_eq!(&*ring.open(&sealed, &aad).unwrap(), b"sk-live");
    }

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("integrations-cli-{name}-{}", std::process::id()))
    }

    #[tokio::test]
    async fn a_url_and_a_key_are_required_and_bad_keys_are_not_echoed() {
        assert!(!StoreArgs::default().is_given());
        let error = StoreArgs::default().open().await.err().unwrap();
        assert_eq!(error.code(), "cli.database_url_missing");

        let database = temp("no-key.db");
        let args = StoreArgs {
            database_url: Some(format!("sqlite://{}", database.display())),
            key_file: None,
        };
        if std::env::var_os("SEALING_KEY").is_none() {
            assert_eq!(
                args.open().await.err().unwrap().code(),
                "cli.sealing_key_missing"
            );
        }

        // A key file is read whatever the environment holds: the flag wins.
        let key_file = temp("bad.key");
        std::fs::write(&key_file, "not-a-key-but-a-secret").unwrap();
        let args = StoreArgs {
            key_file: Some(key_file.clone()),
            ..args
        };
        let error = args.open().await.err().unwrap();
        assert_eq!(error.code(), "crypto.invalid_key");
        assert!(!error.to_string().contains("not-a-key"));
        std::fs::remove_file(&key_file).unwrap();
        assert!(
            !database.exists(),
            "nothing is created before the key is read"
        );
    }

    #[tokio::test]
    async fn a_sqlite_file_and_a_key_file_open_the_stores() {
        let database = temp("open.db");
        let key_file = temp("open.key");
        std::fs::write(&key_file, format!("{}\n", "0f".repeat(32))).unwrap();
        let args = StoreArgs {
            database_url: Some(format!("sqlite://{}", database.display())),
            key_file: Some(key_file.clone()),
        };
        // A path where no database is: reported, and nothing is created.
        let error = args.open().await.err().unwrap();
        assert_eq!(error.code(), "store.database_not_found");
        assert!(!database.exists());
        // An empty database is not migrated: it is not a host's.
        std::fs::File::create(&database).unwrap();
        let error = args.open().await.err().unwrap();
        assert_eq!(error.code(), "store.schema_outdated");
        assert!(error.message().contains("never migrates"), "{error}");
        std::fs::remove_file(&database).unwrap();
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
        }
        // The host creates the database; the command opens it.
        SqlStores::connect(args.database_url.as_deref().unwrap())
            .await
            .unwrap()
            .close()
            .await;
        let open = args.open().await.unwrap();
        assert_eq!(
            open.keys.primary_key_id(),
            AesGcmKeyRing::from_hex(&"0f".repeat(32))
                .unwrap()
                .primary_key_id()
        );
        open.stores.close().await;
        for path in [&database, &key_file] {
            std::fs::remove_file(path).unwrap();
        }
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
        }
    }
}
