//! The `host-server` binary as a new user runs it: start-up errors that name the
//! setting, signed connect links (and links that say what to set), and the offline demo
//! driven end to end over HTTP (an OAuth connection, a signed webhook, a tool call with
//! the token it prints) with no account.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use integrations::core::host::{Clock, SystemClock};
use integrations_testkit::{Delivery, TestHost, WebhookSigner};
use serde_json::json;

use super::*;

/// A running `host-server` process, killed when dropped.
struct Process {
    child: Child,
    base: String,
    lines: mpsc::Receiver<String>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_host-server"));
    // Only what the test sets: no provider variable leaks in from the environment
    // (`DATABASE_URL` included), and a working directory of its own, where the default
    // SQLite file and key file are made.
    command.env_clear().args(args).current_dir(scratch_dir());
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

/// A fresh, empty directory for one process of the binary.
fn scratch_dir() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("host-server-it-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

impl Process {
    /// Starts the binary on a free port and waits for its `listening on` line.
    fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut env = env.to_vec();
        env.push(("PORT", "0"));
        let mut child = command(args, &env)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the binary runs");
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut process = Self {
            child,
            base: String::new(),
            lines,
        };
        let first = process.wait_for("host-server listening on ");
        first
            .trim_start_matches("host-server listening on ")
            .clone_into(&mut process.base);
        process
    }

    /// The next printed line starting with `prefix` (earlier lines are skipped).
    fn wait_for(&self, prefix: &str) -> String {
        self.lines_until(prefix).1
    }

    /// The lines printed before the one starting with `prefix`, and that line.
    fn lines_until(&self, prefix: &str) -> (Vec<String>, String) {
        let mut before = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("host-server never printed {prefix:?}"));
            if line.trim_start().starts_with(prefix) {
                return (before, line);
            }
            before.push(line);
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

async fn json_of(answer: reqwest::Response) -> Result<Value, serde_json::Error> {
    serde_json::from_slice(&answer.bytes().await.unwrap())
}

fn with_json(request: reqwest::RequestBuilder, body: &Value) -> reqwest::RequestBuilder {
    request
        .header("content-type", "application/json")
        .body(body.to_string())
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Runs the binary to its end (a start-up failure): its exit code and stderr.
fn fails(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = command(&[], env).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn start_up_errors_are_sentences_naming_the_setting() {
    let (code, err) = fails(&[("PORT", "abc")]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err.trim(),
        "host-server: PORT=abc is not a port (a number from 0 to 65535)"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (code, err) = fails(&[("PORT", &port)]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!("port {port} is in use")) && err.contains("set PORT"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    let (code, err) = fails(&[
        ("PORT", "0"),
        ("LINEAR_API_BASE_URL", "https://user:pw@linear.test"),
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(err.lines().count(), 1, "reported once: {err}");
    assert!(
        err.starts_with("host-server: the linear target is invalid: LINEAR_API_BASE_URL must be"),
        "{err}"
    );
    assert!(!err.contains("pw@"), "{err}");

    let out = command(&["--dmeo"], &[("PORT", "0")]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("host-server: unknown argument --dmeo: host-server takes only --demo"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (code, err) = fails(&[("PORT", "0"), ("GITHUB_APP_ID", "twelve")]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err.trim(),
        "host-server: GITHUB_APP_ID=twelve is not a number"
    );

    // A secret is never repeated back.
    let (code, err) = fails(&[("PORT", "0"), ("START_LINK_KEY", "secret-link-key-0f3a")]);
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with("host-server: START_LINK_KEY is not 64 hex digits"),
        "{err}"
    );
    assert!(!err.contains("secret-link-key"), "{err}");
}

/// The path and query of a printed link.
fn path_of(link: &str) -> String {
    let url = url::Url::parse(link).unwrap();
    format!("{}?{}", url.path(), url.query().unwrap())
}

/// `START_LINK_KEY`'s value in the tests, and its bytes.
const LINK_KEY_HEX: &str = "2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a";
const LINK_KEY: [u8; 32] = [0x2a; 32];

/// The signed path of a Linear start link for the binary at `base`, minted by an
/// application holding `key`, on the system clock as the binary's.
fn linear_link(base: &str, key: [u8; 32]) -> String {
    let test = TestHost::new();
    test.clock.set(SystemClock::new().now());
    let registry = Arc::new(integrations::definitions::registry());
    let app = App::new(registry, test.host().clone(), base)
        .unwrap()
        .with_link_key(key);
    super::start_path(&app, "linear::linear-default", "linear", "oauth2", None)
}

#[tokio::test]
async fn printed_connect_links_are_signed_and_start_link_key_signs_them() {
    let server = Process::start(
        &[],
        &[
            ("LINEAR_CLIENT_ID", "lin_client_printed"),
            ("START_LINK_KEY", LINK_KEY_HEX),
        ],
    );
    server.wait_for("Connect links are signed and expire in 10 minutes");
    let printed = server.wait_for("connect (oauth2): ");
    let link = printed.trim().trim_start_matches("connect (oauth2): ");
    assert!(
        link.starts_with(&server.url("/oauth/linear/linear-default/start?")),
        "{link}"
    );
    assert!(
        param(link, "sig").is_some() && param(link, "expires").is_some(),
        "{link}"
    );
    let client = client();
    let get = |path: String| client.get(server.url(&path)).send();

    // The printed link starts the authorization at Linear.
    let answer = get(path_of(link)).await.unwrap();
    assert_eq!(answer.status(), 302);
    assert!(
        answer.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("https://linear.app/oauth/authorize?"),
        "{:?}",
        answer.headers()
    );
    // Changed to another tenant: refused, nothing set.
    let changed = path_of(link).replace("tenant=acme", "tenant=mallory");
    let answer = get(changed).await.unwrap();
    assert_eq!(answer.status(), 401);
    assert!(!answer.headers().contains_key("set-cookie"));
    let body = json_of(answer).await.unwrap();
    assert_eq!(body["error"]["code"], "host_server.invalid_start_link");

    // START_LINK_KEY is the key: another application holding it mints links the binary
    // follows; one holding another key does not.
    let answer = get(linear_link(&server.base, LINK_KEY)).await.unwrap();
    assert_eq!(answer.status(), 302);
    let answer = get(linear_link(&server.base, [7; 32])).await.unwrap();
    assert_eq!(answer.status(), 401);
}

#[tokio::test]
async fn a_connect_link_without_a_client_id_says_what_to_set() {
    let server = Process::start(&[], &[("START_LINK_KEY", LINK_KEY_HEX)]);
    let hint = server.wait_for("connect (oauth2)");
    assert!(hint.contains("set LINEAR_CLIENT_ID first"), "{hint}");
    // No link is printed; one the application signs still says what to set.
    let answer = client()
        .get(server.url(&linear_link(&server.base, LINK_KEY)))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 503);
    let body = json_of(answer).await.unwrap();
    assert_eq!(body["error"]["code"], "host_server.provider_not_configured");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("LINEAR_CLIENT_ID") && message.contains("LINEAR_CLIENT_SECRET"),
        "{message}"
    );
}

#[tokio::test]
async fn every_failure_answers_one_json_shape() {
    // With a webhook secret, a delivery without a signature is refused before its body
    // is read (`webhook.missing_header`).
    let server = Process::start(&[], &[("LINEAR_WEBHOOK_SECRET", "a-linear-webhook-secret")]);
    let client = client();
    let cases =
        [
            (client.put(server.url("/oauth/callback")), 405),
            (
                client.get(server.url("/webhooks/linear/linear-default")),
                405,
            ),
            (client.get(server.url("/nowhere")), 404),
            (
                client.post(server.url("/webhooks/linear/linear-default")),
                400,
            ),
            (
                client.get(server.url("/oauth/linear/linear-default/start")),
                400,
            ),
            // An unsigned start link.
            (
                client.get(server.url(
                    "/oauth/linear/linear-default/start?tenant=acme&target=linear&method=oauth2",
                )),
                401,
            ),
            // Outside the demo the tool route has no authenticator: it runs nothing, and
            // says so before it reads a body.
            (
                client
                    .post(server.url("/tools/linear_list_teams"))
                    .body("{"),
                401,
            ),
            (
                with_json(
                    client
                        .post(server.url("/tools/no_such_tool"))
                        .bearer_auth("a-token"),
                    &json!({"connection": "c"}),
                ),
                401,
            ),
        ];
    for (request, status) in cases {
        let answer = request.send().await.unwrap();
        let url = answer.url().path().to_owned();
        assert_eq!(answer.status(), status, "{url}");
        if status == 405 {
            assert!(answer.headers().contains_key("allow"), "{url}");
        }
        if status == 401 && url.starts_with("/tools/") {
            assert_eq!(answer.headers()["www-authenticate"], "Bearer", "{url}");
        }
        let body = json_of(answer)
            .await
            .unwrap_or_else(|_| panic!("{url}: not JSON"));
        let error = body["error"]
            .as_object()
            .unwrap_or_else(|| panic!("{url}: {body}"));
        assert!(
            error["code"].as_str().unwrap().contains('.'),
            "{url}: {body}"
        );
        assert!(error["message"].is_string(), "{url}: {body}");
    }
}

#[tokio::test]
async fn the_demo_completes_oauth_a_webhook_and_a_tool_call_with_no_account() {
    let server = Process::start(&["--demo"], &[]);
    server.wait_for("Demo mode");
    // The printed commands: the signed link of step 1, and the token of step 3.
    let step1 = server.wait_for("1. connect Linear:");
    let link = step1.split('\'').nth(1).expect("a quoted link").to_owned();
    let (step2, step3) = server.lines_until("3. a tool call:");
    let token = step3
        .split("Authorization: Bearer ")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a bearer token")
        .to_owned();
    assert!(token.len() >= 32, "{step3}");
    let client = client();

    // 1. OAuth: what `curl -L` with a cookie jar does.
    assert!(
        link.starts_with(&server.url("/oauth/linear/linear-default/start?")),
        "{link}"
    );
    let start = client.get(&link).send().await.unwrap();
    assert_eq!(start.status(), 302);
    let cookie = start.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let consent_page = start.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        consent_page.starts_with("http://127.0.0.1:"),
        "{consent_page}"
    );
    let consent = client.get(&consent_page).send().await.unwrap();
    assert_eq!(consent.status(), 302, "{}", consent.text().await.unwrap());
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        callback.starts_with(&server.url("/oauth/callback?")),
        "{callback}"
    );
    let done = client
        .get(&callback)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let connection = json_of(done).await.unwrap();
    assert_eq!(connection["status"], "active");
    let connection = connection["connection"].as_str().unwrap().to_owned();

    // 2. A webhook, signed with the demo secret as `integrations webhook sign` does.
    // Linear signs a body that carries its send time (`webhookTimestamp`, milliseconds):
    // the printed `sed` line adds it, run here as printed (from the repository's root,
    // its output read rather than written to `linear.json`), and the sign and curl lines
    // send what it made.
    let step2 = step2.join("\n");
    let sed = step2
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("sed "))
        .unwrap_or_else(|| panic!("no sed line in step 2:\n{step2}"));
    let command = sed
        .strip_suffix(" > linear.json")
        .unwrap_or_else(|| panic!("the sed line writes linear.json: {sed}"));
    let made = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .unwrap();
    assert!(made.status.success(), "{sed}: {made:?}");
    let body = made.stdout;
    let stamped: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let sent = stamped["webhookTimestamp"].as_i64().expect("a timestamp");
    let now = SystemClock::new().now().unix_millis();
    assert!((now - sent).abs() < 60_000, "{sent} is not now ({now})");
    // The command line is built before the body is stamped (a first build takes longer
    // than Linear's one-minute window).
    let build = step2.find("cargo build -q -p integrations-cli");
    assert!(
        build.is_some_and(|at| at < step2.find("sed ").unwrap()),
        "{step2}"
    );
    assert!(
        step2.contains("--body linear.json > headers.txt")
            && step2.contains("--data-binary @linear.json "),
        "the sign and curl lines send the stamped body:\n{step2}"
    );
    let registry = integrations::definitions::registry();
    let linear = registry
        .require(&"linear::linear-default".parse().unwrap())
        .unwrap();
    let signed = WebhookSigner::for_definition(
        linear.definition(),
        host_server::demo::LINEAR_WEBHOOK_SECRET,
    )
    .unwrap()
    .sign(
        &Delivery::new(&body, SystemClock::new().now())
            .with_id("demo-delivery-1")
            .with_event("Comment"),
    )
    .unwrap();
    let mut request = client.post(server.url("/webhooks/linear/linear-default"));
    for (name, value) in &signed.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let answer = request.body(signed.body.clone()).send().await.unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    let event = server.wait_for("event ");
    assert!(event.contains(&connection), "{event}");

    // 3. A tool call on the new connection, with the printed token (and without it:
    // refused, as in any deployment).
    let call = |token: Option<&str>| {
        let request = with_json(
            client.post(server.url("/tools/linear_list_teams")),
            &json!({"connection": connection}),
        );
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    };
    for wrong in [None, Some("demo_not-the-token")] {
        let answer = call(wrong).send().await.unwrap();
        assert_eq!(answer.status(), 401, "{wrong:?}");
        let body = json_of(answer).await.unwrap();
        assert_eq!(body["error"]["code"], "host_server.unauthenticated");
    }
    let answer = call(Some(&token)).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let result = json_of(answer).await.unwrap();
    assert_ne!(result["isError"], true, "{result}");
    assert_eq!(
        result["structuredContent"]["teams"][0]["key"], "ENG",
        "{result}"
    );
}
