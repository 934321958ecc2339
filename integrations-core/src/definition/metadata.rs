use serde::{Deserialize, Serialize};

/// Display metadata of a definition, for catalogs and target discovery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Metadata {
    /// Display name (`GitHub Enterprise Server`).
    pub name: String,
    /// One sentence on what it does.
    pub description: String,
    /// A key the host maps to a logo (`github`).
    pub logo_key: String,
    /// A category (`developer-tools`, `communication`, `productivity`, `ai`).
    pub category: String,
    /// Where the provider documents the integration.
    pub docs_url: Option<String>,
}

impl Metadata {
    /// Metadata with the required fields.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        logo_key: impl Into<String>,
        category: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            logo_key: logo_key.into(),
            category: category.into(),
            docs_url: None,
        }
    }

    /// Sets the docs URL.
    #[must_use]
    pub fn with_docs_url(mut self, url: impl Into<String>) -> Self {
        self.docs_url = Some(url.into());
        self
    }
}
