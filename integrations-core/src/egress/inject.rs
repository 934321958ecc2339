//! Credential injection into a request bound upstream.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONNECTION, HOST, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Request, Uri};
use url::form_urlencoded;
use zeroize::Zeroizing;

use super::grant::GRANT_HEADER;
use super::matcher::RequestTarget;
use crate::credential::{CredentialRequest, CredentialSource};
use crate::model::Connection;
use crate::plan::{AuthInjection, CompiledRoute};
use crate::{Error, Secret};

/// Headers that belong to one hop and are never forwarded (RFC 9110 §7.6.1), plus every
/// `proxy-*` header.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Fetches the route's credential for `connection` from `credentials` and injects it
/// into `request` with [`apply_credential`].
///
/// # Errors
///
/// `egress.connection_mismatch` when `connection` is not the route's (another id, or a
/// connection of another integration under the same id);
/// `auth.connection_not_active` when it is not active (the code every engine uses); the
/// credential source's errors;
/// as [`apply_credential`].
pub async fn inject(
    request: Request<Bytes>,
    route: &CompiledRoute,
    connection: &Connection,
    credentials: &dyn CredentialSource,
) -> Result<Request<Bytes>, Error> {
    check_connection(route, connection)?;
    let credential = credentials
        .credential(&CredentialRequest::new(connection, &route.credential))
        .await?;
    apply_credential(request, route, &credential.value)
}

/// Whether `connection` (loaded for `route`) may lend the route its credential: it is the
/// route's connection (its id, and a connection of the route's integration: another made
/// under a deleted one's id could hold a credential of the same type for another
/// provider) and it is active. [`inject`] checks it; a proxy that injects by other means
/// checks it too.
///
/// # Errors
///
/// `egress.connection_mismatch` when `connection` is not the route's;
/// `auth.connection_not_active` when it is not active.
pub fn check_connection(route: &CompiledRoute, connection: &Connection) -> Result<(), Error> {
    if connection.id != route.connection || connection.key != route.definition {
        return Err(crate::codes::egress::CONNECTION_MISMATCH.error(format!(
            "route {} injects the credential of another connection",
            route.id
        )));
    }
    if !connection.is_active() {
        return Err(crate::codes::auth::CONNECTION_NOT_ACTIVE.error(format!(
            "the connection of route {} is not active",
            route.id
        )));
    }
    Ok(())
}

/// Prepares `request` for the route's upstream and injects `credential`.
///
/// In order:
/// 1. the scheme and authority become the route's canonical upstream (the path is the
///    normalized path the request was classified by, the query is kept);
/// 2. hop-by-hop headers (`connection` and the headers it names, `keep-alive`, `te`,
///    `trailer`, `transfer-encoding`, `upgrade`, every `proxy-*`), `host` and the grant
///    header are removed;
/// 3. every credential the caller supplied is removed: `authorization`, the route's own
///    header, the route's query parameter;
/// 4. the route's headers replace the caller's, its default headers fill in missing ones;
/// 5. the credential is injected: `Authorization: Bearer <c>`, `Authorization: Basic
///    base64(<username>:<c>)` (or of `<c>` alone), `<name>: <prefix><c>`, or `?<name>=<c>`.
///
/// Injected header values are marked sensitive.
///
/// # Errors
///
/// `egress.invalid_upstream` when the route's upstream is not an absolute URL;
/// `egress.invalid_request` when the request names no host or a bad path;
/// `egress.invalid_header` when a route header cannot be sent;
/// `egress.invalid_credential` when the credential cannot be put in a header (the value
/// never appears in the error).
pub fn apply_credential(
    request: Request<Bytes>,
    route: &CompiledRoute,
    credential: &Secret,
) -> Result<Request<Bytes>, Error> {
    let target = RequestTarget::from_request(&request).map_err(|e| {
        crate::codes::egress::INVALID_REQUEST
            .with_issues("the request cannot be forwarded", Vec::new())
            .with_source(e)
    })?;
    let (mut parts, body) = request.into_parts();

    let query_param = match &route.injection {
        AuthInjection::Query { name } => Some(name.as_str()),
        _ => None,
    };
    let mut query = parts
        .uri
        .query()
        .map(|q| strip_query_param(q, query_param))
        .unwrap_or_default();
    if let Some(name) = query_param {
        let pair = Zeroizing::new(
            form_urlencoded::Serializer::new(String::new())
                .append_pair(name, credential.expose())
                .finish(),
        );
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&pair);
    }
    parts.uri = upstream_uri(&route.upstream, target.path(), &query)?;
    drop(Zeroizing::new(query));

    strip_headers(&mut parts.headers, &route.injection);
    for (name, value) in &route.headers {
        let (name, value) = header(name, value)?;
        parts.headers.insert(name, value);
    }
    for (name, value) in &route.default_headers {
        let (name, value) = header(name, value)?;
        if !parts.headers.contains_key(&name) {
            parts.headers.insert(name, value);
        }
    }
    match &route.injection {
        AuthInjection::Bearer => {
            let value = Zeroizing::new(format!("Bearer {}", credential.expose()));
            parts.headers.insert(AUTHORIZATION, sensitive(&value)?);
        }
        AuthInjection::Basic { username } => {
            let raw = Zeroizing::new(match username {
                Some(user) => format!("{user}:{}", credential.expose()),
                None => credential.expose().to_owned(),
            });
            let value = Zeroizing::new(format!("Basic {}", STANDARD.encode(raw.as_bytes())));
            parts.headers.insert(AUTHORIZATION, sensitive(&value)?);
        }
        AuthInjection::Header { name, prefix } => {
            let name = header_name(name)?;
            let value = Zeroizing::new(format!(
                "{}{}",
                prefix.as_deref().unwrap_or_default(),
                credential.expose()
            ));
            parts.headers.insert(name, sensitive(&value)?);
        }
        AuthInjection::Query { .. } => {}
        #[allow(unreachable_patterns)]
        _ => {
            return Err(crate::codes::egress::UNSUPPORTED_INJECTION.error(format!(
                "route {} uses an injection this version cannot apply",
                route.id
            )));
        }
    }
    Ok(Request::from_parts(parts, body))
}

/// Removes hop-by-hop headers, `host`, the grant header and every caller-supplied
/// credential header.
fn strip_headers(headers: &mut HeaderMap, injection: &AuthInjection) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    let proxy: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("proxy-"))
        .cloned()
        .collect();
    for name in proxy {
        headers.remove(name);
    }
    headers.remove(HOST);
    headers.remove(GRANT_HEADER);
    headers.remove(AUTHORIZATION);
    if let AuthInjection::Header { name, .. } = injection
        && let Ok(name) = HeaderName::from_bytes(name.as_bytes())
    {
        headers.remove(name);
    }
}

/// The query without any pair whose decoded name is `name`, other pairs byte for byte.
fn strip_query_param(query: &str, name: Option<&str>) -> String {
    let Some(name) = name else {
        return query.to_owned();
    };
    query
        .split('&')
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(k, _)| k);
            let decoded: String = form_urlencoded::parse(key.as_bytes())
                .next()
                .map(|(k, _)| k.into_owned())
                .unwrap_or_default();
            !pair.is_empty() && decoded != name
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn upstream_uri(upstream: &str, path: &str, query: &str) -> Result<Uri, Error> {
    let bad_upstream = || {
        crate::codes::egress::INVALID_UPSTREAM.error("the route's upstream is not an absolute URL")
    };
    let base: Uri = upstream.parse().map_err(|_| bad_upstream())?;
    let scheme: Scheme = base.scheme().cloned().ok_or_else(bad_upstream)?;
    let authority: Authority = base.authority().cloned().ok_or_else(bad_upstream)?;
    let path_and_query = if query.is_empty() {
        PathAndQuery::try_from(path)
    } else {
        PathAndQuery::try_from(format!("{path}?{query}"))
    }
    .map_err(|_| {
        crate::codes::egress::INVALID_REQUEST
            .with_issues("the request path cannot be forwarded", Vec::new())
    })?;
    Uri::builder()
        .scheme(scheme)
        .authority(authority)
        .path_and_query(path_and_query)
        .build()
        .map_err(|_| bad_upstream())
}

fn header_name(name: &str) -> Result<HeaderName, Error> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| crate::codes::egress::INVALID_HEADER.error("a route header name is not valid"))
}

fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), Error> {
    let value = HeaderValue::from_str(value).map_err(|_| {
        crate::codes::egress::INVALID_HEADER.error("a route header value is not valid")
    })?;
    Ok((header_name(name)?, value))
}

fn sensitive(value: &str) -> Result<HeaderValue, Error> {
    let mut value = HeaderValue::from_str(value).map_err(|_| {
        crate::codes::egress::INVALID_CREDENTIAL.error("the credential cannot be sent in a header")
    })?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_of_the_route_are_stripped_and_others_kept_byte_for_byte() {
        assert_eq!(
            strip_query_param("a=1%20b&key=x&k%65y=y&b=&&c", Some("key")),
            "a=1%20b&b=&c"
        );
        assert_eq!(strip_query_param("a=1&&b", None), "a=1&&b");
    }
}
