use serde::{Deserialize, Serialize};

use super::oauth2::OAuth2Spec;
use crate::model::CredentialType;
use crate::plan::CredentialSelector;
use crate::schema::ConfigSpec;
use crate::{ConnectionMethodId, Error};

/// How a connection method obtains credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConnectionMethodKind {
    /// The user pastes a key or token (its [`SecretField`]s).
    ApiKey,
    /// OAuth 2.0 authorization code (with PKCE where supported).
    // serde's snake_case would spell `OAuth2` as `o_auth2`; the old spelling is still read.
    #[serde(
        rename = "oauth2_authorization_code",
        alias = "o_auth2_authorization_code"
    )]
    OAuth2AuthorizationCode,
    /// OAuth 2.0 client credentials: a token fetched at request time with the target's
    /// client id and secret.
    #[serde(
        rename = "oauth2_client_credentials",
        alias = "o_auth2_client_credentials"
    )]
    OAuth2ClientCredentials,
    /// A provider redirect flow that is not OAuth (GitHub App installation), completed by
    /// the provider (GitHub App installations record the installation id).
    Redirect,
}

impl ConnectionMethodKind {
    /// The kind as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::OAuth2AuthorizationCode => "oauth2_authorization_code",
            Self::OAuth2ClientCredentials => "oauth2_client_credentials",
            Self::Redirect => "redirect",
        }
    }
}

/// A secret the user supplies for an API-key connection, and where it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SecretField {
    /// The input name (`api_key`, `bot_token`).
    pub name: String,
    /// The label shown.
    pub label: String,
    /// The credential type it is stored as.
    pub credential_type: CredentialType,
    /// The slot it is stored in.
    pub slot: Option<String>,
    /// A prefix a valid value starts with (`xoxb-`, `sk-`, `lin_api_`), checked at write time.
    pub expected_prefix: Option<String>,
}

impl SecretField {
    /// A secret field stored as `credential_type`.
    pub fn new(
        name: impl Into<String>,
        label: impl Into<String>,
        credential_type: CredentialType,
    ) -> Self {
        Self {
            name: name.into(),
            label: label.into(),
            credential_type,
            slot: None,
            expected_prefix: None,
        }
    }

    /// Sets the slot.
    #[must_use]
    pub fn with_slot(mut self, slot: impl Into<String>) -> Self {
        self.slot = Some(slot.into());
        self
    }

    /// A secret field stored as an API key ([`CredentialType::API_KEY`]), the common case.
    pub fn api_key(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(name, label, CredentialType::API_KEY)
    }

    /// Sets the expected prefix.
    #[must_use]
    pub fn with_expected_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.expected_prefix = Some(prefix.into());
        self
    }
}

/// One way to connect to a definition's provider.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionMethod {
    /// The id (`api-key`, `oauth2`, `client-credentials`, `github-app-installation`).
    pub id: ConnectionMethodId,
    /// The label shown.
    pub label: String,
    /// How it obtains credentials.
    pub kind: ConnectionMethodKind,
    /// The schema of the connection config for this method.
    pub config: ConfigSpec,
    /// The secrets the user supplies (API-key methods).
    pub secret_fields: Vec<SecretField>,
    /// The OAuth 2.0 data (OAuth methods). URLs that depend on the target config are
    /// computed by [`IntegrationDefinition::oauth2`](super::IntegrationDefinition::oauth2).
    pub oauth2: Option<OAuth2Spec>,
}

impl ConnectionMethod {
    /// The credential requests through a connection of this method use when they name
    /// none: an API-key method's first secret field (its type and slot), the OAuth 2.0
    /// access token of an OAuth method, and none for the others (their provider names a
    /// resolver).
    pub fn default_credential(&self) -> Option<CredentialSelector> {
        match self.kind {
            ConnectionMethodKind::ApiKey => self.secret_fields.first().map(|field| {
                let selector = CredentialSelector::of_type(field.credential_type.clone());
                match &field.slot {
                    Some(slot) => selector.with_slot(slot.clone()),
                    None => selector,
                }
            }),
            ConnectionMethodKind::OAuth2AuthorizationCode
            | ConnectionMethodKind::OAuth2ClientCredentials => Some(CredentialSelector::of_type(
                CredentialType::OAUTH2_ACCESS_TOKEN,
            )),
            _ => None,
        }
    }

    /// A method of `kind` with no secret fields, no OAuth 2.0 data and an empty config;
    /// infallible, since the id is already checked: name it with a constant
    /// (`const { ConnectionMethodId::from_static("api-token") }`), checked at compile time.
    ///
    /// ```
    /// use integrations_core::ConnectionMethodId;
    /// use integrations_core::definition::{ConnectionMethod, ConnectionMethodKind, SecretField};
    ///
    /// const API_TOKEN: ConnectionMethodId = ConnectionMethodId::from_static("api-token");
    /// let method = ConnectionMethod::new(API_TOKEN, "API token", ConnectionMethodKind::ApiKey)
    ///     .with_secret_field(SecretField::api_key("api_token", "API token"));
    /// assert_eq!(method.id.as_str(), "api-token");
    /// assert_eq!(method.secret_fields[0].name, "api_token");
    /// ```
    pub fn new(
        id: ConnectionMethodId,
        label: impl Into<String>,
        kind: ConnectionMethodKind,
    ) -> Self {
        Self {
            id,
            label: label.into(),
            kind,
            config: ConfigSpec::empty(),
            secret_fields: Vec::new(),
            oauth2: None,
        }
    }

    fn checked(
        id: &str,
        label: impl Into<String>,
        kind: ConnectionMethodKind,
    ) -> Result<Self, Error> {
        Ok(Self::new(ConnectionMethodId::new(id)?, label, kind))
    }

    /// An API-key method with its secret fields.
    ///
    /// # Errors
    ///
    /// `id.invalid` for an invalid id.
    pub fn api_key(
        id: &str,
        label: impl Into<String>,
        fields: Vec<SecretField>,
    ) -> Result<Self, Error> {
        let mut method = Self::checked(id, label, ConnectionMethodKind::ApiKey)?;
        method.secret_fields = fields;
        Ok(method)
    }

    /// An OAuth 2.0 authorization-code method.
    ///
    /// # Errors
    ///
    /// `id.invalid` for an invalid id.
    pub fn oauth2_authorization_code(
        id: &str,
        label: impl Into<String>,
        spec: OAuth2Spec,
    ) -> Result<Self, Error> {
        let mut method = Self::checked(id, label, ConnectionMethodKind::OAuth2AuthorizationCode)?;
        method.oauth2 = Some(spec);
        Ok(method)
    }

    /// An OAuth 2.0 client-credentials method.
    ///
    /// # Errors
    ///
    /// `id.invalid` for an invalid id.
    pub fn oauth2_client_credentials(
        id: &str,
        label: impl Into<String>,
        spec: OAuth2Spec,
    ) -> Result<Self, Error> {
        let mut method = Self::checked(id, label, ConnectionMethodKind::OAuth2ClientCredentials)?;
        method.oauth2 = Some(spec);
        Ok(method)
    }

    /// A redirect method completed by the provider's redirect flow.
    ///
    /// # Errors
    ///
    /// `id.invalid` for an invalid id.
    pub fn redirect(id: &str, label: impl Into<String>) -> Result<Self, Error> {
        Self::checked(id, label, ConnectionMethodKind::Redirect)
    }

    /// Adds a secret the user supplies (API-key methods), after those already declared.
    #[must_use]
    pub fn with_secret_field(mut self, field: SecretField) -> Self {
        self.secret_fields.push(field);
        self
    }

    /// Sets the OAuth 2.0 data (OAuth methods).
    #[must_use]
    pub fn with_oauth2(mut self, spec: OAuth2Spec) -> Self {
        self.oauth2 = Some(spec);
        self
    }

    /// Sets the connection config schema.
    #[must_use]
    pub fn with_config(mut self, config: ConfigSpec) -> Self {
        self.config = config;
        self
    }
}
