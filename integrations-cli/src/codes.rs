//! The catalogue of the error codes the command line itself emits; the exit code of
//! each code (of this catalogue or any other) is [`crate::report::exit_code`]'s, and
//! `docs/error-codes.md` lists them together.

integrations_core::error_codes! {
    /// Codes of the command line.
    pub mod cli {
        DATABASE_URL_MISSING = "cli.database_url_missing", Configuration, "A command that needs the stores was given no --database-url (or DATABASE_URL).";
        DEMO_UNAVAILABLE = "cli.demo_unavailable", Configuration, "--demo was given to a build without the `demo` feature (the offline demos need the testkit's mock APIs).";
        EMPTY_SECRET = "cli.empty_secret", InvalidInput, "The environment variable that should hold a secret is empty.";
        EVENT_MISMATCH = "cli.event_mismatch", InvalidInput, "The --event given disagrees with the event the body names.";
        EVENT_REQUIRED = "cli.event_required", InvalidInput, "The provider names its event only in a header (GitHub): `webhook sign` needs --event NAME.";
        INVALID_CONFIG = "cli.invalid_config", InvalidInput, "The file given to `validate` is not a valid config of its kind; each issue is a JSON line on stdout.";
        INVALID_CERTIFICATE = "cli.invalid_certificate", InvalidInput, "A file given as a certificate is not a PEM certificate.";
        INVALID_HEADERS = "cli.invalid_headers", InvalidInput, "A headers file has a line that is not a `Name: value` header.";
        INVALID_JSON = "cli.invalid_json", InvalidInput, "An input file is not valid JSON; the message gives the line and column.";
        INVALID_PLAN = "cli.invalid_plan", InvalidInput, "A file given as a plan is not a compiled runtime plan, or holds a route that is not well formed (a host, method or path prefix; the issues or message say which).";
        INVALID_TEXT = "cli.invalid_text", InvalidInput, "An input file is not UTF-8 text.";
        MISSING_SECRET = "cli.missing_secret", InvalidInput, "The environment variable that should hold a secret is not set.";
        NO_TARGET_SECRET = "cli.no_target_secret", InvalidInput, "The integration named keeps no webhook secret in its target, so deliveries cannot be signed or verified.";
        NO_ROUTES = "cli.no_routes", Configuration, "The plan given to the proxy demo has no egress route.";
        NO_WEBHOOKS = "cli.no_webhooks", InvalidInput, "The integration named receives no webhooks.";
        SEALING_KEY_MISSING = "cli.sealing_key_missing", Configuration, "A command that opens stored secrets was given no SEALING_KEY (or --key-file).";
        UNREADABLE_FILE = "cli.unreadable_file", Storage, "A file could not be read; the operating system's reason is printed.";
        USAGE = "cli.usage", InvalidInput, "The flags or arguments given do not go together, or one is malformed.";
        WRITE_FAILED = "cli.write_failed", Storage, "A file could not be created or written; the operating system's reason is printed.";
    }
    /// Codes of `integrations mcp serve`.
    pub mod mcp {
        ALLOWED_HOST_REQUIRED = "mcp.allowed_host_required", Configuration, "--http listens on every interface (0.0.0.0 or ::), but a client is served only when its Host header names an allowed host: give --allowed-host for each name clients use.";
        APPROVAL_ADDR_NOT_LOOPBACK = "mcp.approval_addr_not_loopback", Configuration, "The approval page is for the person at this machine (signed in by a printed link), so it listens on a loopback address only.";
        IO = "mcp.io", Unavailable, "The MCP server's standard input or output, or its listener, failed.";
        NOTHING_TO_SERVE = "mcp.nothing_to_serve", Configuration, "Neither stored connections (--database-url and --tenant) nor --demo were given.";
        POLICY_INVALID = "mcp.policy_invalid", InvalidInput, "The policy file is not a policy set.";
        PUBLICATION_NOT_FOUND = "mcp.publication_not_found", NotFound, "The tenant has no publication with the id given.";
        TENANT_REQUIRED = "mcp.tenant_required", Configuration, "Serving stored connections needs --tenant.";
        TOKEN_TOO_SHORT = "mcp.token_too_short", Configuration, "The bearer token in --token-file or INTEGRATIONS_MCP_TOKEN is shorter than 16 characters.";
        TRUST_OVER_HTTP = "mcp.trust_over_http", Configuration, "--trust-client-approvals is for a local stdio client only, never for HTTP.";
    }
}

/// Every catalogue of the workspace, with the crate that declares it (for the tests that
/// keep `docs/error-codes.md` current; the testkit is a dev-dependency there).
#[cfg(test)]
pub(crate) fn catalogues() -> [(&'static str, &'static [integrations_core::Code]); 7] {
    [
        ("integrations-core", integrations_core::codes::ALL),
        (
            "integrations-definitions",
            integrations_definitions::codes::ALL,
        ),
        ("integrations-sqlx", integrations_sqlx::codes::ALL),
        ("integrations-mcp", integrations_mcp::codes::ALL),
        ("integrations-proxy", integrations_proxy::codes::ALL),
        ("integrations-testkit", integrations_testkit::codes::ALL),
        ("integrations-cli", ALL),
    ]
}

/// Every catalogue of validation-issue codes of the workspace, with the crate that
/// declares it.
#[cfg(test)]
pub(crate) fn issue_catalogues() -> [(&'static str, &'static [integrations_core::IssueCode]); 2] {
    [
        ("integrations-core", integrations_core::codes::issues::ALL),
        (
            "integrations-definitions",
            integrations_definitions::codes::issues::ALL,
        ),
    ]
}

/// `docs/error-codes.md`, rendered from every catalogue.
#[cfg(test)]
pub(crate) fn render_table() -> String {
    let mut rows: Vec<_> = catalogues()
        .into_iter()
        .flat_map(|(krate, codes)| codes.iter().map(move |code| (krate, *code)))
        .collect();
    rows.sort_by_key(|(_, code)| code.as_str());
    let mut out = String::from(
        "# Error codes\n\
         \n\
         <!-- Generated from the code catalogues (`codes` modules); do not edit. A test of\n\
         integrations-cli fails when this file is stale; rewrite it with\n\
         `UPDATE_ERROR_CODES=1 cargo test -p integrations-cli error_code_table`. -->\n\
         \n\
         Every error the workspace builds carries a stable code, `area.reason`, and a kind\n\
         ([`ErrorKind`](https://docs.rs/integrations-core/latest/integrations_core/enum.ErrorKind.html)):\n\
         match on the code for a specific condition and on the kind for a class of them. A\n\
         code always has the kind listed here. *Exit* is the exit code of the `integrations`\n\
         command line when it stops with that error.\n\
         \n\
         Provider crates may add their own codes (`Error::new` or their own `error_codes!`\n\
         catalogue); Slack's tools pass Slack's own errors through as `slack.<error>`, but\n\
         for the conditions every provider has (a refused credential, a missing scope, no\n\
         such resource, refused input, the provider failing), which get the `tool.*`\n\
         code an HTTP status would.\n\
         \n\
         | Code | Kind | Meaning | Crate | Exit |\n\
         |---|---|---|---|---|\n",
    );
    out.extend(rows.into_iter().map(|(krate, code)| {
        format!(
            "| `{}` | {} | {} | {} | {} |\n",
            code.as_str(),
            code.kind(),
            code.meaning().replace('|', "\\|"),
            krate,
            crate::report::exit_code_of(code.as_str()),
        )
    }));
    let mut issues: Vec<_> = issue_catalogues()
        .into_iter()
        .flat_map(|(krate, codes)| codes.iter().map(move |code| (krate, *code)))
        .collect();
    issues.sort_by_key(|(_, code)| code.as_str());
    out.push_str(
        "\n## Validation issue codes\n\
         \n\
         An error with the kind `invalid_input` (and some others, such as\n\
         `auth.target_config_invalid`) carries every problem found as issues: a code, a JSON\n\
         Pointer to where, and a safe message. Issues have no kind of their own. An issue\n\
         that repeats its error's code (`key.invalid`) is listed above; every other issue code\n\
         is listed here.\n\
         \n\
         | Code | Meaning | Crate |\n\
         |---|---|---|\n",
    );
    out.extend(issues.into_iter().map(|(krate, code)| {
        format!(
            "| `{}` | {} | {} |\n",
            code.as_str(),
            code.meaning().replace('|', "\\|"),
            krate,
        )
    }));
    out
}

/// The `area.reason` string literals passed directly to an `Error` or
/// `ValidationIssue` constructor in `source` (test modules excluded), with their line
/// numbers: such a code bypasses the catalogues. A `format!` template that makes an
/// issue code (`"registry.blank_{field}"`) is found too.
pub(crate) fn uncatalogued_literals(source: &str) -> Vec<(usize, String)> {
    const CONSTRUCTORS: [&str; 6] = [
        "Error::new(",
        "Error::invalid_input(",
        "Error::not_found(",
        "Error::conflict(",
        "Error::configuration(",
        "ValidationIssue::new(",
    ];
    let source = source
        .find("#[cfg(test)]\nmod tests")
        .map_or(source, |at| &source[..at]);
    let mut found = Vec::new();
    for constructor in CONSTRUCTORS {
        for (at, _) in source.match_indices(constructor) {
            let arguments = &source[at + constructor.len()..];
            // The code is the second argument of `Error::new` (after the kind), the first
            // of the others; any literal in it, even inside an `if`, is looked at.
            let code = if constructor == "Error::new(" {
                top_level_argument(arguments, 1)
            } else {
                top_level_argument(arguments, 0)
            };
            // An issue code is never made at run time; an error's may be, for a
            // provider's own codes passed through (Slack's `slack.<error>`).
            let issue = constructor == "ValidationIssue::new(";
            for literal in code.split('"').skip(1).step_by(2) {
                if integrations_core::is_code_shaped(literal)
                    || (issue && integrations_core::is_code_shaped(&without_placeholders(literal)))
                {
                    let line = source[..at].matches('\n').count() + 1;
                    found.push((line, literal.to_owned()));
                }
            }
        }
    }
    // An audit outcome's code is a catalogued code too (`code: codes::tool::BLOCKED.into()`).
    for outcome in ["AuditOutcome::Failure {", "AuditOutcome::Denied {"] {
        for (at, _) in source.match_indices(outcome) {
            let fields = &source[at + outcome.len()..];
            let fields = &fields[..fields.find('}').unwrap_or(fields.len())];
            for literal in fields.split('"').skip(1).step_by(2) {
                if integrations_core::is_code_shaped(literal) {
                    let line = source[..at].matches('\n').count() + 1;
                    found.push((line, literal.to_owned()));
                }
            }
        }
    }
    found.sort();
    found
}

/// `template` with each `{...}` placeholder of a format string replaced by `x`.
fn without_placeholders(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut inside = false;
    for c in template.chars() {
        match c {
            '{' => inside = true,
            '}' if inside => {
                inside = false;
                out.push('x');
            }
            _ if inside => {}
            _ => out.push(c),
        }
    }
    out
}

/// The `index`th top-level argument of the call whose arguments start `arguments`
/// (commas inside brackets, braces and string literals do not split).
fn top_level_argument(arguments: &str, index: usize) -> &str {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut start = 0;
    let mut current = 0;
    for (i, c) in arguments.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth == 0 => {
                return if current == index {
                    &arguments[start..i]
                } else {
                    ""
                };
            }
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                if current == index {
                    return &arguments[start..i];
                }
                current += 1;
                start = i + 1;
            }
            _ => {}
        }
    }
    ""
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use super::*;

    fn workspace() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace")
            .to_path_buf()
    }

    #[test]
    fn codes_are_unique_across_every_catalogue_and_each_has_a_meaning() {
        let mut seen = BTreeMap::new();
        for (krate, codes) in catalogues() {
            assert!(!codes.is_empty(), "{krate} has an empty catalogue");
            for code in codes {
                assert!(!code.meaning().trim().is_empty(), "{code} has no meaning");
                assert!(
                    code.meaning().ends_with('.'),
                    "{code}: end the meaning with a period"
                );
                assert!(!code.meaning().contains('\n'), "{code}: one line");
                if let Some(first) = seen.insert(code.as_str(), krate) {
                    panic!("{code} is declared by {first} and {krate}");
                }
            }
        }
        assert!(seen.len() > 250, "only {} codes", seen.len());
    }

    /// Issue codes are unique across the issue catalogues, none repeats an error code
    /// (an issue that shares its error's code uses the error's constant), and each has a
    /// meaning.
    #[test]
    fn issue_codes_are_unique_and_apart_from_error_codes_and_each_has_a_meaning() {
        let errors: BTreeMap<&str, &str> = catalogues()
            .into_iter()
            .flat_map(|(krate, codes)| codes.iter().map(move |c| (c.as_str(), krate)))
            .collect();
        let mut seen = BTreeMap::new();
        for (krate, codes) in issue_catalogues() {
            assert!(!codes.is_empty(), "{krate} has an empty issue catalogue");
            for code in codes {
                assert!(!code.meaning().trim().is_empty(), "{code} has no meaning");
                assert!(
                    code.meaning().ends_with('.'),
                    "{code}: end the meaning with a period"
                );
                assert!(!code.meaning().contains('\n'), "{code}: one line");
                if let Some(first) = seen.insert(code.as_str(), krate) {
                    panic!("{code} is declared by {first} and {krate}");
                }
                if let Some(other) = errors.get(code.as_str()) {
                    panic!("{code} is an issue code and an error code of {other}");
                }
            }
        }
        assert!(seen.len() > 90, "only {} issue codes", seen.len());
    }

    /// The shared conditions have one code and kind in every engine.
    #[test]
    fn the_shared_conditions_have_one_code_and_kind() {
        use integrations_core::ErrorKind;
        use integrations_core::codes::auth;
        for (code, kind) in [
            (auth::TARGET_DISABLED, ErrorKind::PermissionDenied),
            (auth::TARGET_NOT_FOUND, ErrorKind::NotFound),
            (auth::TARGET_MISMATCH, ErrorKind::Configuration),
            (auth::TARGET_CONFIG_INVALID, ErrorKind::Configuration),
            (auth::CONNECTION_NOT_FOUND, ErrorKind::NotFound),
            (auth::CONNECTION_NOT_ACTIVE, ErrorKind::PermissionDenied),
            (auth::CONNECTION_CONFIG_INVALID, ErrorKind::Configuration),
        ] {
            assert_eq!(code.kind(), kind, "{code}");
            assert_eq!(code.error("m").kind(), kind, "{code}");
        }
        let all: Vec<&str> = catalogues()
            .iter()
            .flat_map(|(_, codes)| codes.iter().map(|c| c.as_str()))
            .collect();
        for retired in [
            "tool.target_disabled",
            "webhook.target_disabled",
            "tool.target_not_found",
            "sync.target_not_found",
            "webhook.target_not_found",
            "tool.connection_not_found",
            "sync.connection_not_found",
            "tool.connection_inactive",
            "sync.connection_not_active",
            "webhook.connection_not_active",
            "egress.connection_not_active",
            "tool.target_invalid",
            "sync.invalid_target_config",
            "webhook.invalid_target_config",
            "tool.connection_invalid",
            "webhook.invalid_connection_config",
            "sync.invalid_connection_config",
            "github.missing_client_id",
            "github.invalid_client",
            "internal",
        ] {
            assert!(!all.contains(&retired), "{retired} is back");
        }
    }

    #[test]
    fn error_code_table_is_current() {
        let path = workspace().join("docs/error-codes.md");
        let rendered = render_table();
        if std::env::var_os("UPDATE_ERROR_CODES").is_some() {
            std::fs::write(&path, &rendered).expect("docs/error-codes.md is writable");
        }
        let written = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            written == rendered,
            "docs/error-codes.md is stale: rewrite it with \
             `UPDATE_ERROR_CODES=1 cargo test -p integrations-cli error_code_table`"
        );
        for (_, codes) in catalogues() {
            for code in codes {
                assert!(
                    written.contains(&format!("| `{code}` | {} |", code.kind())),
                    "{code} is not documented"
                );
            }
        }
        let issues = &written[written
            .find("## Validation issue codes")
            .expect("a section of issue codes")..];
        for (_, codes) in issue_catalogues() {
            for code in codes {
                assert!(
                    issues.contains(&format!("| `{code}` | {} |", code.meaning())),
                    "{code} is not documented"
                );
            }
        }
    }

    fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("a source directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                rust_files(&path, into);
            } else if path.extension().is_some_and(|e| e == "rs") {
                into.push(path);
            }
        }
    }

    #[test]
    fn no_code_bypasses_the_catalogues() {
        let root = workspace();
        let mut files = Vec::new();
        for krate in [
            "integrations-core",
            "integrations-definitions",
            "integrations-sqlx",
            "integrations-mcp",
            "integrations-proxy",
            "integrations-testkit",
            "integrations-cli",
            "",
        ] {
            rust_files(&root.join(krate).join("src"), &mut files);
        }
        assert!(files.len() > 100, "only {} files", files.len());
        let mut offenders = Vec::new();
        for file in files {
            let source = std::fs::read_to_string(&file).expect("a readable source");
            for (line, code) in uncatalogued_literals(&source) {
                offenders.push(format!("{}:{line}: {code}", file.display()));
            }
        }
        assert!(
            offenders.is_empty(),
            "declare these codes in the crate's `codes` catalogue and build the error \
             with `Code::error`:\n{}",
            offenders.join("\n")
        );
    }

    #[test]
    fn the_scan_finds_a_literal_code() {
        let snippet = "fn f() -> Error {\n    Error::new(\n        ErrorKind::NotFound,\n        \"shop.gone\",\n        \"m\",\n    )\n}\nfn g() -> Error { Error::not_found(\"shop.closed\", \"m\") }\nfn h() -> Error { Error::configuration(code, \"not.a_code here\") }\nfn i() -> Error { codes::shop::GONE.error(\"m\") }\nfn j(t: bool) -> Error {\n    Error::new(if t { K::A } else { K::B }, if t { \"shop.busy\" } else { \"shop.idle\" }, \"m.n\")\n}\nfn k() -> ValidationIssue { ValidationIssue::new(\"shop.shut\", \"/x\", \"m.n\") }\nfn l(f: &str) -> ValidationIssue { ValidationIssue::new(format!(\"shop.blank_{f}\"), \"\", \"m\") }\nfn m() -> ValidationIssue { ValidationIssue::new(issues::shop::SHUT, \"/x\", \"m.n\") }\n#[cfg(test)]\nmod tests {\n    fn t() { Error::conflict(\"shop.test\", \"m\"); }\n}\n";
        assert_eq!(
            uncatalogued_literals(snippet),
            [
                (2, "shop.gone".to_owned()),
                (8, "shop.closed".to_owned()),
                (12, "shop.busy".to_owned()),
                (12, "shop.idle".to_owned()),
                (14, "shop.shut".to_owned()),
                (15, "shop.blank_{f}".to_owned()),
            ]
        );
    }

    #[test]
    fn the_scan_finds_a_literal_audit_outcome_code() {
        let snippet = "fn f() -> AuditOutcome {\n    AuditOutcome::Denied {\n        code: \"shop.shut\".into(),\n    }\n}\nfn g() -> AuditOutcome { AuditOutcome::Failure { code: codes::shop::GONE.into() } }\nfn h() -> AuditOutcome { AuditOutcome::Failure { code: \"shop.gone\".to_owned() } }\n";
        assert_eq!(
            uncatalogued_literals(snippet),
            [(2, "shop.shut".to_owned()), (7, "shop.gone".to_owned())]
        );
    }
}
