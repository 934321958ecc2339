//! `webhook sign` and `webhook verify`.

use crate::support::{repo, run_with_env, stderr, stdout, temp_dir, write};

const SECRET: &str = "It's a Secret to Everybody";

fn sign(key: &str, body: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "webhook",
        "sign",
        key,
        "--secret-env",
        "HOOK_SECRET",
        "--body",
        body,
    ];
    args.extend_from_slice(extra);
    run_with_env(&args, &[("HOOK_SECRET", SECRET)])
}

#[test]
fn github_sign_then_verify_normalizes_the_event() {
    let dir = temp_dir("webhook-github");
    let body = repo("integrations-definitions/tests/fixtures/github/issues.opened.payload.json");
    let signed = sign(
        "github::github-cloud",
        &body,
        &[
            "--timestamp",
            "1750000000",
            "--id",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            "--event",
            "issues",
        ],
    );
    assert_eq!(signed.status.code(), Some(0), "{}", stderr(&signed));
    let headers = stdout(&signed);
    assert!(
        headers
            .lines()
            .any(|l| l.starts_with("x-hub-signature-256: sha256=")),
        "{headers}"
    );
    assert!(headers.contains("x-github-event: issues"));
    assert!(!headers.contains(SECRET) && !stderr(&signed).contains(SECRET));
    let headers_file = write(&dir, "headers.txt", &headers);

    let verify = |secret: &str, body: &str| {
        run_with_env(
            &[
                "webhook",
                "verify",
                "github::github-cloud",
                "--secret-env",
                "HOOK_SECRET",
                "--headers",
                headers_file.to_str().unwrap(),
                "--body",
                body,
                "--now",
                "1750000000",
            ],
            &[("HOOK_SECRET", secret)],
        )
    };
    let out = verify(SECRET, &body);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let event: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(event["event_type"], "github.issues.opened");
    assert_eq!(event["delivery_id"], "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    assert_eq!(event["subject"]["kind"], "issue");

    let wrong = verify("another secret", &body);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stderr(&wrong).starts_with("webhook.signature_mismatch "),
        "{}",
        stderr(&wrong)
    );
    assert!(
        !stderr(&wrong).contains("sha256="),
        "the expected signature is never printed"
    );

    let mut tampered = std::fs::read(&body).unwrap();
    tampered[10] ^= 1;
    let tampered = dir.join("tampered.json");
    std::fs::write(&tampered, {
        let mut b = std::fs::read(&body).unwrap();
        b[10] ^= 1;
        b
    })
    .unwrap();
    let out = verify(SECRET, tampered.to_str().unwrap());
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("webhook.signature_mismatch "));
}

#[test]
fn slack_replays_outside_the_window_are_refused() {
    let dir = temp_dir("webhook-slack");
    let body = repo(
        "integrations-definitions/tests/fixtures/slack/event_callback.app_mention.docs-example.json",
    );
    let signed = sign(
        "slack::slack-default",
        &body,
        &["--timestamp", "1531420618"],
    );
    assert_eq!(signed.status.code(), Some(0), "{}", stderr(&signed));
    let headers = write(&dir, "headers.txt", &stdout(&signed));
    let verify = |now: &str| {
        run_with_env(
            &[
                "webhook",
                "verify",
                "slack::slack-default",
                "--secret-env",
                "HOOK_SECRET",
                "--headers",
                headers.to_str().unwrap(),
                "--body",
                &body,
                "--now",
                now,
            ],
            &[("HOOK_SECRET", SECRET)],
        )
    };
    let ok = verify("1531420700");
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let event: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert!(event["event_type"].as_str().unwrap().starts_with("slack."));
    let late = verify("1531421000");
    assert_eq!(late.status.code(), Some(1));
    assert!(
        stderr(&late).starts_with("webhook.timestamp_out_of_window "),
        "{}",
        stderr(&late)
    );
}

#[test]
fn secrets_come_only_from_the_environment() {
    let body = repo("integrations-definitions/tests/fixtures/github/ping.payload.json");
    let unset = run_with_env(
        &[
            "webhook",
            "sign",
            "github::github-cloud",
            "--secret-env",
            "NO_SUCH_VAR_XYZ",
            "--body",
            &body,
        ],
        &[],
    );
    assert_eq!(unset.status.code(), Some(2));
    assert!(stderr(&unset).starts_with("cli.missing_secret "));
    let empty = run_with_env(
        &[
            "webhook",
            "sign",
            "github::github-cloud",
            "--secret-env",
            "EMPTY",
            "--body",
            &body,
        ],
        &[("EMPTY", "")],
    );
    assert_eq!(empty.status.code(), Some(2));
    assert!(stderr(&empty).starts_with("cli.empty_secret "));
    // A secret pasted where the variable's name goes is not printed back.
    let pasted = run_with_env(
        &[
            "webhook",
            "sign",
            "github::github-cloud",
            "--secret-env",
            "ghp_PASTEDSECRET0123456789abcdefghijklmn",
            "--body",
            &body,
        ],
        &[],
    );
    assert_eq!(pasted.status.code(), Some(2));
    assert!(stderr(&pasted).starts_with("cli.missing_secret "));
    assert!(
        !stderr(&pasted).contains("PASTEDSECRET"),
        "{}",
        stderr(&pasted)
    );
    // There is no argument that takes a secret.
    let inline = run_with_env(
        &[
            "webhook",
            "sign",
            "github::github-cloud",
            "--secret",
            SECRET,
            "--body",
            &body,
        ],
        &[],
    );
    assert_eq!(inline.status.code(), Some(2));
    // A body that is an OpenAI event (signing checks that the delivery verifies).
    let body =
        repo("integrations-definitions/tests/fixtures/openai/response.completed.docs-example.json");
    // OpenAI secrets are Standard Webhooks `whsec_` base64 secrets (validated as such).
    let no_hooks = run_with_env(
        &[
            "webhook",
            "sign",
            "openai::openai-default",
            "--secret-env",
            "HOOK_SECRET",
            "--body",
            &body,
        ],
        &[("HOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")],
    );
    assert_eq!(
        no_hooks.status.code(),
        Some(0),
        "OpenAI signs Standard Webhooks: {}",
        stderr(&no_hooks)
    );
    assert!(stdout(&no_hooks).contains("webhook-signature: v1,"));
}

/// Issue 14 point 6: `webhook sign` produces a delivery that verifies.
#[test]
fn sign_requires_or_derives_the_event_and_checks_the_delivery_verifies() {
    // GitHub names the event only in a header: it is required (a usage error).
    let github = repo("integrations-definitions/tests/fixtures/github/issues.opened.payload.json");
    let out = sign(
        "github::github-cloud",
        &github,
        &["--timestamp", "1750000000"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("cli.event_required "),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
    // An event name the body disagrees with would not verify: refused, nothing printed.
    let out = sign(
        "github::github-cloud",
        &github,
        &["--timestamp", "1750000000", "--event", "installation"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("webhook.event_type_mismatch "),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());

    // Linear names it in the body's `type`: derived, and the delivery verifies.
    let dir = temp_dir("webhook-linear-sign");
    let linear =
        repo("integrations-definitions/tests/fixtures/linear/comment.create.docs-example.json");
    let out = sign(
        "linear::linear-default",
        &linear,
        &["--timestamp", "1676056941"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("linear-event: Comment"),
        "{}",
        stdout(&out)
    );
    let headers = write(&dir, "headers.txt", &stdout(&out));
    let verified = run_with_env(
        &[
            "webhook",
            "verify",
            "linear::linear-default",
            "--secret-env",
            "HOOK_SECRET",
            "--headers",
            headers.to_str().unwrap(),
            "--body",
            &linear,
            "--now",
            "1676056941",
        ],
        &[("HOOK_SECRET", SECRET)],
    );
    assert_eq!(verified.status.code(), Some(0), "{}", stderr(&verified));
    let event: serde_json::Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!(event["event_type"], "linear.comment.created");
    let out = sign(
        "linear::linear-default",
        &linear,
        &["--timestamp", "1676056941", "--event", "Issue"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("cli.event_mismatch "),
        "{}",
        stderr(&out)
    );
    // Signed far from the time inside the body: it would not verify.
    let out = sign(
        "linear::linear-default",
        &linear,
        &["--timestamp", "1750000000"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("webhook.timestamp_out_of_window "),
        "{}",
        stderr(&out)
    );
}

/// One HTTP/1.1 exchange with the server at `address`: the status and the body.
fn post(address: std::net::SocketAddr, path: &str, headers: &str, body: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for line in headers.lines().filter(|l| !l.trim().is_empty()) {
        request.push_str(line.trim_end());
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Issue 14 point 1: Slack verifies the Request URL the host server prints before any
/// workspace installs the app. The same bytes, through `integrations webhook verify` and
/// through the host example's app-level route (a target, no connection), get the same
/// answer: the challenge once the signature verifies, `signature_mismatch` otherwise.
#[test]
fn the_cli_and_the_host_route_answer_the_same_bytes_alike() {
    use std::sync::Arc;

    use integrations_core::service::{TargetInput, WriteService};
    use integrations_core::{TargetId, TenantId};
    use integrations_testkit::TestHost;

    let dir = temp_dir("webhook-agree");
    let body =
        repo("integrations-definitions/tests/fixtures/slack/url_verification.docs-example.json");
    // The host's clock and the CLI's `--now` are the signing time.
    let now = "1767225600".to_owned();
    let signed = sign("slack::slack-default", &body, &["--timestamp", &now]);
    assert_eq!(signed.status.code(), Some(0), "{}", stderr(&signed));
    let headers = stdout(&signed);
    let headers_file = write(&dir, "headers.txt", &headers);
    let bytes = std::fs::read(&body).unwrap();
    let tampered = {
        let mut b = bytes.clone();
        b[20] ^= 1;
        b
    };
    let tampered_file = dir.join("tampered.json");
    std::fs::write(&tampered_file, &tampered).unwrap();

    // The host example, serving on loopback with a Slack target and no connection.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let address = runtime.block_on(async {
        let test = TestHost::new();
        test.clock
            .set(integrations_core::Timestamp::from_unix_seconds(
                now.parse().unwrap(),
            ));
        let registry = Arc::new(integrations_definitions::registry());
        WriteService::new(registry.clone(), test.host().clone())
            .put_target(
                TargetInput::new(
                    TenantId::new("acme").unwrap(),
                    TargetId::new("slack").unwrap(),
                    "slack::slack-default".parse().unwrap(),
                )
                .with_secrets(serde_json::json!({"signing_secret": SECRET})),
            )
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app =
            host_server::App::new(registry, test.host().clone(), &format!("http://{address}"))
                .unwrap();
        tokio::spawn(async move {
            let _keep = test;
            axum::serve(listener, host_server::router(app)).await
        });
        address
    });

    let cli = |body: &std::path::Path| {
        run_with_env(
            &[
                "webhook",
                "verify",
                "slack::slack-default",
                "--secret-env",
                "HOOK_SECRET",
                "--headers",
                headers_file.to_str().unwrap(),
                "--body",
                body.to_str().unwrap(),
                "--now",
                &now,
            ],
            &[("HOOK_SECRET", SECRET)],
        )
    };
    let route = "/webhooks/slack/slack-default";

    let (status, answer) = post(address, route, &headers, &bytes);
    let out = cli(std::path::Path::new(&body));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let verified: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verified["outcome"], "answered");
    assert_eq!(
        (status, answer.as_str()),
        (200, "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
    );
    assert_eq!(
        (verified["status"].as_u64(), verified["body"].as_str()),
        (Some(u64::from(status)), Some(answer.as_str()))
    );

    let (status, answer) = post(address, route, &headers, &tampered);
    let out = cli(&tampered_file);
    assert_eq!(status, 401, "{answer}");
    let code: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(code["error"]["code"], "webhook.signature_mismatch");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("webhook.signature_mismatch "),
        "{}",
        stderr(&out)
    );
    runtime.shutdown_background();
}
