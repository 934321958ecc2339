//! Who installed the App: the check that keeps a user from connecting someone else's
//! installation.
//!
//! GitHub calls the setup URL back with an `installation_id` that whoever follows the
//! link can change, so the id alone proves nothing. When the App requests user
//! authorization (OAuth) during installation, GitHub adds an OAuth `code` to the
//! callback. The code is exchanged at `{web}/login/oauth/access_token` (client id and
//! secret in the body, no PKCE) for a user access token, and
//! `GET {api}/user/installations` (paginated with `Link`, 100 per page) lists the App's
//! installations that user can access: the callback's installation must be one of them.
//! The user token is used for these calls only: never stored, never logged, and zeroized
//! when the check returns.

use bytes::Bytes;
use http::Method;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use integrations_core::auth::TargetSecrets;
use integrations_core::host::{Host, HttpResponse};
use integrations_core::{Error, Secret, Timestamp};
use serde::Deserialize;

use super::schemas::GitHubEndpoints;
use super::tools::{USER_AGENT_VALUE, next_link, on_api};

/// The pages of `/user/installations` read at most (100 installations each) before the
/// installation is reported as not the user's.
const MAX_PAGES: usize = 50;

/// The target secret holding the OAuth client secret.
const CLIENT_SECRET: &str = "client_secret";

/// Verifies that the user who completed the installation can access installation `id`,
/// with the OAuth `code` of the callback.
///
/// # Errors
///
/// [`ErrorKind::Verification`](integrations_core::ErrorKind::Verification) (`github.installation_not_owned`) when the user cannot
/// access the installation, (`github.installation_code_rejected`) when GitHub refuses
/// the code (`bad_verification_code`: wrong, used or expired);
/// [`ErrorKind::Configuration`](integrations_core::ErrorKind::Configuration) when the target lacks the client id or secret, or GitHub
/// refuses them (`oauth.invalid_client`); provider, rate-limit and transport errors.
pub(super) async fn verify(
    host: &Host,
    endpoints: &GitHubEndpoints,
    secrets: &TargetSecrets,
    code: &str,
    id: u64,
) -> Result<(), Error> {
    let user_token = exchange(host, endpoints, secrets, code).await?;
    if user_can_access(host, endpoints, &user_token, id).await? {
        Ok(())
    } else {
        Err(crate::codes::github::INSTALLATION_NOT_OWNED.error("the installation is not one the user who completed it can access; install the App from the account that owns it",
        ))
    }
}

/// The answer of the token endpoint: only what the check needs (the refresh token and
/// the rest are not read).
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<Secret>,
    #[serde(default)]
    error: Option<String>,
}

async fn exchange(
    host: &Host,
    endpoints: &GitHubEndpoints,
    secrets: &TargetSecrets,
    code: &str,
) -> Result<Secret, Error> {
    let client_id = endpoints.client_id.as_deref().ok_or_else(|| {
        integrations_core::codes::auth::MISSING_CLIENT_ID.error("the target config has no OAuth client id (client_id), needed to verify who installed the App",
        )
    })?;
    let client_secret = secrets.require(CLIENT_SECRET)?;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("client_secret", client_secret.expose())
        .append_pair("code", code)
        .finish();
    let request = http::Request::builder()
        .method(Method::POST)
        .uri(endpoints.web.join("/login/oauth/access_token"))
        // GitHub answers form-encoded unless asked for JSON.
        .header(ACCEPT, "application/json")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(USER_AGENT, USER_AGENT_VALUE)
        .body(Bytes::from(body))
        .map_err(|_| invalid_url())?;
    let response = host.http().send(request).await?;
    let status = response.status();
    if !status.is_success() {
        return Err(status_error(
            &response,
            "exchanging the installation's code",
            host.clock().now(),
        ));
    }
    let answer: TokenAnswer =
        serde_json::from_slice(response.body()).map_err(|_| invalid_response("token endpoint"))?;
    // GitHub reports refusals with HTTP 200 and an `error` member.
    match (answer.access_token, answer.error) {
        (Some(token), None) if !token.is_empty() => Ok(token),
        (_, Some(error)) if error == "incorrect_client_credentials" => Err(integrations_core::codes::oauth::INVALID_CLIENT.error("GitHub refused the target's client_id and client_secret while verifying an installation",
        )),
        (_, Some(error)) => Err(crate::codes::github::INSTALLATION_CODE_REJECTED.error(format!(
                "GitHub refused the installation callback's authorization code ({}); install the App again",
                shown(&error)
            ),
        )),
        _ => Err(invalid_response("token endpoint")),
    }
}

/// One page of `GET /user/installations`: only the ids are read.
#[derive(Deserialize)]
struct InstallationsPage {
    installations: Vec<InstallationId>,
}

#[derive(Deserialize)]
struct InstallationId {
    id: u64,
}

/// Whether installation `id` is among the installations `token`'s user can access,
/// reading pages until it is found; a `next` link is followed only on the target's API.
async fn user_can_access(
    host: &Host,
    endpoints: &GitHubEndpoints,
    token: &Secret,
    id: u64,
) -> Result<bool, Error> {
    let api = url::Url::parse(endpoints.api.as_str()).map_err(|_| invalid_url())?;
    let mut first =
        url::Url::parse(&endpoints.api.join("/user/installations")).map_err(|_| invalid_url())?;
    first.query_pairs_mut().append_pair("per_page", "100");
    let mut next = Some(first);
    for _ in 0..MAX_PAGES {
        let Some(url) = next.take() else {
            return Ok(false);
        };
        let response = host
            .http()
            .send(user_request(&url, token, endpoints)?)
            .await?;
        if !response.status().is_success() {
            return Err(status_error(
                &response,
                "listing the user's installations",
                host.clock().now(),
            ));
        }
        let page: InstallationsPage = serde_json::from_slice(response.body())
            .map_err(|_| invalid_response("installations list"))?;
        if page.installations.iter().any(|i| i.id == id) {
            return Ok(true);
        }
        next = match next_link(&response) {
            None => None,
            Some(link) => match url::Url::parse(&link) {
                Ok(link) if on_api(&api, &link) => Some(link),
                _ => return Err(invalid_response("installations list")),
            },
        };
    }
    Ok(false)
}

fn user_request(
    url: &url::Url,
    token: &Secret,
    endpoints: &GitHubEndpoints,
) -> Result<http::Request<Bytes>, Error> {
    let mut authorization = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
        .map_err(|_| invalid_response("token endpoint"))?;
    authorization.set_sensitive(true);
    http::Request::builder()
        .method(Method::GET)
        .uri(url.as_str())
        .header(AUTHORIZATION, authorization)
        .header(ACCEPT, "application/vnd.github+json")
        .header("X-GitHub-Api-Version", endpoints.api_version.as_str())
        .header(USER_AGENT, USER_AGENT_VALUE)
        .body(Bytes::new())
        .map_err(|_| invalid_url())
}

/// A non-success answer of GitHub while `what`.
fn status_error(response: &HttpResponse, what: &str, now: Timestamp) -> Error {
    super::http_errors::transient(response, what, now).unwrap_or_else(|| {
        crate::codes::github::INSTALLATION_CHECK_REFUSED.error(format!(
            "GitHub answered HTTP {} while {what}",
            response.status().as_u16()
        ))
    })
}

fn invalid_url() -> Error {
    crate::codes::github::INVALID_URL.error("the GitHub URL is invalid")
}

fn invalid_response(what: &str) -> Error {
    crate::codes::github::INVALID_RESPONSE.error(format!(
        "GitHub's {what} answer is not what the API documents"
    ))
}

/// A provider error code fit for a message: short, of `[A-Za-z0-9_.-]`.
fn shown(code: &str) -> &str {
    let ok = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok { code } else { "unrecognized" }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use integrations_core::ErrorKind;

    #[test]
    fn provider_codes_are_shown_only_when_plain() {
        assert_eq!(shown("bad_verification_code"), "bad_verification_code");
        for bad in ["", "<script>", "ghu_secret token", &"x".repeat(65)] {
            assert_eq!(shown(bad), "unrecognized", "{bad}");
        }
    }

    #[test]
    fn rate_limits_carry_the_wait() {
        let response = http::Response::builder()
            .status(403)
            .header("x-ratelimit-remaining", "0")
            .header("retry-after", "7")
            .body(Bytes::new())
            .unwrap();
        let e = status_error(&response, "listing", Timestamp::UNIX_EPOCH);
        assert_eq!(
            (e.kind(), e.code(), e.retry_after()),
            (
                ErrorKind::RateLimited,
                "github.rate_limited",
                Some(Duration::from_secs(7))
            )
        );
        let response = http::Response::builder()
            .status(403)
            .body(Bytes::new())
            .unwrap();
        assert_eq!(
            status_error(&response, "listing", Timestamp::UNIX_EPOCH).code(),
            "github.installation_check_refused"
        );
    }
}
