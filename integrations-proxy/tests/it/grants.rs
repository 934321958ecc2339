//! The sandbox authenticates with its grant as proxy credentials: missing, tampered,
//! expired, foreign or out-of-scope grants get 407/403 and the upstream sees nothing.

use std::sync::atomic::Ordering;
use std::time::Duration;

use http::StatusCode;
use integrations_core::TenantId;
use integrations_core::egress::{GrantAudience, GrantClaims, GrantKey, GrantKeys};

use crate::support::*;

#[tokio::test]
async fn missing_tampered_foreign_and_expired_grants_get_407() {
    let fx = Fixture::start().await;
    let addr = fx.proxy().local_addr();
    let grant = fx.grant();
    let mut tampered = grant.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let foreign = GrantKeys::new(GrantKey::generate("k1").unwrap())
        .issue(&fx.claims())
        .unwrap()
        .expose()
        .to_owned();
    let cases = [
        (None, "proxy.auth_required"),
        (Some("Bearer abc".to_owned()), "proxy.auth_malformed"),
        (Some(basic("sandbox", "")), "proxy.auth_required"),
        (Some(basic("sandbox", &tampered)), "egress.grant_invalid"),
        (Some(basic("sandbox", &foreign)), "egress.grant_invalid"),
        (
            Some(basic("sandbox", "v1.k1.e30.AAAA")),
            "egress.grant_invalid",
        ),
    ];
    for (auth, expected) in cases {
        let (status, code, body) = raw_connect(addr, "api.openai.com:443", auth).await;
        assert_eq!(
            status,
            StatusCode::PROXY_AUTHENTICATION_REQUIRED,
            "{expected}"
        );
        assert_eq!(code.as_deref(), Some(expected));
        assert!(body.contains(expected));
        assert!(!body.contains(&grant));
    }
    fx.test.clock.advance(Duration::from_secs(2 * 3600));
    let (status, code, _) =
        raw_connect(addr, "api.openai.com:443", Some(basic("sandbox", &grant))).await;
    assert_eq!(status, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    assert_eq!(code.as_deref(), Some("egress.grant_expired"));
    assert!(fx.upstream.recorded().is_empty());
}

/// A grant signed with the proxy's keys but issued for another tenant's or another
/// plan's sandbox opens nothing: no blind tunnel, no plain-HTTP passthrough, no tunnel
/// to a managed host.
#[tokio::test]
async fn a_grant_for_another_tenant_or_plan_opens_nothing() {
    let fx = Fixture::start().await;
    let addr = fx.proxy().local_addr();
    let foreign = |audience: GrantAudience| {
        let mut claims = fx.claims();
        claims.audience = audience;
        fx.keys.issue(&claims).unwrap().expose().to_owned()
    };
    let other_tenant = foreign(GrantAudience::new(
        TenantId::new("other-tenant").unwrap(),
        fx.plan.hash(),
    ));
    let other_plan = foreign(GrantAudience::new(
        fx.plan.tenant.clone(),
        "a-plan-this-proxy-does-not-serve",
    ));
    for grant in [&other_tenant, &other_plan] {
        for authority in [
            format!("{PASSTHROUGH}:443"),
            "api.openai.com:443".to_owned(),
        ] {
            let (status, code, body) =
                raw_connect(addr, &authority, Some(basic("sandbox", grant))).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{authority}");
            assert_eq!(
                code.as_deref(),
                Some("egress.grant_audience"),
                "{authority}"
            );
            assert!(!body.contains(grant.as_str()));
        }
        let plain = reqwest::Client::builder()
            .proxy(reqwest::Proxy::http(fx.proxy_url(grant)).unwrap())
            .build()
            .unwrap();
        let response = plain
            .get(format!("http://{PASSTHROUGH}/"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(code(&response).as_deref(), Some("egress.grant_audience"));
    }
    assert_eq!(fx.upstream.state.connections.load(Ordering::SeqCst), 0);
    // The sandbox's own grant still opens the blind tunnel.
    let (status, _, _) = raw_connect(
        addr,
        &format!("{PASSTHROUGH}:443"),
        Some(basic("sandbox", &fx.grant())),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_grant_that_expires_inside_an_open_tunnel_stops_working() {
    let fx = Fixture::start().await;
    let client = fx.client(&fx.grant());
    let url = "https://api.openai.com/v1/models";
    assert_eq!(
        client.get(url).send().await.unwrap().status(),
        StatusCode::OK
    );
    fx.test.clock.advance(Duration::from_secs(2 * 3600));
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    assert_eq!(code(&response).as_deref(), Some("egress.grant_expired"));
    assert_eq!(fx.upstream.recorded().len(), 1);
    assert_eq!(fx.proxy().metrics().count("-", "tunnel_intercepted"), 1);
}

/// A blind tunnel carries no request the proxy could check, so it ends when the grants
/// it was opened with expire, however busy it is.
#[tokio::test]
async fn a_blind_tunnel_closes_when_its_grants_expire() {
    use integrations_core::host::Clock as _;
    use tokio::io::AsyncReadExt as _;

    let fx = Fixture::start().await;
    let short = GrantClaims::for_route(
        &fx.plan.egress_routes[0],
        &GrantAudience::for_plan(&fx.plan),
        fx.test.clock.now(),
        Duration::from_secs(1),
    )
    .unwrap();
    let grant = fx.keys.issue(&short).unwrap().expose().to_owned();
    let opened = std::time::Instant::now();
    let mut tunnel = open_tunnel(
        fx.proxy().local_addr(),
        &format!("{PASSTHROUGH}:443"),
        basic("sandbox", &grant),
    )
    .await;
    let mut buf = [0_u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(10), tunnel.read(&mut buf))
        .await
        .expect("the tunnel closes when its grant expires");
    assert_eq!(read.unwrap(), 0, "closed, not answered");
    assert!(opened.elapsed() >= Duration::from_millis(900));
    assert_eq!(
        fx.proxy()
            .metrics()
            .count("-", "proxy.tunnel_grant_expired"),
        1
    );
}

#[tokio::test]
async fn out_of_scope_grants_get_403() {
    let fx = Fixture::start().await;
    let read_only = fx
        .keys
        .issue(&fx.claims().with_methods(["GET"]))
        .unwrap()
        .expose()
        .to_owned();
    let response = fx
        .client(&read_only)
        .post("https://api.openai.com/v1/responses")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(&response).as_deref(), Some("egress.grant_scope"));

    let models_only = fx
        .keys
        .issue(&fx.claims().with_path_prefixes(["/v1/models"]))
        .unwrap()
        .expose()
        .to_owned();
    let client = fx.client(&models_only);
    let response = client
        .get("https://api.openai.com/v1/files")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(&response).as_deref(), Some("egress.grant_scope"));
    assert!(fx.upstream.recorded().is_empty());
    let response = client
        .get("https://api.openai.com/v1/models")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn several_grants_ride_in_one_password() {
    let fx = Fixture::start().await;
    let narrow = fx
        .keys
        .issue(&fx.claims().with_path_prefixes(["/v1/files"]))
        .unwrap()
        .expose()
        .to_owned();
    let both = format!(
        "{narrow}{}{}",
        integrations_proxy::GRANT_SEPARATOR,
        fx.grant()
    );
    let response = fx
        .client(&both)
        .get("https://api.openai.com/v1/models")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_tunnel_opens_when_any_grant_verifies_as_each_request_is_authorized() {
    let fx = Fixture::start().await;
    let foreign = GrantKeys::new(GrantKey::generate("k1").unwrap())
        .issue(&fx.claims())
        .unwrap()
        .expose()
        .to_owned();
    let sep = integrations_proxy::GRANT_SEPARATOR;
    for password in [
        format!("{foreign}{sep}{}", fx.grant()),
        format!("{}{sep}v1.k1.e30.AAAA", fx.grant()),
    ] {
        let response = fx
            .client(&password)
            .get("https://api.openai.com/v1/models")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    // No grant that verifies: still refused, with the first grant's reason.
    let (status, code, _) = raw_connect(
        fx.proxy().local_addr(),
        "api.openai.com:443",
        Some(basic("sandbox", &format!("{foreign}{sep}v1.k1.e30.AAAA"))),
    )
    .await;
    assert_eq!(status, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    assert_eq!(code.as_deref(), Some("egress.grant_invalid"));
    assert_eq!(fx.upstream.recorded().len(), 2);
}
