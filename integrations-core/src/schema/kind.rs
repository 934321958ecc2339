use std::fmt;
use std::str::FromStr;

use crate::{ConnectionMethodId, Error, ValidationIssue};

/// Which of a definition's configs: the CLI and forms name them
/// `target-config`, `target-secrets`, `binding-config` and `connection:<method>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigKind {
    /// The target config (operator).
    TargetConfig,
    /// The target secrets (operator).
    TargetSecrets,
    /// The binding config (user).
    BindingConfig,
    /// The config of one connection method.
    ConnectionConfig(ConnectionMethodId),
}

impl fmt::Display for ConfigKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TargetConfig => f.write_str("target-config"),
            Self::TargetSecrets => f.write_str("target-secrets"),
            Self::BindingConfig => f.write_str("binding-config"),
            Self::ConnectionConfig(method) => write!(f, "connection:{method}"),
        }
    }
}

impl FromStr for ConfigKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "target-config" => Ok(Self::TargetConfig),
            "target-secrets" => Ok(Self::TargetSecrets),
            "binding-config" => Ok(Self::BindingConfig),
            other => {
                if let Some(method) = other.strip_prefix("connection:") {
                    Ok(Self::ConnectionConfig(ConnectionMethodId::new(method)?))
                } else {
                    let message = "a config kind is target-config, target-secrets, binding-config or connection:<method>";
                    Err(crate::codes::schema::UNKNOWN_KIND.with_issues(
                        message,
                        vec![ValidationIssue::new(
                            crate::codes::schema::UNKNOWN_KIND,
                            "",
                            message,
                        )],
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in [
            "target-config",
            "target-secrets",
            "binding-config",
            "connection:api-key",
        ] {
            assert_eq!(s.parse::<ConfigKind>().unwrap().to_string(), s);
        }
        assert!("binding".parse::<ConfigKind>().is_err());
        assert!("connection:".parse::<ConfigKind>().is_err());
    }
}
