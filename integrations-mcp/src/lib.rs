//! An MCP server for a tenant's connected tools, over the integrations tool runtime.
//!
//! [`McpService`] serves, to each MCP client, the [`Manifest`](integrations_core::tools::Manifest)
//! of one [`McpSession`] (tenant, workspace, user, project; publications per connection):
//!
//! * `tools/list` lists exactly the tools the manifest allows (blocked tools and unusable
//!   connections are absent) and the session can call: a tool that needs a capability
//!   is listed only while the session's publication for its connection grants it (the
//!   host's log names the tools left out), with annotations, `inputSchema` and `outputSchema`,
//!   paginated with `cursor`; `notifications/tools/list_changed` goes out when the host
//!   calls [`McpService::tools_changed`]. A page's cursor names the last tool it listed
//!   (the tools come in name order), so tools added or removed between two pages make the
//!   client neither skip nor repeat the tools that stayed.
//! * `tools/call` goes through [`Runtime::call`](integrations_core::tools::Runtime::call):
//!   argument validation, publication capability, policy, the token manager, rate limits,
//!   result trimming. Tool failures (bad arguments, provider errors, refusals) are results
//!   with `isError: true`; only an unknown tool or a malformed request is a JSON-RPC error.
//!   A large result gives its first page and a cursor for the
//!   `integrations_continue_result` tool. The pages wait, sealed, in the host's store for
//!   15 minutes, each read once, by the same session (tenant, workspace, user, project,
//!   issue) with the same publications and, in a stateful MCP session, by that MCP
//!   session only; a 2026-07-28 client over HTTP has no MCP session, so its later
//!   requests read them, through any instance of the host. The pages of an approved
//!   call's result go with the result to the retry, from whichever MCP session. Another
//!   principal's read, or another session's, answers
//!   `tool.continuation_not_found` and leaves the pages to their owner; a continuation
//!   call that fails without reading its page (bad arguments) or is cancelled before the
//!   store hands its page over leaves the cursor valid. Cancellation stops waiting for
//!   the provider; calls over a second send progress notifications when the client asked
//!   for them.
//! * `ask` policy: **the host settles approvals, never the client.** An `ask` call is
//!   stored as an approval request and answered with URL-mode elicitation (2025-11-25's
//!   `URLElicitationRequired` error, `-32042`) pointing at the host's approval page, or,
//!   for clients without URL mode, an `isError` result naming the approval id and URL.
//!   A person approves through [`Approvals::approve`], which runs the call exactly once
//!   (the runtime takes the request out of the store once); the client's retry with the
//!   same arguments then receives that result. A retry while the approved call runs
//!   gets an `isError` result saying so (`_meta["integrations/approval"].running` is
//!   `true`), never a new request. A call with a request here is answered by it whatever
//!   the tool's policy is now: a tool switched to `auto` or `block` meanwhile does not
//!   run it again, and its result is still handed over. Identical calls in flight at
//!   once (a client retrying on timeout) share one approval request. Nothing blocks a
//!   request while waiting for a human. A principal (tenant, workspace, user) has at most
//!   256 requests waiting: past that, a new `ask` call is refused with
//!   `mcp.too_many_approvals` (an `isError` result) and nothing is stored for it. The
//!   count is the store's (every process's requests) plus the calls asking in this
//!   process; calls asking at the same moment in other processes are not counted, so a
//!   burst across instances can pass the cap by those.
//!
//!   **Any process.** The request, which call it answers and the result kept for the
//!   client's retry (sealed with the host's cipher) are all in the host's approval store
//!   ([`ApprovalCall`](integrations_core::tools::ApprovalCall) records): with several
//!   instances over one database, any of them lists the pending requests, settles one
//!   (still exactly once), and answers the client's retry, wherever the call was asked.
//!   Only identical calls asking at the same moment wait for each other within one
//!   process; across processes the first to store its request answers both (the other's
//!   is withdrawn). The process running an approved call renews its record
//!   while the call runs; one that dies while running it leaves the record `running` for
//!   at most its lease ([`McpOptions::approval_run_lease`], ten minutes by default),
//!   then the retry asks anew: a person decides again whether the call, which may have
//!   run, runs again. A process cut off from the store for most of the lease lets the
//!   record lapse the same way, and logs that the result it then gets is lost. The per-principal cap counts the
//!   requests in the store and the calls asking in this process. Continuation pages are
//!   in the store too (see above), so nothing a client is given lives in one instance
//!   only, but a stateful session itself: route a session's requests to the instance
//!   that opened it.
//!
//!   Trusting a form-mode elicitation `accept` instead is an explicit opt-in
//!   ([`McpService::serve_stdio_trusting_client`]) for a local stdio client whose UI is the
//!   user's own. **Risk:** any MCP client can declare elicitation and answer `accept`
//!   without showing anything to anyone, so with this mode on, the client (not a person
//!   in the host) decides whether a write runs. It is off by default and never offered
//!   over HTTP.
//!
//! Transports: [`McpService::serve_stdio`] (or any rmcp transport through
//! [`McpService::server`]), and streamable HTTP as an axum [`Router`](axum::Router)
//! ([`McpService::http_router`]) behind an [`McpAuthenticator`]: requests without a valid
//! bearer token get 401, a disallowed `Origin` gets 403 (DNS-rebinding protection), a
//! session answers only the principal that opened it, the body size and the number of
//! live sessions (in all and per principal) are limited, and idle sessions expire.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use integrations_core::tools::{Runtime, Session};
//! # use integrations_mcp::{McpService, McpSession, McpOptions};
//! # async fn run(runtime: Arc<Runtime>, session: Session) -> Result<(), integrations_core::Error> {
//! let service = McpService::new(runtime)
//!     .with_options(McpOptions::new().with_approval_url("https://app.example.com/approvals"));
//! service.serve_stdio(McpSession::new(session)).await?;
//! # Ok(()) }
//! ```

mod approvals;
pub mod codes;
#[cfg(feature = "demo")]
pub mod demo;
mod http;
mod page;
mod server;
mod session;

pub use approvals::{Approvals, PendingApproval};
pub use http::{McpAuthenticator, McpHttpOptions};
pub use page::PageKey;
pub use server::{
    APPROVAL_INPUT, McpServer, McpService, NEWEST_REVISION, URL_ELICITATION_REQUIRED,
};
pub use session::{McpOptions, McpSession};
