use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::sealing::{Sealed, SecretCipher, SecretCipherExt};
use crate::{ConnectionId, Error, Secret, TenantId, Timestamp};

/// What a credential is: `api_key`, `oauth2_access_token`, ... An open set: provider
/// crates may use their own (`jira_api_token`).
///
/// A type is checked wherever it comes from, deserialization included: it names the
/// credential in its sealed value's associated data (`{type}/{slot}`), where a type
/// holding a `/` could pass for another type and slot.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CredentialType(Cow<'static, str>);

impl CredentialType {
    /// A static API key or personal access token.
    pub const API_KEY: Self = Self(Cow::Borrowed("api_key"));
    /// An OAuth 2.0 access token.
    pub const OAUTH2_ACCESS_TOKEN: Self = Self(Cow::Borrowed("oauth2_access_token"));
    /// An OAuth 2.0 refresh token.
    pub const OAUTH2_REFRESH_TOKEN: Self = Self(Cow::Borrowed("oauth2_refresh_token"));
    /// An OAuth 2.0 client secret stored on a connection (client-credentials connections).
    pub const OAUTH2_CLIENT_SECRET: Self = Self(Cow::Borrowed("oauth2_client_secret"));
    /// A webhook signing secret.
    pub const WEBHOOK_SECRET: Self = Self(Cow::Borrowed("webhook_secret"));
    /// A private key (PEM), such as a GitHub App key held by a connection.
    pub const PRIVATE_KEY: Self = Self(Cow::Borrowed("private_key"));

    /// A credential type by name: lowercase letters, digits and `_`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput)
    /// (`credential.invalid_type`) for an empty name or other characters.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Result<Self, Error> {
        let name = name.into();
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(name))
        } else {
            Err(crate::codes::credential::INVALID_TYPE
                .error("a credential type is 1 to 64 lowercase letters, digits and underscores"))
        }
    }

    /// The type's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CredentialType {
    type Error = Error;

    fn try_from(name: String) -> Result<Self, Error> {
        Self::new(name)
    }
}

impl From<CredentialType> for String {
    fn from(credential_type: CredentialType) -> String {
        credential_type.0.into_owned()
    }
}

impl fmt::Debug for CredentialType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CredentialType({})", self.0)
    }
}

impl fmt::Display for CredentialType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One secret value of a connection, sealed with the host's
/// [`SecretCipher`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Credential {
    /// What it is.
    pub credential_type: CredentialType,
    /// Which one, when a connection holds several of one type (`bot`, `user`).
    pub slot: Option<String>,
    /// The sealed value.
    pub value: Sealed,
    /// When the value stops working, if it does.
    pub expires_at: Option<Timestamp>,
    /// When this value was obtained.
    pub issued_at: Timestamp,
}

impl Credential {
    /// A credential with no slot and no expiry.
    pub fn new(credential_type: CredentialType, value: Sealed, issued_at: Timestamp) -> Self {
        Self {
            credential_type,
            slot: None,
            value,
            expires_at: None,
            issued_at,
        }
    }

    /// Sets the slot.
    #[must_use]
    pub fn with_slot(mut self, slot: impl Into<String>) -> Self {
        self.slot = Some(slot.into());
        self
    }

    /// Sets the expiry.
    #[must_use]
    pub fn with_expiry(mut self, expires_at: Option<Timestamp>) -> Self {
        self.expires_at = expires_at;
        self
    }

    /// Opens the sealed value of this credential of `connection`, with the associated
    /// data it was sealed under ([`credential_aad`](crate::sealing::credential_aad)).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Crypto`](crate::ErrorKind::Crypto) when it cannot be opened (another
    /// key, tampered, or moved to another connection, type or slot).
    pub fn open(
        &self,
        connection: &super::Connection,
        cipher: &dyn SecretCipher,
    ) -> Result<Secret, Error> {
        cipher.open_secret(
            &self.value,
            &crate::sealing::credential_aad(
                &connection.tenant,
                &connection.id,
                self.credential_type.as_str(),
                self.slot.as_deref(),
            ),
        )
    }
}

/// All credentials of one connection, versioned as one unit.
///
/// The version is the unit of compare-and-swap: a writer reads the set, computes the new
/// set, and swaps it in only if the version is still the one it read
/// ([`CredentialStore::swap_credentials`](crate::host::CredentialStore::swap_credentials)).
/// An access token and the refresh token rotated with it are therefore stored
/// atomically, and of two processes refreshing at once only one wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CredentialSet {
    /// The owning tenant.
    pub tenant: TenantId,
    /// The connection the credentials belong to.
    pub connection: ConnectionId,
    /// Incremented on every successful swap; starts at 1.
    pub version: u64,
    /// The credentials.
    pub credentials: Vec<Credential>,
}

impl CredentialSet {
    /// A set at `version`.
    pub fn new(
        tenant: TenantId,
        connection: ConnectionId,
        version: u64,
        credentials: Vec<Credential>,
    ) -> Self {
        Self {
            tenant,
            connection,
            version,
            credentials,
        }
    }

    /// The credential of `credential_type` in `slot`.
    ///
    /// With `slot: None`, a single credential of that type matches whatever its slot.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) (`credential.ambiguous`) when
    /// `slot` is `None` and several credentials of the type exist: the caller must name
    /// the slot. Precedence is never guessed.
    pub fn find(
        &self,
        credential_type: &CredentialType,
        slot: Option<&str>,
    ) -> Result<Option<&Credential>, Error> {
        let mut matches = self
            .credentials
            .iter()
            .filter(|c| &c.credential_type == credential_type)
            .filter(|c| slot.is_none_or(|s| c.slot.as_deref() == Some(s)));
        let first = matches.next();
        if slot.is_none() && matches.next().is_some() {
            return Err(crate::codes::credential::AMBIGUOUS.error(format!(
                "the connection holds several {credential_type} credentials; name the slot to use"
            )));
        }
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed() -> Sealed {
        Sealed::new("k1", vec![1, 2, 3])
    }

    #[test]
    fn find_by_type_and_slot() {
        let now = Timestamp::from_unix_seconds(1);
        let set = CredentialSet::new(
            TenantId::new("t").unwrap(),
            ConnectionId::new("c").unwrap(),
            1,
            vec![
                Credential::new(CredentialType::API_KEY, sealed(), now),
                Credential::new(CredentialType::OAUTH2_ACCESS_TOKEN, sealed(), now)
                    .with_slot("bot"),
                Credential::new(CredentialType::OAUTH2_ACCESS_TOKEN, sealed(), now)
                    .with_slot("user"),
            ],
        );
        assert!(set.find(&CredentialType::API_KEY, None).unwrap().is_some());
        assert!(
            set.find(&CredentialType::WEBHOOK_SECRET, None)
                .unwrap()
                .is_none()
        );
        let user = set
            .find(&CredentialType::OAUTH2_ACCESS_TOKEN, Some("user"))
            .unwrap()
            .unwrap();
        assert_eq!(user.slot.as_deref(), Some("user"));
        let err = set
            .find(&CredentialType::OAUTH2_ACCESS_TOKEN, None)
            .unwrap_err();
        assert_eq!(err.code(), "credential.ambiguous");
    }

    #[test]
    fn credential_type_names() {
        assert!(CredentialType::new("jira_api_token").is_ok());
        assert!(CredentialType::new("Jira").is_err());
        assert!(CredentialType::new("").is_err());
        assert_eq!(
            serde_json::to_string(&CredentialType::OAUTH2_REFRESH_TOKEN).unwrap(),
            "\"oauth2_refresh_token\""
        );
    }

    #[test]
    fn a_deserialized_credential_type_is_checked() {
        let read: CredentialType = serde_json::from_str("\"jira_api_token\"").unwrap();
        assert_eq!(read.as_str(), "jira_api_token");
        // `api_key/bot` would seal under the associated data of type `api_key`, slot
        // `bot`.
        for bad in ["\"api_key/bot\"", "\"\"", "\"Api\"", "\"a b\""] {
            let err = serde_json::from_str::<CredentialType>(bad).unwrap_err();
            assert!(err.to_string().contains("credential type"), "{bad}: {err}");
        }
        let credential = Credential::new(
            CredentialType::API_KEY,
            sealed(),
            Timestamp::from_unix_seconds(1),
        );
        let mut stored = serde_json::to_value(&credential).unwrap();
        assert_eq!(
            serde_json::from_value::<Credential>(stored.clone()).unwrap(),
            credential
        );
        stored["credential_type"] = "api_key/bot".into();
        let err = serde_json::from_value::<Credential>(stored).unwrap_err();
        assert!(err.to_string().contains("credential type"), "{err}");
    }
}
