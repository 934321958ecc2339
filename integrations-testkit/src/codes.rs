//! The catalogue of the error codes the test doubles of this crate emit (the in-memory
//! stores use the store-contract codes of [`integrations_core::codes::store`]).

integrations_core::error_codes! {
    /// Codes of the fake token manager.
    pub mod credential {
        NOT_FOUND = "credential.not_found", NotFound, "The fake token manager's connection holds no such credential.";
        UNKNOWN_RESOLVER = "credential.unknown_resolver", NotFound, "The fake token manager has no custom credential resolvers.";
    }
    /// Codes of the webhook harness.
    pub mod harness {
        NO_TARGET_SECRET = "harness.no_target_secret", InvalidInput, "The integration keeps no webhook secret in its target, so the harness cannot sign for it.";
        NO_WEBHOOKS = "harness.no_webhooks", InvalidInput, "The integration receives no webhooks.";
    }
    /// Codes of the fake token manager's refresh.
    pub mod oauth {
        INVALID_TOKEN_RESPONSE = "oauth.invalid_token_response", Provider, "The mock token endpoint answered with an unexpected body.";
        REFRESH_FAILED = "oauth.refresh_failed", Provider, "The mock token endpoint refused the refresh token.";
    }
    /// Codes of the test host and sinks.
    pub mod testkit {
        OFFLINE = "testkit.offline", Unavailable, "The test host is offline: a test made an HTTP request no mock answers.";
        SINK_FAILED = "testkit.sink_failed", Unavailable, "The recording event sink was told to fail.";
    }
}
