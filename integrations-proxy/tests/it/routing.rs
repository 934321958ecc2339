//! Which request gets which credential: exactly the injected one on a matched route,
//! none anywhere else, and refusals for everything ambiguous.

use std::sync::atomic::Ordering;

use http::StatusCode;
use integrations_proxy::ProxyConfig;

use crate::support::*;

#[tokio::test]
async fn a_matched_route_gets_exactly_the_injected_credential() {
    let fx = Fixture::start().await;
    let grant = fx.grant();
    let response = fx
        .client(&grant)
        .get("https://api.openai.com/v1/models?limit=2")
        .header("authorization", "Bearer sk-sandbox-guess")
        .header("x-integrations-egress-grant", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.unwrap();
    assert!(body.contains("gpt-5"), "{body}");
    assert!(!body.contains(OPENAI_KEY));

    let recorded = fx.upstream.recorded();
    assert_eq!(recorded.len(), 1);
    let seen = &recorded[0];
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("GET", "/v1/models?limit=2")
    );
    assert_eq!(
        seen.headers_named("authorization"),
        [format!("Bearer {OPENAI_KEY}")]
    );
    assert_eq!(seen.header("host"), Some(OPENAI));
    for absent in [
        "proxy-authorization",
        "x-integrations-egress-grant",
        "proxy-connection",
    ] {
        assert_eq!(seen.header(absent), None, "{absent}");
    }
    assert!(!seen.headers.iter().any(|(_, v)| v.contains(&grant)));

    let route = fx.plan.egress_routes[0].id.as_str().to_owned();
    // The proxy audits through a queue: wait for its writer.
    let mut audit = Vec::new();
    for _ in 0..200 {
        audit = fx.test.audit.with_action("credential.used");
        if audit
            .iter()
            .any(|e| e.detail.get("via").map(String::as_str) == Some("egress_proxy"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let proxied: Vec<_> = audit
        .iter()
        .filter(|e| e.detail.get("via").map(String::as_str) == Some("egress_proxy"))
        .collect();
    assert_eq!(proxied.len(), 1);
    assert_eq!(proxied[0].detail["route"], route);
    assert_eq!(proxied[0].detail["status"], "200");
    assert!(!format!("{proxied:?}").contains(OPENAI_KEY));
    assert!(!format!("{proxied:?}").contains(&grant));
    assert_eq!(fx.proxy().metrics().count(&route, "forwarded"), 1);
}

#[tokio::test]
async fn an_unmatched_passthrough_host_is_tunneled_blind_with_no_credential() {
    let fx = Fixture::start().await;
    let response = fx
        .client(&fx.grant())
        .get("https://example.test/anything")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "plain");
    let recorded = fx.upstream.recorded();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].header("authorization"), None);
    assert_eq!(recorded[0].header("proxy-authorization"), None);
    assert_eq!(fx.proxy().metrics().count("-", "tunnel_blind"), 1);
}

#[tokio::test]
async fn hosts_without_a_route_or_passthrough_and_look_alikes_are_refused() {
    let fx = Fixture::start_with(Options {
        passthrough: false,
        ..Options::default()
    })
    .await;
    let auth = Some(basic("sandbox", &fx.grant()));
    for authority in [
        "example.test:443",
        "api.openai.com.evil.test:443",
        "evilapi.openai.com:443",
        "api-openai.com:443",
        "openai.com:443",
    ] {
        let (status, code, body) =
            raw_connect(fx.proxy().local_addr(), authority, auth.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{authority}");
        assert_eq!(
            code.as_deref(),
            Some("proxy.host_not_allowed"),
            "{authority}"
        );
        assert!(body.contains("proxy.host_not_allowed"), "{body}");
    }
    let (status, code, _) =
        raw_connect(fx.proxy().local_addr(), "api.openai.com:8443", auth.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code.as_deref(), Some("proxy.port_not_allowed"));
    assert!(fx.upstream.recorded().is_empty());
}

/// A passthrough host is reached on the passthrough ports only (443 and 80 by
/// default), and a plain-HTTP request to it carries its URL's host in `Host`: another
/// would reach that host at this one's address (a shared front end).
#[tokio::test]
async fn passthrough_hosts_open_their_ports_only_and_their_own_host_header() {
    let fx = Fixture::start().await;
    let proxy = fx.proxy().local_addr();
    let auth = basic("sandbox", &fx.grant());
    for authority in ["example.test:22", "example.test:6379"] {
        let (status, code, _) = raw_connect(proxy, authority, Some(auth.clone())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{authority}");
        assert_eq!(
            code.as_deref(),
            Some("proxy.port_not_allowed"),
            "{authority}"
        );
    }
    let refused: [(&str, &[&str], &str); 5] = [
        (
            "http://example.test:8080/",
            &["example.test:8080"],
            "proxy.port_not_allowed",
        ),
        (
            "http://example.test/",
            &["attacker.example"],
            "proxy.host_mismatch",
        ),
        (
            "http://example.test/",
            &["example.test:8080"],
            "proxy.host_mismatch",
        ),
        (
            "http://example.test/",
            &["example.test.attacker.example"],
            "proxy.host_mismatch",
        ),
        // The first `Host` is the URL's; an upstream may read the second.
        (
            "http://example.test/",
            &["example.test", "attacker.example"],
            "proxy.host_mismatch",
        ),
    ];
    for (url, hosts, expected) in refused {
        let (status, code) = raw_absolute_get(proxy, url, hosts, auth.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{url} {hosts:?}");
        assert_eq!(code.as_deref(), Some(expected), "{url} {hosts:?}");
    }
    assert!(fx.upstream.recorded().is_empty());
    // The default ports stay open: a tunnel to 443 goes through.
    let (status, _, _) = raw_connect(proxy, "example.test:443", Some(auth)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn v10_wrong_methods_and_ambiguous_paths_get_no_credential() {
    let fx = Fixture::start().await;
    let client = fx.client(&fx.grant());
    for (method, url, status, expected) in [
        (
            "GET",
            "https://api.openai.com/v10/models",
            403,
            "egress.grant_scope",
        ),
        ("GET", "https://api.openai.com/", 403, "egress.grant_scope"),
        (
            "DELETE",
            "https://api.openai.com/v1/models",
            403,
            "egress.grant_scope",
        ),
        (
            "GET",
            "https://api.openai.com/v1/files%2F..%2Fadmin",
            400,
            "egress.ambiguous_path",
        ),
        (
            "GET",
            "https://api.openai.com/v1//models",
            400,
            "egress.ambiguous_path",
        ),
    ] {
        let response = client
            .request(method.parse().unwrap(), url)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {url}");
        assert_eq!(code(&response).as_deref(), Some(expected), "{method} {url}");
        let body = response.text().await.unwrap();
        assert!(body.contains(expected), "{body}");
    }
    assert!(fx.upstream.recorded().is_empty());
}

#[tokio::test]
async fn private_loopback_and_metadata_destinations_are_refused() {
    let fx = Fixture::start_with(Options {
        passthrough: false,
        config: ProxyConfig::new()
            .with_passthrough_host("169.254.169.254")
            .unwrap(),
        ..Options::default()
    })
    .await;
    let auth = Some(basic("sandbox", &fx.grant()));
    let (status, refused, _) =
        raw_connect(fx.proxy().local_addr(), "169.254.169.254:80", auth).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(refused.as_deref(), Some("proxy.destination_private"));

    // Without allow-loopback, even a managed route's upstream on loopback is refused.
    let strict = Fixture::start_with(Options {
        allow_loopback: false,
        config: ProxyConfig::new()
            .with_passthrough_host("localhost")
            .unwrap(),
        ..Options::default()
    })
    .await;
    // A name is checked on the addresses it resolves to.
    let (status, refused, _) = raw_connect(
        strict.proxy().local_addr(),
        "localhost:443",
        Some(basic("sandbox", &strict.grant())),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(refused.as_deref(), Some("proxy.destination_private"));
    let response = strict
        .client(&strict.grant())
        .get("https://api.openai.com/v1/models")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        code(&response).as_deref(),
        Some("proxy.destination_private")
    );
    assert!(strict.upstream.recorded().is_empty());
}

/// An upstream named by its address is checked as a name's resolved addresses are:
/// `HttpConnector` connects to an IP literal without asking the resolver, so the check
/// must not live only there.
#[tokio::test]
async fn ip_literal_upstreams_are_checked_on_every_path() {
    let pki = Pki::new();
    let loopback = Upstream::start_at(&pki, "127.0.0.1:0", &["127.0.0.1"]).await;
    let port = loopback.addr.port();
    let fx = Fixture::start_with(Options {
        passthrough: false,
        allow_loopback: false,
        config: ProxyConfig::new()
            .with_extra_root(pki.cert_der())
            .with_passthrough_host("127.0.0.1")
            .unwrap()
            .with_passthrough_host("169.254.169.254")
            .unwrap()
            .with_passthrough_ports([80, 443, port]),
        edit_plan: Some(Box::new(move |plan| {
            let route = &mut plan.egress_routes[0];
            route.upstream = route.upstream.replace(OPENAI, &format!("127.0.0.1:{port}"));
        })),
        ..Options::default()
    })
    .await;
    let grant = fx.grant();
    let plain = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(fx.proxy_url(&grant)).unwrap())
        .build()
        .unwrap();
    // Plain HTTP to a passthrough host written as an address: as CONNECT to it is.
    for url in [
        format!("http://127.0.0.1:{port}/"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ] {
        let response = plain.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{url}");
        assert_eq!(
            code(&response).as_deref(),
            Some("proxy.destination_private"),
            "{url}"
        );
    }
    // A managed route whose upstream is an address on loopback (the sandbox uses the
    // upstream's port, as the routes' ports are the ones a tunnel may open).
    let managed = format!("https://{OPENAI}:{port}/v1/models");
    let response = fx.client(&grant).get(&managed).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        code(&response).as_deref(),
        Some("proxy.destination_private")
    );
    assert_eq!(loopback.state.connections.load(Ordering::SeqCst), 0);

    // The same route where loopback is allowed: the refusal above was the rule's.
    let allowed = Fixture::start_with(Options {
        passthrough: false,
        config: ProxyConfig::new().with_extra_root(pki.cert_der()),
        edit_plan: Some(Box::new(move |plan| {
            let route = &mut plan.egress_routes[0];
            route.upstream = route.upstream.replace(OPENAI, &format!("127.0.0.1:{port}"));
        })),
        ..Options::default()
    })
    .await;
    let response = allowed
        .client(&allowed.grant())
        .get(&managed)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(loopback.recorded().len(), 1);
}

/// An override names the address and port to connect to: a route upstream that names
/// its own port still reaches the override, as a tunnel does.
#[tokio::test]
async fn an_override_keeps_its_port_when_the_upstream_names_one() {
    let fx = Fixture::start_with(Options {
        edit_plan: Some(Box::new(|plan| {
            let route = &mut plan.egress_routes[0];
            route.upstream = route.upstream.replace(OPENAI, &format!("{OPENAI}:8443"));
        })),
        ..Options::default()
    })
    .await;
    let response = fx
        .client(&fx.grant())
        .get("https://api.openai.com:8443/v1/models")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{:?}", code(&response));
    assert_eq!(fx.upstream.recorded().len(), 1);
}

#[tokio::test]
async fn plain_http_absolute_form_is_classified_too() {
    let fx = Fixture::start().await;
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(fx.proxy_url(&fx.grant())).unwrap())
        .build()
        .unwrap();
    let response = client
        .get("http://api.openai.com/v1/models")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let recorded = fx.upstream.recorded();
    assert_eq!(
        recorded[0].headers_named("authorization"),
        [format!("Bearer {OPENAI_KEY}")]
    );
    let response = client.get("http://elsewhere.test/").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(&response).as_deref(), Some("proxy.host_not_allowed"));
}

/// A plan whose OpenAI route allows every method (no method list).
fn every_method() -> Options {
    Options {
        edit_plan: Some(Box::new(|plan| {
            plan.egress_routes[0].matcher.methods.clear();
        })),
        ..Options::default()
    }
}

#[tokio::test]
async fn trace_and_track_never_get_a_credential_even_on_a_route_allowing_every_method() {
    let fx = Fixture::start_with(every_method()).await;
    let client = fx.client(&fx.grant());
    for method in ["TRACE", "TRACK"] {
        let response = client
            .request(method.parse().unwrap(), "https://api.openai.com/v1/x")
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        assert_eq!(
            code(&response).as_deref(),
            Some("proxy.method_refused"),
            "{method}"
        );
    }
    let plain = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(fx.proxy_url(&fx.grant())).unwrap())
        .build()
        .unwrap();
    let response = plain
        .request(http::Method::TRACE, "http://api.openai.com/v1/x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(code(&response).as_deref(), Some("proxy.method_refused"));
    // Methods are case-sensitive: `trace` is refused by name too, and a lower-case
    // method the route would allow is refused rather than matched as its upper case.
    for (method, status, expected) in [
        (
            "trace",
            StatusCode::METHOD_NOT_ALLOWED,
            "proxy.method_refused",
        ),
        (
            "Track",
            StatusCode::METHOD_NOT_ALLOWED,
            "proxy.method_refused",
        ),
        ("get", StatusCode::BAD_REQUEST, "egress.invalid_request"),
    ] {
        let response = client
            .request(
                http::Method::from_bytes(method.as_bytes()).unwrap(),
                "https://api.openai.com/v1/models",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{method}");
        assert_eq!(code(&response).as_deref(), Some(expected), "{method}");
    }
    assert!(fx.upstream.recorded().is_empty());
    // Other methods still go through.
    let response = client
        .patch("https://api.openai.com/v1/models")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_route_host_written_in_capitals_or_with_a_trailing_dot_is_intercepted() {
    for written in ["API.OpenAI.com", "api.openai.com."] {
        let fx = Fixture::start_with(Options {
            passthrough: false,
            edit_plan: Some(Box::new(move |plan| {
                plan.egress_routes[0].matcher.hosts = vec![written.to_owned()];
            })),
            ..Options::default()
        })
        .await;
        let response = fx
            .client(&fx.grant())
            .get("https://api.openai.com/v1/models")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{written}");
        assert_eq!(
            fx.upstream.recorded()[0].headers_named("authorization"),
            [format!("Bearer {OPENAI_KEY}")]
        );
    }
}

#[tokio::test]
async fn plain_http_to_a_port_the_routes_do_not_use_is_refused() {
    let fx = Fixture::start().await;
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(fx.proxy_url(&fx.grant())).unwrap())
        .build()
        .unwrap();
    let response = client
        .get("http://api.openai.com:8080/v1/models")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(&response).as_deref(), Some("proxy.port_not_allowed"));
    assert!(fx.upstream.recorded().is_empty());
    // The scheme's default port and the routes' own port still work.
    for url in [
        "http://api.openai.com/v1/models",
        "http://api.openai.com:80/v1/models",
        "http://api.openai.com:443/v1/models",
    ] {
        let response = client.get(url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{url}");
    }
}

/// A path the route excludes gets no credential: the request is refused before any
/// upstream sees it, while the rest of the route is served.
#[tokio::test]
async fn a_path_the_route_excludes_is_never_sent_with_the_credential() {
    let fx = Fixture::start_with(Options {
        edit_plan: Some(Box::new(|plan| {
            plan.egress_routes[0]
                .matcher
                .excluded_path_prefixes
                .push("/v1/organization".to_owned());
        })),
        ..Options::default()
    })
    .await;
    let client = fx.client(&fx.grant());
    for url in [
        "https://api.openai.com/v1/organization",
        "https://api.openai.com/v1/organization/admin_api_keys",
        "https://api.openai.com/v1/x/../organization/users",
    ] {
        let response = client.get(url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{url}");
        assert_eq!(
            code(&response).as_deref(),
            Some("egress.grant_scope"),
            "{url}"
        );
    }
    assert!(fx.upstream.recorded().is_empty());
    let response = client
        .get("https://api.openai.com/v1/models")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
