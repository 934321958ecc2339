//! The crates a provider's types are written with, at the versions this SDK uses: a
//! provider crate can depend on `integrations-core` alone and never drift from the
//! `serde`, `serde_json`, `schemars`, `http` and `async_trait` the SDK's traits are built
//! on.
//!
//! The derive macros need to be told where their crate is when it is used through this
//! module:
//!
//! ```
//! use integrations_core::reexports::schemars::{self, JsonSchema};
//! use integrations_core::reexports::serde::{self, Deserialize};
//! use integrations_core::reexports::serde_json::json;
//! use integrations_core::schema::ConfigSpec;
//!
//! /// The target config of a tracker.
//! #[derive(Debug, Deserialize, JsonSchema)]
//! #[serde(crate = "integrations_core::reexports::serde", deny_unknown_fields)]
//! #[schemars(crate = "integrations_core::reexports::schemars")]
//! struct TrackerTarget {
//!     /// The site, `https://tracker.example.com`.
//!     site_url: String,
//! }
//!
//! let spec = ConfigSpec::of::<TrackerTarget>()
//!     .with_example(json!({"site_url": "https://tracker.example.com"}));
//! assert!(spec.compile()?.parse(&spec.examples()[0]).is_ok());
//! # Ok::<(), integrations_core::Error>(())
//! ```

pub use async_trait;
pub use http;
pub use schemars;
pub use serde;
pub use serde_json;
