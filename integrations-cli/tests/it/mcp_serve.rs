//! `mcp serve --database-url`: a SQLite file prepared through the library (a Linear
//! connection to the testkit's mock API, a publication, a sealed API key), the binary
//! serving it over stdio, rmcp's client listing and calling a tool.

use std::process::Stdio;
use std::sync::Arc;

use integrations_core::host::{AesGcmKeyRing, Host, ReqwestHttpClient};
use integrations_core::model::{Capability, Publication, PublicationScope};
use integrations_core::service::{ConnectionInput, TargetInput, WriteService};
use integrations_core::{
    ConnectionId, ConnectionMethodId, PublicationId, TargetId, TenantId, WorkspaceId,
};
use integrations_sqlx::SqlStores;
use integrations_testkit::mock::api::LinearApi;
use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use serde_json::json;
use tokio::io::AsyncReadExt as _;

use crate::support::{run, run_with_env, stderr, temp_dir, write};

const SEALING_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const LINEAR_KEY: &str = "lin_api_stored_mcp_9d8c7b6a5f4e";

/// Stores a Linear target on `api`, an API-key connection and a publication granting
/// `team.read` to the workspace `eng` of tenant `acme`, in the SQLite file at `url`.
async fn prepare(url: &str, api: &LinearApi) {
    let stores = SqlStores::connect(url).await.unwrap();
    let host = Host::builder()
        .stores(Arc::new(stores))
        .http(Arc::new(ReqwestHttpClient::new().unwrap()))
        .cipher(Arc::new(AesGcmKeyRing::from_hex(SEALING_KEY).unwrap()))
        .build()
        .unwrap();
    let registry = Arc::new(integrations_definitions::registry());
    let writes = WriteService::new(registry, host.clone());
    let tenant = TenantId::new("acme").unwrap();
    writes
        .put_target(
            TargetInput::new(
                tenant.clone(),
                TargetId::new("linear").unwrap(),
                "linear::linear-default".parse().unwrap(),
            )
            .with_config(json!({"api_base_url": api.base_url()})),
        )
        .await
        .unwrap();
    writes
        .put_connection(
            ConnectionInput::new(
                tenant.clone(),
                ConnectionId::new("linear").unwrap(),
                TargetId::new("linear").unwrap(),
                ConnectionMethodId::new("api-key").unwrap(),
            )
            .with_secret("api_key", LINEAR_KEY),
        )
        .await
        .unwrap();
    let mut publication = Publication::new(
        tenant,
        PublicationId::new("agent-linear").unwrap(),
        ConnectionId::new("linear").unwrap(),
        PublicationScope::Workspace {
            workspace: WorkspaceId::new("eng").unwrap(),
        },
        host.clock().now(),
    );
    publication
        .capabilities
        .insert(Capability::new("team.read").unwrap());
    host.publications()
        .put_publication(&publication)
        .await
        .unwrap();
}

#[tokio::test]
async fn mcp_serve_serves_a_tenants_stored_connections_over_stdio() {
    let api = LinearApi::start().await;
    api.accept_api_key(LINEAR_KEY);
    api.add_team("ENG", "Engineering");
    let dir = temp_dir("mcp-serve-stored");
    let url = format!("sqlite://{}", dir.join("records.db").display());
    prepare(&url, &api).await;
    let policy = write(
        &dir,
        "policy.json",
        r#"{"tools": {"linear_list_issues": "block"}}"#,
    );

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_integrations"))
        .args([
            "mcp",
            "serve",
            "--database-url",
            &url,
            "--tenant",
            "acme",
            "--workspace",
            "eng",
            "--user",
            "alice",
            "--publication",
            "agent-linear",
            "--policy",
            policy.to_str().unwrap(),
        ])
        .env("SEALING_KEY", SEALING_KEY)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let transport = (child.stdout.take().unwrap(), child.stdin.take().unwrap());
    let client = match ().serve(transport).await {
        Ok(client) => client,
        Err(e) => {
            let mut stderr = String::new();
            let _ = child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .await;
            panic!("{e}: {stderr}");
        }
    };

    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert!(names.contains(&"linear_list_teams"), "{names:?}");
    assert!(!names.contains(&"linear_list_issues"), "blocked: {names:?}");
    let result = client
        .call_tool(CallToolRequestParams::new("linear_list_teams"))
        .await
        .unwrap();
    let value = serde_json::to_value(&result).unwrap();
    assert_eq!(value["isError"], false, "{value}");
    assert_eq!(value["structuredContent"]["teams"][0]["key"], "ENG");
    assert!(!value.to_string().contains(LINEAR_KEY));
    assert_eq!(api.requests().len(), 1);
    // The key went to the provider from the sealed record, never to the client.
    assert!(
        api.requests()[0]
            .headers
            .iter()
            .any(|(_, v)| v.contains(LINEAR_KEY))
    );

    client.cancel().await.unwrap();
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("tenant `acme`"), "{stderr}");
    assert!(!stderr.contains(LINEAR_KEY));
    assert!(!stderr.contains(SEALING_KEY));

    // A publication id that names nothing stored is a usage error, as an unknown
    // connection id is: exit 2, before anything is served.
    let unknown = tokio::process::Command::new(env!("CARGO_BIN_EXE_integrations"))
        .args(["mcp", "serve", "--database-url", &url, "--tenant", "acme"])
        .args(["--publication", "agent-nothing"])
        .env("SEALING_KEY", SEALING_KEY)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(unknown.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("mcp.publication_not_found "), "{stderr}");

    // Without a publication, it says that tools needing a capability are not listed
    // (stdin closed at once: the server starts, then ends).
    let bare = tokio::process::Command::new(env!("CARGO_BIN_EXE_integrations"))
        .args(["mcp", "serve", "--database-url", &url, "--tenant", "acme"])
        .env("SEALING_KEY", SEALING_KEY)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&bare.stderr);
    assert!(stderr.contains("0 publication(s)"), "{stderr}");
    assert!(
        stderr.contains("no --publication given: tools that need a capability are not listed"),
        "{stderr}"
    );
}

#[test]
fn mcp_serve_refusals_have_stable_codes_and_change_nothing() {
    let dir = temp_dir("mcp-serve-refusals");
    let db = dir.join("none.db");
    let url = format!("sqlite://{}", db.display());
    for (args, code) in [
        (vec!["--database-url", url.as_str()], "mcp.tenant_required"),
        (vec![], "mcp.nothing_to_serve"),
        (
            vec!["--database-url", url.as_str(), "--tenant", "acme"],
            "cli.sealing_key_missing",
        ),
        (
            vec!["--database-url", url.as_str(), "--tenant", "a b"],
            "id.invalid",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_integrations"))
            .args(["mcp", "serve"])
            .args(&args)
            .env_remove("DATABASE_URL")
            .env_remove("SEALING_KEY")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with(&format!("{code} ")),
            "{args:?}: {stderr}"
        );
    }
    assert!(!db.exists(), "a refusal created the database");
}

/// A bearer token from `INTEGRATIONS_MCP_TOKEN` must be as long as one from
/// `--token-file`: a short one would be guessed.
#[test]
fn a_short_token_in_the_environment_is_refused() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_integrations"))
        .args(["mcp", "serve", "--demo", "--http", "127.0.0.1:0"])
        .env("INTEGRATIONS_MCP_TOKEN", "short-token")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A server that accepted the token would serve until killed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("mcp serve started with a short token");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("mcp.token_too_short "), "{stderr}");
    assert!(!stderr.contains("short-token"), "{stderr}");
}

/// `--key-file` wins over `SEALING_KEY`, as `--database-url` does over `DATABASE_URL`:
/// a key exported for another database must not silently replace the one typed for
/// this run.
#[test]
fn a_key_file_wins_over_the_sealing_key_in_the_environment() {
    let dir = temp_dir("mcp-key-file-wins");
    let key_file = write(&dir, "bad.key", "not-a-sealing-key");
    let db = dir.join("records.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_integrations"))
        .args(["mcp", "serve", "--tenant", "acme", "--key-file"])
        .arg(&key_file)
        .arg("--database-url")
        .arg(format!("sqlite://{}", db.display()))
        .env("SEALING_KEY", SEALING_KEY)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("crypto.invalid_key "), "{stderr}");
    assert!(!stderr.contains("not-a-sealing-key"), "{stderr}");
    assert!(!stderr.contains(SEALING_KEY), "{stderr}");
    assert!(!db.exists());
}

/// `mcp serve` of the SQLite file `records.db` in `dir` (tenant `acme`, workspace `eng`)
/// with the policy file `policy`.
fn serve_with_policy(dir: &std::path::Path, policy: &str) -> std::process::Output {
    let policy = write(dir, "policy.json", policy);
    let url = format!("sqlite://{}", dir.join("records.db").display());
    run(&[
        "mcp",
        "serve",
        "--database-url",
        &url,
        "--tenant",
        "acme",
        "--workspace",
        "eng",
        "--policy",
        policy.to_str().unwrap(),
    ])
}

/// A policy file naming a value the policy set refuses (a key pasted into the wrong place)
/// is refused without quoting it.
#[test]
fn a_bad_policy_file_is_refused_without_quoting_its_values() {
    let dir = temp_dir("mcp-serve-bad-policy");
    let out = serve_with_policy(
        &dir,
        r#"{"tools": {"linear_list_issues": "sk-live-POLICYSECRET"}}"#,
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.starts_with("mcp.policy_invalid "), "{err}");
    assert!(err.contains("expected one of"), "{err}");
    assert!(!err.contains("POLICYSECRET"), "{err}");
}

/// A policy file written by hand is read strictly: a misspelt tool, an unknown
/// integration or a misplaced member would otherwise make its `block` block nothing.
#[test]
fn a_policy_file_naming_what_is_not_here_is_refused() {
    let dir = temp_dir("mcp-serve-policy-typos");
    for (file, says) in [
        (
            r#"{"tools": {"slack_send_mesage": "block"}}"#,
            "no integration offers a tool named slack_send_mesage",
        ),
        (
            r#"{"integrations": {"github::github-clod": "block"}}"#,
            "no integration is registered under github::github-clod",
        ),
        (
            r#"{"tool": {"slack_send_message": "block"}}"#,
            "a member other than",
        ),
        (
            r#"{"tools": {"Slack-Send-Message": "block"}}"#,
            "not a tool name",
        ),
    ] {
        let out = serve_with_policy(&dir, file);
        assert_eq!(out.status.code(), Some(1), "{file}");
        let err = stderr(&out);
        assert!(err.starts_with("mcp.policy_invalid "), "{file}: {err}");
        assert!(err.contains(says), "{file}: {err}");
        assert!(!err.contains("Slack-Send-Message"), "{err}");
    }
    // Nothing was opened or created for a refused file.
    assert!(!dir.join("records.db").exists());
}

/// The status of an authorized `initialize` posted to `port` on loopback with `host` as
/// its `Host` header.
fn status_for_host(port: u16, host: &str) -> u16 {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"host-check","version":"1"}}}"#;
    write!(
        stream,
        "POST /mcp HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer a-token-long-enough-0123\r\n\
         content-type: application/json\r\naccept: application/json, text/event-stream\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut status = [0; 12];
    stream.read_exact(&mut status).unwrap();
    std::str::from_utf8(&status[9..]).unwrap().parse().unwrap()
}

/// `--http` on every interface serves clients only by the names `--allowed-host` gives
/// (the `Host` check against DNS rebinding): without one it refuses to start, rather
/// than refuse every remote client with 403; with one, a request naming it is served,
/// and one naming another host is not.
#[test]
fn http_on_every_interface_needs_the_hosts_clients_use() {
    let refused = run_with_env(
        &["mcp", "serve", "--demo", "--http", "0.0.0.0:0"],
        &[("INTEGRATIONS_MCP_TOKEN", "a-token-long-enough-0123")],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).starts_with("mcp.allowed_host_required "),
        "{}",
        stderr(&refused)
    );

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_integrations"))
        .args([
            "mcp",
            "serve",
            "--demo",
            "--http",
            "0.0.0.0:0",
            "--allowed-host",
            "mcp.example.test",
        ])
        .env("INTEGRATIONS_MCP_TOKEN", "a-token-long-enough-0123")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut port = None;
    for _ in 0..50 {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut lines, &mut line).unwrap() == 0 {
            break;
        }
        if let Some(rest) = line
            .trim()
            .strip_prefix("integrations mcp: serving MCP at http://mcp.example.test:")
        {
            port = rest
                .strip_suffix("/mcp")
                .and_then(|p| p.parse::<u16>().ok());
            break;
        }
    }
    let Some(port) = port else {
        child.kill().unwrap();
        panic!("mcp serve did not say where it serves");
    };
    let named = status_for_host(port, &format!("mcp.example.test:{port}"));
    let other = status_for_host(port, &format!("evil.example:{port}"));
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(named, 200, "the allowed host is served");
    assert_eq!(other, 403, "another host is refused");
}
