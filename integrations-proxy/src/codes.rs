//! The catalogue of the error codes this crate's API returns as errors. The codes of
//! refusals (the `x-integrations-error` header of a request the proxy does not forward)
//! are listed in the README's proxy section.

integrations_core::error_codes! {
    /// Codes of the egress proxy.
    pub mod proxy {
        BIND_FAILED = "proxy.bind_failed", Configuration, "The proxy cannot listen on the address it was given.";
        CA_GENERATE = "proxy.ca_generate", Configuration, "The proxy's certificate authority could not be generated.";
        CA_INVALID = "proxy.ca_invalid", Configuration, "The certificate authority's certificate or key is not valid PEM.";
        INVALID_ROOT = "proxy.invalid_root", Configuration, "An extra upstream root certificate is not valid.";
        LEAF_MINT = "proxy.leaf_mint", Configuration, "A certificate for an intercepted host could not be made.";
    }
}
