//! No secret in logs, spans, errors or Debug output: the provider key and the sandbox's
//! grant are driven through success and refusal paths while every tracing event of the
//! test binary is captured (see `support::logs`).

use http::StatusCode;

use crate::support::*;

#[tokio::test]
async fn neither_the_credential_nor_the_grant_reaches_a_log_line() {
    let fx = Fixture::start().await;
    let grant = fx.grant();
    let client = fx.client(&grant);
    let ok = client
        .get("https://api.openai.com/v1/models")
        .header("authorization", "Bearer sk-sandbox-guess")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let refused = client
        .get("https://api.openai.com/v10/models")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let mut tampered = grant.clone();
    tampered.insert(10, 'x');
    let (status, _, body) = raw_connect(
        fx.proxy().local_addr(),
        "api.openai.com:443",
        Some(basic("sandbox", &tampered)),
    )
    .await;
    assert_eq!(status, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    assert!(!body.contains(&tampered));

    let logs = logs();
    assert!(
        logs.contains("egress{route=egress_rule_agent"),
        "the span names the route"
    );
    assert!(logs.contains("request forwarded"));
    assert!(
        logs.contains("code=egress.grant_scope"),
        "refusals are logged"
    );
    for secret in [
        OPENAI_KEY,
        grant.as_str(),
        tampered.as_str(),
        "sk-sandbox-guess",
        "sk-stale",
        "sk-fresh",
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
    let debug = format!("{:?} {:?}", fx.proxy(), fx.proxy().metrics());
    assert!(!debug.contains(OPENAI_KEY) && !debug.contains(&grant));
}
