//! The authorization URL: `oauth2` builds it (client id, redirect URI, state, PKCE S256
//! challenge), with the provider's scope separator and extra parameters from the spec.

use std::borrow::Cow;

use oauth2::{CsrfToken, PkceCodeChallenge, PkceCodeVerifier, Scope};

use super::client::{SpecClient, redirect_url};
use crate::Error;
use crate::definition::{OAuth2Spec, Pkce};

/// The URL to send the user to, and the PKCE verifier to keep (sealed) when the provider
/// supports PKCE.
pub(crate) fn authorization_url(
    client: &SpecClient,
    spec: &OAuth2Spec,
    state: &CsrfToken,
    redirect_uri: &str,
    scopes: &[String],
) -> Result<(String, Option<PkceCodeVerifier>), Error> {
    let mut request = client
        .authorize_url(|| state.clone())
        .set_redirect_uri(Cow::Owned(redirect_url(redirect_uri)?));
    if !scopes.is_empty() {
        // One pre-joined scope: oauth2 joins with spaces, the provider may want commas.
        request = request.add_scope(Scope::new(spec.join_scopes(scopes)));
    }
    for (name, value) in &spec.extra_authorize_params {
        request = request.add_extra_param(name.as_str(), value.as_str());
    }
    let verifier = match spec.pkce {
        Pkce::S256 => {
            let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
            request = request.set_pkce_challenge(challenge);
            Some(verifier)
        }
        Pkce::Unsupported => None,
    };
    let (url, _) = request.url();
    Ok((url.into(), verifier))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::TargetSecrets;
    use crate::definition::ScopeSeparator;

    #[test]
    fn builds_a_pkce_url_with_comma_scopes() {
        let spec = OAuth2Spec::new("https://p.test/oauth/authorize?x=1", "https://p.test/token")
            .with_client_id(Some("client-1"))
            .with_scope_separator(ScopeSeparator::Comma)
            .with_authorize_param("actor", "user");
        let client = super::super::client::client(&spec, &TargetSecrets::empty()).unwrap();
        let state = CsrfToken::new("st".to_owned());
        let (url, verifier) = authorization_url(
            &client,
            &spec,
            &state,
            "https://app.test/cb",
            &["read".to_owned(), "write".to_owned()],
        )
        .unwrap();
        let url = url::Url::parse(&url).unwrap();
        let q: std::collections::BTreeMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["x"], "1");
        assert_eq!(q["client_id"], "client-1");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["scope"], "read,write");
        assert_eq!(q["state"], "st");
        assert_eq!(q["actor"], "user");
        assert_eq!(q["redirect_uri"], "https://app.test/cb");
        assert_eq!(q["code_challenge_method"], "S256");
        let verifier = verifier.unwrap();
        let expected = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
        assert_eq!(&q["code_challenge"], expected.as_str());
    }

    #[test]
    fn no_challenge_without_pkce() {
        let spec = OAuth2Spec::new("https://p.test/a", "https://p.test/t")
            .with_client_id(Some("c"))
            .with_pkce(Pkce::Unsupported);
        let client = super::super::client::client(&spec, &TargetSecrets::empty()).unwrap();
        let (url, verifier) = authorization_url(
            &client,
            &spec,
            &CsrfToken::new("s".into()),
            "https://app.test/cb",
            &[],
        )
        .unwrap();
        assert!(verifier.is_none());
        assert!(!url.contains("code_challenge"));
        assert!(!url.contains("scope="));
    }
}
