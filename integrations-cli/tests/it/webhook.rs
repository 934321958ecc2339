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
    assert_eq!(unset.status.code(), Some(1));
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
    assert!(stderr(&empty).starts_with("cli.empty_secret "));
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
    let no_hooks = sign("openai::openai-default", &body, &[]);
    assert_eq!(
        no_hooks.status.code(),
        Some(0),
        "OpenAI signs Standard Webhooks: {}",
        stderr(&no_hooks)
    );
    assert!(stdout(&no_hooks).contains("webhook-signature: v1,"));
}
