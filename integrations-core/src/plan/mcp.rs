use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How an agent reaches an MCP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum McpTransport {
    /// A local process over stdio.
    Stdio {
        /// The command.
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Its environment (never secrets).
        env: BTreeMap<String, String>,
    },
    /// A remote server over streamable HTTP.
    StreamableHttp {
        /// The URL (canonical upstream; the egress proxy injects credentials).
        url: String,
        /// Static, non-secret headers.
        headers: BTreeMap<String, String>,
    },
}

/// An MCP server a binding makes available to the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct McpServer {
    /// Identifies it within its binding.
    pub id: String,
    /// Its name in agent config files; unique per profile.
    pub name: String,
    /// How to reach it.
    pub transport: McpTransport,
}

impl McpServer {
    /// A streamable-HTTP server with no headers.
    pub fn http(id: impl Into<String>, name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            transport: McpTransport::StreamableHttp {
                url: url.into(),
                headers: BTreeMap::new(),
            },
        }
    }

    /// A stdio server with no environment.
    pub fn stdio(
        id: impl Into<String>,
        name: impl Into<String>,
        command: impl Into<String>,
        args: Vec<String>,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            transport: McpTransport::Stdio {
                command: command.into(),
                args,
                env: BTreeMap::new(),
            },
        }
    }
}

impl McpServer {
    /// Sets an environment variable of a stdio server (ignored for HTTP servers).
    #[must_use]
    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if let McpTransport::Stdio { env, .. } = &mut self.transport {
            env.insert(name.into(), value.into());
        }
        self
    }

    /// Sets a static, non-secret header of an HTTP server (ignored for stdio servers).
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if let McpTransport::StreamableHttp { headers, .. } = &mut self.transport {
            headers.insert(name.into(), value.into());
        }
        self
    }
}

/// The file format of an agent's MCP config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum McpConfigFormat {
    /// TOML (Codex `config.toml`, table `mcp_servers`).
    Toml,
    /// JSON (`mcpServers` files of Claude and Cursor).
    Json,
}

/// Where an agent definition wants the profile's MCP servers written: a file of one of
/// its runtime clients, at a path of keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct McpConfigTarget {
    /// The runtime client that owns the file.
    pub client_id: String,
    /// The file within that client.
    pub file_id: String,
    /// Its format.
    pub format: McpConfigFormat,
    /// The keys leading to the servers table (`["mcp_servers"]`, `["mcpServers"]`).
    pub path: Vec<String>,
}

impl McpConfigTarget {
    /// A target.
    pub fn new(
        client_id: impl Into<String>,
        file_id: impl Into<String>,
        format: McpConfigFormat,
        path: Vec<String>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            file_id: file_id.into(),
            format,
            path,
        }
    }
}
