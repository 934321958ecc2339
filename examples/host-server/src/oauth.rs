//! The OAuth routes: start an authorization (redirect the browser to the provider), and
//! complete it when the provider redirects back.
//!
//! Both are thin: [`Authorizations`](integrations::core::auth::Authorizations) does the
//! work (a random state stored as its digest and taken once, PKCE, the code exchange
//! over the host's HTTP client, the connection and its sealed credentials). The routes
//! only translate HTTP, make sure the redirect URI given to `start` is the very one
//! given to `complete` ([`App::callback_url`]), and follow only start links the
//! application signed ([`App::start_link`], see `links.rs`).

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use integrations::core::auth::{CompleteAuthorization, StartAuthorization};
use integrations::core::model::ConnectionScope;
use integrations::core::{ConnectionMethodId, TargetId, UserId};
use integrations::prelude::*;
use serde_json::json;

use crate::App;
use crate::error::{self, codes};
use crate::links::LinkFields;
use crate::session::Session;

/// `GET /oauth/{family}/{variant}/start?tenant=..&target=..&method=..[&user=..]&expires=..&sig=..`:
/// a link minted by [`App::start_link`].
///
/// A link that is unsigned, changed or expired is refused (`401`) before anything is
/// stored or set. Otherwise answers `302 Found` to the provider's authorization page
/// (or, for a GitHub App, its installation page), and records who started it in the
/// session cookie. Connections are created at organization scope; `user`, when given,
/// must be the user the callback returns for.
pub(crate) async fn start(
    State(app): State<App>,
    path: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(Path((family, variant))) = path else {
        return error::response(&unknown_integration());
    };
    match begin(
        &app,
        &family,
        &variant,
        query.as_deref().unwrap_or_default(),
    )
    .await
    {
        Ok(response) => response,
        Err(error) => error::response(&error),
    }
}

/// `GET /oauth/callback?...`: the provider's redirect back, whatever it carries (`code`
/// and `state`; `installation_id`, `setup_action` and `state` from a GitHub App
/// installation; `error` and `state` when the user declined).
///
/// Answers `200` with `{"connection", "key", "status"}` (never a token), or the error.
pub(crate) async fn callback(
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match finish(&app, &headers, query.unwrap_or_default()).await {
        Ok(response) => response,
        Err(error) => error::response(&error),
    }
}

async fn begin(app: &App, family: &str, variant: &str, query: &str) -> Result<Response, Error> {
    let key = DefinitionKey::new(family, variant).map_err(|_| unknown_integration())?;
    if app.registry().get(&key).is_none() {
        return Err(unknown_integration());
    }
    let query = StartQuery::parse(query)?;
    // Only what the application signed, before anything is looked up, stored or set.
    app.link_key().verify(
        LinkFields {
            key: &key,
            tenant: &query.tenant,
            target: &query.target,
            method: &query.method,
            user: query.user.as_ref(),
            expires: 0,
        },
        query.expires.as_deref(),
        query.sig.as_deref(),
        app.host().clock().now(),
    )?;
    // The route names an integration; the target must be one of its targets, or a link
    // for one provider could start an authorization with another.
    if let Some(target) = app
        .host()
        .targets()
        .get_target(&query.tenant, &query.target)
        .await?
        && target.key != key
    {
        return Err(Error::not_found(
            codes::TARGET_MISMATCH,
            format!("the target is not a {key} target"),
        ));
    }
    let session = Session {
        tenant: query.tenant.clone(),
        user: query.user.clone(),
    };
    let cookie = session
        .set_cookie(app.cookie_path(), app.is_https())
        .ok_or_else(|| Error::internal("the session cookie is not a valid header value"))?;

    let mut request = StartAuthorization::create(
        query.tenant,
        query.target,
        query.method,
        app.callback_url(),
        ConnectionScope::Organization,
    );
    if let Some(user) = query.user {
        request = request.with_user(user);
    }
    let redirect = app
        .authorizations()
        .start(request)
        .await
        .map_err(|e| app.explain_setup(&key, e))?;
    let location = HeaderValue::from_str(&redirect.url)
        .map_err(|_| Error::internal("the authorization URL is not a valid header value"))?;
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::SET_COOKIE, cookie),
            // The URL carries the state: no cache keeps it.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response())
}

async fn finish(app: &App, headers: &HeaderMap, query: String) -> Result<Response, Error> {
    let Some(session) = Session::from_headers(headers) else {
        return Err(Error::new(
            ErrorKind::Verification,
            codes::NO_SESSION,
            "the callback arrived without the session that started the authorization; start it again in this browser",
        ));
    };
    // The same redirect URI as at the start: the engine checks the two agree, and the
    // provider checks it again at the code exchange.
    let mut request = CompleteAuthorization::new(session.tenant, app.callback_url(), query);
    if let Some(user) = session.user {
        request = request.with_user(user);
    }
    let connection = app.authorizations().complete(request).await?;
    Ok((
        StatusCode::OK,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(json!({
            "connection": connection.id.as_str(),
            "key": connection.key.as_str(),
            "status": connection.status.as_str(),
        })),
    )
        .into_response())
}

fn unknown_integration() -> Error {
    Error::not_found(
        codes::UNKNOWN_ROUTE,
        "no registered integration matches /oauth/{family}/{variant}/start",
    )
}

/// The start route's query, parsed into ids, with the link's expiry and signature as
/// given (checked by `LinkKey::verify`).
struct StartQuery {
    tenant: TenantId,
    target: TargetId,
    method: ConnectionMethodId,
    user: Option<UserId>,
    expires: Option<String>,
    sig: Option<String>,
}

impl StartQuery {
    const NAMES: [&'static str; 6] = ["tenant", "target", "method", "user", "expires", "sig"];

    /// Every problem at once, each an issue at `/{parameter}`; other parameters are
    /// ignored.
    fn parse(query: &str) -> Result<Self, Error> {
        let mut params = BTreeMap::new();
        let mut repeated = BTreeSet::new();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let Some(name) = Self::NAMES.into_iter().find(|n| *n == name) else {
                continue;
            };
            if params.insert(name, value.into_owned()).is_some() {
                repeated.insert(name);
            }
        }
        let mut issues: Vec<ValidationIssue> = repeated
            .into_iter()
            .map(|name| {
                ValidationIssue::new(
                    "host_server.repeated_parameter",
                    format!("/{name}"),
                    format!("{name} is given more than once"),
                )
            })
            .collect();
        let tenant = take(&mut params, "tenant", true, TenantId::new, &mut issues);
        let target = take(&mut params, "target", true, TargetId::new, &mut issues);
        let method = take(
            &mut params,
            "method",
            true,
            ConnectionMethodId::new,
            &mut issues,
        );
        let user = take(&mut params, "user", false, UserId::new, &mut issues);
        let expires = params.remove("expires");
        let sig = params.remove("sig");
        match (tenant, target, method) {
            (Some(tenant), Some(target), Some(method)) if issues.is_empty() => Ok(Self {
                tenant,
                target,
                method,
                user,
                expires,
                sig,
            }),
            _ => Err(Error::invalid_input(
                codes::INVALID_QUERY,
                "the start route needs tenant, target and method parameters (and optionally user): use a link the application signed",
                issues,
            )),
        }
    }
}

/// One parameter parsed by `parse`; a missing required one or an invalid one becomes an
/// issue (whose message never repeats the value).
fn take<T>(
    params: &mut BTreeMap<&'static str, String>,
    name: &'static str,
    required: bool,
    parse: impl FnOnce(String) -> Result<T, Error>,
    issues: &mut Vec<ValidationIssue>,
) -> Option<T> {
    let Some(value) = params.remove(name) else {
        if required {
            issues.push(ValidationIssue::new(
                "host_server.missing_parameter",
                format!("/{name}"),
                format!("{name} is required"),
            ));
        }
        return None;
    };
    match parse(value) {
        Ok(id) => Some(id),
        Err(e) => {
            let at = format!("/{name}");
            issues.extend(e.issues().iter().cloned().map(|i| i.under(&at)));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issues(query: &str) -> Vec<(String, String)> {
        let e = StartQuery::parse(query).err().unwrap();
        assert_eq!(e.code(), codes::INVALID_QUERY);
        e.issues()
            .iter()
            .map(|i| (i.code.clone(), i.path.clone()))
            .collect()
    }

    #[test]
    fn a_complete_query_parses() {
        let q = StartQuery::parse(
            "tenant=acme&target=linear&method=oauth2&user=alice&x=1&expires=12&sig=ab",
        )
        .unwrap();
        assert_eq!(
            (
                q.tenant.as_str(),
                q.target.as_str(),
                q.method.as_str(),
                q.user.as_ref().map(UserId::as_str)
            ),
            ("acme", "linear", "oauth2", Some("alice"))
        );
        assert_eq!(
            (q.expires.as_deref(), q.sig.as_deref()),
            (Some("12"), Some("ab"))
        );
        assert!(
            StartQuery::parse("tenant=acme&target=linear&method=oauth2")
                .unwrap()
                .user
                .is_none()
        );
    }

    #[test]
    fn every_problem_is_an_issue() {
        let pair = |c: &str, p: &str| (c.to_owned(), p.to_owned());
        assert_eq!(
            issues(""),
            [
                pair("host_server.missing_parameter", "/tenant"),
                pair("host_server.missing_parameter", "/target"),
                pair("host_server.missing_parameter", "/method"),
            ]
        );
        assert_eq!(
            issues("tenant=a&tenant=b&target=t%20x&method=oauth2&user=&sig=a&sig=b"),
            [
                pair("host_server.repeated_parameter", "/sig"),
                pair("host_server.repeated_parameter", "/tenant"),
                pair("id.invalid", "/target"),
                pair("id.invalid", "/user"),
            ]
        );
    }
}
