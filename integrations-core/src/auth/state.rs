//! The `state` parameter: random, stored only as its SHA-256 digest, bound to who started
//! the authorization and where it returns, taken once.

use crate::host::Host;
use crate::model::PendingAuthorization;
use crate::sealing::sha256_hex;
use crate::{DefinitionKey, Error, TenantId, UserId};

/// A freshly issued state: the value for the URL and the digest the record is keyed by.
pub(crate) struct IssuedState {
    pub(crate) value: oauth2::CsrfToken,
    pub(crate) digest: String,
}

/// 32 random bytes, base64url: the CSRF token of oauth2.
pub(crate) fn issue() -> IssuedState {
    let value = oauth2::CsrfToken::new_random_len(32);
    let digest = sha256_hex(value.secret());
    IssuedState { value, digest }
}

fn verification(code: crate::Code, message: &'static str) -> Error {
    code.error(message)
}

/// Who completes an authorization, and where the callback arrived.
pub(crate) struct Binding<'a> {
    pub(crate) tenant: &'a TenantId,
    pub(crate) user: Option<&'a UserId>,
    pub(crate) redirect_uri: &'a str,
    pub(crate) key: Option<&'a DefinitionKey>,
}

/// Takes the pending authorization of `state` (once: a replay finds nothing) and checks
/// it is unexpired and bound to `binding`. Whatever the outcome, the state is consumed.
pub(crate) async fn take_verified(
    host: &Host,
    state: &str,
    binding: &Binding<'_>,
) -> Result<PendingAuthorization, Error> {
    if state.is_empty() {
        return Err(verification(
            crate::codes::oauth::MISSING_STATE,
            "the callback has no state parameter",
        ));
    }
    let now = host.clock().now();
    // A store that keeps the trait's contract never returns an expired state (it reports
    // it as absent); the check below still guards a store that does not.
    let Some(pending) = host
        .oauth_states()
        .take_oauth_state(&sha256_hex(state), now)
        .await?
    else {
        return Err(verification(
            crate::codes::oauth::UNKNOWN_STATE,
            "the authorization is unknown, expired or already completed; start it again",
        ));
    };
    if now >= pending.expires_at {
        return Err(verification(
            crate::codes::oauth::STATE_EXPIRED,
            "the authorization expired; start it again",
        ));
    }
    if &pending.tenant != binding.tenant || pending.user.as_ref() != binding.user {
        return Err(verification(
            crate::codes::oauth::STATE_MISMATCH,
            "the authorization was started by another tenant or user",
        ));
    }
    if binding.key.is_some_and(|k| k != &pending.key) {
        return Err(verification(
            crate::codes::oauth::STATE_MISMATCH,
            "the authorization was started for another integration",
        ));
    }
    if pending.redirect_uri != binding.redirect_uri {
        return Err(verification(
            crate::codes::oauth::REDIRECT_URI_MISMATCH,
            "the callback arrived at another redirect URI than the authorization was started with",
        ));
    }
    Ok(pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_random_and_digested() {
        let a = issue();
        let b = issue();
        assert_ne!(a.value.secret(), b.value.secret());
        assert_eq!(a.digest.len(), 64);
        assert_eq!(a.digest, sha256_hex(a.value.secret()));
        assert!(!a.digest.contains(a.value.secret().as_str()));
        // 32 bytes of entropy, base64url without padding.
        assert_eq!(a.value.secret().len(), 43);
    }

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
