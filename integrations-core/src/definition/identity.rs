//! [`IdentityCheck`]: the cheap authenticated call a definition names to prove that a
//! credential works (and, where the provider says so, whose it is).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ConnectionMethod, IntegrationDefinition};
use crate::Error;
use crate::plan::AuthInjection;
use crate::schema::Parsed;

/// The identity check of `method` for a target, with the definition's
/// [`default_headers`](IntegrationDefinition::default_headers) added where the check does
/// not set the header itself: what the auth engine sends.
///
/// # Errors
///
/// The definition's error when its default headers cannot be made.
pub fn identity_check_with_defaults(
    definition: &dyn IntegrationDefinition,
    method: &ConnectionMethod,
    target_config: &Parsed,
) -> Result<Option<IdentityCheck>, Error> {
    let Some(mut check) = definition.identity_check(method, target_config) else {
        return Ok(None);
    };
    for (name, value) in &definition.default_headers(target_config)? {
        let Ok(value) = value.to_str() else {
            continue;
        };
        if !check
            .headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case(name.as_str()))
        {
            check
                .headers
                .insert(name.as_str().to_owned(), value.to_owned());
        }
    }
    Ok(Some(check))
}

/// A cheap, read-only request that proves a credential works: GitHub `GET /user`, `OpenAI`
/// `GET /models`, Slack `POST auth.test`, a Linear `{ viewer { id } }` query.
///
/// It is data: the auth engine sends it through the host's
/// [`HttpClient`](crate::host::HttpClient) with the credential injected as
/// [`injection`](Self::injection) says, before an API-key connection is stored and after
/// an OAuth 2.0 code exchange that did not name the connection's external subject.
///
/// The credential is accepted when the status is 2xx, the [`success_field`](Self::success_field)
/// (if any) is `true` and nothing is found at the [`error_pointer`](Self::error_pointer)
/// (if any); 401, 403 and other 4xx answers reject it; 429 and 5xx are temporary failures.
///
/// ```
/// use integrations_core::definition::IdentityCheck;
/// use integrations_core::plan::AuthInjection;
///
/// let check = IdentityCheck::post("https://slack.com/api/auth.test", AuthInjection::Bearer)
///     .with_success_field("ok")
///     .with_subject_pointer("/team_id");
/// assert_eq!(check.method, "POST");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IdentityCheck {
    /// The HTTP method, uppercase.
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// Non-secret headers (`Accept`, `X-GitHub-Api-Version`, `Content-Type`).
    pub headers: BTreeMap<String, String>,
    /// The request body, if any (with its `Content-Type` among the headers).
    pub body: Option<String>,
    /// How the credential is put on the request.
    pub injection: AuthInjection,
    /// For API-key methods, the secret field presented; `None` means the method's first.
    pub secret_field: Option<String>,
    /// A boolean member of the JSON answer that must be `true` (Slack `ok`).
    pub success_field: Option<String>,
    /// A JSON Pointer whose presence in the answer means the credential was refused
    /// (GraphQL `/errors`).
    pub error_pointer: Option<String>,
    /// A JSON Pointer to the connection's external subject in the answer (Slack
    /// `/team_id`, Linear `/data/viewer/organization/id`).
    pub subject_pointer: Option<String>,
    /// Put before the value at [`subject_pointer`](Self::subject_pointer) to make the
    /// subject (GitHub `user:`, for a user's id): where the same definition's webhooks
    /// are routed by another kind of id (GitHub installation ids), a subject of this kind
    /// never equals one of those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_prefix: Option<String>,
}

impl IdentityCheck {
    /// A request with `method` to `url`.
    pub fn new(
        method: impl Into<String>,
        url: impl Into<String>,
        injection: AuthInjection,
    ) -> Self {
        Self {
            method: method.into().to_ascii_uppercase(),
            url: url.into(),
            headers: BTreeMap::new(),
            body: None,
            injection,
            secret_field: None,
            success_field: None,
            error_pointer: None,
            subject_pointer: None,
            subject_prefix: None,
        }
    }

    /// A `GET` request.
    pub fn get(url: impl Into<String>, injection: AuthInjection) -> Self {
        Self::new("GET", url, injection)
    }

    /// A `POST` request.
    pub fn post(url: impl Into<String>, injection: AuthInjection) -> Self {
        Self::new("POST", url, injection)
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Sets a JSON body (and `Content-Type: application/json`).
    #[must_use]
    pub fn with_json_body(mut self, body: &serde_json::Value) -> Self {
        self.body = Some(body.to_string());
        self.headers
            .insert("Content-Type".to_owned(), "application/json".to_owned());
        self
    }

    /// Names the secret field presented (API-key methods with several fields).
    #[must_use]
    pub fn with_secret_field(mut self, field: impl Into<String>) -> Self {
        self.secret_field = Some(field.into());
        self
    }

    /// Sets the success member (Slack `ok`).
    #[must_use]
    pub fn with_success_field(mut self, field: impl Into<String>) -> Self {
        self.success_field = Some(field.into());
        self
    }

    /// Sets the pointer whose presence means refusal (GraphQL `/errors`).
    #[must_use]
    pub fn with_error_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.error_pointer = Some(pointer.into());
        self
    }

    /// Sets the pointer of the external subject.
    #[must_use]
    pub fn with_subject_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.subject_pointer = Some(pointer.into());
        self
    }

    /// Sets what is put before the value at the subject pointer to make the subject
    /// (see [`subject_prefix`](Self::subject_prefix)).
    #[must_use]
    pub fn with_subject_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.subject_prefix = Some(prefix.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::definition::{Metadata, SecretField};
    use crate::model::CredentialType;
    use crate::schema::ConfigSpec;
    use crate::{DefinitionKey, IntegrationKind};

    struct Versioned;

    impl IntegrationDefinition for Versioned {
        fn key(&self) -> DefinitionKey {
            DefinitionKey::new("versioned", "cloud").unwrap()
        }
        fn kind(&self) -> IntegrationKind {
            IntegrationKind::Connector
        }
        fn metadata(&self) -> Metadata {
            Metadata::new("Versioned", "An API with a version header.", "v", "other")
        }
        fn connection_methods(&self) -> Vec<ConnectionMethod> {
            vec![
                ConnectionMethod::api_key(
                    "api-key",
                    "API key",
                    vec![SecretField::new("key", "Key", CredentialType::API_KEY)],
                )
                .unwrap(),
            ]
        }
        fn identity_check(&self, _: &ConnectionMethod, _: &Parsed) -> Option<IdentityCheck> {
            Some(
                IdentityCheck::get("https://api.example.com/me", AuthInjection::Bearer)
                    .with_header("Accept", "application/vnd.example+json"),
            )
        }
        fn default_headers(&self, _: &Parsed) -> Result<http::HeaderMap, Error> {
            let mut headers = http::HeaderMap::new();
            headers.insert(
                "x-api-version",
                http::HeaderValue::from_static("2024-01-01"),
            );
            headers.insert("accept", http::HeaderValue::from_static("application/json"));
            Ok(headers)
        }
    }

    #[test]
    fn identity_checks_carry_the_default_headers_unless_they_set_their_own() {
        let config = ConfigSpec::empty()
            .compile()
            .unwrap()
            .parse(&json!({}))
            .unwrap();
        let method = &Versioned.connection_methods()[0];
        let check = identity_check_with_defaults(&Versioned, method, &config)
            .unwrap()
            .unwrap();
        assert_eq!(check.headers["x-api-version"], "2024-01-01");
        assert_eq!(check.headers["Accept"], "application/vnd.example+json");
        assert_eq!(check.headers.len(), 2, "{:?}", check.headers);
    }
}
