use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a runtime file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WriteMode {
    /// Replace the file.
    Overwrite,
    /// Write only when the file does not exist.
    IfAbsent,
}

/// A file a runtime client needs (a config file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RuntimeFile {
    /// Identifies the file within its client (`codex-config`).
    pub id: String,
    /// Absolute path in the sandbox.
    pub path: String,
    /// Unix mode (`0o600`).
    pub mode: u32,
    /// Content.
    pub content: String,
    /// How it is written.
    pub write_mode: WriteMode,
}

impl RuntimeFile {
    /// A file written with mode 0600, overwriting.
    pub fn new(id: impl Into<String>, path: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            path: path.into(),
            mode: 0o600,
            content: content.into(),
            write_mode: WriteMode::Overwrite,
        }
    }
}

/// How the runtime knows a process is ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Readiness {
    /// Ready when started.
    None,
    /// Ready when a TCP port accepts connections.
    Tcp {
        /// The port.
        port: u16,
    },
    /// Ready when a WebSocket URL accepts an upgrade.
    Ws {
        /// The `ws://` URL.
        url: String,
    },
    /// Ready when an HTTP URL answers this status.
    Http {
        /// The URL.
        url: String,
        /// The expected status.
        expected_status: u16,
    },
}

/// A long-running process of a runtime client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RuntimeProcess {
    /// Identifies it within its client.
    pub key: String,
    /// The command and its arguments.
    pub command: Vec<String>,
    /// Its readiness check.
    pub readiness: Readiness,
}

impl RuntimeProcess {
    /// A process.
    pub fn new(key: impl Into<String>, command: Vec<String>, readiness: Readiness) -> Self {
        Self {
            key: key.into(),
            command,
            readiness,
        }
    }
}

/// An endpoint a runtime client serves (an agent's app server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RuntimeEndpoint {
    /// Identifies it within its client.
    pub key: String,
    /// Its URL.
    pub url: String,
    /// The process that serves it.
    pub process: Option<String>,
}

impl RuntimeEndpoint {
    /// An endpoint.
    pub fn new(key: impl Into<String>, url: impl Into<String>, process: Option<String>) -> Self {
        Self {
            key: key.into(),
            url: url.into(),
            process,
        }
    }
}

/// An agent runtime client (the Codex CLI) and its setup in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RuntimeClient {
    /// Identifies the client across bindings (`codex-cli`); fragments with one id merge.
    pub id: String,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Files written before launch.
    pub files: Vec<RuntimeFile>,
    /// Extra launch arguments.
    pub launch_args: Vec<String>,
    /// Processes.
    pub processes: Vec<RuntimeProcess>,
    /// Endpoints.
    pub endpoints: Vec<RuntimeEndpoint>,
}

impl RuntimeClient {
    /// An empty client.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            env: BTreeMap::new(),
            files: Vec::new(),
            launch_args: Vec::new(),
            processes: Vec::new(),
            endpoints: Vec::new(),
        }
    }

    /// Sets an env variable.
    #[must_use]
    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    /// Adds a file.
    #[must_use]
    pub fn with_file(mut self, file: RuntimeFile) -> Self {
        self.files.push(file);
        self
    }

    /// Adds a process.
    #[must_use]
    pub fn with_process(mut self, process: RuntimeProcess) -> Self {
        self.processes.push(process);
        self
    }

    /// Adds an endpoint.
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: RuntimeEndpoint) -> Self {
        self.endpoints.push(endpoint);
        self
    }
}

/// A repository cloned into the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkspaceSource {
    /// Where it is cloned (absolute sandbox path).
    pub path: String,
    /// The clone URL (canonical HTTPS; the egress proxy injects credentials).
    pub origin_url: String,
}

impl WorkspaceSource {
    /// A source.
    pub fn new(path: impl Into<String>, origin_url: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            origin_url: origin_url.into(),
        }
    }
}
