use serde::{Deserialize, Serialize};

use super::Registry;
use crate::definition::ConnectionMethodKind;
use crate::{ConnectionMethodId, DefinitionKey, IntegrationKind};

/// The registry as data, for target discovery UIs and `integrations catalog --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Catalog {
    /// Every integration, in byte-wise key order.
    pub integrations: Vec<CatalogEntry>,
}

/// One integration in the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CatalogEntry {
    /// `family::variant`.
    pub key: DefinitionKey,
    /// The family.
    pub family: String,
    /// The variant.
    pub variant: String,
    /// Agent, connector or git.
    pub kind: IntegrationKind,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Logo key.
    pub logo_key: String,
    /// Category.
    pub category: String,
    /// Docs URL.
    pub docs_url: Option<String>,
    /// Connection methods.
    pub connection_methods: Vec<CatalogMethod>,
    /// Tool names.
    pub tools: Vec<String>,
}

/// A connection method in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CatalogMethod {
    /// The method id.
    pub id: ConnectionMethodId,
    /// Its label.
    pub label: String,
    /// How it obtains credentials.
    pub kind: ConnectionMethodKind,
}

impl Catalog {
    pub(crate) fn from_registry(registry: &Registry) -> Self {
        let integrations = registry
            .iter()
            .map(|entry| {
                let metadata = entry.metadata();
                CatalogEntry {
                    key: entry.key().clone(),
                    family: entry.key().family().to_owned(),
                    variant: entry.key().variant().to_owned(),
                    kind: entry.kind(),
                    name: metadata.name.clone(),
                    description: metadata.description.clone(),
                    logo_key: metadata.logo_key.clone(),
                    category: metadata.category.clone(),
                    docs_url: metadata.docs_url.clone(),
                    connection_methods: entry
                        .methods()
                        .iter()
                        .map(|m| CatalogMethod {
                            id: m.method().id.clone(),
                            label: m.method().label.clone(),
                            kind: m.method().kind,
                        })
                        .collect(),
                    tools: entry.tools().iter().map(|t| t.name.clone()).collect(),
                }
            })
            .collect();
        Self { integrations }
    }
}
