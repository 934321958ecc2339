//! `integrations proxy ca` and `integrations proxy --demo`, the latter driven by Debian's
//! curl configured only with the printed `HTTPS_PROXY` line and CA file.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use crate::support::{run, stderr, stdout, temp_dir};

#[test]
fn proxy_ca_writes_a_certificate_and_a_private_key_once() {
    let dir = temp_dir("proxy-ca");
    let cert = dir.join("ca.pem");
    let key = dir.join("ca-key.pem");
    let args = [
        "proxy",
        "ca",
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ];
    let output = run(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        std::fs::read_to_string(&cert)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    let key_pem = std::fs::read_to_string(&key).unwrap();
    assert!(key_pem.contains("PRIVATE KEY"));
    assert!(!stdout(&output).contains(&key_pem));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // An existing key is never overwritten: a write failure (exit 5, with the reason).
    let again = run(&args);
    assert_eq!(again.status.code(), Some(5));
    assert!(stderr(&again).starts_with("cli.write_failed"));
    assert_eq!(std::fs::read_to_string(&key).unwrap(), key_pem);
}

#[test]
fn proxy_without_a_plan_or_demo_is_a_usage_error() {
    let output = run(&["proxy", "--listen", "127.0.0.1:0"]);
    // Exit 2, as every usage error (the table in `integrations --help`).
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).starts_with("cli.usage"),
        "{}",
        stderr(&output)
    );
}

#[allow(clippy::print_stderr, reason = "a skipped test says why")]
fn curl_present() -> bool {
    let found = Command::new("curl").arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "curl is required in CI: run scripts/ensure-curl"
        );
        eprintln!("curl is not installed: skipping (CI=true makes this a failure)");
    }
    found
}

#[test]
fn a_sandbox_with_only_https_proxy_and_the_ca_reaches_the_provider() {
    if !curl_present() {
        return;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_integrations"))
        .args(["proxy", "--demo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut proxy = None;
    let mut ca = None;
    let mut printed = String::new();
    while ca.is_none() {
        let line = lines.next().expect("the demo prints its lines").unwrap();
        printed.push_str(&line);
        if let Some(value) = line.strip_prefix("HTTPS_PROXY=") {
            proxy = Some(value.to_owned());
        }
        if let Some(value) = line.strip_prefix("CA=") {
            ca = Some(value.to_owned());
        }
    }
    let (proxy, ca) = (proxy.unwrap(), ca.unwrap());
    // The sandbox: an empty environment but HTTPS_PROXY, and the CA file.
    let output = Command::new("curl")
        .env_clear()
        .env("HTTPS_PROXY", &proxy)
        .args([
            "--silent",
            "--show-error",
            "--max-time",
            "20",
            "--cacert",
            &ca,
        ])
        .arg("https://api.openai.com/v1/models")
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let body = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        body.contains("gpt-5-codex"),
        "{body} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for seen in [&body, &proxy, &printed] {
        assert!(!seen.contains("sk-demo"), "the credential leaked: {seen}");
    }
}
