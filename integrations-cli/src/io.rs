//! Reading inputs: JSON files, secrets from the environment, header files.

use std::path::Path;

use integrations_core::webhook::Headers;
use integrations_core::{Error, Secret};

/// `-` names standard input.
fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// How a path is named in messages.
pub(crate) fn name(path: &Path) -> String {
    if is_stdin(path) {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    }
}

/// An I/O failure, with the operating system's reason ("No such file or directory").
pub(crate) fn unreadable(path: &Path, e: std::io::Error) -> Error {
    crate::codes::cli::UNREADABLE_FILE
        .error(format!("cannot read {}: {e}", name(path)))
        .with_source(e)
}

/// A file's bytes; `-` reads standard input.
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>, Error> {
    if is_stdin(path) {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)
            .map_err(|e| unreadable(path, e))?;
        return Ok(bytes);
    }
    std::fs::read(path).map_err(|e| unreadable(path, e))
}

/// A file's text; `-` reads standard input.
pub(crate) fn read_text(path: &Path) -> Result<String, Error> {
    let bytes = read_bytes(path)?;
    String::from_utf8(bytes).map_err(|_| {
        crate::codes::cli::INVALID_TEXT
            .with_issues(format!("{} is not UTF-8 text", name(path)), Vec::new())
    })
}

/// A JSON file.
pub(crate) fn read_json(path: &Path) -> Result<serde_json::Value, Error> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|e| {
        // serde_json's position is enough; its message could quote the content.
        crate::codes::cli::INVALID_JSON.error(format!(
            "{} is not valid JSON (line {}, column {})",
            name(path),
            e.line(),
            e.column()
        ))
    })
}

/// A secret from an environment variable: secrets never come from arguments, where
/// they would show in process listings and shell history.
pub(crate) fn secret_from_env(var: &str) -> Result<Secret, Error> {
    // The variable's name is not repeated: a secret pasted where the name goes (a token
    // looks like a name: `ghp_…`, `lin_api_…`) would be printed. The user typed it.
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Ok(Secret::new(value)),
        Ok(_) => Err(crate::codes::cli::EMPTY_SECRET
            .error("the environment variable the command names for a secret is empty")),
        Err(_) => Err(crate::codes::cli::MISSING_SECRET.error(
            "the environment variable the command names for a secret is not set (give the variable's name, not the secret)",
        )),
    }
}

/// A headers file: one `Name: value` a line; blank lines and lines starting with `#`
/// are skipped.
pub(crate) fn read_headers(path: &Path) -> Result<Headers, Error> {
    let text = read_text(path)?;
    let mut pairs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(crate::codes::cli::INVALID_HEADERS.error(format!(
                "{} line {} is not a `Name: value` header",
                path.display(),
                n + 1
            )));
        };
        pairs.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    Ok(Headers::from_pairs(pairs))
}

/// How many files this process wrote atomically: numbers their temporary files.
static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Writes a file atomically: a new temporary file beside it, flushed to disk, then a
/// rename over it. An existing file keeps its permissions (a config holding tokens
/// stays private), and a symbolic link is written through (the file it points to is
/// replaced, the link stays). Nothing is left behind on failure.
pub(crate) fn write_atomically(path: &Path, content: &[u8]) -> Result<(), Error> {
    use std::io::Write as _;

    let failed = |e: std::io::Error| {
        crate::codes::cli::WRITE_FAILED
            .error(format!("cannot write {}: {e}", path.display()))
            .with_source(e)
    };
    // The file a link points to is the one to replace (or to create, when the link
    // dangles: the link stays).
    let target = link_target(path).map_err(failed)?;
    let existing = std::fs::metadata(&target).ok();
    let file_name = target
        .file_name()
        .map_or_else(|| "output".to_owned(), |n| n.to_string_lossy().into_owned());
    // Unique to this process and write; `create_new` refuses any file already there.
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = target.with_file_name(format!(
        ".{file_name}.{}-{n}.integrations-tmp",
        std::process::id()
    ));
    let written = (|| {
        // A new file (never one already there, nor a link planted at its name).
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        if let Some(existing) = &existing {
            file.set_permissions(existing.permissions())?;
        }
        file.write_all(content)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &target)
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        failed(e)
    })
}

/// The file `path` names once symbolic links are followed: the real path when it
/// exists, else where the last link leads (the file a dangling link names), else `path`.
fn link_target(path: &Path) -> std::io::Result<std::path::PathBuf> {
    match std::fs::canonicalize(path) {
        Ok(real) => return Ok(real),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut at = path.to_path_buf();
    // As many links as the kernel follows before it gives up (`ELOOP`).
    for _ in 0..40 {
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                if planted(&at, &meta) {
                    // Written over, as the link itself: not followed where the kernel
                    // would not follow it either.
                    return Ok(at);
                }
                let next = std::fs::read_link(&at)?;
                // A relative link is relative to its own directory.
                at = match at.parent() {
                    Some(dir) => dir.join(next),
                    None => next,
                };
            }
            _ => return Ok(at),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// Whether the link `at` (its metadata `meta`) is one the kernel's
/// `fs.protected_symlinks` would not let others follow: in a sticky, world-writable
/// directory (`/tmp`), a link owned by someone else than the directory's owner, which
/// any user could have planted there to have a file created where it points.
#[cfg(unix)]
fn planted(at: &Path, meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let dir = at
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    std::fs::metadata(dir).is_ok_and(|d| planted_by(d.mode(), d.uid(), meta.uid()))
}

/// The rule of [`planted`]: a directory of `dir_mode` owned by `dir_owner` holds a link
/// owned by `link_owner`.
fn planted_by(dir_mode: u32, dir_owner: u32, link_owner: u32) -> bool {
    let sticky_and_world_writable = dir_mode & 0o1002 == 0o1002;
    sticky_and_world_writable && link_owner != dir_owner
}

#[cfg(not(unix))]
fn planted(_: &Path, _: &std::fs::Metadata) -> bool {
    false
}

/// `path` with its directory resolved (links followed, `.` and `..` gone), for telling
/// whether two spellings name one file; `None` when its directory does not exist.
pub(crate) fn resolved(path: &Path) -> Option<std::path::PathBuf> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    Some(std::fs::canonicalize(dir).ok()?.join(path.file_name()?))
}

/// A unix time argument as a timestamp; `None` is now.
pub(crate) fn timestamp(unix: Option<i64>) -> integrations_core::Timestamp {
    use integrations_core::host::Clock;
    unix.map_or_else(
        || integrations_core::host::SystemClock::new().now(),
        integrations_core::Timestamp::from_unix_seconds,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link in `/tmp` (sticky, world-writable, root's) owned by another user is not
    /// followed; links in a user's own directories are, and so are root's in `/tmp`.
    #[test]
    fn links_planted_in_shared_directories_are_not_followed() {
        const TMP: u32 = 0o41777;
        const HOME: u32 = 0o40755;
        assert!(planted_by(TMP, 0, 1000), "another user's link in /tmp");
        assert!(!planted_by(TMP, 0, 0), "root's link in /tmp");
        assert!(!planted_by(HOME, 1000, 1000), "the user's link at home");
        assert!(!planted_by(HOME, 1000, 0), "not a shared directory");
        assert!(
            !planted_by(0o41775, 0, 1000),
            "sticky but not world-writable"
        );
        assert!(
            !planted_by(0o40777, 0, 1000),
            "world-writable but not sticky"
        );
    }
}
