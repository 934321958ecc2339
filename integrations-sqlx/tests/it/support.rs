//! Databases for the tests: a fresh SQLite file or a fresh PostgreSQL schema each.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT: AtomicU64 = AtomicU64::new(0);

fn unique(test: &str) -> String {
    format!(
        "{test}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A new, empty directory under the target directory.
pub(crate) fn temp_dir(test: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique(test));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).expect("create a directory");
    path
}

/// A path for a new SQLite file (it does not exist yet).
pub(crate) fn sqlite_path(test: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}.db", unique(test)));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

/// The URL of a new SQLite file.
pub(crate) fn sqlite_url(test: &str) -> String {
    format!("sqlite://{}", sqlite_path(test).display())
}

/// The URL of a fresh, empty PostgreSQL schema (through `search_path`), or `None` when
/// PostgreSQL tests are skipped: outside CI without `DATABASE_URL`.
///
/// # Panics
///
/// In CI (`CI=true`) without `DATABASE_URL`, and whenever `DATABASE_URL` is set but the
/// server cannot be reached: a PostgreSQL test never passes by not running.
#[cfg(feature = "postgres")]
#[allow(
    clippy::print_stderr,
    reason = "the one line saying how to run skipped tests"
)]
pub(crate) async fn postgres_url(test: &str) -> Option<String> {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but DATABASE_URL is not set: .ci/run starts PostgreSQL with scripts/postgres"
        );
        eprintln!(
            "skipping PostgreSQL test {test}: set DATABASE_URL, for example: eval \"$(scripts/postgres start)\""
        );
        return None;
    };
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("DATABASE_URL is set but PostgreSQL is unreachable: {e}"));
    let schema = unique(test).to_lowercase();
    sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
        .execute(&admin)
        .await
        .expect("create a schema");
    admin.close().await;
    let separator = if url.contains('?') { '&' } else { '?' };
    Some(format!("{url}{separator}options[search_path]={schema}"))
}

/// Runs the body once per available backend: a SQLite file, and PostgreSQL when
/// available. `$url` is bound to each URL in turn.
#[macro_export]
macro_rules! each_backend {
    ($test:expr, |$url:ident| $body:expr) => {{
        {
            let $url = $crate::support::sqlite_url($test);
            $body;
        }
        #[cfg(feature = "postgres")]
        if let Some($url) = $crate::support::postgres_url($test).await {
            $body;
        }
    }};
}
