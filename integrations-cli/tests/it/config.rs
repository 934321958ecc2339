//! `catalog`, `schema`, `validate` and `--help`.

use crate::support::{run, run_with_env, stdout, temp_dir, write};

#[test]
fn catalog_lists_the_five_definitions() {
    let out = run(&["catalog"]);
    assert!(out.status.success());
    let text = stdout(&out);
    for key in [
        "github::github-cloud",
        "github::github-enterprise-server",
        "linear::linear-default",
        "openai::openai-default",
        "slack::slack-default",
    ] {
        assert!(text.contains(key), "{key}");
    }
    let bad = run(&["catalog", "--yaml"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an unknown flag is a usage error"
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--yaml"));
    let json = run(&["catalog", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["integrations"].as_array().unwrap().len(), 5);
}

#[test]
fn schema_prints_json_schema() {
    let out = run(&[
        "schema",
        "github::github-enterprise-server",
        "target-config",
    ]);
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["required"][0], "web_base_url");
    let out = run(&["schema", "linear::linear-default", "connection:api-key"]);
    assert!(out.status.success());
    let bad = run(&["schema", "linear::linear-default", "connection:nope"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).starts_with("registry.unknown_method "));
}

#[test]
fn validate_exits_0_or_1_with_json_issues() {
    let dir = temp_dir("validate");
    let good = write(
        &dir,
        "good.json",
        r#"{"repositories": ["octo-org/octo-repo"]}"#,
    );
    let out = run(&[
        "validate",
        "github::github-cloud",
        "binding-config",
        good.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).is_empty());

    let bad = write(&dir, "bad.json", r#"{"repositories": [], "extra": 1}"#);
    let out = run(&[
        "validate",
        "github::github-cloud",
        "binding-config",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let issues: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(issues.len(), 2);
    assert_eq!(issues[0]["code"], "schema.additional_properties");
    assert_eq!(issues[0]["path"], "/extra");
    assert_eq!(issues[1]["code"], "schema.min_items");
    assert!(issues[1]["message"].is_string());

    let broken = write(&dir, "broken.json", "{not json");
    let out = run(&[
        "validate",
        "github::github-cloud",
        "binding-config",
        broken.to_str().unwrap(),
    ]);
    // A file that is not JSON is invalid input too: exit 1, the code first on stderr.
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("cli.invalid_json "));
    assert!(out.stdout.is_empty());
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["catalog", "--help"],
        vec!["schema", "--help"],
        vec!["validate", "--help"],
    ] {
        let out = run(&args);
        assert!(out.status.success(), "{args:?}");
        assert!(stdout(&out).contains("Usage"), "{args:?}");
    }
}

/// `--help` shows where `--database-url` comes from, never the value of `DATABASE_URL`,
/// which may hold the database's password.
#[test]
fn help_never_shows_the_database_url_from_the_environment() {
    let url = "postgres://app:S3cret-pw-in-env@db.internal/prod";
    for args in [
        vec!["sync", "run", "--help"],
        vec!["mcp", "serve", "--help"],
        vec!["proxy", "--help"],
    ] {
        let out = run_with_env(&args, &[("DATABASE_URL", url)]);
        assert!(out.status.success(), "{args:?}");
        let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("DATABASE_URL"), "{args:?}: {text}");
        assert!(!text.contains("S3cret-pw-in-env"), "{args:?}: {text}");
    }
}

/// Output that cannot be written (a full disk under `>`) is a failure, exit 5 with
/// `cli.write_failed`, never a success with the output cut short.
#[cfg(target_os = "linux")]
#[test]
fn output_that_cannot_be_written_fails_with_exit_5() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("Linux has /dev/full");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_integrations"))
        .args(["catalog", "--json"])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("cli.write_failed "),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
