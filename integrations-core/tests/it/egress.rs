//! Egress: the one canonical matcher behind classification, grant scope and the
//! compiler's overlap check; credential injection; signed grants.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use integrations_core::credential::{CredentialRequest, CredentialSource, ResolvedCredential};
use integrations_core::egress::{
    Classification, EgressGate, GRANT_HEADER, GrantAudience, GrantClaims, GrantKey, GrantKeys,
    Matcher, RequestTarget, RouteIndex, apply_credential, inject, overlapping_pairs,
};
use integrations_core::host::Clock;
use integrations_core::model::{Connection, ConnectionStatus};
use integrations_core::plan::{CompiledRoute, RouteId};
use integrations_core::{
    ConnectionId, ConnectionMethodId, Error, ErrorKind, Secret, TargetId, TenantId, Timestamp,
};
use integrations_testkit::{ManualClock, assert_debug_secret_free, assert_secret_free};
use serde_json::{Value, json};

fn route_json(
    id: &str,
    binding: &str,
    hosts: &[&str],
    prefixes: &[&str],
    methods: &[&str],
) -> Value {
    json!({
        "id": id,
        "binding": binding,
        "connection": format!("c-{binding}"),
        "definition": "fixture::tool",
        "matcher": {"hosts": hosts, "path_prefixes": prefixes, "methods": methods},
        "upstream": format!("https://{}", hosts[0]),
        "injection": {"type": "bearer"},
        "credential": {"credential_type": "api_key", "slot": null, "resolver": null, "parameters": {}},
        "headers": {},
        "default_headers": {}
    })
}

fn route(
    id: &str,
    binding: &str,
    hosts: &[&str],
    prefixes: &[&str],
    methods: &[&str],
) -> CompiledRoute {
    serde_json::from_value(route_json(id, binding, hosts, prefixes, methods)).unwrap()
}

fn keys() -> GrantKeys {
    GrantKeys::new(GrantKey::new("2026-11", *b"current-grant-key-0123456789abcd").unwrap())
        .with_previous(GrantKey::new("2026-10", *b"previous-grant-key-0123456789abc").unwrap())
        .unwrap()
}

fn audience() -> GrantAudience {
    GrantAudience::new(TenantId::new("acme").unwrap(), "plan-hash-1")
}

fn clock() -> ManualClock {
    ManualClock::at_unix_seconds(1_767_225_600)
}

fn request(method: &str, url: &str) -> http::Request<Bytes> {
    http::Request::builder()
        .method(method)
        .uri(url)
        .body(Bytes::new())
        .unwrap()
}

/// One table of cases, run through every place that decides whether a request falls
/// under a route. They all call `Matcher`: classification narrows candidates with the
/// index and asks `Matcher::matches`; the grant scope check builds a `Matcher` from the
/// claims; the gate does both. So they cannot disagree, and this test shows it.
#[test]
fn one_matcher_serves_classification_grant_scope_and_the_gate() {
    type Case<'a> = (
        &'a [&'a str],
        &'a str,
        &'a [&'a str],
        &'a str,
        &'a str,
        bool,
    );
    let cases: &[Case<'_>] = &[
        // hosts, prefix, methods, request method, url, expected
        (
            &["api.test"],
            "/v1",
            &[],
            "GET",
            "https://api.test/v1",
            true,
        ),
        (
            &["api.test"],
            "/v1",
            &[],
            "GET",
            "https://api.test/v1/models?limit=2",
            true,
        ),
        (
            &["api.test"],
            "/v1",
            &[],
            "GET",
            "https://api.test/v10",
            false,
        ),
        (
            &["api.test"],
            "/v1",
            &[],
            "GET",
            "https://api.test/v10/models",
            false,
        ),
        (
            &["api.test"],
            "/v1",
            &[],
            "GET",
            "https://api.test/v1/../admin",
            false,
        ),
        (
            &["api.test"],
            "/",
            &[],
            "DELETE",
            "https://api.test/anything/at/all",
            true,
        ),
        (&["api.test"], "/", &[], "GET", "https://api.test", true),
        (
            &["Api.TEST"],
            "/v1",
            &[],
            "GET",
            "https://API.test:8443/v1/x",
            true,
        ),
        (
            &["api.test"],
            "/v1",
            &[],
            "GET",
            "https://api.test./v1/x",
            true,
        ),
        (
            &["api.test"],
            "/v1",
            &[],
            "GET",
            "https://other.test/v1",
            false,
        ),
        (
            &["[::1]"],
            "/v1",
            &[],
            "GET",
            "http://[0:0:0:0:0:0:0:1]:9000/v1/x",
            true,
        ),
        (
            &["api.test"],
            "/v1",
            // A route's methods are uppercased; a request's are matched as sent.
            &["get"],
            "GET",
            "https://api.test/v1",
            true,
        ),
        (
            &["api.test"],
            "/v1",
            &["GET"],
            "POST",
            "https://api.test/v1",
            false,
        ),
    ];
    let clock = clock();
    for (i, &(hosts, prefix, methods, method, url, expected)) in cases.iter().enumerate() {
        let route = route("egress_rule_r", "r", hosts, &[prefix], methods);
        let matcher = Matcher::new(&route.matcher).unwrap();
        let target = RequestTarget::from_url(method, url).unwrap();
        assert_eq!(matcher.matches(&target), expected, "matcher, case {i}");

        let index = RouteIndex::new(vec![route.clone()]).unwrap();
        let classified =
            matches!(index.classify(method, url), Classification::Route(r) if r.id == route.id);
        assert_eq!(classified, expected, "classification, case {i}");

        let claims =
            GrantClaims::for_route(&route, &audience(), clock.now(), Duration::from_secs(600))
                .unwrap();
        assert_eq!(
            claims.check_scope(&target).is_ok(),
            expected,
            "grant scope, case {i}"
        );

        let token = keys().issue(&claims).unwrap();
        let mut req = request(method, url);
        req.headers_mut()
            .insert(GRANT_HEADER, token.expose().parse().unwrap());
        let gate = EgressGate::new(index, keys(), audience());
        assert_eq!(
            gate.authorize(&req, &clock).is_ok(),
            expected,
            "gate, case {i}"
        );
    }
}

/// The compiler's overlap check is the same matcher: two routes conflict exactly when
/// some request would be classified to both.
#[test]
fn overlap_means_some_request_is_classified_ambiguous() {
    let cases: &[(&str, &str, bool)] = &[
        ("/v1", "/v1/files", true),
        ("/v1", "/v10", false),
        ("/", "/v1", true),
        ("/v1", "/v1", true),
        ("/a/b", "/a/c", false),
    ];
    for &(a, b, overlap) in cases {
        let routes = vec![
            route("egress_rule_a", "a", &["api.test"], &[a], &[]),
            route("egress_rule_b", "b", &["API.test"], &[b], &[]),
        ];
        let matchers: Vec<Matcher> = routes
            .iter()
            .map(|r| Matcher::new(&r.matcher).unwrap())
            .collect();
        assert_eq!(
            !overlapping_pairs(&matchers).is_empty(),
            overlap,
            "{a} vs {b}"
        );
        let index = RouteIndex::new(routes).unwrap();
        let longer = if b.len() >= a.len() { b } else { a };
        let classified = index.classify("GET", &format!("https://api.test{longer}/x"));
        assert_eq!(
            matches!(classified, Classification::Ambiguous(_)),
            overlap,
            "{a} vs {b}"
        );
    }
}

#[test]
fn ambiguity_fails_closed_and_no_match_gets_no_credential() {
    let routes = vec![
        route("egress_rule_a", "a", &["api.test"], &["/v1"], &[]),
        route(
            "egress_rule_b",
            "b",
            &["api.test"],
            &["/v1/files"],
            &["GET"],
        ),
    ];
    let index = RouteIndex::new(routes.clone()).unwrap();
    match index.classify("GET", "https://api.test/v1/files/f1") {
        Classification::Ambiguous(ids) => {
            let ids: Vec<&str> = ids.iter().map(|i| i.as_str()).collect();
            assert_eq!(ids, ["egress_rule_a", "egress_rule_b"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        index.classify("POST", "https://api.test/v1/files/f1"),
        Classification::Route(r) if r.id.as_str() == "egress_rule_a"
    ));
    assert_eq!(
        index.classify("GET", "https://api.test/v2"),
        Classification::NoMatch
    );
    assert_eq!(index.classify("GET", "not a url"), Classification::NoMatch);

    // The gate refuses the ambiguous request even with a valid grant for one route.
    let clock = clock();
    let token = keys()
        .issue_for_route(&routes[0], &audience(), &clock, Duration::from_secs(60))
        .unwrap();
    let gate = EgressGate::new(index, keys(), audience());
    let mut req = request("GET", "https://api.test/v1/files/f1");
    req.headers_mut()
        .insert(GRANT_HEADER, token.expose().parse().unwrap());
    assert_eq!(
        gate.authorize(&req, &clock).unwrap_err().code(),
        "egress.ambiguous_route"
    );
    // And a request no route matches gets nothing.
    let mut req = request("GET", "https://api.test/v2");
    req.headers_mut()
        .insert(GRANT_HEADER, token.expose().parse().unwrap());
    assert_eq!(
        gate.authorize(&req, &clock).unwrap_err().code(),
        "egress.grant_scope"
    );
}

// ---- Grants ----

#[test]
fn grants_round_trip_and_rotate() {
    let clock = clock();
    let route = route(
        "egress_rule_gh_2",
        "gh",
        &["github.com"],
        &["/acme/api.git"],
        &["GET", "POST"],
    );
    let claims =
        GrantClaims::for_route(&route, &audience(), clock.now(), Duration::from_secs(3600))
            .unwrap();
    let token = keys().issue(&claims).unwrap();
    assert!(token.expose().starts_with("v1.2026-11."));
    assert_eq!(format!("{token:?}"), "GrantToken([REDACTED])");
    let verified = keys().verify(token.expose(), &clock).unwrap();
    assert_eq!(verified, claims);
    assert_eq!(verified.route.as_str(), "egress_rule_gh_2");
    assert_eq!(verified.path_prefixes, ["/acme/api.git"]);

    // A token signed by the previous key still verifies; one signed by a retired key
    // does not.
    let old =
        GrantKeys::new(GrantKey::new("2026-10", *b"previous-grant-key-0123456789abc").unwrap());
    let old_token = old.issue(&claims).unwrap();
    assert!(keys().verify(old_token.expose(), &clock).is_ok());
    let retired =
        GrantKeys::new(GrantKey::new("2026-09", *b"retired-grant-key-0123456789abcd").unwrap());
    let err = keys()
        .verify(retired.issue(&claims).unwrap().expose(), &clock)
        .unwrap_err();
    assert_eq!(err.code(), "egress.grant_invalid");
}

#[test]
fn tampered_malformed_and_expired_grants_are_refused_without_echo() {
    let clock = clock();
    let route = route("egress_rule_a", "a", &["api.test"], &["/v1"], &[]);
    let token = keys()
        .issue_for_route(&route, &audience(), &clock, Duration::from_secs(60))
        .unwrap();
    let token = token.expose().to_owned();
    let parts: Vec<&str> = token.split('.').collect();

    // A payload widened to every path, re-encoded but not re-signed.
    let mut claims: Value = serde_json::from_slice(&base64_decode(parts[2])).unwrap();
    claims["path_prefixes"] = json!(["/"]);
    let forged = format!(
        "{}.{}.{}.{}",
        parts[0],
        parts[1],
        base64_encode(&serde_json::to_vec(&claims).unwrap()),
        parts[3]
    );
    let mut flipped_tag = parts[3].to_owned();
    let last = flipped_tag.pop().unwrap();
    flipped_tag.push(if last == 'A' { 'B' } else { 'A' });
    let bad_signature = format!("{}.{}.{}.{}", parts[0], parts[1], parts[2], flipped_tag);
    let unknown_key = format!("{}.nope.{}.{}", parts[0], parts[2], parts[3]);
    let other_version = format!("v2.{}.{}.{}", parts[1], parts[2], parts[3]);
    let key_secret = "current-grant-key-0123456789abcd";
    for bad in [
        forged.as_str(),
        bad_signature.as_str(),
        unknown_key.as_str(),
        other_version.as_str(),
        "",
        "v1.2026-11",
        "v1.2026-11.!!!.???",
        &format!("{token}.extra"),
    ] {
        let err = keys().verify(bad, &clock).unwrap_err();
        assert_eq!(err.code(), "egress.grant_invalid", "{bad}");
        assert_eq!(err.kind(), ErrorKind::Verification);
        assert_secret_free(&err, &token);
        assert_secret_free(&err, key_secret);
        if !bad.is_empty() {
            assert_secret_free(&err, bad);
        }
    }

    clock.advance(Duration::from_secs(60));
    let err = keys().verify(&token, &clock).unwrap_err();
    assert_eq!(err.code(), "egress.grant_expired");
    assert_secret_free(&err, &token);

    // Issued in the future (beyond a minute of skew).
    let future = keys()
        .issue(
            &GrantClaims::for_route(
                &route,
                &audience(),
                clock.now().saturating_add(Duration::from_secs(300)),
                Duration::from_secs(600),
            )
            .unwrap(),
        )
        .unwrap();
    assert_eq!(
        keys().verify(future.expose(), &clock).unwrap_err().code(),
        "egress.grant_invalid"
    );
    assert_debug_secret_free(&keys(), key_secret);
}

#[test]
fn grant_scope_is_checked_with_the_canonical_matcher() {
    let clock = clock();
    let route = route(
        "egress_rule_a",
        "a",
        &["api.test"],
        &["/v1"],
        &["GET", "POST"],
    );
    let claims = GrantClaims::for_route(&route, &audience(), clock.now(), Duration::from_secs(60))
        .unwrap()
        .with_methods(["GET"]);
    let scope = |method: &str, url: &str| {
        claims
            .check_scope(&RequestTarget::from_url(method, url).unwrap())
            .map_err(|e| (e.code().to_owned(), e.kind()))
    };
    assert!(scope("GET", "https://api.test/v1/models").is_ok());
    let denied = ("egress.grant_scope".to_owned(), ErrorKind::PermissionDenied);
    assert_eq!(
        scope("POST", "https://api.test/v1/models").unwrap_err(),
        denied
    );
    assert_eq!(scope("GET", "https://api.test/v10").unwrap_err(), denied);
    assert_eq!(scope("GET", "https://evil.test/v1").unwrap_err(), denied);
    assert_eq!(
        GrantClaims::for_route(&route, &audience(), clock.now(), Duration::ZERO)
            .unwrap_err()
            .code(),
        "egress.grant_ttl"
    );
    assert_eq!(
        GrantClaims::for_route(
            &route,
            &audience(),
            clock.now(),
            Duration::from_secs(25 * 3600)
        )
        .unwrap_err()
        .code(),
        "egress.grant_ttl"
    );
}

#[test]
fn the_gate_trusts_only_the_grant() {
    let clock = clock();
    let routes = vec![
        route("egress_rule_a", "a", &["api.test"], &["/a"], &[]),
        route("egress_rule_b", "b", &["api.test"], &["/b"], &[]),
    ];
    let gate = EgressGate::new(RouteIndex::new(routes.clone()).unwrap(), keys(), audience());
    let req = request("GET", "https://api.test/a/x");
    assert_eq!(
        gate.authorize(&req, &clock).unwrap_err().code(),
        "egress.grant_invalid"
    );

    let good = keys()
        .issue_for_route(&routes[0], &audience(), &clock, Duration::from_secs(60))
        .unwrap();
    let mut twice = request("GET", "https://api.test/a/x");
    twice
        .headers_mut()
        .append(GRANT_HEADER, good.expose().parse().unwrap());
    twice
        .headers_mut()
        .append(GRANT_HEADER, good.expose().parse().unwrap());
    assert_eq!(
        gate.authorize(&twice, &clock).unwrap_err().code(),
        "egress.grant_invalid"
    );

    // A grant for route a whose scope was (legitimately) widened still cannot reach
    // route b: the request must classify to the grant's own route.
    let wide = GrantClaims::for_route(
        &routes[0],
        &audience(),
        clock.now(),
        Duration::from_secs(60),
    )
    .unwrap()
    .with_path_prefixes(["/"]);
    let wide = keys().issue(&wide).unwrap();
    let mut other = request("GET", "https://api.test/b/x");
    other
        .headers_mut()
        .insert(GRANT_HEADER, wide.expose().parse().unwrap());
    assert_eq!(
        gate.authorize(&other, &clock).unwrap_err().code(),
        "egress.grant_scope"
    );

    let mut ok = request("GET", "/a/x");
    ok.headers_mut()
        .insert("host", "API.test:443".parse().unwrap());
    ok.headers_mut()
        .insert(GRANT_HEADER, good.expose().parse().unwrap());
    assert_eq!(
        gate.authorize(&ok, &clock).unwrap().id.as_str(),
        "egress_rule_a"
    );
}

// ---- Injection ----

struct FakeCredentials {
    values: BTreeMap<String, String>,
    asked: Mutex<Vec<(String, String)>>,
}

impl FakeCredentials {
    fn new(values: &[(&str, &str)]) -> Self {
        Self {
            values: values
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            asked: Mutex::new(Vec::new()),
        }
    }
}

#[async_trait]
impl CredentialSource for FakeCredentials {
    async fn credential(
        &self,
        request: &CredentialRequest<'_>,
    ) -> Result<ResolvedCredential, Error> {
        let kind = request.selector.credential_type.as_str().to_owned();
        self.asked
            .lock()
            .unwrap()
            .push((request.connection.id.to_string(), kind.clone()));
        self.values
            .get(&kind)
            .map(|v| ResolvedCredential::new(Secret::new(v.clone()), None))
            .ok_or_else(|| Error::not_found("credential.not_found", "no such credential"))
    }

    async fn credential_rejected(
        &self,
        _request: &CredentialRequest<'_>,
        _rejected: &Secret,
    ) -> Result<Option<ResolvedCredential>, Error> {
        Ok(None)
    }
}

fn connection(id: &str) -> Connection {
    Connection::new(
        TenantId::new("acme").unwrap(),
        ConnectionId::new(id).unwrap(),
        TargetId::new("t").unwrap(),
        "fixture::tool".parse().unwrap(),
        ConnectionMethodId::new("api-key").unwrap(),
        Timestamp::UNIX_EPOCH,
    )
}

fn with_injection(injection: Value, extra: &[(&str, Value)]) -> CompiledRoute {
    let mut value = route_json("egress_rule_a", "a", &["api.openai.com"], &["/v1"], &[]);
    value["upstream"] = json!("https://api.openai.com/v1");
    value["injection"] = injection;
    for (k, v) in extra {
        value[*k] = v.clone();
    }
    serde_json::from_value(value).unwrap()
}

fn caller_request(url: &str) -> http::Request<Bytes> {
    http::Request::builder()
        .method("POST")
        .uri(url)
        .header("connection", "keep-alive, x-hop")
        .header("keep-alive", "timeout=5")
        .header("x-hop", "1")
        .header("te", "trailers")
        .header("upgrade", "websocket")
        .header("proxy-authorization", "Basic c2FuZGJveA==")
        .header("proxy-connection", "keep-alive")
        .header("authorization", "Bearer sandbox-supplied")
        .header("x-api-key", "sandbox-supplied")
        .header(GRANT_HEADER, "v1.k.p.t")
        .header("host", "api.openai.com")
        .header("accept", "text/event-stream")
        .header("content-type", "application/json")
        .body(Bytes::from_static(b"{\"model\":\"gpt-5\"}"))
        .unwrap()
}

#[tokio::test]
async fn bearer_injection_strips_hop_by_hop_and_caller_credentials() {
    let credentials = FakeCredentials::new(&[("api_key", "sk-live-REAL")]);
    let route = with_injection(
        json!({"type": "bearer"}),
        &[
            ("headers", json!({"openai-organization": "org-acme"})),
            (
                "default_headers",
                json!({"accept": "application/json", "x-extra": "1"}),
            ),
        ],
    );
    let out = inject(
        caller_request("http://api.openai.com:80/v1/./responses?stream=true"),
        &route,
        &connection("c-a"),
        &credentials,
    )
    .await
    .unwrap();
    assert_eq!(
        out.uri().to_string(),
        "https://api.openai.com/v1/responses?stream=true"
    );
    let headers = out.headers();
    let auth = headers.get("authorization").unwrap();
    assert_eq!(auth, "Bearer sk-live-REAL");
    assert!(auth.is_sensitive());
    for gone in [
        "connection",
        "keep-alive",
        "x-hop",
        "te",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        GRANT_HEADER,
        "host",
    ] {
        assert!(!headers.contains_key(gone), "{gone} was forwarded");
    }
    assert_eq!(headers.get_all("authorization").iter().count(), 1);
    assert_eq!(headers["openai-organization"], "org-acme");
    assert_eq!(
        headers["accept"], "text/event-stream",
        "a default header never overrides"
    );
    assert_eq!(headers["x-extra"], "1");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(out.body().as_ref(), b"{\"model\":\"gpt-5\"}");
    assert_eq!(
        *credentials.asked.lock().unwrap(),
        [("c-a".to_owned(), "api_key".to_owned())]
    );
    assert_debug_secret_free(&out, "sk-live-REAL");
}

#[test]
fn basic_injection_for_git_over_https() {
    let route = with_injection(json!({"type": "basic", "username": "x-access-token"}), &[]);
    let out = apply_credential(
        caller_request("https://api.openai.com/v1/x"),
        &route,
        &Secret::new("ghs_abc"),
    )
    .unwrap();
    // base64("x-access-token:ghs_abc")
    assert_eq!(
        out.headers()["authorization"],
        "Basic eC1hY2Nlc3MtdG9rZW46Z2hzX2FiYw=="
    );
    let route = with_injection(json!({"type": "basic", "username": null}), &[]);
    let out = apply_credential(
        caller_request("https://api.openai.com/v1/x"),
        &route,
        &Secret::new("ghs_abc"),
    )
    .unwrap();
    assert_eq!(out.headers()["authorization"], "Basic Z2hzX2FiYw==");
}

#[test]
fn header_injection_with_and_without_prefix() {
    let route = with_injection(
        json!({"type": "header", "name": "X-Api-Key", "prefix": "key "}),
        &[],
    );
    let out = apply_credential(
        caller_request("https://api.openai.com/v1/x"),
        &route,
        &Secret::new("k-123"),
    )
    .unwrap();
    assert_eq!(
        out.headers()
            .get_all("x-api-key")
            .iter()
            .collect::<Vec<_>>(),
        ["key k-123"]
    );
    assert!(!out.headers().contains_key("authorization"));

    let route = with_injection(
        json!({"type": "header", "name": "Authorization", "prefix": null}),
        &[],
    );
    let out = apply_credential(
        caller_request("https://api.openai.com/v1/x"),
        &route,
        &Secret::new("lin_api_1"),
    )
    .unwrap();
    assert_eq!(
        out.headers()
            .get_all("authorization")
            .iter()
            .collect::<Vec<_>>(),
        ["lin_api_1"]
    );
}

#[test]
fn query_injection_replaces_the_callers_parameter() {
    let route = with_injection(json!({"type": "query", "name": "api_key"}), &[]);
    let out = apply_credential(
        caller_request("https://api.openai.com/v1/x?a=1%202&api_key=sandbox&api%5Fkey=again&b"),
        &route,
        &Secret::new("s e/cret"),
    )
    .unwrap();
    assert_eq!(
        out.uri().to_string(),
        "https://api.openai.com/v1/x?a=1%202&b&api_key=s+e%2Fcret"
    );
    assert!(!out.headers().contains_key("authorization"));
}

#[tokio::test]
async fn injection_refuses_another_connection_an_inactive_one_and_bad_credentials() {
    let credentials = FakeCredentials::new(&[("api_key", "sk-line\nbreak-SECRET")]);
    let route = with_injection(json!({"type": "bearer"}), &[]);
    let err = inject(
        caller_request("https://api.openai.com/v1/x"),
        &route,
        &connection("c-other"),
        &credentials,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "egress.connection_mismatch");

    let mut revoked = connection("c-a");
    revoked.status = ConnectionStatus::Revoked {
        reason: "by the user".into(),
    };
    let err = inject(
        caller_request("https://api.openai.com/v1/x"),
        &route,
        &revoked,
        &credentials,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "auth.connection_not_active");
    assert!(
        credentials.asked.lock().unwrap().is_empty(),
        "no credential was fetched"
    );

    let err = inject(
        caller_request("https://api.openai.com/v1/x"),
        &route,
        &connection("c-a"),
        &credentials,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "egress.invalid_credential");
    assert_secret_free(&err, "SECRET");

    // The same id, but a connection of another integration: not the route's.
    let mut other_integration = connection("c-a");
    other_integration.key = "fixture::other".parse().unwrap();
    let err = inject(
        caller_request("https://api.openai.com/v1/x"),
        &route,
        &other_integration,
        &credentials,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "egress.connection_mismatch");

    let missing = FakeCredentials::new(&[]);
    let err = inject(
        caller_request("https://api.openai.com/v1/x"),
        &route,
        &connection("c-a"),
        &missing,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "credential.not_found");
}

#[test]
fn route_ids_parse() {
    assert_eq!(
        RouteId::parse("egress_rule_a_2").unwrap().as_str(),
        "egress_rule_a_2"
    );
    assert!(RouteId::parse("rule").is_err());
    assert!(RouteId::parse("egress_rule_").is_err());
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

// ---- Path tricks ----

/// Encoded slashes and backslashes, encoded dot segments and empty segments can make a
/// proxy and the upstream server see different paths (one decodes or collapses, the
/// other does not). Such a request is refused: it never gets a credential.
#[test]
fn encoded_slashes_dot_segments_and_empty_segments_are_refused() {
    let clock = clock();
    let route = route("egress_rule_r", "r", &["api.test"], &["/v1/files"], &[]);
    let token = keys()
        .issue_for_route(&route, &audience(), &clock, Duration::from_secs(600))
        .unwrap();
    let gate = EgressGate::new(
        RouteIndex::new(vec![route.clone()]).unwrap(),
        keys(),
        audience(),
    );
    for path in [
        "/v1/files/a%2Fb",
        "/v1/files/a%2fb",
        "/v1/files/a%5Cb",
        "/v1/files/%2e%2e/admin",
        "/v1/files/%2E%2E/admin",
        "/v1/files/.%2e/admin",
        "/v1/files/%2e./admin",
        "/v1/files/%2e/x",
        "/v1/files//x",
        "/v1//files/x",
        "/v1/files/x//",
    ] {
        let url = format!("https://api.test{path}");
        assert_eq!(
            RequestTarget::from_url("GET", &url).unwrap_err().code(),
            "egress.ambiguous_path",
            "from_url {path}"
        );
        assert_eq!(
            RequestTarget::new("GET", "api.test", path)
                .unwrap_err()
                .code(),
            "egress.ambiguous_path",
            "new {path}"
        );
        assert_eq!(
            gate.index().classify("GET", &url),
            Classification::NoMatch,
            "classify {path}"
        );
        let mut req = request("GET", &url);
        req.headers_mut()
            .insert(GRANT_HEADER, token.expose().parse().unwrap());
        assert_eq!(
            gate.authorize(&req, &clock).unwrap_err().code(),
            "egress.ambiguous_path",
            "gate {path}"
        );
    }
    // Ordinary encodings and dotted names are not tricks.
    for path in [
        "/v1/files/a%20b",
        "/v1/files/report.v2",
        "/v1/files/...",
        "/v1/files/%2e%2e%2e",
        "/v1/files/a%25b",
    ] {
        let mut req = request("GET", &format!("https://api.test{path}"));
        req.headers_mut()
            .insert(GRANT_HEADER, token.expose().parse().unwrap());
        assert_eq!(
            gate.authorize(&req, &clock).unwrap().id.as_str(),
            "egress_rule_r",
            "{path}"
        );
    }
}

/// A grant names its audience (tenant and plan hash); a gate serving another tenant or
/// another plan refuses it, even though the key, route and scope all match.
#[test]
fn a_grant_for_another_tenant_or_plan_is_refused() {
    let clock = clock();
    let route = route("egress_rule_r", "r", &["api.test"], &["/v1"], &[]);
    let gate = EgressGate::new(
        RouteIndex::new(vec![route.clone()]).unwrap(),
        keys(),
        audience(),
    );
    let attempt = |audience: &GrantAudience| {
        let token = keys()
            .issue_for_route(&route, audience, &clock, Duration::from_secs(60))
            .unwrap();
        let mut req = request("GET", "https://api.test/v1/x");
        req.headers_mut()
            .insert(GRANT_HEADER, token.expose().parse().unwrap());
        gate.authorize(&req, &clock).map(|r| r.id.clone())
    };
    assert_eq!(attempt(&audience()).unwrap().as_str(), "egress_rule_r");
    let other_tenant = GrantAudience::new(TenantId::new("globex").unwrap(), "plan-hash-1");
    let other_plan = GrantAudience::new(TenantId::new("acme").unwrap(), "plan-hash-2");
    for other in [other_tenant, other_plan] {
        let e = attempt(&other).unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::PermissionDenied, "egress.grant_audience")
        );
    }
    assert_eq!(gate.audience(), &audience());
}

/// The gate injects only a connection of its own tenant: a host whose loader looks a
/// route's connection up by id alone, across tenants, cannot hand over another tenant's
/// connection of the same id.
#[tokio::test]
async fn the_gate_injects_only_a_connection_of_its_own_tenant() {
    let clock = clock();
    let route = with_injection(json!({"type": "bearer"}), &[]);
    let gate = EgressGate::new(
        RouteIndex::new(vec![route.clone()]).unwrap(),
        keys(),
        audience(),
    );
    let credentials = FakeCredentials::new(&[("api_key", "sk-live-REAL")]);
    let token = keys()
        .issue_for_route(&route, &audience(), &clock, Duration::from_secs(60))
        .unwrap();
    let request = || {
        let mut req = caller_request("https://api.openai.com/v1/responses");
        req.headers_mut()
            .insert(GRANT_HEADER, token.expose().parse().unwrap());
        req
    };
    let authorized = gate.authorize(&request(), &clock).unwrap();

    let mut elsewhere = connection("c-a");
    elsewhere.tenant = TenantId::new("globex").unwrap();
    let err = gate
        .inject(request(), authorized, &elsewhere, &credentials)
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.code()),
        (ErrorKind::Configuration, "egress.connection_mismatch")
    );
    assert!(
        credentials.asked.lock().unwrap().is_empty(),
        "no credential was fetched for another tenant's connection"
    );

    let out = gate
        .inject(request(), authorized, &connection("c-a"), &credentials)
        .await
        .unwrap();
    assert_eq!(out.headers()["authorization"], "Bearer sk-live-REAL");
}
