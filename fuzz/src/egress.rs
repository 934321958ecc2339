//! The canonical route matcher and the route index, differentially against a reference
//! matcher written from the rules in `egress/matcher.rs` and nothing else: hosts compare
//! lowercased without a trailing dot, route methods uppercased and request methods
//! matched as sent, a lower-case one refused (a route without methods allows every
//! method), and path prefixes match on segment boundaries. An excluded prefix takes out
//! every path a server could read as under it: each segment without its `;` parameters,
//! percent-encoded unreserved characters decoded, in lower case.

use std::collections::BTreeSet;

use arbitrary::{Arbitrary, Unstructured};
use integrations_core::egress::{Classification, Matcher, RequestTarget, RouteIndex};
use integrations_core::plan::CompiledRoute;

const HOSTS: &[&str] = &[
    "api.openai.com",
    "API.OpenAI.com",
    "api.openai.com.",
    "api.openai.com.evil.test",
    "evilapi.openai.com",
    "api.github.com",
    "uploads.github.com",
    "127.0.0.1",
    "localhost",
];
const PREFIXES: &[&str] = &[
    "/",
    "/v1",
    "/v1/",
    "/v10",
    "/v1/chat",
    "/repos",
    "/repos/acme",
    "/graphql",
    "/a/b/c",
];
const METHODS: &[&str] = &["GET", "get", "POST", "PUT", "DELETE", "PATCH", "HEAD"];
const PATHS: &[&str] = &[
    "/",
    "/v1",
    "/v1/",
    "/v10",
    "/v1/chat/completions",
    "/v1/../v10",
    "/v1/./chat",
    "/V1",
    "/repos/acme/x",
    "/repos/acme2",
    "/graphql?x=1",
    "/a/b/c/d",
    "/v1%2Fchat",
    "//v1",
    "/v1//chat",
    // Spellings of excluded paths.
    "/v1/chat/completions;x=1",
    "/V1/Chat/completions",
    "/v1/ch%61t/completions",
    "/v1/chat%2Ecompletions",
    "/repos/acme/%78",
    "/repos/acme/x;/y",
    "/a/b/C",
    "/v1/ch%2561t/completions",
    "/v1/x/%252e%252e/chat",
    "/v1/chat%252fcompletions",
    "/v1/;/chat",
    "/v1/%25252525252561",
];
/// Excluded prefixes; most lie under one of `PREFIXES`, a route refuses the others.
const EXCLUDED: &[&str] = &[
    "/v1/chat",
    "/v1/chat/completions",
    "/v1/Chat/",
    "/v1/chat.completions",
    "/repos/acme/x",
    "/a/b/c",
    "/a/b/c/d",
    "/graphql",
    "/v1/ch%61t",
];

#[derive(Debug)]
struct Pick(String);

fn pick(u: &mut Unstructured<'_>, table: &[&str]) -> arbitrary::Result<String> {
    if u.ratio(1, 5)? {
        u.arbitrary()
    } else {
        Ok((*u.choose(table)?).to_owned())
    }
}

impl<'a> Arbitrary<'a> for Pick {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self(pick(u, PATHS)?))
    }
}

#[derive(Debug)]
struct Route {
    hosts: Vec<String>,
    prefixes: Vec<String>,
    methods: Vec<String>,
    excluded: Vec<String>,
}

impl<'a> Arbitrary<'a> for Route {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut hosts = Vec::new();
        for _ in 0..u.int_in_range(1..=2)? {
            hosts.push(pick(u, HOSTS)?);
        }
        let mut prefixes = Vec::new();
        for _ in 0..u.int_in_range(0..=2)? {
            prefixes.push(pick(u, PREFIXES)?);
        }
        let mut methods = Vec::new();
        for _ in 0..u.int_in_range(0..=2)? {
            methods.push(pick(u, METHODS)?);
        }
        let mut excluded = Vec::new();
        for _ in 0..u.int_in_range(0..=2)? {
            excluded.push(pick(u, EXCLUDED)?);
        }
        Ok(Self {
            hosts,
            prefixes,
            methods,
            excluded,
        })
    }
}

#[derive(Debug, Arbitrary)]
struct Input {
    routes: Vec<Route>,
    method_pick: u8,
    host_pick: u8,
    port: Option<u16>,
    https: bool,
    path: Pick,
    raw_method: Option<String>,
}

/// The reference host rule, for plain DNS names only (the canonical matcher also writes
/// IPv6 literals in their canonical form, which the reference does not model).
fn reference_host(host: &str) -> Option<String> {
    let host = host.strip_suffix('.').unwrap_or(host);
    let plain = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    plain.then(|| host.to_ascii_lowercase())
}

fn reference_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// A path as a lenient server could read it: per segment, parameters dropped, unreserved
/// characters and `%` decoded, ASCII letters in lower case.
fn server_reading(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            let segment = segment.split(';').next().unwrap_or_default();
            let mut out = String::new();
            let mut rest = segment;
            while let Some(c) = rest.chars().next() {
                let decoded = rest
                    .strip_prefix('%')
                    .and_then(|r| r.get(..2))
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .map(char::from)
                    .filter(|c| c.is_ascii_alphanumeric() || "-._~%".contains(*c));
                match decoded {
                    Some(d) => {
                        out.push(d.to_ascii_lowercase());
                        rest = &rest[3..];
                    }
                    None => {
                        out.push(c.to_ascii_lowercase());
                        rest = &rest[c.len_utf8()..];
                    }
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// An excluded prefix as a request path for it is sent: bytes a URL parser encodes in a
/// path (non-ASCII, `"`, `<`, `>`, `` ` ``, `{`, `}`) percent-encoded.
fn sent(prefix: &str) -> String {
    let mut out = String::new();
    for b in prefix.bytes() {
        if b.is_ascii_graphic() && !b"\"<>`{}".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An excluded prefix as compared: sent, then settled, without a trailing `/`.
fn excluded_form(prefix: &str) -> String {
    reference_prefix(&settled(&sent(&reference_prefix(prefix))).unwrap_or_default())
}

/// A server's reading, taken again until it no longer changes (at most four more
/// times): the form a request's path and an exclusion are compared in. `None` when it
/// does not settle, or settles to a form a server may read as another path.
fn settled(path: &str) -> Option<String> {
    let mut form = server_reading(path);
    for _ in 0..4 {
        let again = server_reading(&form);
        if again == form {
            let placeable = !form.contains("%2f")
                && !form.contains("%5c")
                && form
                    .trim_end_matches('/')
                    .split('/')
                    .skip(1)
                    .all(|s| !s.is_empty() && s != "." && s != "..");
            return placeable.then_some(form);
        }
        form = again;
    }
    None
}

fn under(path: &str, prefix: &str) -> bool {
    prefix == "/" || path == prefix || path.starts_with(&format!("{prefix}/"))
}

fn reference_matches(route: &Route, method: &str, host: &str, path: &str) -> Option<bool> {
    let mut hosts = Vec::new();
    for h in &route.hosts {
        hosts.push(reference_host(h)?);
    }
    let host_ok = hosts.iter().any(|h| h == host);
    let method_ok =
        route.methods.is_empty() || route.methods.iter().any(|m| m.eq_ignore_ascii_case(method));
    let prefixes: Vec<String> = if route.prefixes.is_empty() {
        vec!["/".to_owned()]
    } else {
        route.prefixes.iter().map(|p| reference_prefix(p)).collect()
    };
    // A path that cannot be placed is not covered by a route with exclusions.
    let excluded = !route.excluded.is_empty()
        && settled(path).is_none_or(|reading| {
            route
                .excluded
                .iter()
                .any(|e| under(&reading, &excluded_form(e)))
        });
    let path_ok = prefixes.iter().any(|p| under(path, p)) && !excluded;
    Some(host_ok && method_ok && path_ok)
}

fn compiled(i: usize, route: &Route) -> Option<CompiledRoute> {
    let value = serde_json::json!({
        "id": format!("r{i}"),
        "binding": format!("b{i}"),
        "connection": format!("c{i}"),
        "definition": "openai::openai-default",
        "matcher": {
            "hosts": route.hosts,
            "path_prefixes": route.prefixes,
            "methods": route.methods,
            "excluded_path_prefixes": route.excluded,
        },
        "upstream": "https://api.openai.com",
        "injection": {"type": "bearer"},
        "credential": {"credential_type": "api_key", "slot": null, "resolver": null, "parameters": {}},
        "headers": {},
        "default_headers": {},
    });
    serde_json::from_value(value).ok()
}

/// Properties: the index agrees with a linear scan of the canonical matchers, and both
/// agree with the reference matcher wherever the reference applies; normalization is
/// idempotent; the query never takes part in a match.
pub fn egress_matcher(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let routes: Vec<&Route> = input.routes.iter().take(6).collect();
    let method = input
        .raw_method
        .clone()
        .unwrap_or_else(|| METHODS[usize::from(input.method_pick) % METHODS.len()].to_owned());
    let host = HOSTS[usize::from(input.host_pick) % HOSTS.len()];
    let authority = match input.port {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let scheme = if input.https { "https" } else { "http" };
    let url = format!("{scheme}://{authority}{}", input.path.0);

    let mut compiled_routes = Vec::new();
    let mut matchers = Vec::new();
    for (i, route) in routes.iter().enumerate() {
        let Some(compiled_route) = compiled(i, route) else {
            continue;
        };
        if let Ok(m) = Matcher::new(&compiled_route.matcher) {
            // The canonical form is a fixed point.
            assert_eq!(Matcher::new(&m.to_route_match()).ok().as_ref(), Some(&m));
            matchers.push((i, m));
            compiled_routes.push(compiled_route);
        }
    }
    let Ok(index) = RouteIndex::new(compiled_routes.clone()) else {
        return;
    };
    let Ok(target) = RequestTarget::from_url(&method, &url) else {
        assert_eq!(index.classify(&method, &url), Classification::NoMatch);
        return;
    };
    // Normalization is idempotent.
    let again = RequestTarget::new(target.method(), target.host(), target.path())
        .expect("a normalized target is valid");
    assert_eq!(again, target);

    let linear: BTreeSet<String> = matchers
        .iter()
        .filter(|(_, m)| m.matches(&target))
        .map(|(i, _)| format!("r{i}"))
        .collect();
    let indexed: BTreeSet<String> = match index.classify(&method, &url) {
        Classification::NoMatch => BTreeSet::new(),
        Classification::Route(route) => [route.id.to_string()].into(),
        Classification::Ambiguous(ids) => {
            assert!(ids.len() >= 2, "ambiguous with fewer than two routes");
            ids.iter().map(ToString::to_string).collect()
        }
        _ => return,
    };
    assert_eq!(
        indexed, linear,
        "the index disagrees with a linear scan for {url}"
    );

    for (i, route) in routes.iter().enumerate() {
        let Some((_, m)) = matchers.iter().find(|(j, _)| *j == i) else {
            continue;
        };
        if let Some(expected) =
            reference_matches(route, target.method(), target.host(), target.path())
        {
            assert_eq!(
                m.matches(&target),
                expected,
                "the matcher disagrees with the reference: {route:?} {method} {url}"
            );
        }
    }

    // The query is never part of the match.
    let with_query = format!("{url}{}x=1", if url.contains('?') { "&" } else { "?" });
    // (Only for URLs a parser keeps whole: it trims surrounding whitespace, which a query
    // after it would then be part of.)
    if !url.contains('#') && !url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        assert_eq!(
            index.classify(&method, &with_query) == Classification::NoMatch,
            indexed.is_empty(),
            "a query changed the match: {method} {url} -> {with_query}; routes {routes:?}"
        );
    }
}
