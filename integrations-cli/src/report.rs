//! How a failure reaches the user: its exit code and the lines it prints, each once.

use std::process::ExitCode;

use integrations_core::codes as core;
use integrations_core::{Code, Error, ErrorKind};

use crate::codes::{cli, mcp};

/// The exit-code table, as `--help` and the README show it.
pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the input was read and is invalid, or was refused (failed validation or verification)
  2  usage error: a bad flag or argument, an unknown key, config kind or method, an id
     that names nothing stored (connection, publication), a request `egress match`
     cannot parse, a missing key, database URL or secret variable, a database URL of
     no scheme this build opens
  3  `egress match`: no route matches
  4  `egress match`: several routes match (ambiguous)
  5  I/O failure: a file could not be read or written, or an address could not be
     listened on (the OS reason is printed)
  6  `sync run`: another run holds the stream (or took it over); try again later
  7  `sync run`: the connection cannot sync: its credential was refused (revoked), it
     is not active, or its target is disabled
130  `sync run`: stopped by Ctrl-C or SIGTERM; the next run resumes from its last page";

/// The input was read and is invalid or refused.
pub(crate) const INVALID: u8 = 1;
/// A usage error.
pub(crate) const USAGE: u8 = 2;
/// `egress match` found no route.
pub(crate) const NO_MATCH: u8 = 3;
/// `egress match` found several routes.
pub(crate) const AMBIGUOUS: u8 = 4;
/// A file could not be read or written, or an address could not be listened on.
pub(crate) const IO: u8 = 5;
/// `sync run`: another run holds the stream.
pub(crate) const BUSY: u8 = 6;
/// `sync run`: the connection cannot sync.
pub(crate) const CANNOT_SYNC: u8 = 7;
/// `sync run`: stopped by a signal (128 + SIGINT, as shells report one).
pub(crate) const STOPPED: u8 = 130;

/// The codes of a sync run stopped by another run of the stream.
const BUSY_CODES: &[Code] = &[
    core::sync::LEASE_HELD,
    core::sync::LEASE_LOST,
    core::sync::CONCURRENT_RUN,
];

/// The codes of a connection that cannot sync until someone acts on it.
const CANNOT_SYNC_CODES: &[Code] = &[
    core::sync::CREDENTIAL_REJECTED,
    core::auth::CONNECTION_NOT_ACTIVE,
    core::auth::TARGET_DISABLED,
    // A dead grant, found by the token manager during the run (which marks the
    // connection `error`, so the next run stops at `auth.connection_not_active`).
    core::oauth::INVALID_GRANT,
    core::oauth::REFRESH_TOKEN_EXPIRED,
    core::oauth::NO_REFRESH_TOKEN,
    core::auth::CREDENTIAL_REVOKED,
];

/// The codes of errors in what the user typed rather than in the input's content.
const USAGE_CODES: &[Code] = &[
    core::key::INVALID,
    core::id::INVALID,
    core::registry::UNKNOWN_DEFINITION,
    core::registry::UNKNOWN_METHOD,
    core::schema::UNKNOWN_KIND,
    core::egress::INVALID_URL,
    core::egress::INVALID_METHOD,
    core::egress::INVALID_HOST,
    core::egress::INVALID_PATH,
    core::egress::AMBIGUOUS_PATH,
    cli::USAGE,
    cli::EVENT_REQUIRED,
    cli::DEMO_UNAVAILABLE,
    cli::DATABASE_URL_MISSING,
    cli::SEALING_KEY_MISSING,
    // The variable a flag names (`--secret-env`, `--grant-key-env`) is unset or empty.
    cli::MISSING_SECRET,
    cli::EMPTY_SECRET,
    // A database URL of no scheme this build opens (`--database-url integrations.db`).
    integrations_sqlx::codes::store::UNSUPPORTED_URL,
    core::sync::UNSUPPORTED,
    core::auth::CONNECTION_NOT_FOUND,
    integrations_sqlx::codes::store::DATABASE_NOT_FOUND,
    mcp::ALLOWED_HOST_REQUIRED,
    mcp::APPROVAL_ADDR_NOT_LOOPBACK,
    mcp::NOTHING_TO_SERVE,
    mcp::TRUST_OVER_HTTP,
    mcp::TENANT_REQUIRED,
    mcp::TOKEN_TOO_SHORT,
    // An id the user gave that names nothing stored, as `auth.connection_not_found`.
    mcp::PUBLICATION_NOT_FOUND,
];

/// The codes of input/output failures.
pub(crate) const IO_CODES: &[Code] = &[
    cli::UNREADABLE_FILE,
    cli::WRITE_FAILED,
    mcp::IO,
    // A port in use: the same failure as `mcp serve`'s listener (`mcp.io`).
    integrations_proxy::codes::proxy::BIND_FAILED,
];

/// The exit code of a failure.
pub(crate) fn exit_code(error: &Error) -> u8 {
    exit_code_of(error.code())
}

/// The exit code of a failure with this code.
pub(crate) fn exit_code_of(code: &str) -> u8 {
    let listed = |codes: &[Code]| codes.iter().any(|c| code == *c);
    if code == core::sync::STOPPED {
        STOPPED
    } else if listed(IO_CODES) {
        IO
    } else if listed(BUSY_CODES) {
        BUSY
    } else if listed(CANNOT_SYNC_CODES) {
        CANNOT_SYNC
    } else if listed(USAGE_CODES) {
        USAGE
    } else {
        INVALID
    }
}

/// Prints what the command line parser found, and returns its exit code: help and the
/// version on stdout (0); a bad flag or argument on stderr after the code `cli.usage`,
/// like every other failure, and 2.
pub(crate) fn usage(error: &clap::Error) -> ExitCode {
    if !error.use_stderr() {
        // `--help`, `--version`.
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    let rendered = error.render().to_string();
    let text = rendered.strip_prefix("error: ").unwrap_or(&rendered);
    eprint!("{} {text}", cli::USAGE);
    ExitCode::from(USAGE)
}

/// Prints a failure and returns its exit code.
///
/// The first line on stderr is the error's stable code and message. The issues of an
/// invalid input go to stdout, one JSON object a line (as `validate` and `compile` print
/// them); the issues of a usage error follow on stderr. An issue that only repeats the
/// error (same code and message) is not printed again.
pub(crate) fn failure(error: &Error) -> ExitCode {
    let exit = exit_code(error);
    eprintln!("{} {error}", error.code());
    if error.code() == core::crypto::UNKNOWN_KEY {
        // The usual cause: the host named its key (`AesGcmKeyRing::new("2026-11", key)`)
        // and the CLI was given the bare key, which it names `k-…`.
        eprintln!(
            "  hint: give the key with the id the host sealed with, ID=HEX (in SEALING_KEY or the --key-file), and any older keys on the next lines"
        );
    }
    let issues = error
        .issues()
        .iter()
        .filter(|i| !(i.code == error.code() && i.message == error.message()));
    if exit == INVALID && error.kind() == ErrorKind::InvalidInput {
        let issues: Vec<_> = issues.cloned().collect();
        if let Err(e) = crate::commands::print_issues(&issues) {
            eprintln!("{} {e}", e.code());
        }
    } else {
        for issue in issues {
            eprintln!("  {issue}");
        }
    }
    ExitCode::from(exit)
}

/// `n` and the noun, singular or plural (`1 tool`, `2 tools`).
pub(crate) fn count(n: usize, singular: &str, plural: &str) -> String {
    if n == 1 {
        format!("1 {singular}")
    } else {
        format!("{n} {plural}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_agree_in_number() {
        assert_eq!(count(0, "tool", "tools"), "0 tools");
        assert_eq!(count(1, "server", "servers"), "1 server");
        assert_eq!(count(2, "server", "servers"), "2 servers");
    }

    #[test]
    fn exit_codes_follow_the_table() {
        let usage = Error::invalid_input("key.invalid", "m", Vec::new());
        let io = Error::new(ErrorKind::InvalidInput, "cli.unreadable_file", "m");
        let invalid = Error::invalid_input("schema.required", "m", Vec::new());
        assert_eq!(exit_code(&usage), USAGE);
        assert_eq!(exit_code(&io), IO);
        assert_eq!(exit_code(&invalid), INVALID);
        let busy = Error::conflict("sync.lease_held", "m");
        let revoked = Error::new(ErrorKind::PermissionDenied, "sync.credential_rejected", "m");
        assert_eq!(exit_code(&busy), BUSY);
        assert_eq!(exit_code(&revoked), CANNOT_SYNC);
        // A dead grant found during a run: as the next run, which finds the connection
        // marked `error`, exits.
        for code in [
            "oauth.invalid_grant",
            "oauth.refresh_token_expired",
            "oauth.no_refresh_token",
            "auth.credential_revoked",
            "auth.connection_not_active",
        ] {
            assert_eq!(exit_code_of(code), CANNOT_SYNC, "{code}");
        }
    }
}
