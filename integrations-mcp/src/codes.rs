//! The catalogue of the error codes this crate emits: tool-result failures, transport
//! errors, and the `error.code` of the HTTP transport's refusals.

integrations_core::error_codes! {
    /// Codes of the MCP server.
    pub mod mcp {
        APPROVAL_DENIED = "mcp.approval_denied", PermissionDenied, "A person denied the tool call asked about through the MCP client; it did not run.";
        APPROVAL_PAGE_REFUSED = "mcp.approval_page_refused", PermissionDenied, "The loopback approval page refused a request through a name that is not a loopback one (DNS rebinding) or a decision posted from another origin; answered 403.";
        APPROVAL_PAGE_SIGNED_OUT = "mcp.approval_page_signed_out", Verification, "The loopback approval page refused a request without its sign-in cookie (open the sign-in link the server printed), or a sign-in with the wrong key; answered 401.";
        APPROVAL_RUNNING = "mcp.approval_running", Unavailable, "The approved call is running now (the result's `integrations/approval` names its request); call again with the same arguments in a moment to receive its result.";
        APPROVAL_RESULT_UNREADABLE = "mcp.approval_result_unreadable", Internal, "The stored result of an approved call could not be read back (it is not a tool result this version wrote); the call ran, and its result is lost.";
        AUTH_UNAVAILABLE = "mcp.auth_unavailable", Unavailable, "The HTTP transport could not authenticate the request right now (the host's authenticator failed); answered 503.";
        BODY_TOO_LARGE = "mcp.body_too_large", InvalidInput, "The HTTP request body is larger than the server allows; answered 413.";
        ORIGIN_REFUSED = "mcp.origin_refused", PermissionDenied, "The HTTP request's Origin is not allowed; answered 403.";
        SESSION_NOT_FOUND = "mcp.session_not_found", NotFound, "The HTTP request names an MCP session its principal does not have (another principal opened it); answered 404, as for a session that does not exist: open a new one.";
        TOO_MANY_APPROVALS = "mcp.too_many_approvals", Unavailable, "The principal (tenant, workspace, user) has as many approval requests waiting for a person as the server keeps (256); the call was not asked about, stored or run: settle the pending ones or let them expire, then call again.";
        TOO_MANY_SESSIONS = "mcp.too_many_sessions", Unavailable, "The server, or the request's principal, has as many MCP sessions as it allows; answered 503, try again later or end a session.";
        TRANSPORT = "mcp.transport", Unavailable, "The MCP handshake or the transport failed, or the server stopped unexpectedly.";
        UNAUTHORIZED = "mcp.unauthorized", Verification, "The HTTP request carries no valid bearer token; answered 401.";
    }
}
