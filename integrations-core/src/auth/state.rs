//! The `state` parameter: random, stored only as its SHA-256 digest, bound to who started
//! the authorization and where it returns, taken once.

use sha2::{Digest, Sha256};

use crate::host::Host;
use crate::model::PendingAuthorization;
use crate::{DefinitionKey, Error, TenantId, UserId};

/// A freshly issued state: the value for the URL and the digest the record is keyed by.
pub(crate) struct IssuedState {
    pub(crate) value: oauth2::CsrfToken,
    pub(crate) digest: String,
}

/// 32 random bytes, base64url: the CSRF token of oauth2.
pub(crate) fn issue() -> IssuedState {
    let value = oauth2::CsrfToken::new_random_len(32);
    let digest = digest(value.secret());
    IssuedState { value, digest }
}

/// Lowercase hex SHA-256.
pub(crate) fn digest(state: &str) -> String {
    hex(&Sha256::digest(state.as_bytes()))
}

/// 12 random bytes as 24 hex digits (ids, lease holders).
pub(crate) fn random_hex() -> Result<String, Error> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).map_err(|e| {
        crate::codes::crypto::RANDOM_FAILED
            .error("the system random source failed")
            .with_source(e)
    })?;
    Ok(hex(&bytes))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
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
        .take_oauth_state(&digest(state), now)
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
        assert_eq!(a.digest, digest(a.value.secret()));
        assert!(!a.digest.contains(a.value.secret().as_str()));
        // 32 bytes of entropy, base64url without padding.
        assert_eq!(a.value.secret().len(), 43);
    }

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
