//! [`Registry`]: the integrations a host offers, validated once at registration.

mod catalog;
mod entry;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub use catalog::{Catalog, CatalogEntry, CatalogMethod};
pub use entry::{RegisteredIntegration, RegisteredMethod, RegisteredTool};

use crate::definition::{ToolDescriptor, sanitize_tool_name};
use crate::provider::Integration;
use crate::{DefinitionKey, Error};

/// The registered integrations, by key, in byte-wise key order.
///
/// Registration rejects a duplicate key, blank metadata, inconsistent connection methods,
/// schemas that do not compile, invalid tool names and tool names that collide (after
/// sanitizing) with any other registered tool. Everything static about a definition is
/// read and compiled once, here.
///
/// Tool names are one namespace, with one exception: variants of one family (GitHub
/// cloud and GitHub Enterprise Server) may declare the same tool with an *identical*
/// descriptor. It is one tool offered on two deployments; which one a call reaches is
/// decided by the connection it goes through, never by the name. The same name with a
/// different descriptor, or in another family, is a collision.
///
/// ```
/// use integrations_core::Registry;
///
/// let registry = Registry::new();
/// assert_eq!(registry.len(), 0);
/// assert!(registry.get(&"github::github-cloud".parse()?).is_none());
/// # Ok::<(), integrations_core::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Registry {
    entries: BTreeMap<DefinitionKey, Arc<RegisteredIntegration>>,
    tools: BTreeMap<String, BTreeSet<DefinitionKey>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("keys", &self.entries.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers an integration.
    ///
    /// # Errors
    ///
    /// Nothing is registered when any check fails:
    /// * [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) `registry.duplicate_key`
    ///   when the key is taken;
    /// * [`ErrorKind::Conflict`](crate::ErrorKind::Conflict)
    ///   `registry.tool_name_collision` when a tool name (sanitized) is taken;
    /// * [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput)
    ///   `registry.invalid_definition` with one issue per problem (`registry.blank_name`,
    ///   `registry.no_connection_methods`, `registry.schema_does_not_compile`,
    ///   `tool.invalid_name`, ...).
    pub fn register(&mut self, integration: Arc<dyn Integration>) -> Result<(), Error> {
        let key = integration.key();
        if self.entries.contains_key(&key) {
            return Err(crate::codes::registry::DUPLICATE_KEY.error(format!(
                "an integration with key {key} is already registered"
            )));
        }
        let entry = RegisteredIntegration::build(integration)?;
        let mut names: BTreeMap<String, &ToolDescriptor> = BTreeMap::new();
        for tool in entry.tools() {
            let sanitized = sanitize_tool_name(&tool.name);
            for owner in self.tools.get(&sanitized).into_iter().flatten() {
                let shared = owner.family() == key.family()
                    && self
                        .entries
                        .get(owner)
                        .and_then(|e| e.tools().iter().find(|t| t.name == tool.name))
                        .is_some_and(|theirs| theirs == tool);
                if !shared {
                    return Err(crate::codes::registry::TOOL_NAME_COLLISION.error(format!(
                        "tool {} of {key} collides with a tool of {owner}",
                        tool.name
                    )));
                }
            }
            if names.insert(sanitized, tool).is_some() {
                return Err(crate::codes::registry::TOOL_NAME_COLLISION
                    .error(format!("{key} declares the tool {} twice", tool.name)));
            }
        }
        for name in names.into_keys() {
            self.tools.entry(name).or_default().insert(key.clone());
        }
        self.entries.insert(key, Arc::new(entry));
        Ok(())
    }

    /// Registers an integration, builder style.
    ///
    /// # Errors
    ///
    /// As [`register`](Self::register).
    pub fn with(mut self, integration: Arc<dyn Integration>) -> Result<Self, Error> {
        self.register(integration)?;
        Ok(self)
    }

    /// The integration registered under `key`.
    pub fn get(&self, key: &DefinitionKey) -> Option<&Arc<RegisteredIntegration>> {
        self.entries.get(key)
    }

    /// The integration registered under `key`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) `registry.unknown_definition`.
    pub fn require(&self, key: &DefinitionKey) -> Result<&Arc<RegisteredIntegration>, Error> {
        self.get(key).ok_or_else(|| {
            crate::codes::registry::UNKNOWN_DEFINITION
                .error(format!("no integration is registered under {key}"))
        })
    }

    /// Every integration, in byte-wise key order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<RegisteredIntegration>> {
        self.entries.values()
    }

    /// Every key, in byte-wise order.
    pub fn keys(&self) -> impl Iterator<Item = &DefinitionKey> {
        self.entries.keys()
    }

    /// How many integrations are registered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The integration and descriptor of a tool, by name. When variants of one family
    /// share the tool, the first in byte-wise key order; see
    /// [`tool_owners`](Self::tool_owners).
    pub fn find_tool(&self, name: &str) -> Option<(&Arc<RegisteredIntegration>, &ToolDescriptor)> {
        let key = self.tools.get(name)?.iter().next()?;
        let entry = self.entries.get(key)?;
        let tool = entry.tools().iter().find(|t| t.name == name)?;
        Some((entry, tool))
    }

    /// Every integration that offers the tool `name`, in byte-wise key order.
    pub fn tool_owners(&self, name: &str) -> impl Iterator<Item = &DefinitionKey> {
        self.tools.get(name).into_iter().flatten()
    }

    /// The catalog for target discovery.
    pub fn catalog(&self) -> Catalog {
        Catalog::from_registry(self)
    }
}
