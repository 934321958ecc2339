//! The catalogue of the error codes the bundled definitions emit (codes of
//! `integrations-core` they also emit are in [`integrations_core::codes`]).
//!
//! Slack's tools pass Slack's own errors that name no condition the runtime has a code
//! for through as `slack.<error>` (for example `slack.not_in_channel`); those codes are
//! Slack's and are not listed here.

integrations_core::error_codes! {
    /// Codes of the `github` area.
    pub mod github {
        APP_JWT_REJECTED = "github.app_jwt_rejected", Configuration, "GitHub refused the App JWT; check the target's app_id and private key.";
        APP_NOT_FOUND = "github.app_not_found", Configuration, "GitHub answered 404 about an installation and about the App itself (`GET /app`): the target's API base or App id is wrong. No connection is marked.";
        APP_REQUEST_REFUSED = "github.app_request_refused", Provider, "GitHub refused an App API request (creating an installation token or reading an installation).";
        FILE_TOO_LARGE = "github.file_too_large", InvalidInput, "GitHub does not return the contents of files this large through this endpoint.";
        INSTALLATION_CHECK_REFUSED = "github.installation_check_refused", Provider, "GitHub refused a request made to verify an installation.";
        INSTALLATION_CODE_REJECTED = "github.installation_code_rejected", Verification, "GitHub refused the installation callback's authorization code; install the App again.";
        INSTALLATION_NOT_FOUND = "github.installation_not_found", Verification, "The installation does not exist or belongs to another App.";
        INSTALLATION_NOT_OWNED = "github.installation_not_owned", Verification, "The installation is not one the user who completed it can access; install the App from the account that owns it.";
        INSTALLATION_PENDING = "github.installation_pending", Provider, "The installation waits for an organization owner's approval; connect again once approved.";
        INSTALLATION_UNVERIFIED = "github.installation_unverified", Verification, "The installation callback has no OAuth code, so who installed the App cannot be verified; enable \"Request user authorization (OAuth) during installation\" on the GitHub App.";
        INVALID_API_VERSION = "github.invalid_api_version", Configuration, "The target's API version cannot be sent as a header.";
        INVALID_APP_KEY = "github.invalid_app_key", Configuration, "The GitHub App private key in the target's secrets is not an RSA private key in PEM, or cannot sign.";
        INVALID_CONTENT = "github.invalid_content", Provider, "GitHub sent file contents that are not valid base64.";
        INVALID_CURSOR = "github.invalid_cursor", InvalidInput, "The cursor is not a next-page cursor this tool gave for this connection.";
        INVALID_INSTALLATION_ID = "github.invalid_installation_id", InvalidInput, "The callback has no valid installation_id.";
        INVALID_REPOSITORIES = "github.invalid_repositories", InvalidInput, "The repositories parameter must be a list of owner/name.";
        INVALID_RESPONSE = "github.invalid_response", Provider, "GitHub's answer about an installation (its token, its account) is not what the API documents.";
        INVALID_URL = "github.invalid_url", Configuration, "A GitHub API or web URL of the target is invalid.";
        MISSING_APP_ID = "github.missing_app_id", Configuration, "The target config has no GitHub App id (app_id).";
        MISSING_APP_SLUG = "github.missing_app_slug", Configuration, "The target config has no GitHub App slug (app_slug).";
        NO_INSTALLATION = "github.no_installation", Configuration, "The connection has no GitHub App installation id.";
        RATE_LIMITED = "github.rate_limited", RateLimited, "GitHub is rate limiting the requests (HTTP 429, or 403 as a primary or secondary limit); retry after the wait the error carries.";
        REPOSITORY_MOVED = "github.repository_moved", InvalidInput, "GitHub answered the repository's name with a redirect: it was renamed or transferred. Call again with its new owner/name (redirects are not followed).";
        REPOSITORY_OUTSIDE_INSTALLATION = "github.repository_outside_installation", Configuration, "A repository the installation token is narrowed to belongs to another account than the GitHub App installation's; no token is minted. Bind it through an installation on its owner.";
        UNAVAILABLE = "github.unavailable", Unavailable, "GitHub is unavailable (a 5xx); retrying may succeed.";
        WEBHOOK_TARGET_MISSING = "github.webhook_target_missing", InvalidInput, "The connection's config names no webhook_repository or webhook_organization (exactly one).";
    }
    /// Codes of the `linear` area.
    pub mod linear {
        APPLIED_WITH_ERRORS = "linear.applied_with_errors", Provider, "Linear made the change (the mutation reports success) but did not return all of its result (GraphQL errors beside it, for a field of the result, or the item null): do not repeat the call, which would make the change again.";
        ERROR = "linear.error", Provider, "Linear refused the request with an error code that names no condition the runtime has a code for (its credential refused, forbidden, not found, input rejected, failed internally: those get the `tool.*` code every provider's answer gets, with Linear's code in the message).";
        GRAPHQL_ERROR = "linear.graphql_error", Provider, "Linear answered with GraphQL errors that carry no error code (possibly beside partial data): the request did not fully succeed.";
        NO_CREDENTIAL = "linear.no_credential", Configuration, "This Linear connection has no credential tools can use.";
        NOT_SAVED = "linear.not_saved", Provider, "Linear answered without saving the issue or comment (success: false).";
        NOTHING_TO_UPDATE = "linear.nothing_to_update", InvalidInput, "Name at least one field to change.";
        TEAM_REQUIRED = "linear.team_required", InvalidInput, "linear_create_issue names no team_id and the connection's config has no default_team_id.";
    }
    /// Codes of the `openai` area.
    pub mod openai {
        INSUFFICIENT_QUOTA = "openai.insufficient_quota", Provider, "OpenAI answered 429 insufficient_quota: the API key's organization or project has no credit left or reached its spending limit. Retrying does not help; check its plan and billing.";
        INVALID_HEADER = "openai.invalid_header", Configuration, "The connection's organization or project cannot be sent as a header.";
        NO_CREDENTIAL = "openai.no_credential", Configuration, "This OpenAI connection has no API key.";
    }
    /// Codes of the `slack` area.
    pub mod slack {
        CHANNEL_REQUIRED = "slack.channel_required", InvalidInput, "slack_send_message names no channel and the connection's config has no default_channel.";
        NO_CREDENTIAL = "slack.no_credential", Configuration, "This Slack connection has no credential tools can use.";
    }
    /// Codes of the `sync` area.
    pub mod sync {
        NO_REPOSITORIES = "sync.no_repositories", InvalidInput, "The GitHub connection names no repositories to sync (sync_repositories).";
        REPOSITORY_MOVED = "sync.repository_moved", Configuration, "A repository in the GitHub connection's sync_repositories was renamed or transferred (HTTP 301); put its new name in the list. Records already synced keep the old name in their ids.";
        REPOSITORY_FORBIDDEN = "sync.repository_forbidden", Configuration, "GitHub refused to list a repository the connection syncs (HTTP 403, not a rate limit): the token may not read it (an App or fine-grained token without the Issues or Pull requests permission, or an organization's SAML single sign-on not authorized for the token). The message quotes GitHub's reason; grant the access, or remove the repository from sync_repositories.";
        REPOSITORY_NOT_FOUND = "sync.repository_not_found", Configuration, "A repository in the GitHub connection's sync_repositories does not exist or the connection cannot read it (HTTP 404); correct or remove it.";
        PROVIDER_ERROR = "sync.provider_error", Provider, "The provider answered a sync query with an error.";
        PROVIDER_UNAVAILABLE = "sync.provider_unavailable", Unavailable, "The provider answered a sync request with a 5xx or 408; the run stops and the next run retries the page from the checkpoint.";
        RATE_LIMITED = "sync.rate_limited", RateLimited, "The provider's rate limit was reached during a sync; retry after the wait the error carries.";
        UNEXPECTED_RESPONSE = "sync.unexpected_response", Provider, "The provider's answer to a sync request is not what its API documents.";
        UNSUPPORTED_METHOD = "sync.unsupported_method", InvalidInput, "Connections made with this connection method cannot sync.";
    }
    /// Codes of the `webhook` area.
    pub mod webhook {
        REGISTRATION_FAILED = "webhook.registration_failed", Provider, "Linear did not create the webhook.";
        UNEXPECTED_RESPONSE = "webhook.unexpected_response", Provider, "GitHub answered with a body that is not the hook expected.";
        UNREGISTRATION_FAILED = "webhook.unregistration_failed", Provider, "Linear did not delete the webhook.";
    }
}

/// The catalogue of the validation-issue codes the bundled definitions put in an error's
/// issues (a binding's checks when it is written or compiled, a provider's refusal of a
/// tool's request). An issue that repeats its
/// error's code (`github.invalid_cursor`) uses that error's code above.
pub mod issues {
    integrations_core::issue_codes! {
        /// Issue codes of GitHub bindings.
        pub mod github {
            FIELD_REJECTED = "github.field_rejected", "GitHub refused a field of a tool's request (HTTP 422 Validation Failed); the issue names GitHub's resource, field and error code (missing, missing_field, invalid, already_exists, unprocessable, custom), never the value.";
            UNSUPPORTED_CONNECTION_METHOD = "github.unsupported_connection_method", "GitHub bindings need an api-key, oauth2 or github-app-installation connection.";
        }
        /// Issue codes of Linear bindings.
        pub mod linear {
            UNSUPPORTED_CONNECTION_METHOD = "linear.unsupported_connection_method", "Linear bindings need an api-key, oauth2 or client-credentials connection.";
        }
        /// Issue codes of OpenAI bindings.
        pub mod openai {
            UNSUPPORTED_CONNECTION_METHOD = "openai.unsupported_connection_method", "OpenAI bindings need an api-key connection.";
            UNSUPPORTED_MODEL = "openai.unsupported_model", "The binding asks for a model the target does not allow.";
            UNSUPPORTED_REASONING_EFFORT = "openai.unsupported_reasoning_effort", "The binding asks for a reasoning effort the model does not support.";
        }
        /// Issue codes of Slack bindings.
        pub mod slack {
            UNSUPPORTED_CONNECTION_METHOD = "slack.unsupported_connection_method", "Slack bindings need an api-key or oauth2 connection.";
        }
    }
}
