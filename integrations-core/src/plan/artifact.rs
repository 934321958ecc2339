use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One step that installs an artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum InstallStep {
    /// Run a command (argv, no shell).
    Exec {
        /// The command and its arguments.
        args: Vec<String>,
    },
    /// Download a release asset from GitHub and install its binary.
    GithubRelease {
        /// `owner/repo`.
        repository: String,
        /// A tag, or `None` for the latest release.
        tag: Option<String>,
        /// The asset name per architecture (`x86_64`, `aarch64`).
        assets: BTreeMap<String, String>,
        /// The binary to install from the asset.
        binary: String,
    },
}

/// A tool installed in the sandbox (the `gh` CLI, the Codex CLI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Artifact {
    /// Identifies it across bindings: two bindings may emit the same key only with an
    /// identical artifact (then it is installed once).
    pub key: String,
    /// The display name.
    pub name: String,
    /// Environment variables it needs. Never a real secret: tools that refuse to start
    /// without a token get a dummy one and the egress proxy injects the real one.
    pub env: BTreeMap<String, String>,
    /// How to install it.
    pub install: Vec<InstallStep>,
}

impl Artifact {
    /// An artifact with no env.
    pub fn new(key: impl Into<String>, name: impl Into<String>, install: Vec<InstallStep>) -> Self {
        Self {
            key: key.into(),
            name: name.into(),
            env: BTreeMap::new(),
            install,
        }
    }

    /// Sets an env variable.
    #[must_use]
    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }
}
