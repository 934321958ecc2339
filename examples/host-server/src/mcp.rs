//! `/mcp`: the tenant's connected tools served to MCP clients (streamable HTTP), behind
//! the host's own sessions.
//!
//! An MCP client sends `Authorization: Bearer <token>` on every request; the host turns
//! the token into the session it acts for (tenant, workspace, user) with an
//! [`McpAuthenticator`]. This example's authenticator is [`McpTokens`]: tokens the host
//! issued (an API-token page in a real host), kept as SHA-256 digests so the table never
//! holds a usable token and a lookup takes the same time whatever it matches. A real host
//! plugs in its own (OAuth access tokens it issued, signed session tokens) through
//! [`App::with_mcp`](crate::App::with_mcp), and through
//! [`App::with_tool_auth`](crate::App::with_tool_auth) for `POST /tools/{name}`, which
//! takes its caller's session the same way.
//!
//! Without a valid token a request gets `401`; a browser `Origin` that is not allowed
//! gets `403`; `ask` tools wait for a person's approval through
//! [`McpService::approvals`](integrations_mcp::McpService::approvals).

use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;
use integrations::prelude::*;
use integrations_mcp::{McpAuthenticator, McpSession};
use sha2::{Digest, Sha256};

/// Bearer tokens the host issued, each for one session. Holds only their digests.
#[derive(Default)]
pub struct McpTokens {
    sessions: HashMap<[u8; 32], McpSession>,
}

impl fmt::Debug for McpTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpTokens")
            .field("tokens", &self.sessions.len())
            .finish()
    }
}

impl McpTokens {
    /// No tokens: every request gets 401.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts `token` as `session`'s.
    #[must_use]
    pub fn with_token(mut self, token: &str, session: McpSession) -> Self {
        self.sessions.insert(digest(token), session);
        self
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[async_trait]
impl McpAuthenticator for McpTokens {
    async fn authenticate(&self, token: &str) -> Result<Option<McpSession>, Error> {
        Ok(self.sessions.get(&digest(token)).cloned())
    }
}
