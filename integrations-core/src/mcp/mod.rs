//! MCP server declarations and the agent config files that list them.
//!
//! [`check_server`] validates one declaration: a name of 1 to 64 letters, digits, `-` or
//! `_`; a stdio server needs a command; an HTTP server needs an absolute `http(s)` URL
//! and declares no credential header (the egress proxy injects credentials, so config
//! files never hold one).
//!
//! [`McpConfigWriter`] puts servers into an agent's config file, Codex TOML
//! (`[mcp_servers.<name>]`, with `command`/`args`/`env` or `url`/`http_headers`) or a JSON
//! `mcpServers` object (Claude Code, Cursor: `{command, args, env}` or
//! `{type: "http", url, headers}`), editing the file in place:
//!
//! * **It manages only the entries named by the servers it is given** (plus names it is
//!   told were retired, which it removes). Every other byte of the file (comments,
//!   formatting, key order, the user's own servers) is kept exactly.
//! * An entry that already says what the plan says is left untouched, byte for byte, so a
//!   second run changes nothing. An entry that differs is replaced where it stands (the
//!   comments above a TOML table header stay); a new entry is appended to the servers
//!   table.
//! * A missing servers table is created; a path that is empty, or that runs through a
//!   value that is not a table (TOML) or object (JSON), is an error.
//!
//! ```
//! use integrations_core::mcp::McpConfigWriter;
//! use integrations_core::plan::{McpConfigFormat, McpServer};
//!
//! let writer = McpConfigWriter::new(McpConfigFormat::Toml, ["mcp_servers"])?;
//! let before = "# my settings\nmodel = \"gpt-5\"\n\n[mcp_servers.mine]\ncommand = \"mine\"\n";
//! let servers = [McpServer::http("linear", "linear", "https://mcp.linear.app/mcp")];
//! let after = writer.apply(before, &servers)?;
//! assert_eq!(
//!     after,
//!     "# my settings\nmodel = \"gpt-5\"\n\n[mcp_servers.mine]\ncommand = \"mine\"\n\n\
//!      [mcp_servers.linear]\nurl = \"https://mcp.linear.app/mcp\"\n"
//! );
//! assert_eq!(writer.apply(&after, &servers)?, after); // idempotent
//! # Ok::<(), integrations_core::Error>(())
//! ```
//!
//! JSON files are edited with `jsonc-parser`'s concrete syntax tree, which keeps every
//! byte it is not asked to change (comments included, since Cursor and VS Code files
//! may hold them); TOML files with `toml_edit`.

mod json;
mod toml;

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::plan::{McpConfigFormat, McpConfigTarget, McpServer, McpTransport};
use crate::{Error, ValidationIssue};

/// Every problem with one server declaration, with code `mcp.invalid_server` and paths
/// relative to the declaration (`/name`, `/transport/url`, ...).
pub fn check_server(server: &McpServer) -> Vec<ValidationIssue> {
    let issue = |path: &str, message: &str| {
        ValidationIssue::new(
            crate::codes::mcp::INVALID_SERVER,
            path.to_owned(),
            message.to_owned(),
        )
    };
    let mut issues = Vec::new();
    if server.id.trim().is_empty() {
        issues.push(issue("/id", "an MCP server needs an id"));
    }
    if !is_server_name(&server.name) {
        issues.push(issue(
            "/name",
            "an MCP server name is 1 to 64 letters, digits, - or _",
        ));
    }
    match &server.transport {
        McpTransport::Stdio { command, env, .. } => {
            if command.trim().is_empty() {
                issues.push(issue(
                    "/transport/command",
                    "a stdio MCP server needs a command",
                ));
            }
            if env.keys().any(|k| k.is_empty() || k.contains('=')) {
                issues.push(issue(
                    "/transport/env",
                    "an environment variable name is not empty and holds no =",
                ));
            }
        }
        McpTransport::StreamableHttp { url, headers } => {
            let valid = url::Url::parse(url)
                .ok()
                .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if url.trim().is_empty() {
                issues.push(issue("/transport/url", "an HTTP MCP server needs a URL"));
            } else if !valid {
                issues.push(issue(
                    "/transport/url",
                    "an HTTP MCP server's URL is an absolute http or https URL",
                ));
            }
            if headers.keys().any(|k| {
                k.eq_ignore_ascii_case("authorization")
                    || k.eq_ignore_ascii_case("proxy-authorization")
            }) {
                issues.push(issue(
                    "/transport/headers",
                    "an MCP server declares no credential header: the egress proxy injects it",
                ));
            }
        }
    }
    issues
}

fn is_server_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Writes MCP servers into an agent config file, keeping everything it does not manage.
/// See the [module documentation](self) for the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpConfigWriter {
    format: McpConfigFormat,
    path: Vec<String>,
    retired: BTreeSet<String>,
}

impl McpConfigWriter {
    /// A writer for files of `format`, with the servers table at `path`
    /// (`["mcp_servers"]`, `["mcpServers"]`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) (`mcp.invalid_path`)
    /// for an empty path or an empty key.
    pub fn new<I, S>(format: McpConfigFormat, path: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let path: Vec<String> = path.into_iter().map(Into::into).collect();
        if path.is_empty() || path.iter().any(String::is_empty) {
            return Err(crate::codes::mcp::INVALID_PATH
                .error("the path to the MCP servers table is one or more non-empty keys"));
        }
        Ok(Self {
            format,
            path,
            retired: BTreeSet::new(),
        })
    }

    /// A writer for a definition's config target.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn for_target(target: &McpConfigTarget) -> Result<Self, Error> {
        Self::new(target.format, target.path.iter().cloned())
    }

    /// Server names that a previous plan managed and this one does not: their entries are
    /// removed.
    #[must_use]
    pub fn with_retired<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.retired.extend(names.into_iter().map(Into::into));
        self
    }

    /// The format.
    pub fn format(&self) -> McpConfigFormat {
        self.format
    }

    /// The path to the servers table.
    pub fn path(&self) -> &[String] {
        &self.path
    }

    /// `text` with `servers` written in (and retired names removed).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput):
    /// `mcp.invalid_server` for a server [`check_server`] refuses or two servers with one
    /// name; `mcp.invalid_document` when `text` does not parse or its root is not a
    /// table/object; `mcp.not_a_table` when a key on the path holds something else. The
    /// file's content never appears in an error.
    pub fn apply(&self, text: &str, servers: &[McpServer]) -> Result<String, Error> {
        let mut names = BTreeSet::new();
        let mut issues = Vec::new();
        for (i, server) in servers.iter().enumerate() {
            issues.extend(
                check_server(server)
                    .into_iter()
                    .map(|issue| issue.under(&format!("/{i}"))),
            );
            if !names.insert(server.name.as_str()) {
                issues.push(ValidationIssue::new(
                    crate::codes::mcp::INVALID_SERVER,
                    format!("/{i}/name"),
                    "two MCP servers have this name",
                ));
            }
        }
        if !issues.is_empty() {
            return Err(crate::codes::mcp::INVALID_SERVER
                .with_issues("an MCP server declaration is not valid", issues));
        }
        let mut sorted: Vec<&McpServer> = servers.iter().collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        let retired: Vec<&str> = self
            .retired
            .iter()
            .map(String::as_str)
            .filter(|name| !names.contains(name))
            .collect();
        // A byte-order mark is kept as it was: the parsers drop it, the file's owner did
        // not (found by the `mcp_toml` fuzz target).
        let (bom, text) = match text.strip_prefix('\u{feff}') {
            Some(rest) => ("\u{feff}", rest),
            None => ("", text),
        };
        let with_bom = |written: String| {
            if bom.is_empty() {
                written
            } else {
                format!("{bom}{written}")
            }
        };
        match self.format {
            McpConfigFormat::Toml => toml::apply(text, &self.path, &sorted, &retired).map(with_bom),
            McpConfigFormat::Json => json::apply(text, &self.path, &sorted, &retired).map(with_bom),
            #[allow(unreachable_patterns)]
            _ => Err(crate::codes::mcp::UNSUPPORTED_FORMAT
                .error("this version cannot write that config format")),
        }
    }
}

/// The entry a server becomes, as a JSON value with the keys of `format` (used to write
/// new entries and to tell whether an existing one already says the same).
fn entry_value(server: &McpServer, format: McpConfigFormat) -> Value {
    let strings = |map: &std::collections::BTreeMap<String, String>| {
        Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect::<Map<_, _>>(),
        )
    };
    let mut entry = Map::new();
    match &server.transport {
        McpTransport::Stdio { command, args, env } => {
            entry.insert("command".into(), Value::String(command.clone()));
            if !args.is_empty() {
                entry.insert(
                    "args".into(),
                    Value::Array(args.iter().cloned().map(Value::String).collect()),
                );
            }
            if !env.is_empty() {
                entry.insert("env".into(), strings(env));
            }
        }
        McpTransport::StreamableHttp { url, headers } => {
            if format == McpConfigFormat::Json {
                entry.insert("type".into(), Value::String("http".into()));
            }
            entry.insert("url".into(), Value::String(url.clone()));
            if !headers.is_empty() {
                let key = if format == McpConfigFormat::Json {
                    "headers"
                } else {
                    "http_headers"
                };
                entry.insert(key.into(), strings(headers));
            }
        }
    }
    Value::Object(entry)
}

/// The order keys of an entry are written in.
const KEY_ORDER: [&str; 7] = [
    "type",
    "command",
    "args",
    "env",
    "url",
    "headers",
    "http_headers",
];

fn ordered_entries(value: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = value.iter().collect();
    entries.sort_by_key(|(k, _)| KEY_ORDER.iter().position(|o| o == k).unwrap_or(usize::MAX));
    entries
}

fn not_a_table(key: &str, what: &str) -> Error {
    crate::codes::mcp::NOT_A_TABLE.error(format!(
        "the key {key:?} on the path to the MCP servers holds a value that is not {what}"
    ))
}

fn invalid_document(what: &str, line: Option<usize>) -> Error {
    let message = match line {
        Some(line) => format!("the file is not valid {what} (line {line})"),
        None => format!("the file is not valid {what}"),
    };
    crate::codes::mcp::INVALID_DOCUMENT.error(message)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_byte_order_mark_is_kept() {
        use super::McpConfigWriter;
        use crate::plan::{McpConfigFormat, McpServer};
        let servers = [McpServer::http("l", "linear", "https://mcp.linear.app/mcp")];
        for (format, path, text) in [
            (
                McpConfigFormat::Toml,
                "mcp_servers",
                "\u{feff}model = \"gpt-5\"\n",
            ),
            (
                McpConfigFormat::Json,
                "mcpServers",
                "\u{feff}{\"theme\": \"dark\"}\n",
            ),
            (McpConfigFormat::Toml, "mcp_servers", "\u{feff}"),
        ] {
            let writer = McpConfigWriter::new(format, [path]).unwrap();
            let written = writer.apply(text, &servers).unwrap();
            assert!(written.starts_with('\u{feff}'), "{written:?}");
            assert!(written.contains("linear"), "{written:?}");
            assert_eq!(writer.apply(&written, &servers).unwrap(), written);
        }
    }
    use super::*;

    #[test]
    fn declarations_are_checked() {
        let codes = |s: McpServer| {
            check_server(&s)
                .into_iter()
                .map(|i| i.path)
                .collect::<Vec<_>>()
        };
        assert!(codes(McpServer::http("l", "linear", "https://mcp.linear.app/mcp")).is_empty());
        assert_eq!(
            codes(McpServer::http("l", "linear", "")),
            ["/transport/url"]
        );
        assert_eq!(
            codes(McpServer::http("l", "linear", "mcp.linear.app")),
            ["/transport/url"]
        );
        assert_eq!(
            codes(McpServer::stdio("s", "bad name", " ", Vec::new())),
            ["/name", "/transport/command"]
        );
        assert_eq!(
            codes(McpServer::http("", "x", "https://x.test").with_header("Authorization", "t")),
            ["/id", "/transport/headers"]
        );
    }

    #[test]
    fn paths_must_be_non_empty() {
        let empty: [&str; 0] = [];
        assert_eq!(
            McpConfigWriter::new(McpConfigFormat::Toml, empty)
                .unwrap_err()
                .code(),
            "mcp.invalid_path"
        );
        assert_eq!(
            McpConfigWriter::new(McpConfigFormat::Json, ["a", ""])
                .unwrap_err()
                .code(),
            "mcp.invalid_path"
        );
    }
}
