//! Sealing, the bottom of the crate: how secrets are sealed at rest ([`SecretCipher`],
//! [`Sealed`], [`Aad`], the default [`AesGcmKeyRing`]), the associated-data layout of
//! every sealed record field, and the random tokens and digests the engines mint.
//!
//! It imports nothing but the crate's foundation (errors, ids, secrets), so the data
//! model and every engine can use it. The layouts take ids, not records, for the same
//! reason; [`service::credential_aad`](crate::service::credential_aad) and
//! [`service::target_secrets_aad`](crate::service::target_secrets_aad) are the
//! record-typed forms.

mod cipher;

use sha2::{Digest, Sha256};

pub use self::cipher::{Aad, AesGcmKeyRing, Sealed, SecretCipher, SecretCipherExt};
use crate::{ConnectionId, Error, TargetId, TenantId};

/// Associated data for a target's sealed secrets.
pub fn target_secrets_aad(tenant: &TenantId, target: &TargetId) -> Aad {
    Aad::new(tenant, "target", target.as_str(), "secrets")
}

/// Associated data for one credential of a connection: bound to the tenant, the
/// connection, the credential type and the slot.
///
/// The field is `{type}/{slot}` (`{type}` without a slot); a credential type holds no `/`
/// ([`CredentialType`](crate::model::CredentialType) is checked, deserialized ones
/// included), so one field names one type and slot.
pub fn credential_aad(
    tenant: &TenantId,
    connection: &ConnectionId,
    credential_type: &str,
    slot: Option<&str>,
) -> Aad {
    let field = match slot {
        Some(slot) => format!("{credential_type}/{slot}"),
        None => credential_type.to_owned(),
    };
    Aad::new(tenant, "credential", connection.as_str(), &field)
}

/// Associated data of a pending authorization's sealed PKCE verifier, keyed by the
/// digest of its `state`.
pub fn pkce_verifier_aad(tenant: &TenantId, state_digest: &str) -> Aad {
    Aad::new(tenant, "oauth_state", state_digest, "pkce_verifier")
}

/// Associated data of a tool result continuation's sealed pages.
pub fn continuation_pages_aad(tenant: &TenantId, id: &str) -> Aad {
    Aad::new(tenant, "tool_continuation", id, "pages")
}

/// Associated data of the sealed result of an approved call, waiting for the client's
/// retry: `key` is the call's key ([`ApprovalCall::key`](crate::model::ApprovalCall)).
pub fn approval_result_aad(tenant: &TenantId, key: &str) -> Aad {
    Aad::new(tenant, "approval_call", key, "result")
}

/// Associated data of a tool's sealed paging cursors: `id` names the definition and the
/// connection (`<key>/<connection>`), so a cursor opens only where it was made.
pub fn tool_cursor_aad(tenant: &TenantId, id: &str, tool: &str) -> Aad {
    Aad::new(tenant, "tool_cursor", id, tool)
}

/// Lowercase hex SHA-256 of `text` (how `state` values and continuation cursors are
/// stored: never the value itself).
pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// 12 random bytes as 24 hex digits (ids, lease holders).
pub(crate) fn random_hex() -> Result<String, Error> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).map_err(|e| {
        crate::codes::crypto::RANDOM_FAILED
            .error("the system random source failed")
            .with_source(e)
    })?;
    Ok(hex::encode(bytes))
}

/// 16 random bytes as 32 hex digits (approval ids, continuation cursors).
pub(crate) fn random_token() -> Result<String, Error> {
    let mut bytes = [0_u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| {
        crate::codes::crypto::RANDOM_FAILED
            .error("the system random source failed")
            .with_source(e)
    })?;
    Ok(hex::encode(bytes))
}

/// 32 random bytes as 64 hex digits (managed webhook signing secrets).
pub(crate) fn random_secret_hex() -> Result<crate::Secret, Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        crate::codes::crypto::RANDOM_FAILED
            .error("the system random source failed")
            .with_source(e)
    })?;
    Ok(crate::Secret::from(hex::encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_lowercase_hex_sha256() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn random_values_have_their_lengths_and_differ() {
        let a = random_hex().unwrap();
        assert_eq!(a.len(), 24);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(a, random_hex().unwrap());
        assert_eq!(random_token().unwrap().len(), 32);
        assert_eq!(random_secret_hex().unwrap().expose().len(), 64);
    }

    #[test]
    fn layouts_keep_their_record_and_field_names() {
        let tenant = TenantId::new("acme").unwrap();
        let conn = ConnectionId::new("conn_1").unwrap();
        assert_eq!(
            credential_aad(&tenant, &conn, "api_key", None),
            Aad::new(&tenant, "credential", "conn_1", "api_key")
        );
        assert_eq!(
            credential_aad(&tenant, &conn, "oauth2", Some("managed")),
            Aad::new(&tenant, "credential", "conn_1", "oauth2/managed")
        );
        let target = TargetId::new("tgt_1").unwrap();
        assert_eq!(
            target_secrets_aad(&tenant, &target),
            Aad::new(&tenant, "target", "tgt_1", "secrets")
        );
    }
}
