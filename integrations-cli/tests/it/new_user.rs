//! The command line as a new user meets it: one exit-code table, each error printed once,
//! issues as JSON lines with paths by id, messages that explain themselves.

use serde_json::Value;

use crate::support::{repo, run, run_with_stdin, stderr, stdout, temp_dir, write};

fn issues(out: &std::process::Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn compiled_plan(dir: &std::path::Path) -> String {
    let out = run(&["compile", &repo("examples/profiles/agent-sandbox.json")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    write(dir, "plan.json", &stdout(&out))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn help_shows_the_exit_code_table() {
    let help = stdout(&run(&["--help"]));
    for line in [
        "Exit codes:",
        "0  success",
        "1  the input was read and is invalid",
        "2  usage error",
        "3  `egress match`: no route matches",
        "4  `egress match`: several routes match",
        "5  I/O failure",
        "6  `sync run`: another run holds the stream",
        "7  `sync run`: the connection cannot sync",
    ] {
        assert!(help.contains(line), "{line} in\n{help}");
    }
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    for code in [
        "| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 5 |", "| 6 |", "| 7 |",
    ] {
        assert!(readme.contains(code), "the README's table has {code}");
    }
}

#[test]
fn usage_errors_exit_2_and_print_once() {
    let dir = temp_dir("usage");
    let good = write(&dir, "good.json", "{}");
    let good = good.to_str().unwrap();
    for (args, code) in [
        (vec!["schema", "badkey", "target-config"], "key.invalid"),
        (
            vec!["schema", "notion::x", "target-config"],
            "registry.unknown_definition",
        ),
        (
            vec!["schema", "linear::linear-default", "config"],
            "schema.unknown_kind",
        ),
        (
            vec!["schema", "linear::linear-default", "connection:nope"],
            "registry.unknown_method",
        ),
        (
            vec!["validate", "Not A Key", "binding-config", good],
            "key.invalid",
        ),
        (vec!["tools", "Not A Key", "--format", "mcp"], "key.invalid"),
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.starts_with(&format!("{code} ")), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "printed once: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // clap's own usage errors share the exit code and the code first on stderr.
    for args in [
        vec!["validate"],
        vec!["catalog", "--no-such-flag"],
        vec!["tools", "--format", "yaml"],
        vec!["no-such-command"],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).starts_with("cli.usage "),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // Help and the version are not failures.
    for args in [vec!["--help"], vec!["catalog", "--help"], vec!["--version"]] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn egress_match_refuses_a_request_it_cannot_parse() {
    let dir = temp_dir("egress-usage");
    let plan = compiled_plan(&dir);
    for (method, url, code) in [
        ("GET", "not-a-url", "egress.invalid_url"),
        ("GET", "/repos/acme/api", "egress.invalid_url"),
        (
            "NOT A METHOD",
            "https://api.github.com/",
            "egress.invalid_method",
        ),
    ] {
        let out = run(&["egress", "match", &plan, method, url]);
        assert_eq!(out.status.code(), Some(2), "{method} {url}");
        assert!(out.stdout.is_empty(), "never `no-match`: {}", stdout(&out));
        assert!(
            stderr(&out).starts_with(&format!("{code} ")),
            "{}",
            stderr(&out)
        );
    }
    let out = run(&["egress", "match", &plan, "GET", "https://example.com/"]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn io_failures_exit_5_with_the_os_reason() {
    let dir = temp_dir("io");
    let missing = dir.join("missing.json");
    let missing = missing.to_str().unwrap();
    for args in [
        vec![
            "validate",
            "github::github-cloud",
            "binding-config",
            missing,
        ],
        vec!["compile", missing],
        vec!["egress", "match", missing, "GET", "https://api.github.com/"],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(5), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.starts_with("cli.unreadable_file "), "{err}");
        assert!(err.contains("No such file or directory"), "{err}");
    }
    let nowhere = dir.join("no-such-dir").join("config.toml");
    let out = run(&[
        "mcp-config",
        "apply",
        &repo("examples/profiles/agent-sandbox.json"),
        "--file",
        nowhere.to_str().unwrap(),
        "--format",
        "toml",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("cli.write_failed "),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("No such file or directory"));
}

#[test]
fn compile_prints_every_issue_as_json_on_stdout_with_paths_by_id() {
    let dir = temp_dir("compile-ids");
    let document = write(
        &dir,
        "dup.json",
        r#"{"tenant": "acme", "profile": "p", "version": 1,
            "targets": [{"id": "slack", "key": "slack::slack-default"}, {"id": "slack", "key": "slack::slack-default"}],
            "connections": [{"id": "bot", "target": "nope", "method": "api-key"}],
            "bindings": [{"id": "chat", "kind": "connector", "connection": "bot"}]}"#,
    );
    let out = run(&["compile", document.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("compile.invalid_document "), "{err}");
    assert_eq!(
        err.lines().count(),
        1,
        "the issues are not repeated on stderr: {err}"
    );
    let paths: Vec<String> = issues(&out)
        .iter()
        .map(|i| i["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        paths,
        [
            "/targets/slack/id",
            "/connections/bot/target",
            "/bindings/chat/connection"
        ]
    );

    let bad = write(
        &dir,
        "kinds.json",
        r#"{"tenant": "acme", "profile": "p", "version": 1,
            "targets": [{"id": "openai", "key": "openai::openai-default"}],
            "connections": [{"id": "key", "target": "openai", "method": "api-key"}],
            "bindings": [{"id": "tickets", "kind": "connector", "connection": "key", "config": {"runtime": "codex-cli", "model": "gpt-5-codex", "extra": 1}}]}"#,
    );
    let out = run(&["compile", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let found = issues(&out);
    assert!(!found.is_empty());
    for issue in &found {
        let path = issue["path"].as_str().unwrap();
        assert!(path.starts_with("/bindings/tickets"), "{path}");
        assert!(
            !path
                .split('/')
                .any(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())),
            "no array index in {path}"
        );
    }
    let mismatch = found
        .iter()
        .find(|i| i["code"] == "binding.kind_mismatch")
        .unwrap();
    assert_eq!(
        mismatch["message"],
        "openai::openai-default is an agent integration, not connector"
    );
}

#[test]
fn a_compile_input_with_a_bad_target_config_points_at_it() {
    let dir = temp_dir("compile-config");
    let document = write(
        &dir,
        "profile.json",
        r#"{"tenant": "acme", "profile": "p", "version": 1,
            "targets": [{"id": "linear", "key": "linear::linear-default", "config": {"api_base_url": "ftp://linear.test"}}],
            "connections": [{"id": "oauth", "target": "linear", "method": "oauth2"}],
            "bindings": [{"id": "tickets", "kind": "connector", "connection": "oauth"}]}"#,
    );
    let out = run(&["compile", document.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let found = issues(&out);
    let paths: Vec<&str> = found.iter().map(|i| i["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"/targets/linear/config"), "{paths:?}");
    assert!(
        paths.contains(&"/targets/linear/config/api_base_url"),
        "{paths:?}"
    );
    for issue in &found {
        let message = issue["message"].as_str().unwrap();
        assert!(
            !message.contains("stored") && !message.contains("operator"),
            "a file is not a database: {message}"
        );
    }
}

#[test]
fn validate_reads_stdin_and_says_when_the_input_is_valid() {
    let args = ["validate", "github::github-cloud", "binding-config", "-"];
    let out = run_with_stdin(&args, r#"{"repositories": ["octo-org/octo-repo"]}"#);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr(&out).trim(),
        "valid: standard input is a valid binding-config of github::github-cloud"
    );
    let out = run_with_stdin(&args, r#"{"repositories": []}"#);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(issues(&out)[0]["code"], "schema.min_items");
    assert!(
        stderr(&out).starts_with("cli.invalid_config standard input"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("(1 issue)"), "{}", stderr(&out));
    let out = run_with_stdin(&args, "{not json");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("cli.invalid_json standard input is not valid JSON"));
}

#[test]
fn tools_says_what_it_did_with_repeated_keys() {
    let out = run(&[
        "tools",
        "linear::linear-default",
        "linear::linear-default",
        "--format",
        "mcp",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = listed["tools"].as_array().unwrap().len();
    let err = stderr(&out);
    assert!(
        err.contains("linear::linear-default was given more than once; exported once"),
        "{err}"
    );
    assert!(
        err.contains(&format!("exported {n} tools of 1 integration")),
        "{err}"
    );
    let out = run(&[
        "tools",
        "github::github-cloud",
        "github::github-enterprise-server",
        "--format",
        "mcp",
    ]);
    let err = stderr(&out);
    assert!(
        err.contains("github::github-enterprise-server shares"),
        "{err}"
    );
    assert!(err.contains("of 2 integrations"), "{err}");
}

/// `openai` is the Responses API's shape; `openai-chat` the one Chat Completions takes.
#[test]
fn tools_export_both_openai_shapes() {
    let export = |format: &str| -> Value {
        let out = run(&["tools", "linear::linear-default", "--format", format]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let responses = export("openai");
    let chat = export("openai-chat");
    let (responses, chat) = (responses.as_array().unwrap(), chat.as_array().unwrap());
    assert_eq!(responses.len(), chat.len());
    assert!(!responses.is_empty());
    for (r, c) in responses.iter().zip(chat) {
        assert_eq!(r["type"], "function");
        assert_eq!(c["type"], "function");
        assert_eq!(r["name"], c["function"]["name"]);
        assert_eq!(r["parameters"], c["function"]["parameters"]);
        assert_eq!(c["function"]["strict"], true);
        assert!(c.get("name").is_none(), "{c}");
    }
}

#[test]
fn the_catalog_spells_oauth2_kinds_readably() {
    let out = run(&["catalog", "--json"]);
    let text = stdout(&out);
    assert!(text.contains("\"oauth2_authorization_code\""), "{text}");
    assert!(!text.contains("o_auth2"), "{text}");
}

#[test]
fn counts_agree_in_number() {
    let dir = temp_dir("plurals");
    let profile = repo("examples/profiles/agent-sandbox.json");
    let file = dir.join("config.toml");
    let apply = [
        "mcp-config",
        "apply",
        &profile,
        "--file",
        file.to_str().unwrap(),
        "--format",
        "toml",
    ];
    let out = run(&apply);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("(1 server)"), "{}", stderr(&out));
    let out = run(&apply);
    assert!(
        stderr(&out).contains("is up to date (1 server)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_value_the_schema_accepts_but_the_type_refuses_names_its_field() {
    let dir = temp_dir("credentials-url");
    let config = write(
        &dir,
        "linear.json",
        r#"{"api_base_url": "https://user:hunter2@linear.test"}"#,
    );
    let out = run(&[
        "validate",
        "linear::linear-default",
        "target-config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let found = issues(&out);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["path"], "/api_base_url");
    let message = found[0]["message"].as_str().unwrap();
    assert!(message.contains("credentials"), "{message}");
    assert!(
        !message.contains("hunter2") && !message.contains("::") && !message.contains("BaseUrl")
    );
    // The schema the forms use refuses it too.
    let schema = run(&["schema", "linear::linear-default", "target-config"]);
    let pattern = serde_json::from_slice::<Value>(&schema.stdout).unwrap()["properties"]
        ["api_base_url"]["pattern"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(pattern.contains('@'), "{pattern}");
}

#[test]
fn an_openai_webhook_secret_must_be_whsec_base64() {
    let dir = temp_dir("whsec");
    let validate = |name: &str, body: &str| {
        let file = write(&dir, name, body);
        run(&[
            "validate",
            "openai::openai-default",
            "target-secrets",
            file.to_str().unwrap(),
        ])
    };
    let out = validate(
        "good.json",
        r#"{"webhook_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}"#,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    for (name, secret) in [
        ("plain.json", "my-signing-secret-123"),
        ("not-base64.json", "whsec_a"),
    ] {
        let out = validate(name, &format!(r#"{{"webhook_secret": "{secret}"}}"#));
        assert_eq!(out.status.code(), Some(1), "{secret}");
        let found = issues(&out);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0]["path"], "/webhook_secret");
        let message = found[0]["message"].as_str().unwrap();
        assert!(message.contains("whsec_"), "{message}");
        assert!(!stdout(&out).contains(secret) && !stderr(&out).contains(secret));
    }
}

/// Issue 14.17: the README says what a host adds (the ten store traits, named), points at
/// the SQL stores crate, and shows no rustdoc hidden line (`# ...`) as text in its Rust
/// blocks.
#[test]
fn the_readme_names_what_a_host_adds_and_hides_no_rustdoc_lines() {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    for store in [
        "TargetStore",
        "ConnectionStore",
        "CredentialStore",
        "BindingStore",
        "OAuthStateStore",
        "WebhookEventStore",
        "PublicationStore",
        "CheckpointStore",
        "ApprovalStore",
        "ContinuationStore",
    ] {
        assert!(readme.contains(store), "the README names {store}");
    }
    assert!(readme.contains("integrations-sqlx"));
    let mut in_rust = false;
    for (number, line) in readme.lines().enumerate() {
        if line.starts_with("```") {
            in_rust = line.starts_with("```rust");
            continue;
        }
        assert!(
            !(in_rust && (line == "#" || line.starts_with("# "))),
            "README line {}: a rustdoc hidden line shown as text: {line}",
            number + 1
        );
    }
}
