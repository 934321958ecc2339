//! The stable issue codes of the compiler's own checks, as strings: each is the
//! catalogue's constant of [`codes::issues::compile`](crate::codes::issues::compile).
//! The per-binding checks keep the codes of
//! [`prepare_binding`](crate::service::prepare_binding) (`binding.*`, `schema.*` and the
//! definitions' own), under the path `/bindings/<id>`.

/// Two or more bindings share an id.
pub const DUPLICATE_BINDING: &str = crate::codes::issues::compile::DUPLICATE_BINDING.as_str();
/// A binding's connection or target belongs to another tenant than the profile.
pub const TENANT_MISMATCH: &str = crate::codes::issues::compile::TENANT_MISMATCH.as_str();
/// A route is not valid: no host, a bad host, method, prefix, upstream, injection or
/// header.
pub const INVALID_ROUTE: &str = crate::codes::issues::compile::INVALID_ROUTE.as_str();
/// Two routes would match one request (same host, a shared method, one prefix covering
/// the other).
pub const ROUTE_CONFLICT: &str = crate::codes::issues::compile::ROUTE_CONFLICT.as_str();
/// Two routes got the same id (binding `a` with a second route and a binding named
/// `a_2`).
pub const ROUTE_ID_CONFLICT: &str = crate::codes::issues::compile::ROUTE_ID_CONFLICT.as_str();
/// An env key has two different values (in one runtime client, or in artifacts with
/// one key).
pub const ENV_CONFLICT: &str = crate::codes::issues::compile::ENV_CONFLICT.as_str();
/// An env key is reserved for the egress proxy (`HTTP_PROXY`, `HTTPS_PROXY`,
/// `NO_PROXY`, `ALL_PROXY`, in any case).
pub const RESERVED_ENV: &str = crate::codes::issues::compile::RESERVED_ENV.as_str();
/// An env key is empty or holds `=`.
pub const INVALID_ENV: &str = crate::codes::issues::compile::INVALID_ENV.as_str();
/// Two files share a path with different ids or clients, or an id with different
/// paths, modes, contents or write modes.
pub const FILE_CONFLICT: &str = crate::codes::issues::compile::FILE_CONFLICT.as_str();
/// Two artifacts share a key but differ in name or install steps.
pub const ARTIFACT_CONFLICT: &str = crate::codes::issues::compile::ARTIFACT_CONFLICT.as_str();
/// An artifact has no key, no install step, or an exec step without a command.
pub const INVALID_ARTIFACT: &str = crate::codes::issues::compile::INVALID_ARTIFACT.as_str();
/// A runtime client, file, process or endpoint is not valid (an empty id, a relative
/// path, an empty command).
pub const INVALID_RUNTIME: &str = crate::codes::issues::compile::INVALID_RUNTIME.as_str();
/// Two processes of one runtime client share a key but differ.
pub const PROCESS_CONFLICT: &str = crate::codes::issues::compile::PROCESS_CONFLICT.as_str();
/// Two endpoints of one runtime client share a key but differ.
pub const ENDPOINT_CONFLICT: &str = crate::codes::issues::compile::ENDPOINT_CONFLICT.as_str();
/// An endpoint names a process its runtime client does not have.
pub const INVALID_REFERENCE: &str = crate::codes::issues::compile::INVALID_REFERENCE.as_str();
/// Two workspace sources share a path with different origins, or one is not valid.
pub const WORKSPACE_CONFLICT: &str = crate::codes::issues::compile::WORKSPACE_CONFLICT.as_str();
/// An MCP server declaration is not valid: a bad name or id, a stdio server without a
/// command, an HTTP server without a URL or with a credential header, an id repeated
/// within a binding.
pub const MCP_INVALID: &str = crate::codes::issues::compile::MCP_INVALID.as_str();
/// Two MCP servers of the profile share a name.
pub const MCP_NAME_CONFLICT: &str = crate::codes::issues::compile::MCP_NAME_CONFLICT.as_str();
/// An agent's MCP config target names a runtime client or file its binding does not
/// produce, or two agents name one file differently.
pub const MCP_TARGET_MISSING: &str = crate::codes::issues::compile::MCP_TARGET_MISSING.as_str();
/// The MCP config file cannot be updated (it does not parse, or its path runs through
/// a value that is not a table).
pub const MCP_CONFIG_INVALID: &str = crate::codes::issues::compile::MCP_CONFIG_INVALID.as_str();
/// A sandbox path is not absolute, or holds a `.` or `..` segment, an empty segment or a
/// control character.
pub const INVALID_SANDBOX_PATH: &str = crate::codes::issues::compile::INVALID_SANDBOX_PATH.as_str();
