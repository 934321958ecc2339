use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::CredentialType;

/// Which requests a route applies to. Empty lists mean "any". Hosts compare
/// case-insensitively without ports; methods compare case-insensitively; path prefixes
/// match on segment boundaries (`/v1` matches `/v1` and `/v1/x`, never `/v10`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RouteMatch {
    /// Hosts (`api.github.com`).
    pub hosts: Vec<String>,
    /// Path prefixes (`/repos/acme/widgets`); empty means every path.
    pub path_prefixes: Vec<String>,
    /// Methods (`GET`, `POST`); empty means every method.
    pub methods: Vec<String>,
    /// Path prefixes the route does not cover although a prefix of
    /// [`path_prefixes`](Self::path_prefixes) does, each strictly under one of them
    /// (`/api/auth.revoke` under `/api`): a request there gets no credential from this
    /// route. For the few endpoints that would let the sandbox destroy the credential
    /// it is lent (revoke a token, uninstall the app). Left out of a plan when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_path_prefixes: Vec<String>,
}

impl RouteMatch {
    /// Matches every request to `host`.
    pub fn host(host: impl Into<String>) -> Self {
        Self {
            hosts: vec![host.into()],
            path_prefixes: Vec::new(),
            methods: Vec::new(),
            excluded_path_prefixes: Vec::new(),
        }
    }

    /// Adds a host.
    #[must_use]
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.hosts.push(host.into());
        self
    }

    /// Adds a path prefix.
    #[must_use]
    pub fn with_path_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefixes.push(prefix.into());
        self
    }

    /// Excludes a path prefix from the route: see
    /// [`excluded_path_prefixes`](Self::excluded_path_prefixes).
    #[must_use]
    pub fn excluding_path_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.excluded_path_prefixes.push(prefix.into());
        self
    }

    /// Sets the methods.
    #[must_use]
    pub fn with_methods<I, S>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.methods = methods.into_iter().map(Into::into).collect();
        self
    }
}

/// How a credential is put on a matched request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthInjection {
    /// `Authorization: Bearer <credential>`.
    Bearer,
    /// `Authorization: Basic base64(<username>:<credential>)`, or of the credential alone
    /// without a username. Git over HTTPS with a GitHub token uses `x-access-token`.
    Basic {
        /// The fixed username.
        username: Option<String>,
    },
    /// `<name>: <prefix><credential>`.
    Header {
        /// The header name.
        name: String,
        /// A prefix before the credential (`token `).
        prefix: Option<String>,
    },
    /// `?<name>=<credential>`.
    Query {
        /// The parameter name.
        name: String,
    },
}

/// Which credential of the binding's connection a route injects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CredentialSelector {
    /// The credential type.
    pub credential_type: CredentialType,
    /// The slot, when the connection holds several of the type.
    pub slot: Option<String>,
    /// A custom resolver of the provider, by key (GitHub installation tokens).
    pub resolver: Option<String>,
    /// Non-secret parameters for the resolver (the repositories an installation token is
    /// narrowed to). Sorted, so plans stay deterministic.
    pub parameters: BTreeMap<String, serde_json::Value>,
}

impl CredentialSelector {
    /// Selects the stored credential of a type.
    pub fn of_type(credential_type: CredentialType) -> Self {
        Self {
            credential_type,
            slot: None,
            resolver: None,
            parameters: BTreeMap::new(),
        }
    }

    /// Sets the slot.
    #[must_use]
    pub fn with_slot(mut self, slot: impl Into<String>) -> Self {
        self.slot = Some(slot.into());
        self
    }

    /// Resolves through the provider's custom resolver `key`.
    #[must_use]
    pub fn with_resolver(mut self, key: impl Into<String>) -> Self {
        self.resolver = Some(key.into());
        self
    }

    /// Adds a resolver parameter.
    #[must_use]
    pub fn with_parameter(mut self, name: impl Into<String>, value: serde_json::Value) -> Self {
        self.parameters.insert(name.into(), value);
        self
    }
}

/// One egress route as a definition emits it, before the compiler stamps its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EgressRouteSpec {
    /// Which requests it applies to.
    pub matcher: RouteMatch,
    /// The canonical upstream base URL (`https://api.github.com`).
    pub upstream: String,
    /// How the credential is injected.
    pub injection: AuthInjection,
    /// Which credential.
    pub credential: CredentialSelector,
    /// Non-secret headers set on matched requests, replacing what the caller sent
    /// (`OpenAI-Organization`).
    pub headers: BTreeMap<String, String>,
    /// Non-secret headers set on matched requests only when the caller sent none of that
    /// name (`Accept`, `X-GitHub-Api-Version`).
    #[serde(default)]
    pub default_headers: BTreeMap<String, String>,
}

impl EgressRouteSpec {
    /// A route.
    pub fn new(
        matcher: RouteMatch,
        upstream: impl Into<String>,
        injection: AuthInjection,
        credential: CredentialSelector,
    ) -> Self {
        Self {
            matcher,
            upstream: upstream.into(),
            injection,
            credential,
            headers: BTreeMap::new(),
            default_headers: BTreeMap::new(),
        }
    }

    /// Adds a header that replaces the caller's.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Adds a header set only when the caller sent none of that name.
    #[must_use]
    pub fn with_default_header(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.default_headers.insert(name.into(), value.into());
        self
    }
}
