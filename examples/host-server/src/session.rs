//! The browser session that carries who started an authorization to its callback.
//!
//! A provider calls back with only `code` and `state`; the SDK then checks that the
//! callback arrives for the tenant and user who started the authorization (the state is
//! bound to them), which stops an attacker from completing their own authorization in a
//! victim's browser. So the callback route must know who the browser is.
//!
//! A real host knows it from its login session. This example has no login, so the start
//! route records the tenant and user in a cookie, and the callback reads them back. The
//! cookie is `HttpOnly` (no script reads it), `SameSite=Lax` (sent on the provider's
//! top-level redirect back, not on cross-site subrequests), scoped to the OAuth routes,
//! `Secure` on HTTPS, and lives as long as a started authorization.
//!
//! It is **not** authentication: anyone can set it. Replace it with your session.

use axum::http::{HeaderMap, HeaderValue, header};
use integrations::core::UserId;
use integrations::core::auth::DEFAULT_STATE_TTL;
use integrations::prelude::*;

/// The name of the cookie the start route sets and the callback route reads.
pub const SESSION_COOKIE: &str = "integrations_oauth_session";

/// Who started an authorization in this browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    pub(crate) tenant: TenantId,
    pub(crate) user: Option<UserId>,
}

impl Session {
    /// The `Set-Cookie` value recording this session for the routes under `path`.
    pub(crate) fn set_cookie(&self, path: &str, secure: bool) -> Option<HeaderValue> {
        let mut value = url::form_urlencoded::Serializer::new(String::new());
        value.append_pair("tenant", self.tenant.as_str());
        if let Some(user) = &self.user {
            value.append_pair("user", user.as_str());
        }
        let cookie = format!(
            "{SESSION_COOKIE}={}; Path={path}; Max-Age={}; HttpOnly; SameSite=Lax{}",
            value.finish(),
            DEFAULT_STATE_TTL.as_secs(),
            if secure { "; Secure" } else { "" }
        );
        HeaderValue::from_str(&cookie).ok()
    }

    /// The session a request's cookies carry, when they carry a valid one.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let value = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|h| h.to_str().ok())
            .flat_map(|h| h.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == SESSION_COOKIE)
            .map(|(_, value)| value)?;
        let (mut tenant, mut user) = (None, None);
        for (name, value) in url::form_urlencoded::parse(value.as_bytes()) {
            match name.as_ref() {
                "tenant" => tenant = Some(TenantId::new(value.into_owned()).ok()?),
                "user" => user = Some(UserId::new(value.into_owned()).ok()?),
                _ => {}
            }
        }
        Some(Self {
            tenant: tenant?,
            user,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(user: Option<&str>) -> Session {
        Session {
            tenant: TenantId::new("acme-corp").unwrap(),
            user: user.map(|u| UserId::new(u).unwrap()),
        }
    }

    fn round_trip(session: &Session) -> Option<Session> {
        let set = session.set_cookie("/oauth", false).unwrap();
        let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("other=1"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_str(&format!("theme=dark; {pair}")).unwrap(),
        );
        Session::from_headers(&headers)
    }

    #[test]
    fn a_session_survives_the_cookie() {
        for s in [session(None), session(Some("alice@example.com"))] {
            assert_eq!(round_trip(&s), Some(s));
        }
    }

    #[test]
    fn the_cookie_is_http_only_lax_and_scoped() {
        let value = session(Some("u;1,x"))
            .set_cookie("/app/oauth", true)
            .unwrap();
        let value = value.to_str().unwrap();
        assert!(value.starts_with("integrations_oauth_session=tenant=acme-corp&user=u%3B1%2Cx;"));
        for attribute in [
            "Path=/app/oauth",
            "Max-Age=600",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
        ] {
            assert!(value.contains(attribute), "{attribute} in {value}");
        }
    }

    #[test]
    fn missing_or_invalid_sessions_are_none() {
        let mut headers = HeaderMap::new();
        assert_eq!(Session::from_headers(&headers), None);
        for bad in [
            "integrations_oauth_session=user=alice",
            "integrations_oauth_session=tenant=",
            "integrations_oauth_session=tenant=a%20b",
        ] {
            headers.insert(header::COOKIE, HeaderValue::from_static(bad));
            assert_eq!(Session::from_headers(&headers), None, "{bad}");
        }
    }
}
