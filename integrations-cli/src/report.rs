//! How a failure reaches the user: its exit code and the lines it prints, each once.

use std::process::ExitCode;

use integrations_core::{Error, ErrorKind};

/// The exit-code table, as `--help` and the README show it.
pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the input was read and is invalid, or was refused (failed validation or verification)
  2  usage error: a bad flag or argument, an unknown key, config kind, method, or a request
     `egress match` cannot parse
  3  `egress match`: no route matches
  4  `egress match`: several routes match (ambiguous)
  5  I/O failure: a file could not be read or written (the OS reason is printed)
  6  `sync run`: another run holds the stream (or took it over); try again later
  7  `sync run`: the connection cannot sync: its credential was refused (revoked), it
     is not active, or its target is disabled";

/// The input was read and is invalid or refused.
pub(crate) const INVALID: u8 = 1;
/// A usage error.
pub(crate) const USAGE: u8 = 2;
/// `egress match` found no route.
pub(crate) const NO_MATCH: u8 = 3;
/// `egress match` found several routes.
pub(crate) const AMBIGUOUS: u8 = 4;
/// A file could not be read or written.
pub(crate) const IO: u8 = 5;
/// `sync run`: another run holds the stream.
pub(crate) const BUSY: u8 = 6;
/// `sync run`: the connection cannot sync.
pub(crate) const CANNOT_SYNC: u8 = 7;

/// The codes of a sync run stopped by another run of the stream.
const BUSY_CODES: &[&str] = &["sync.lease_held", "sync.lease_lost", "sync.concurrent_run"];

/// The codes of a connection that cannot sync until someone acts on it.
const CANNOT_SYNC_CODES: &[&str] = &[
    "sync.credential_rejected",
    "sync.connection_not_active",
    "auth.target_disabled",
];

/// The codes of errors in what the user typed rather than in the input's content.
const USAGE_CODES: &[&str] = &[
    "key.invalid",
    "id.invalid",
    "registry.unknown_definition",
    "registry.unknown_method",
    "schema.unknown_kind",
    "egress.invalid_url",
    "egress.invalid_method",
    "egress.invalid_host",
    "egress.invalid_path",
    "cli.invalid_argument",
    "cli.usage",
    "cli.store_unavailable",
    "cli.database_url_missing",
    "cli.sealing_key_missing",
    "sync.unsupported",
    "auth.connection_not_found",
    "mcp.approval_addr_not_loopback",
    "mcp.nothing_to_serve",
    "mcp.trust_over_http",
    "mcp.tenant_required",
    "mcp.token_too_short",
];

/// The codes of input/output failures.
pub(crate) const IO_CODES: &[&str] = &["cli.unreadable_file", "cli.write_failed", "mcp.io"];

/// The exit code of a failure.
pub(crate) fn exit_code(error: &Error) -> u8 {
    let code = error.code();
    if IO_CODES.contains(&code) {
        IO
    } else if BUSY_CODES.contains(&code) {
        BUSY
    } else if CANNOT_SYNC_CODES.contains(&code) {
        CANNOT_SYNC
    } else if USAGE_CODES.contains(&code) {
        USAGE
    } else {
        INVALID
    }
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
    }
}
