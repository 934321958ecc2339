//! Debian's curl, configured only through `HTTPS_PROXY` and the proxy's CA file, as a
//! sandbox would be. In CI (`CI=true`) a missing curl fails these tests.

use std::path::PathBuf;
use std::process::Stdio;

use crate::support::*;

/// The curl binary; `None` (the test is skipped) only outside CI.
#[allow(clippy::print_stderr, reason = "a skipped test says why")]
fn curl() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("curl"))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "curl is required in CI: run scripts/ensure-curl"
        );
        eprintln!("curl is not installed: skipping (CI=true makes this a failure)");
    }
    found
}

/// Runs curl with only `HTTPS_PROXY` and `--cacert`; returns stdout (headers, then body).
async fn run(curl: &PathBuf, proxy_url: &str, ca: &PathBuf, args: &[&str]) -> String {
    let output = tokio::process::Command::new(curl)
        .env_clear()
        .env("HTTPS_PROXY", proxy_url)
        .arg("--silent")
        .arg("--show-error")
        .arg("--include")
        .arg("--max-time")
        .arg("20")
        .arg("--cacert")
        .arg(ca)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn ca_file(fx: &Fixture, name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "integrations-proxy-{}-{name}.pem",
        std::process::id()
    ));
    std::fs::write(&path, &fx.proxy_ca_pem).unwrap();
    path
}

#[tokio::test]
async fn curl_with_only_https_proxy_and_the_ca_reaches_the_provider() {
    let Some(curl) = curl() else { return };
    let fx = Fixture::start().await;
    let ca = ca_file(&fx, "reach");
    let grant = fx.grant();
    let out = run(
        &curl,
        &fx.proxy_url(&grant),
        &ca,
        &["https://api.openai.com/v1/models"],
    )
    .await;
    assert!(out.contains("200"), "{out}");
    assert!(out.contains("gpt-5"), "{out}");
    assert!(!out.contains(OPENAI_KEY));
    let recorded = fx.upstream.recorded();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0].headers_named("authorization"),
        [format!("Bearer {OPENAI_KEY}")]
    );
    assert!(
        recorded[0]
            .header("user-agent")
            .is_some_and(|ua| ua.starts_with("curl/"))
    );

    // Refusals are explained to curl too: status, code header and body.
    let out = run(
        &curl,
        &fx.proxy_url(&grant),
        &ca,
        &["https://api.openai.com/v10/models"],
    )
    .await;
    assert!(out.contains("403"), "{out}");
    assert!(
        out.contains("x-integrations-error: egress.grant_scope"),
        "{out}"
    );
    let out = run(
        &curl,
        &fx.proxy_url("not-a-grant"),
        &ca,
        &[
            "--write-out",
            "connect=%{http_connect}",
            "https://api.openai.com/v1/models",
        ],
    )
    .await;
    assert!(out.contains("connect=407"), "{out}");
    assert!(out.contains("egress.grant_invalid"), "{out}");
    assert_eq!(fx.upstream.recorded().len(), 1);
    let _ = std::fs::remove_file(ca);
}

#[tokio::test]
async fn curl_streams_server_sent_events() {
    let Some(curl) = curl() else { return };
    let fx = Fixture::start().await;
    let ca = ca_file(&fx, "sse");
    let out = run(
        &curl,
        &fx.proxy_url(&fx.grant()),
        &ca,
        &[
            "--no-buffer",
            "--header",
            "content-type: application/json",
            "--header",
            "authorization: Bearer sk-sandbox-guess",
            "--data",
            r#"{"model":"gpt-5","stream":true}"#,
            "https://api.openai.com/v1/responses",
        ],
    )
    .await;
    assert!(out.contains("text/event-stream"), "{out}");
    assert!(out.contains("token2") && out.contains("[DONE]"), "{out}");
    assert_eq!(
        fx.upstream.recorded()[0].headers_named("authorization"),
        [format!("Bearer {OPENAI_KEY}")]
    );
    let _ = std::fs::remove_file(ca);
}

/// A path with dot segments, sent as written (`--path-as-is`), is matched, forwarded and
/// audited as resolved: the audit names the path the upstream received, never the one
/// the sandbox wrote.
#[tokio::test]
async fn a_dot_segment_path_is_forwarded_and_audited_as_resolved() {
    let Some(curl) = curl() else { return };
    let fx = Fixture::start().await;
    let ca = ca_file(&fx, "dots");
    let out = run(
        &curl,
        &fx.proxy_url(&fx.grant()),
        &ca,
        &[
            "--path-as-is",
            "https://api.openai.com/v1/files/../models?limit=2",
        ],
    )
    .await;
    assert!(out.contains("200"), "{out}");
    let recorded = fx.upstream.recorded();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].path, "/v1/models?limit=2");
    let records = proxied_records(&fx, 1).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].detail["path"], "/v1/models");
    let _ = std::fs::remove_file(ca);
}
