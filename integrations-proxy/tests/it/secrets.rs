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

#[tokio::test]
async fn a_redirect_keeping_a_query_injected_key_never_reaches_the_sandbox() {
    let fx = Fixture::start_with(Options {
        edit_plan: Some(Box::new(|plan| {
            let route = &mut plan.egress_routes[0];
            route.injection = integrations_core::plan::AuthInjection::Query {
                name: "key".to_owned(),
            };
            route.matcher.path_prefixes.clear();
        })),
        ..Options::default()
    })
    .await;
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(fx.proxy_url(&fx.grant())).unwrap())
        .tls_certs_only([reqwest::Certificate::from_pem(fx.proxy_ca_pem.as_bytes()).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get("https://api.openai.com/echo-redirect?page=2")
        .send()
        .await
        .unwrap();
    // The upstream got the key in its query, and answered with it in `Location`.
    let recorded = fx.upstream.recorded();
    assert_eq!(recorded.len(), 1);
    assert!(
        recorded[0].path.contains(OPENAI_KEY),
        "{}",
        recorded[0].path
    );
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(code(&response).as_deref(), Some("proxy.secret_in_response"));
    let headers = format!("{:?}", response.headers());
    let body = response.text().await.unwrap();
    for text in [&headers, &body] {
        assert!(!text.contains(OPENAI_KEY), "{text}");
        assert!(!text.contains("sk-proxy-test"), "{text}");
    }
    let records = proxied_records(&fx, 1).await;
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].outcome,
        integrations_core::host::AuditOutcome::Failure {
            code: "proxy.secret_in_response".to_owned()
        }
    );
    assert_eq!(
        records[0].detail.get("status").map(String::as_str),
        Some("301"),
        "the upstream answered: its status is recorded"
    );
}

#[tokio::test]
async fn an_upstream_answer_cannot_pose_as_a_refusal_of_the_proxy() {
    let fx = Fixture::start().await;
    let response = fx
        .client(&fx.grant())
        .get("https://api.openai.com/v1/posing")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    assert_eq!(code(&response), None, "{:?}", response.headers());
    assert!(response.headers().get("proxy-authenticate").is_none());
    assert_eq!(fx.upstream.recorded().len(), 1);
}
