//! `mcp-config apply`.

use std::path::Path;
use std::process::Output;

use crate::support::{repo, run, stderr, temp_dir, write};

/// `integrations mcp-config apply PROFILE --file FILE --format FORMAT` and `extra`.
fn apply(profile: &str, file: &Path, format: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "mcp-config",
        "apply",
        profile,
        "--file",
        file.to_str().unwrap(),
        "--format",
        format,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

const CODEX: &str = r#"# My Codex settings: keep this comment.
model = "gpt-5-codex"

[mcp_servers.my_tool]   # a server the user added
command = "npx"
args = ["-y", "my-mcp-server"]
"#;

const CLAUDE: &str = r#"{
  "theme": "dark",
  "mcpServers": {
    "mine": { "command": "uvx", "args": ["my-server"] }
  }
}
"#;

#[test]
fn apply_writes_the_profile_servers_and_keeps_the_users_own() {
    let dir = temp_dir("mcp-apply");
    let profile = repo("examples/profiles/agent-sandbox.json");
    let toml = write(&dir, "config.toml", CODEX);
    let out = apply(&profile, &toml, "toml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&toml).unwrap();
    assert!(
        text.starts_with(CODEX),
        "the user's bytes are kept:\n{text}"
    );
    assert!(text.contains("[mcp_servers.linear]"));
    assert!(text.contains("https://mcp.linear.app/mcp"));
    // A second run changes nothing.
    let again = apply(&profile, &toml, "toml", &[]);
    assert_eq!(again.status.code(), Some(0));
    assert!(stderr(&again).contains("up to date"));
    assert_eq!(std::fs::read_to_string(&toml).unwrap(), text);

    let json = write(&dir, ".mcp.json", CLAUDE);
    let out = apply(&profile, &json, "json", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&json).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["theme"], "dark");
    assert_eq!(value["mcpServers"]["mine"]["command"], "uvx");
    assert_eq!(
        value["mcpServers"]["linear"]["url"],
        "https://mcp.linear.app/mcp"
    );
    assert!(
        text.contains(r#""mine": { "command": "uvx", "args": ["my-server"] }"#),
        "formatting kept:\n{text}"
    );

    let created = dir.join("new.toml");
    let out = apply(&profile, &created, "toml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        std::fs::read_to_string(&created)
            .unwrap()
            .contains("[mcp_servers.linear]")
    );
}

/// A server an earlier profile wrote and this one no longer has is removed when named
/// with `--retire`; the user's own servers, and a retired name the profile still has,
/// are kept.
#[test]
fn apply_removes_the_servers_it_is_told_are_retired() {
    let dir = temp_dir("mcp-retire");
    let profile = repo("examples/profiles/agent-sandbox.json");
    let before = format!(
        "{CODEX}\n[mcp_servers.old_tracker]   # written by an earlier profile\nurl = \"https://mcp.tracker.example/mcp\"\n"
    );
    let toml = write(&dir, "config.toml", &before);
    let out = apply(
        &profile,
        &toml,
        "toml",
        &["--retire", "old_tracker", "--retire", "linear"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&toml).unwrap();
    assert!(!text.contains("old_tracker"), "{text}");
    assert!(text.contains("[mcp_servers.my_tool]"), "{text}");
    assert!(text.contains("[mcp_servers.linear]"), "{text}");
    assert!(
        text.starts_with(CODEX),
        "the user's bytes are kept:\n{text}"
    );

    let json = write(
        &dir,
        ".mcp.json",
        r#"{"mcpServers": {"mine": {"command": "uvx"}, "old_tracker": {"url": "https://mcp.tracker.example/mcp"}}}"#,
    );
    let out = apply(&profile, &json, "json", &["--retire", "old_tracker"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let servers = value["mcpServers"].as_object().unwrap();
    let mut names: Vec<&str> = servers.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["linear", "mine"]);
}

#[test]
fn apply_refuses_a_file_it_cannot_update_and_changes_nothing() {
    let dir = temp_dir("mcp-bad");
    let profile = repo("examples/profiles/agent-sandbox.json");
    let bad = write(&dir, "config.toml", "mcp_servers = \"not a table\"\n");
    let out = apply(&profile, &bad, "toml", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("mcp."), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&bad).unwrap(),
        "mcp_servers = \"not a table\"\n"
    );
}

/// `link` is still a symbolic link.
#[cfg(unix)]
fn assert_link_kept(link: &std::path::Path) {
    assert!(
        std::fs::symlink_metadata(link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link is kept"
    );
}

/// A link to a config not written yet (a dotfiles repository's) is written through:
/// the file it names is created, the link kept.
#[cfg(unix)]
#[test]
fn apply_through_a_dangling_link_creates_the_file_it_names() {
    let dir = temp_dir("mcp-apply-dangling");
    let profile = repo("examples/profiles/agent-sandbox.json");
    let dotfiles = dir.join("dotfiles");
    std::fs::create_dir_all(&dotfiles).unwrap();
    let link = dir.join("config.toml");
    // Relative, as dotfiles managers make them.
    std::os::unix::fs::symlink("dotfiles/codex.toml", &link).unwrap();
    let out = apply(&profile, &link, "toml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_link_kept(&link);
    let text = std::fs::read_to_string(dotfiles.join("codex.toml")).unwrap();
    assert!(text.contains("[mcp_servers.linear]"), "{text}");
}

/// A config kept private (it may hold tokens) stays private, and one reached through a
/// symbolic link (a dotfiles repository) is written where the link points, the link
/// kept; nothing is left beside it.
#[cfg(unix)]
#[test]
fn apply_keeps_the_files_permissions_and_writes_through_a_link() {
    use std::os::unix::fs::PermissionsExt as _;

    let dir = temp_dir("mcp-apply-private");
    let profile = repo("examples/profiles/agent-sandbox.json");
    let real = write(&dir, "real-config.toml", CODEX);
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.join("config.toml");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let out = apply(&profile, &link, "toml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_link_kept(&link);
    let text = std::fs::read_to_string(&real).unwrap();
    assert!(text.contains("[mcp_servers.linear]"), "{text}");
    let mode = std::fs::metadata(&real).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the file's mode is kept");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("integrations-tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
