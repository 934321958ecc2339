//! The catalogue of every error code `integrations-core` emits.
//!
//! One module per area, one [`Code`](crate::Code) constant per code: the code's
//! `area.reason` string, the one [`ErrorKind`](crate::ErrorKind) every error with it has,
//! and what it means. Errors are built with [`Code::error`](crate::Code::error), which
//! takes the kind from the code, so the same condition cannot get two kinds. [`ALL`]
//! lists every code; `docs/error-codes.md` is generated from it and from the other
//! crates' catalogues (a test fails when the file is stale).
//!
//! Conditions shared by the engines have one code: a missing, disabled or mismatched
//! target, a missing or inactive connection and a stored config that no longer validates
//! are `auth.*` codes whichever engine (OAuth, tools, sync, webhooks) meets them.
//!
//! This module depends only on the `error` module (the foundation layer).

crate::error_codes! {
    /// Codes of the `auth` area.
    pub mod auth {
        AMBIGUOUS_CONNECTION = "auth.ambiguous_connection", Conflict, "Several connections of the integration apply to the request; remove one or make one more specific.";
        CONNECTION_CONFIG_INVALID = "auth.connection_config_invalid", Configuration, "The connection's stored config no longer validates against its definition's schema; the issues say where.";
        CONNECTION_EXISTS = "auth.connection_exists", Conflict, "A connection with this id already exists; reauthorize it instead.";
        CONNECTION_NOT_ACTIVE = "auth.connection_not_active", PermissionDenied, "The connection is not active (revoked or in error); reauthorize or repair it first. Every engine (OAuth, tools, sync, webhooks) uses this code.";
        CONNECTION_NOT_FOUND = "auth.connection_not_found", NotFound, "The connection does not exist in this tenant. Every engine (OAuth, tools, sync) uses this code.";
        CREDENTIAL_EXPIRED = "auth.credential_expired", Provider, "The stored credential expired and cannot be renewed.";
        CREDENTIAL_NOT_A_HEADER = "auth.credential_not_a_header", InvalidInput, "The credential cannot be sent in an HTTP header.";
        CREDENTIAL_REJECTED = "auth.credential_rejected", InvalidInput, "The provider rejected the credential (an API key or token failed its identity check); nothing was stored.";
        CREDENTIAL_REVOKED = "auth.credential_revoked", Provider, "A credential resolver says the grant behind the connection is gone (an uninstalled app); the token manager marks the connection `error`.";
        IDENTITY_FAILED = "auth.identity_failed", Provider, "The identity check answered an unexpected HTTP status; check the target's URLs.";
        IDENTITY_RATE_LIMITED = "auth.identity_rate_limited", RateLimited, "The provider is rate limiting the identity check.";
        IDENTITY_UNAVAILABLE = "auth.identity_unavailable", Unavailable, "The provider could not check the credential (a 5xx or a network failure); retrying may succeed.";
        INVALID_IDENTITY_CHECK = "auth.invalid_identity_check", Configuration, "The definition's identity check is invalid (a bad URL, header or pointer).";
        METHOD_NOT_CLIENT_CREDENTIALS = "auth.method_not_client_credentials", InvalidInput, "This connection method does not use the client credentials grant.";
        METHOD_NOT_REDIRECT = "auth.method_not_redirect", InvalidInput, "The connection method does not use a redirect flow.";
        MISSING_CLIENT_ID = "auth.missing_client_id", Configuration, "The definition's OAuth data for the target names no client id (usually read from the target config's `client_id`).";
        MISSING_TARGET_SECRET = "auth.missing_target_secret", Configuration, "The target's secrets lack a field the connection method needs.";
        NO_CREDENTIAL = "auth.no_credential", NotFound, "The connection has no access token.";
        NO_CREDENTIALS = "auth.no_credentials", NotFound, "The connection has no stored credentials.";
        NO_REDIRECT_FLOW = "auth.no_redirect_flow", Configuration, "The definition has no redirect flow for the connection method.";
        NOT_OAUTH2 = "auth.not_oauth2", Configuration, "The connection method has no OAuth 2.0 data.";
        REAUTHORIZE_MISMATCH = "auth.reauthorize_mismatch", InvalidInput, "The connection to reauthorize uses another target or method.";
        REFRESH_CONTENDED = "auth.refresh_contended", Unavailable, "The connection's credentials kept changing during the refresh; retry.";
        REFRESH_IN_PROGRESS = "auth.refresh_in_progress", Unavailable, "Another process is refreshing this connection's token; retry shortly.";
        REFRESH_TIMEOUT = "auth.refresh_timeout", Unavailable, "The token endpoint did not answer within the refresh lease; retry.";
        RESOLVER_DECLINED = "auth.resolver_declined", NotFound, "The credential resolver has no credential for this connection.";
        RESOLVER_NOT_FOUND = "auth.resolver_not_found", NotFound, "The integration declares a credential resolver the provider does not supply.";
        REVOCATION_IMPOSSIBLE = "auth.revocation_impossible", Configuration, "The connection's target is missing or disabled, so the provider cannot be asked to revoke the grant; disconnect with force to forget the tokens.";
        SCOPE_USER_MISMATCH = "auth.scope_user_mismatch", InvalidInput, "A user's connection can only be reauthorized by that user.";
        SUBJECT_MISMATCH = "auth.subject_mismatch", Conflict, "The provider authorized another account than the connection's; nothing was changed.";
        TARGET_CONFIG_INVALID = "auth.target_config_invalid", Configuration, "The target's stored config no longer validates against its definition's schema; the operator must fix it. Every engine uses this code.";
        TARGET_DISABLED = "auth.target_disabled", PermissionDenied, "The target is disabled by its operator. Every engine (OAuth, tools, sync, webhooks) uses this code.";
        TARGET_MISMATCH = "auth.target_mismatch", Configuration, "The connection's target belongs to another definition than the connection (or changed definition since the authorization started).";
        TARGET_NOT_FOUND = "auth.target_not_found", NotFound, "The connection's target does not exist. Every engine (OAuth, tools, sync, webhooks) uses this code.";
        TARGET_SECRETS_INVALID = "auth.target_secrets_invalid", Configuration, "The target's secrets are not a JSON object.";
        UNKNOWN_METHOD = "auth.unknown_method", NotFound, "The definition has no connection method with the name asked for.";
    }
    /// Codes of the `binding` area.
    pub mod binding {
        INVALID = "binding.invalid", InvalidInput, "The binding was not stored: it fails its checks; the issues say which (`binding.*`, `schema.*`, the definition's own).";
    }
    /// Codes of the `capability` area.
    pub mod capability {
        INVALID = "capability.invalid", InvalidInput, "A capability is dot-separated lowercase segments, such as issue.create.";
    }
    /// Codes of the `compile` area.
    pub mod compile {
        INVALID = "compile.invalid", InvalidInput, "The profile does not compile; its issues name each problem (a binding naming a record that does not exist, a disabled target, conflicting routes or environment variables, an MCP server that cannot be configured).";
        INVALID_DOCUMENT = "compile.invalid_document", InvalidInput, "The profile document has duplicate ids or references to missing records.";
    }
    /// Codes of the `connection` area.
    pub mod connection {
        INVALID = "connection.invalid", InvalidInput, "The connection was not stored: it fails its checks; the issues say which (`connection.*`, `schema.*`).";
    }
    /// Codes of the `credential` area.
    pub mod credential {
        AMBIGUOUS = "credential.ambiguous", Conflict, "The connection holds several credentials of the type asked for; name the slot to use.";
        INVALID_TYPE = "credential.invalid_type", InvalidInput, "A credential type is 1 to 64 lowercase letters, digits and underscores.";
        REJECTED = "credential.rejected", PermissionDenied, "The provider refused the credential a tool's request carried; the audit outcome of `credential.used` (the request is retried once with a renewed credential where the source can renew it).";
    }
    /// Codes of the `crypto` area.
    pub mod crypto {
        DUPLICATE_KEY_ID = "crypto.duplicate_key_id", Conflict, "The key ring already holds a key with this id.";
        INVALID_KEY = "crypto.invalid_key", InvalidInput, "A sealing key must be 64 hex digits (32 bytes).";
        INVALID_KEY_ID = "crypto.invalid_key_id", InvalidInput, "A key id must not be blank.";
        NOT_UTF8 = "crypto.not_utf8", Crypto, "A sealed secret is not UTF-8 text.";
        OPEN_FAILED = "crypto.open_failed", Crypto, "A sealed value could not be opened: wrong key, tampered data or wrong associated data.";
        RANDOM_FAILED = "crypto.random_failed", Crypto, "The system random source failed.";
        SEAL_FAILED = "crypto.seal_failed", Crypto, "Sealing a value failed.";
        UNKNOWN_KEY = "crypto.unknown_key", Crypto, "A sealed value names a key that is not in the key ring.";
    }
    /// Codes of the `egress` area.
    pub mod egress {
        AMBIGUOUS_PATH = "egress.ambiguous_path", InvalidInput, "The request path holds an encoded slash or backslash, an encoded dot segment, a dot segment with parameters (`..;`) or an empty segment, which servers read differently; it is refused.";
        AMBIGUOUS_ROUTE = "egress.ambiguous_route", Conflict, "Several routes match the request; no credential is injected.";
        CONNECTION_MISMATCH = "egress.connection_mismatch", Configuration, "A route injects the credential of another connection than its own.";
        DUPLICATE_KEY = "egress.duplicate_key", Conflict, "A grant key with the same id is already present in the key ring.";
        DUPLICATE_ROUTE = "egress.duplicate_route", InvalidInput, "Two routes of the plan have the same id.";
        GRANT_AUDIENCE = "egress.grant_audience", PermissionDenied, "The egress grant was issued for another tenant or plan.";
        GRANT_EXPIRED = "egress.grant_expired", Verification, "The egress grant has expired.";
        GRANT_INVALID = "egress.grant_invalid", Verification, "The egress grant is not valid.";
        GRANT_SCOPE = "egress.grant_scope", PermissionDenied, "The request does not fall under the grant's route.";
        GRANT_TTL = "egress.grant_ttl", InvalidInput, "A grant lives more than zero and at most 24 hours.";
        INVALID_CREDENTIAL = "egress.invalid_credential", Configuration, "The credential cannot be sent in a header.";
        INVALID_HEADER = "egress.invalid_header", Configuration, "A route header name is not valid.";
        INVALID_HOST = "egress.invalid_host", InvalidInput, "A host is empty, has a bad port, or holds characters a host name cannot hold.";
        INVALID_KEY = "egress.invalid_key", InvalidInput, "A grant key has an id of 1 to 64 letters, digits, - or _ and at least 32 bytes.";
        INVALID_METHOD = "egress.invalid_method", InvalidInput, "The method is not a valid HTTP method.";
        INVALID_PATH = "egress.invalid_path", InvalidInput, "The request path is not valid.";
        INVALID_PATH_PREFIX = "egress.invalid_path_prefix", InvalidInput, "A route's path prefix is not an absolute path without query, fragment, trailing slash or dot segment.";
        INVALID_REQUEST = "egress.invalid_request", InvalidInput, "The request cannot be forwarded.";
        INVALID_ROUTE_ID = "egress.invalid_route_id", InvalidInput, "A route id is `egress_rule_` followed by the binding id.";
        INVALID_UPSTREAM = "egress.invalid_upstream", Configuration, "The route's upstream is not an absolute URL.";
        INVALID_URL = "egress.invalid_url", InvalidInput, "The request URL is not absolute or has no host.";
        NO_HOST = "egress.no_host", InvalidInput, "A route names no host.";
        RANDOM_FAILED = "egress.random_failed", Crypto, "The system has no randomness.";
        UNSUPPORTED_INJECTION = "egress.unsupported_injection", Configuration, "A route uses a credential injection this version cannot apply.";
    }
    /// Codes of the `export` area.
    pub mod export {
        UNSUPPORTED_SCHEMA = "export.unsupported_schema", InvalidInput, "A tool's input schema uses a construct the export format cannot express.";
    }
    /// Codes of the `host` area.
    pub mod host {
        INCOMPLETE = "host.incomplete", Configuration, "The host builder is missing a part every engine needs (the targets, connections or credentials store, or the cipher); the message names it.";
        NO_EVENT_SINK = "host.no_event_sink", Configuration, "The host has no event sink; set one with `HostBuilder::events`.";
        PART_MISSING = "host.part_missing", Configuration, "The host was built without a store or the HTTP client that this engine or call uses; the message names the part and the `HostBuilder` method that sets it.";
    }
    /// Codes of the `http` area.
    pub mod http {
        BODY_TOO_LARGE = "http.body_too_large", Unavailable, "The HTTP response body is larger than the configured limit.";
        CLIENT_BUILD = "http.client_build", Configuration, "The HTTP client could not be built.";
        CONNECT = "http.connect", Unavailable, "The HTTP connection could not be made.";
        FAILED = "http.failed", Unavailable, "The HTTP request failed.";
        INVALID_REQUEST = "http.invalid_request", InvalidInput, "The HTTP request cannot be sent.";
        TIMEOUT = "http.timeout", Unavailable, "The HTTP request timed out.";
    }
    /// Codes of the `id` area.
    pub mod id {
        INVALID = "id.invalid", InvalidInput, "An id is empty, too long or holds characters ids cannot hold.";
    }
    /// Codes of the `internal` area.
    pub mod internal {
        BUG = "internal.bug", Internal, "An invariant of the library did not hold: a bug; please report it.";
    }
    /// Codes of the `key` area.
    pub mod key {
        INVALID = "key.invalid", InvalidInput, "A definition key is not `family::variant` in lowercase letters, digits and `-`.";
    }
    /// Codes of the `mcp` area.
    pub mod mcp {
        INVALID_DOCUMENT = "mcp.invalid_document", InvalidInput, "The MCP config file is not a valid document of its format.";
        INVALID_PATH = "mcp.invalid_path", InvalidInput, "The path to the MCP servers table is one or more non-empty keys.";
        INVALID_SERVER = "mcp.invalid_server", InvalidInput, "An MCP server declaration is not valid.";
        NOT_A_TABLE = "mcp.not_a_table", InvalidInput, "A key on the path to the MCP servers table holds a value that is not a table.";
        UNSUPPORTED_FORMAT = "mcp.unsupported_format", Configuration, "This version cannot write that config format.";
    }
    /// Codes of the `oauth` area.
    pub mod oauth {
        ACCESS_DENIED = "oauth.access_denied", Provider, "The authorization was denied.";
        AUTHORIZATION_FAILED = "oauth.authorization_failed", Provider, "The provider did not authorize the connection (an error on the callback other than `access_denied`).";
        INSECURE_ENDPOINT = "oauth.insecure_endpoint", Configuration, "An OAuth 2.0 endpoint (authorization, token or revocation) is neither `https` nor plain `http` on a loopback address.";
        INVALID_CALLBACK = "oauth.invalid_callback", Verification, "The callback repeats a parameter.";
        INVALID_CLIENT = "oauth.invalid_client", Configuration, "The provider rejected the OAuth client; check the target's client id and secret.";
        INVALID_GRANT = "oauth.invalid_grant", Provider, "The grant is dead (`invalid_grant` and the provider's equivalents); the connection must be reauthorized.";
        INVALID_REDIRECT_URI = "oauth.invalid_redirect_uri", InvalidInput, "The redirect URI is not an absolute http(s) URL without a query or fragment (the callback arrives at it without its query and must match it exactly).";
        INVALID_RESPONSE = "oauth.invalid_response", Provider, "The token response has no access token.";
        INVALID_SCOPE = "oauth.invalid_scope", Provider, "The provider refused the requested scopes.";
        INVALID_TOKEN = "oauth.invalid_token", Provider, "The stored access token cannot be sent in a header.";
        INVALID_TOKEN_HEADER = "oauth.invalid_token_header", Configuration, "A token request header name of the definition is invalid.";
        INVALID_TOKEN_REQUEST = "oauth.invalid_token_request", Configuration, "The token request could not be built from the definition's OAuth 2.0 data.";
        INVALID_URL = "oauth.invalid_url", Configuration, "The revocation URL of the OAuth 2.0 data is not a valid URL.";
        MISSING_CODE = "oauth.missing_code", Verification, "The callback has no authorization code.";
        MISSING_STATE = "oauth.missing_state", Verification, "The callback has no state parameter.";
        NO_REFRESH_TOKEN = "oauth.no_refresh_token", Provider, "The access token expired and there is no refresh token to renew it.";
        RATE_LIMITED = "oauth.rate_limited", RateLimited, "The revocation endpoint is rate limiting requests.";
        REDIRECT_URI_MISMATCH = "oauth.redirect_uri_mismatch", Verification, "The callback arrived at another redirect URI than the authorization was started with.";
        REFRESH_TOKEN_EXPIRED = "oauth.refresh_token_expired", Provider, "The refresh token expired; the connection must be reauthorized.";
        REVOCATION_REFUSED = "oauth.revocation_refused", Provider, "The provider's revocation endpoint refused to revoke the grant.";
        STATE_EXPIRED = "oauth.state_expired", Verification, "The authorization expired before its callback arrived; start it again.";
        STATE_MISMATCH = "oauth.state_mismatch", Verification, "The authorization was started by another tenant or user, or for another integration.";
        TOKEN_ERROR = "oauth.token_error", Provider, "The token endpoint refused the request with an OAuth error.";
        TOKEN_REQUEST_FAILED = "oauth.token_request_failed", Provider, "The token endpoint answered an error status with a body that is not an OAuth error.";
        UNAVAILABLE = "oauth.unavailable", Unavailable, "The provider's OAuth endpoint is unavailable (a 5xx or a network failure); retrying may succeed.";
        UNEXPECTED_REDIRECT = "oauth.unexpected_redirect", Provider, "The token endpoint answered with a redirect, which is never followed.";
        UNKNOWN_STATE = "oauth.unknown_state", Verification, "The authorization is unknown, expired or already completed; start it again.";
    }
    /// Codes of the `registry` area.
    pub mod registry {
        DUPLICATE_KEY = "registry.duplicate_key", Conflict, "An integration with the same key is already registered.";
        INVALID_DEFINITION = "registry.invalid_definition", InvalidInput, "A definition is invalid; the issues say where.";
        TOOL_NAME_COLLISION = "registry.tool_name_collision", Conflict, "Two integrations of the registry offer tools with the same name.";
        UNKNOWN_CONFIG = "registry.unknown_config", NotFound, "Unknown config kind.";
        UNKNOWN_DEFINITION = "registry.unknown_definition", NotFound, "No integration is registered under the key asked for.";
        UNKNOWN_METHOD = "registry.unknown_method", NotFound, "The definition has no connection method with the name asked for.";
    }
    /// Codes of the `schema` area.
    pub mod schema {
        DOES_NOT_COMPILE = "schema.does_not_compile", Configuration, "A definition's JSON Schema does not compile.";
        TYPE_MISMATCH = "schema.type_mismatch", Internal, "A config was read as another type than it was declared with (a bug in the definition).";
        UNKNOWN_KIND = "schema.unknown_kind", InvalidInput, "The config kind asked for is not one of the definition's (target, connection, ...).";
    }
    /// Codes of the `store` area.
    pub mod store {
        DUPLICATE = "store.duplicate", Conflict, "A store already holds a record with this key; nothing was written. Store implementations use the `store.duplicate_*` codes below where the record type is known.";
        DUPLICATE_APPROVAL = "store.duplicate_approval", Conflict, "A store already holds an approval request with this id; nothing was written.";
        DUPLICATE_CONTINUATION = "store.duplicate_continuation", Conflict, "A store already holds a continuation with this id; nothing was written.";
        DUPLICATE_STATE = "store.duplicate_state", Conflict, "A store already holds a pending authorization with this state; nothing was written.";
        FAILED = "store.failed", Storage, "The host store failed; retrying may succeed.";
        NOT_IMPLEMENTED = "store.not_implemented", Configuration, "The host's store does not implement an operation this call needs (a trait method left at its default); implement it.";
        INVALID_TEXT = "store.invalid_text", InvalidInput, "A text value a store keeps in a column of its own (an external subject or endpoint key, a webhook event id, a stream name, a lease holder, a credential slot, a key id, a state digest, a continuation id) contains a NUL character, which PostgreSQL cannot store; every store refuses it and nothing is written.";
        VERSION_CONFLICT = "store.version_conflict", Conflict, "The record changed since it was read; read it again.";
    }
    /// Codes of the `sync` area.
    pub mod sync {
        CONCURRENT_RUN = "sync.concurrent_run", Conflict, "Another run advanced this stream's checkpoint; this run stopped.";
        CREDENTIAL_REJECTED = "sync.credential_rejected", PermissionDenied, "The provider refused the connection's credential (revoked or expired); reconnect to resume the sync.";
        INVALID_CURSOR = "sync.invalid_cursor", InvalidInput, "The run's saved cursor is not one this provider wrote, no longer fits the connection's config, or the provider no longer accepts it; a resumed run drops it once and reads its pages from the start.";
        LEASE_HELD = "sync.lease_held", Conflict, "Another run of this stream holds its lease; this run did not start.";
        LEASE_LOST = "sync.lease_lost", Conflict, "This run's lease expired and another run took the stream; this run stopped.";
        STOPPED = "sync.stopped", Unavailable, "The run was stopped from outside (a signal, a shutdown) before its last page; the next run resumes from the last page it saved.";
        UNSUPPORTED = "sync.unsupported", InvalidInput, "The integration offers no sync, or not the stream asked for.";
    }
    /// Codes of the `time` area.
    pub mod time {
        INVALID = "time.invalid", InvalidInput, "The value is not an RFC 3339 date-time.";
    }
    /// Codes of the `target` area.
    pub mod target {
        INVALID = "target.invalid", InvalidInput, "The target was not stored: it fails its checks; the issues say which (`target.*`, `schema.*`).";
    }
    /// Codes of the `tool` area.
    pub mod tool {
        APPROVAL_EXPIRED = "tool.approval_expired", PermissionDenied, "The approval request expired; the agent must call the tool again.";
        APPROVAL_NOT_FOUND = "tool.approval_not_found", NotFound, "No pending approval request has this id: it was approved, denied or expired, or never existed.";
        APPROVAL_REQUIRED = "tool.approval_required", PermissionDenied, "The call needs a person's approval and has not run; the result's `integrations/approval` names the request. Once it is approved, the same call (through an MCP server, which keeps approvals) receives the result.";
        BLOCKED = "tool.blocked", PermissionDenied, "A workspace policy blocks the tool.";
        CAPABILITY_MISSING = "tool.capability_missing", PermissionDenied, "The tool needs a capability that the call's publication does not grant, or the call has no publication.";
        CONNECTION_OUT_OF_SCOPE = "tool.connection_out_of_scope", PermissionDenied, "The connection is scoped to another user, workspace or project than the call's session (the manifest leaves it out).";
        CONTINUATION_CORRUPT = "tool.continuation_corrupt", Internal, "The stored pages of a trimmed result are not the JSON array the runtime wrote.";
        CONTINUATION_NOT_FOUND = "tool.continuation_not_found", NotFound, "No continuation with this cursor exists: it was read already, expired, or belongs to another session.";
        CONTINUATION_UNSERIALIZABLE = "tool.continuation_unserializable", Internal, "The pages of a trimmed result could not be serialized.";
        CREDENTIAL_UNUSABLE = "tool.credential_unusable", Configuration, "The connection's credential cannot be put on an HTTP request.";
        FORBIDDEN = "tool.forbidden", PermissionDenied, "The provider does not let the connection do this (HTTP 403, or the same refusal in the provider's own error format, whose code the message names: a missing scope, a forbidden operation).";
        INVALID_ARGUMENTS = "tool.invalid_arguments", InvalidInput, "The tool's arguments do not match its input schema; the issues say where.";
        INVALID_NAME = "tool.invalid_name", InvalidInput, "A tool name is not 1 to 64 lowercase letters, digits and `_`, or is reserved.";
        INVALID_PATH_SEGMENT = "tool.invalid_path_segment", InvalidInput, "An argument used in the request path is empty or is `.` or `..`.";
        NOT_EXECUTABLE = "tool.not_executable", NotFound, "The provider cannot execute the tool.";
        NOT_FOUND = "tool.not_found", NotFound, "No integration offers a tool with this name.";
        NOT_OFFERED = "tool.not_offered", NotFound, "The connection's integration does not offer the tool; call it through a connection of an integration that does.";
        PANICKED = "tool.panicked", Internal, "The tool failed unexpectedly (it panicked).";
        PUBLICATION_EXPIRED = "tool.publication_expired", PermissionDenied, "The call's publication has expired.";
        PUBLICATION_MISMATCH = "tool.publication_mismatch", PermissionDenied, "The call's publication is for another connection or does not cover this session.";
        PUBLICATION_NOT_FOUND = "tool.publication_not_found", PermissionDenied, "The call's publication does not exist in this tenant.";
        RATE_LIMITED = "tool.rate_limited", RateLimited, "The provider's rate limit was reached; retry after the wait the error carries.";
        RESULT_TOO_LARGE = "tool.result_too_large", Provider, "The tool's result is larger than the runtime's result budget and cannot be split into at most 100 pages that fit (no list or text to cut at, or too much of it); ask for less.";
        UNAUTHORIZED = "tool.unauthorized", PermissionDenied, "The provider refused the connection's credential (HTTP 401, or the same refusal in the provider's own error format, whose code the message names: an invalid, expired or revoked token); reconnecting may be needed.";
        UNEXPECTED_RESPONSE = "tool.unexpected_response", Provider, "The provider answered with a body that is not the JSON expected.";
        UNKNOWN_INTEGRATION = "tool.unknown_integration", NotFound, "No integration is registered under the connection's definition key.";
        UNKNOWN_METHOD = "tool.unknown_method", Configuration, "The connection's method no longer exists in its definition.";
        UPSTREAM_BAD_REQUEST = "tool.upstream_bad_request", InvalidInput, "The provider refused the request as malformed (HTTP 400).";
        UPSTREAM_CONFLICT = "tool.upstream_conflict", Conflict, "The provider reported a conflict (HTTP 409).";
        UPSTREAM_ERROR = "tool.upstream_error", Provider, "The provider answered with an unexpected status.";
        UPSTREAM_NOT_FOUND = "tool.upstream_not_found", NotFound, "The provider has no such resource, or hides it from the connection (HTTP 404 or 410, or the same answer in the provider's own error format, whose code the message names).";
        UPSTREAM_REJECTED = "tool.upstream_rejected", InvalidInput, "The provider rejected the request's content (HTTP 422, or an input error in the provider's own error format, whose code the message names).";
        UPSTREAM_UNAVAILABLE = "tool.upstream_unavailable", Unavailable, "The provider failed or is unavailable (HTTP 5xx, or an internal error in the provider's own error format, whose code the message names); retrying may succeed.";
    }
    /// Codes of the `url` area.
    pub mod url {
        INVALID = "url.invalid", InvalidInput, "A URL is not an absolute http(s) URL.";
    }
    /// Codes of the `webhook` area.
    pub mod webhook {
        AMBIGUOUS_CONNECTION = "webhook.ambiguous_connection", Conflict, "Several connections match the delivery (409).";
        BODY_TOO_LARGE = "webhook.body_too_large", InvalidInput, "The body is larger than the ingest limit (413).";
        CONNECTION_NOT_FOUND = "webhook.connection_not_found", NotFound, "No active connection matches the delivery (404).";
        DELIVERY_FAILED = "webhook.delivery_failed", Unavailable, "The event sink refused the event; the record was released so a redelivery is processed again (503).";
        DELIVERY_IN_PROGRESS = "webhook.delivery_in_progress", Unavailable, "A redelivery arrived while the event's first delivery is still being processed, in this process or (as the store says) another; answered 503 so the provider retries (the first may yet fail).";
        EMPTY_SECRET = "webhook.empty_secret", Configuration, "A configured secret is empty (500: the operator must fix the configuration).";
        EVENT_TYPE_MISMATCH = "webhook.event_type_mismatch", InvalidInput, "A header naming the event disagrees with the payload (400).";
        GRANT_CHANGE_FAILED = "webhook.grant_change_failed", Unavailable, "A new event withdraws or suspends its connection's grant, and the store did not take the status change; the record was released so a redelivery is processed again (503).";
        INCOMPLETE_DEFINITION = "webhook.incomplete_definition", Configuration, "A definition declares a webhook source without a handler, or the reverse.";
        INVALID_BASE_URL = "webhook.invalid_base_url", Configuration, "The public webhook base URL must be an https URL with no query, fragment or credentials.";
        INVALID_EVENT_TYPE = "webhook.invalid_event_type", InvalidInput, "An event type is `<family>.<object>.<action>` in lowercase.";
        INVALID_PAYLOAD = "webhook.invalid_payload", InvalidInput, "The body is not the payload the provider sends (400).";
        INVALID_ROUTE = "webhook.invalid_route", NotFound, "The route is not `/webhooks/{family}/{variant}[/{endpoint}]` (404).";
        INVALID_SECRET = "webhook.invalid_secret", Configuration, "A configured secret is not in the scheme's format, such as a `whsec_` secret that is not base64 (500).";
        MALFORMED_SIGNATURE = "webhook.malformed_signature", InvalidInput, "A signature header is not in the scheme's format (400).";
        MALFORMED_TIMESTAMP = "webhook.malformed_timestamp", InvalidInput, "A timestamp is not an integer (400).";
        MISSING_HEADER = "webhook.missing_header", InvalidInput, "A required header is absent (400).";
        MISSING_ID = "webhook.missing_id", InvalidInput, "Signing needs a message id and none was given.";
        MISSING_TIMESTAMP = "webhook.missing_timestamp", Verification, "The scheme needs a timestamp and the delivery carries none (401).";
        NO_SECRET = "webhook.no_secret", Configuration, "No secret is configured for the target or the connection (500).";
        NOT_MANAGED = "webhook.not_managed", InvalidInput, "The connection's provider no longer manages webhooks for its method.";
        NOT_SUPPORTED = "webhook.not_supported", NotFound, "The integration does not receive webhooks (404).";
        REGISTRATION_IN_PROGRESS = "webhook.registration_in_progress", Conflict, "Another process is registering the connection's webhook, or disconnecting it (it holds the connection's registration lease); register again shortly.";
        REGISTRATION_RACED = "webhook.registration_raced", Conflict, "Another registration changed the connection's endpoint while its webhook was registered; the hook made for the old endpoint was deleted, and registering again uses the new one.";
        SIGNATURE_MISMATCH = "webhook.signature_mismatch", Verification, "No configured secret produces the signature sent (401).";
        TARGET_MISMATCH = "webhook.target_mismatch", PermissionDenied, "The delivery is for another app than the target's (403).";
        TIMESTAMP_OUT_OF_WINDOW = "webhook.timestamp_out_of_window", Verification, "The signed timestamp is outside the scheme's replay window (401).";
        UNKNOWN_DEFINITION = "webhook.unknown_definition", NotFound, "No integration is registered under the route's key (404).";
        UNKNOWN_METHOD = "webhook.unknown_method", Configuration, "The connection's method no longer exists in its definition.";
        UNROUTABLE = "webhook.unroutable", NotFound, "The delivery names no subject and the route no endpoint key (404).";
        UNSUPPORTED_CONTENT_TYPE = "webhook.unsupported_content_type", InvalidInput, "The body's content type is not one the provider uses (415).";
    }
}

/// The catalogue of every validation-issue code `integrations-core` puts in an error's
/// [`issues`](crate::Error::issues): one module per area, one
/// [`IssueCode`](crate::IssueCode) constant per code. An issue has no kind of its own (the
/// error that carries it has one); an issue that repeats its error's code (`key.invalid`,
/// `url.invalid`) uses that error's [`Code`](crate::Code) and is not listed again here.
/// [`ALL`](issues::ALL) lists every code; `docs/error-codes.md` lists them under
/// "Validation issue codes".
pub mod issues {
    crate::issue_codes! {
        /// Issue codes of a binding's checks (write time and compile time).
        pub mod binding {
            CONNECTION_MISMATCH = "binding.connection_mismatch", "The binding's connection does not belong to the target it names, or its target belongs to another definition.";
            CONNECTION_NOT_ACTIVE = "binding.connection_not_active", "The binding's connection is revoked or in error; reconnect it.";
            CONNECTION_NOT_FOUND = "binding.connection_not_found", "The binding's connection does not exist.";
            INVALID_CONNECTION_CONFIG = "binding.invalid_connection_config", "The connection's stored config no longer validates against its method's schema; reconnect it.";
            INVALID_TARGET_CONFIG = "binding.invalid_target_config", "The target's stored config no longer validates against its definition's schema; the operator must fix it.";
            KIND_MISMATCH = "binding.kind_mismatch", "The binding's kind is not its definition's kind.";
            TARGET_DISABLED = "binding.target_disabled", "The binding's connection's target is disabled.";
            TARGET_NOT_FOUND = "binding.target_not_found", "The binding's connection's target does not exist.";
            UNKNOWN_DEFINITION = "binding.unknown_definition", "No integration is registered under the key of the binding's target.";
            UNKNOWN_METHOD = "binding.unknown_method", "The definition has no connection method with the name the binding's connection uses.";
        }
        /// Issue codes of the runtime-plan compiler's own checks.
        pub mod compile {
            ARTIFACT_CONFLICT = "compile.artifact_conflict", "Two artifacts share a key but differ in name or install steps.";
            DUPLICATE_BINDING = "compile.duplicate_binding", "Two or more bindings share an id.";
            DUPLICATE_ID = "compile.duplicate_id", "A profile document has two targets, connections or bindings with one id.";
            ENDPOINT_CONFLICT = "compile.endpoint_conflict", "Two endpoints of one runtime client share a key but differ.";
            ENV_CONFLICT = "compile.env_conflict", "An env key has two different values (in one runtime client, or in artifacts with one key).";
            FILE_CONFLICT = "compile.file_conflict", "Two files share a path with different ids or clients, or an id with different paths, modes, contents or write modes.";
            INVALID_ARTIFACT = "compile.invalid_artifact", "An artifact has no key, no install step, or an exec step without a command.";
            INVALID_ENV = "compile.invalid_env", "An env key is empty or holds `=`.";
            INVALID_REFERENCE = "compile.invalid_reference", "An endpoint names a process its runtime client does not have.";
            INVALID_ROUTE = "compile.invalid_route", "A route is not valid: no host, a bad host, method, prefix, upstream, injection or header.";
            INVALID_RUNTIME = "compile.invalid_runtime", "A runtime client, file, process or endpoint is not valid (an empty id, a relative path, an empty command).";
            INVALID_SANDBOX_PATH = "compile.invalid_sandbox_path", "A sandbox path is not absolute, or holds a `.` or `..` segment, an empty segment or a control character.";
            MCP_CONFIG_INVALID = "compile.mcp_config_invalid", "The MCP config file cannot be updated (it does not parse, or its path runs through a value that is not a table).";
            MCP_INVALID = "compile.mcp_invalid", "An MCP server declaration is not valid: a bad name or id, a stdio server without a command, an HTTP server without a URL or with a credential header, an id repeated within a binding.";
            MCP_NAME_CONFLICT = "compile.mcp_name_conflict", "Two MCP servers of the profile share a name.";
            MCP_TARGET_MISSING = "compile.mcp_target_missing", "An agent's MCP config target names a runtime client or file its binding does not produce, or two agents name one file differently.";
            PROCESS_CONFLICT = "compile.process_conflict", "Two processes of one runtime client share a key but differ.";
            RESERVED_ENV = "compile.reserved_env", "An env key is reserved for the egress proxy (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`, `ALL_PROXY`, in any case).";
            ROUTE_CONFLICT = "compile.route_conflict", "Two routes would match one request (same host, a shared method, one prefix covering the other).";
            ROUTE_ID_CONFLICT = "compile.route_id_conflict", "Two routes got the same id (binding `a` with a second route and a binding named `a_2`).";
            TENANT_MISMATCH = "compile.tenant_mismatch", "A binding's connection or target belongs to another tenant than the profile.";
            UNKNOWN_REFERENCE = "compile.unknown_reference", "A profile document refers to a target or connection it does not declare.";
            WORKSPACE_CONFLICT = "compile.workspace_conflict", "Two workspace sources share a path with different origins, or one is not valid.";
        }
        /// Issue codes of the write service's checks of a connection.
        pub mod connection {
            EMPTY_SECRET = "connection.empty_secret", "A secret given for the connection is empty.";
            IDENTITY_CHANGED = "connection.identity_changed", "A connection's target and method cannot change; create a new connection.";
            METHOD_REQUIRES_FLOW = "connection.method_requires_flow", "The connection method is an authorization flow (OAuth 2.0, an app installation); start the flow instead of writing the connection.";
            MISSING_SECRET = "connection.missing_secret", "A secret the connection method needs was not given.";
            SECRET_PREFIX = "connection.secret_prefix", "A secret does not start with the prefix its field declares.";
            TARGET_DISABLED = "connection.target_disabled", "The connection's target is disabled.";
            TARGET_NOT_FOUND = "connection.target_not_found", "The connection's target does not exist.";
            UNKNOWN_METHOD = "connection.unknown_method", "The target's definition has no connection method with this name.";
            UNKNOWN_SECRET = "connection.unknown_secret", "A secret was given that the connection method does not take.";
        }
        /// Issue codes of a definition's validation when it is registered.
        pub mod registry {
            BLANK_CATEGORY = "registry.blank_category", "The definition's category is blank.";
            BLANK_DESCRIPTION = "registry.blank_description", "The definition's description is blank.";
            BLANK_LOGO_KEY = "registry.blank_logo_key", "The definition's logo key is blank.";
            BLANK_METHOD_LABEL = "registry.blank_method_label", "A connection method has no label.";
            BLANK_NAME = "registry.blank_name", "The definition's name is blank.";
            BLANK_TOOL_DESCRIPTION = "registry.blank_tool_description", "A tool has no description.";
            DUPLICATE_CREDENTIAL_SLOT = "registry.duplicate_credential_slot", "Two secret fields of a connection method are stored as one credential type and slot; give each a slot of its own.";
            DUPLICATE_METHOD = "registry.duplicate_method", "Two connection methods of the definition have one id.";
            DUPLICATE_SECRET_FIELD = "registry.duplicate_secret_field", "Two secret fields of an API-key connection method have one name.";
            INVALID_EXAMPLE = "registry.invalid_example", "An example of a config schema does not validate against the schema.";
            INVALID_SECRET_SLOT = "registry.invalid_secret_slot", "A secret field's slot is empty, longer than 64 bytes, or holds whitespace, control or invisible characters.";
            MISSING_OAUTH2 = "registry.missing_oauth2", "An OAuth 2.0 connection method has no OAuth 2.0 data.";
            MISSING_SECRET_FIELDS = "registry.missing_secret_fields", "An API-key connection method declares no secret field.";
            NO_CONNECTION_METHODS = "registry.no_connection_methods", "The definition has no connection method.";
            RESERVED_TOOL_NAME = "registry.reserved_tool_name", "A tool uses a name the tool runtime reserves for itself.";
            SCHEMA_DOES_NOT_COMPILE = "registry.schema_does_not_compile", "A config, input or output schema of the definition does not compile.";
            TOOL_SCHEMA_NOT_OBJECT = "registry.tool_schema_not_object", "A tool's input schema is not of type object.";
        }
        /// Issue codes of JSON Schema validation: one per keyword that failed
        /// (`schema.<keyword>` in snake case), and `schema.invalid_value` for a value the
        /// schema accepts and the config type still refuses.
        pub mod schema {
            ADDITIONAL_ITEMS = "schema.additional_items", "The array has more items than the schema allows (`additionalItems`).";
            ADDITIONAL_PROPERTIES = "schema.additional_properties", "The field is not allowed here (`additionalProperties`).";
            ANY_OF = "schema.any_of", "The value matches none of the allowed shapes (`anyOf`).";
            CONST = "schema.const", "The value is not the one value allowed (`const`).";
            CONTAINS = "schema.contains", "The array has no item of the shape required (`contains`).";
            CONTENT_ENCODING = "schema.content_encoding", "The string is not in the encoding required (`contentEncoding`).";
            CONTENT_MEDIA_TYPE = "schema.content_media_type", "The string is not of the media type required (`contentMediaType`).";
            ENUM = "schema.enum", "The value is not one of the values allowed (`enum`).";
            EXCLUSIVE_MAXIMUM = "schema.exclusive_maximum", "The number is not below the maximum (`exclusiveMaximum`).";
            EXCLUSIVE_MINIMUM = "schema.exclusive_minimum", "The number is not above the minimum (`exclusiveMinimum`).";
            FALSE_SCHEMA = "schema.false_schema", "No value is allowed here (a `false` schema).";
            FORMAT = "schema.format", "The string is not of the format required (`format`: a URI, an email, a date, ...).";
            INVALID_VALUE = "schema.invalid_value", "The value passes the schema, but the config type still refuses it (or the arguments are not valid for the tool).";
            MAX_ITEMS = "schema.max_items", "The array has too many items (`maxItems`).";
            MAX_LENGTH = "schema.max_length", "The string is too long (`maxLength`).";
            MAX_PROPERTIES = "schema.max_properties", "The object has too many fields (`maxProperties`).";
            MAXIMUM = "schema.maximum", "The number is above the maximum (`maximum`).";
            MIN_ITEMS = "schema.min_items", "The array has too few items (`minItems`).";
            MIN_LENGTH = "schema.min_length", "The string is too short (`minLength`).";
            MIN_PROPERTIES = "schema.min_properties", "The object has too few fields (`minProperties`).";
            MINIMUM = "schema.minimum", "The number is below the minimum (`minimum`).";
            MULTIPLE_OF = "schema.multiple_of", "The number is not a multiple of the step required (`multipleOf`).";
            NOT = "schema.not", "The value has a shape that is not allowed (`not`).";
            ONE_OF = "schema.one_of", "The value matches none, or more than one, of the shapes allowed (`oneOf`).";
            PATTERN = "schema.pattern", "The string does not match the pattern required (`pattern`).";
            PROPERTY_NAMES = "schema.property_names", "A field name is not allowed (`propertyNames`).";
            REF = "schema.ref", "A schema reference could not be resolved (`$ref`).";
            REQUIRED = "schema.required", "A required field is missing (`required`).";
            TYPE = "schema.type", "The value is of another JSON type than the schema's (`type`).";
            UNEVALUATED_ITEMS = "schema.unevaluated_items", "The array has items no part of the schema allows (`unevaluatedItems`).";
            UNEVALUATED_PROPERTIES = "schema.unevaluated_properties", "The object has fields no part of the schema allows (`unevaluatedProperties`).";
            UNIQUE_ITEMS = "schema.unique_items", "The array has repeated items (`uniqueItems`).";
        }
        /// Issue codes of the write service's checks of a target.
        pub mod target {
            KEY_CHANGED = "target.key_changed", "A target's definition cannot change; create a new target.";
        }
    }
}
