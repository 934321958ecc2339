//! `integrations proxy ca` and `integrations proxy --demo`, the latter driven by Debian's
//! curl configured only with the printed `HTTPS_PROXY` line and CA file.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use crate::support::{run, stderr, stdout, temp_dir, write};

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

    // Nor is an existing certificate, even beside a new key name: a new key with the
    // old certificate would be a pair that does not match. Nothing is written.
    let cert_pem = std::fs::read_to_string(&cert).unwrap();
    let new_key = dir.join("other-key.pem");
    let beside = run(&[
        "proxy",
        "ca",
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        new_key.to_str().unwrap(),
    ]);
    assert_eq!(beside.status.code(), Some(5), "{}", stderr(&beside));
    assert!(stderr(&beside).starts_with("cli.write_failed"));
    assert_eq!(std::fs::read_to_string(&cert).unwrap(), cert_pem);
    assert!(!new_key.exists(), "no key without its certificate");

    // One file for both is refused before anything is written.
    let same = dir.join("both.pem");
    let both = run(&[
        "proxy",
        "ca",
        "--cert",
        same.to_str().unwrap(),
        "--key",
        same.to_str().unwrap(),
    ]);
    assert_eq!(both.status.code(), Some(5), "{}", stderr(&both));
    assert!(!same.exists());
    // Also when spelled two ways: the certificate replaced the key just written.
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let spelled = dir.join("sub").join("..").join("both.pem");
    let twice = run(&[
        "proxy",
        "ca",
        "--cert",
        same.to_str().unwrap(),
        "--key",
        spelled.to_str().unwrap(),
    ]);
    assert_eq!(twice.status.code(), Some(5), "{}", stderr(&twice));
    assert!(
        stderr(&twice).contains("the same file"),
        "{}",
        stderr(&twice)
    );
    assert!(!same.exists());
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

/// A plan file with a value where the plan has none of its kind (a token pasted into the
/// wrong field) is refused without quoting it.
#[test]
fn a_bad_plan_is_refused_without_quoting_its_values() {
    let dir = temp_dir("proxy-bad-plan");
    let plan = write(
        &dir,
        "plan.json",
        r#"{"tenant": "acme", "egress_routes": "sk-live-PLANSECRET"}"#,
    );
    let out = run(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--plan",
        plan.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("cli.invalid_plan "), "{err}");
    assert!(err.contains("invalid type: string …"), "{err}");
    assert!(!err.contains("PLANSECRET"), "{err}");
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
    // SIGTERM stops the demo as Ctrl-C does: drained, and its generated CA removed.
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the demo did not stop at SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "stopped, not killed");
    assert!(
        !std::path::Path::new(&ca).exists(),
        "the demo CA is removed"
    );
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

/// The sealing key of the test database (`SEALING_KEY`).
const SEALING_KEY: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";
/// The grant signing key (in `GRANT_KEY`).
const GRANT_KEY: &str = "grant-signing-key-for-the-cli-test-0123456789";
/// The stored OpenAI key: only the upstream may ever see it.
const STORED_KEY: &str = "sk-stored-in-sqlite-0123456789abcdef";

fn profile(version: u32) -> String {
    format!(
        r#"{{
  "tenant": "acme", "profile": "sandbox", "version": {version},
  "targets": [{{"id": "openai", "key": "openai::openai-default"}}],
  "connections": [{{"id": "openai-key", "target": "openai", "method": "api-key"}}],
  "bindings": [{{"id": "agent", "kind": "agent", "connection": "openai-key",
                "config": {{"runtime": "codex-cli", "model": "gpt-5-codex"}}}}]
}}"#
    )
}

/// A TLS server for api.openai.com on loopback that records the `Authorization` it gets
/// and answers like OpenAI (the model list for the stored key, 401 otherwise).
async fn tls_upstream(
    dir: &std::path::Path,
) -> (
    std::net::SocketAddr,
    std::path::PathBuf,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use std::sync::{Arc, Mutex};

    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["api.openai.com".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let ca_path = dir.join("upstream-ca.pem");
    std::fs::write(&ca_path, ca_cert.pem()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen = Arc::clone(&recorder);
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let authorization = req
                        .headers()
                        .get_all("authorization")
                        .iter()
                        .map(|v| v.to_str().unwrap_or("<binary>").to_owned())
                        .collect::<Vec<_>>()
                        .join(", ");
                    let ok = authorization == format!("Bearer {STORED_KEY}");
                    seen.lock().unwrap().push(authorization);
                    let (status, body) = if ok {
                        (
                            200,
                            r#"{"object":"list","data":[{"id":"gpt-5","object":"model"}]}"#,
                        )
                    } else {
                        (401, r#"{"error":{"code":"invalid_api_key"}}"#)
                    };
                    let response = hyper::Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(http_body_util::Full::new(bytes::Bytes::from_static(
                            body.as_bytes(),
                        )))
                        .unwrap();
                    async move { Ok::<_, std::convert::Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, ca_path, seen)
}

/// Runs curl as a sandbox: an empty environment but `HTTPS_PROXY`, and the CA file.
fn sandbox_curl(proxy: &str, ca: &std::path::Path, extra: &[&str]) -> String {
    let output = Command::new("curl")
        .env_clear()
        .env("HTTPS_PROXY", proxy)
        .args(["--silent", "--show-error", "--include", "--max-time", "20"])
        .arg("--cacert")
        .arg(ca)
        .args(extra)
        .arg("https://api.openai.com/v1/models")
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The status line of the response (after curl's line for the `CONNECT`).
fn last_status(output: &str) -> &str {
    output
        .lines()
        .rfind(|l| l.starts_with("HTTP/"))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_sqlite_database_the_proxy_injects_the_stored_credential_and_reloads_on_sighup() {
    use std::sync::Arc;
    use std::time::Duration;

    use integrations_core::compile::{ProfileInput, compile};
    use integrations_core::egress::{GrantAudience, GrantKey, GrantKeys};
    use integrations_core::host::{AesGcmKeyRing, Host, ReqwestHttpClient, SystemClock};
    use integrations_core::service::{ConnectionInput, TargetInput, WriteService};
    use integrations_core::{ConnectionId, ConnectionMethodId, TargetId, TenantId};
    use integrations_proxy::CertificateAuthority;
    use integrations_sqlx::SqlStores;

    if !curl_present() {
        return;
    }
    let dir = temp_dir("proxy-sqlite");
    let (upstream, upstream_ca, seen) = tls_upstream(&dir).await;

    // The host's records, written through the library into a SQLite file.
    let database = format!("sqlite://{}", dir.join("host.db").display());
    let registry = Arc::new(integrations_definitions::registry());
    {
        let stores = Arc::new(SqlStores::connect(&database).await.unwrap());
        let host = Host::builder()
            .stores(stores.clone())
            .cipher(Arc::new(AesGcmKeyRing::from_hex(SEALING_KEY).unwrap()))
            .http(Arc::new(ReqwestHttpClient::new().unwrap()))
            .build()
            .unwrap();
        let service = WriteService::new(registry.clone(), host);
        let tenant = TenantId::new("acme").unwrap();
        service
            .put_target(TargetInput::new(
                tenant.clone(),
                TargetId::new("openai").unwrap(),
                "openai::openai-default".parse().unwrap(),
            ))
            .await
            .unwrap();
        service
            .put_connection(
                ConnectionInput::new(
                    tenant,
                    ConnectionId::new("openai-key").unwrap(),
                    TargetId::new("openai").unwrap(),
                    ConnectionMethodId::new("api-key").unwrap(),
                )
                .with_secret("api_key", STORED_KEY),
            )
            .await
            .unwrap();
        stores.close().await;
    }
    let plan = compile(&registry, &ProfileInput::from_json(&profile(1)).unwrap()).unwrap();
    let plan_path = dir.join("plan.json");
    std::fs::write(&plan_path, serde_json::to_string(&plan).unwrap()).unwrap();
    let generated = CertificateAuthority::generate("cli test CA").unwrap();
    let (ca_cert, ca_key) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
    std::fs::write(&ca_cert, &generated.cert_pem).unwrap();
    std::fs::write(&ca_key, generated.key_pem.expose()).unwrap();
    let keys = GrantKeys::new(GrantKey::new("default", GRANT_KEY.as_bytes()).unwrap());
    let grant_for = |plan: &integrations_core::plan::CompiledRuntimePlan| {
        keys.issue_for_route(
            &plan.egress_routes[0],
            &GrantAudience::for_plan(plan),
            &SystemClock::new(),
            Duration::from_secs(600),
        )
        .unwrap()
        .expose()
        .to_owned()
    };
    let grant = grant_for(&plan);

    let mut child = Command::new(env!("CARGO_BIN_EXE_integrations"))
        .env("SEALING_KEY", SEALING_KEY)
        .env("GRANT_KEY", GRANT_KEY)
        .arg("proxy")
        .arg("--plan")
        .arg(&plan_path)
        .args(["--listen", "127.0.0.1:0", "--database-url", &database])
        .arg("--ca-cert")
        .arg(&ca_cert)
        .arg("--ca-key")
        .arg(&ca_key)
        .args(["--grant-key-env", "GRANT_KEY", "--allow-loopback"])
        .arg("--resolve")
        .arg(format!("api.openai.com={upstream}"))
        .arg("--upstream-ca")
        .arg(&upstream_ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_line = move || lines.next().expect("the proxy prints a line").unwrap();
    let listening = next_line();
    let addr = listening
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("{listening}"))
        .to_owned();
    assert_eq!(next_line(), format!("plan {}", plan.hash()));
    let proxy = format!("http://sandbox:{grant}@{addr}");

    // The sandbox sends a key of its own: it is replaced by the stored one.
    let output = sandbox_curl(
        &proxy,
        &ca_cert,
        &["-H", "Authorization: Bearer sk-sandbox-own-key"],
    );
    assert!(last_status(&output).starts_with("HTTP/1.1 200"), "{output}");
    assert!(output.contains("gpt-5"), "{output}");
    assert!(
        !output.contains(STORED_KEY),
        "the credential reached the sandbox"
    );
    assert_eq!(*seen.lock().unwrap(), vec![format!("Bearer {STORED_KEY}")]);

    // SIGHUP reloads the plan file: grants of the old plan stop working, the new plan's
    // work, on the same listener.
    let reloaded = compile(&registry, &ProfileInput::from_json(&profile(2)).unwrap()).unwrap();
    assert_ne!(reloaded.hash(), plan.hash());
    std::fs::write(&plan_path, serde_json::to_string(&reloaded).unwrap()).unwrap();
    let signalled = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    assert_eq!(next_line(), format!("plan {}", reloaded.hash()));
    let old = sandbox_curl(&proxy, &ca_cert, &[]);
    assert!(last_status(&old).starts_with("HTTP/1.1 403"), "{old}");
    assert!(
        old.contains("x-integrations-error: egress.grant_audience"),
        "{old}"
    );
    let fresh = format!("http://sandbox:{}@{addr}", grant_for(&reloaded));
    let output = sandbox_curl(&fresh, &ca_cert, &[]);
    assert!(last_status(&output).starts_with("HTTP/1.1 200"), "{output}");
    assert_eq!(seen.lock().unwrap().len(), 2);

    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    for text in [&stderr, &listening] {
        assert!(
            !text.contains(STORED_KEY) && !text.contains(GRANT_KEY),
            "{text}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A port in use is an I/O failure (exit 5) for every command that listens: the proxy
/// and `mcp serve` alike, each with its stable code and the OS reason.
#[test]
fn a_port_in_use_is_an_io_failure_for_every_server() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for (args, code) in [
        (
            vec!["proxy", "--demo", "--listen", addr.as_str()],
            "proxy.bind_failed ",
        ),
        (
            vec!["mcp", "serve", "--demo", "--http", addr.as_str()],
            "mcp.io ",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_integrations"))
            .args(&args)
            .env(
                "INTEGRATIONS_MCP_TOKEN",
                "a-token-long-enough-for-the-server",
            )
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(5), "{args:?}: {err}");
        assert!(err.starts_with(code), "{args:?}: {err}");
        assert!(
            err.contains("in use"),
            "the OS reason is printed: {args:?}: {err}"
        );
    }
    drop(taken);
}
