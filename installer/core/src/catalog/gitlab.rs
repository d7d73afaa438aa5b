//! GitLab versions, as far as model support is concerned (docs/sources.md, "GitLab model support").

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A GitLab minor release ("18.2"); patch levels never change which models are supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GitlabVersion {
    pub major: u32,
    pub minor: u32,
}

/// Duo Self-Hosted (custom models in the gateway) first shipped in 17.1.
pub const FIRST_SELF_HOSTED: GitlabVersion = GitlabVersion::new(17, 1);
/// The newest release the catalog's support data describes; the default `--gitlab-version`.
pub const NEWEST_KNOWN: GitlabVersion = GitlabVersion::new(18, 11);

impl GitlabVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }
}

impl fmt::Display for GitlabVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{value}' is not a GitLab version: {reason} (write it as MAJOR.MINOR, e.g. 18.2 or 18.2.1)"
)]
pub struct VersionError {
    pub value: String,
    pub reason: &'static str,
}

impl FromStr for GitlabVersion {
    type Err = VersionError;

    /// Accepts "18.2", "18.2.1", "v18.2.1-ee" (the gateway's tag style).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| VersionError {
            value: s.to_string(),
            reason,
        };
        let core = s.trim().trim_start_matches(['v', 'V']);
        let core = core.split(['-', '+']).next().unwrap_or_default();
        let mut parts = core.split('.');
        let mut num = |what| -> Result<u32, VersionError> {
            parts
                .next()
                .filter(|p| !p.is_empty())
                .ok_or_else(|| err(what))?
                .parse::<u32>()
                .map_err(|_| err("each part must be a number"))
        };
        let major = num("the major version is missing")?;
        let minor = num("the minor version is missing")?;
        if let Some(patch) = parts.next() {
            patch
                .parse::<u32>()
                .map_err(|_| err("the patch level must be a number"))?;
        }
        if parts.next().is_some() {
            return Err(err("too many parts"));
        }
        Ok(Self { major, minor })
    }
}

impl Serialize for GitlabVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GitlabVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

// The gateway's self-signed JWT keys (docs/sources.md, "Gateway environment and JWT keys"):
// `AIGW_SELF_SIGNED_JWT__SIGNING_KEY` / `__VALIDATION_KEY` are documented for self-hosters from 18.10
// (missing → "Token creation failed"); the Agent Platform (Duo Workflow Service) needs
// `DUO_WORKFLOW_SELF_SIGNED_JWT__SIGNING_KEY` from 18.4 when it is used, and its `__VALIDATION_KEY` from 18.10.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtKey {
    /// The gateway environment variable that carries the PEM.
    pub env: &'static str,
    /// Where the key lives in the export (a secret, 0600).
    pub file: &'static str,
}

/// The keys a GitLab version (and the Agent Platform, when used) needs. Pure.
pub fn jwt_keys_needed(version: GitlabVersion, agent_platform: bool) -> Vec<JwtKey> {
    let mut keys = Vec::new();
    if version >= GitlabVersion::new(18, 10) {
        keys.push(JwtKey {
            env: "AIGW_SELF_SIGNED_JWT__SIGNING_KEY",
            file: "secrets/aigw_signing.key",
        });
        keys.push(JwtKey {
            env: "AIGW_SELF_SIGNED_JWT__VALIDATION_KEY",
            file: "secrets/aigw_validation.key",
        });
    }
    if agent_platform && version >= GitlabVersion::new(18, 4) {
        keys.push(JwtKey {
            env: "DUO_WORKFLOW_SELF_SIGNED_JWT__SIGNING_KEY",
            file: "secrets/duo_workflow_signing.key",
        });
        if version >= GitlabVersion::new(18, 10) {
            keys.push(JwtKey {
                env: "DUO_WORKFLOW_SELF_SIGNED_JWT__VALIDATION_KEY",
                file: "secrets/duo_workflow_validation.key",
            });
        }
    }
    keys
}

impl crate::problem::Explain for VersionError {
    fn code(&self) -> &'static str {
        "invalid_input"
    }
    fn field(&self) -> Option<String> {
        Some("gitlab.version".into())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn parses_the_forms_admins_type() {
        assert_eq!(
            "18.2".parse::<GitlabVersion>(),
            Ok(GitlabVersion::new(18, 2))
        );
        assert_eq!("18.2.1".parse(), Ok(GitlabVersion::new(18, 2)));
        assert_eq!("v17.10.3-ee".parse(), Ok(GitlabVersion::new(17, 10)));
        assert!("18".parse::<GitlabVersion>().is_err());
        assert!("eighteen.2".parse::<GitlabVersion>().is_err());
        assert!("18.2.1.4".parse::<GitlabVersion>().is_err());
    }

    #[test]
    fn orders_numerically_not_lexically() {
        assert!(GitlabVersion::new(17, 10) > GitlabVersion::new(17, 9));
        assert!(NEWEST_KNOWN > FIRST_SELF_HOSTED);
    }

    #[test]
    fn versions_that_need_keys() {
        assert!(jwt_keys_needed(GitlabVersion::new(18, 2), false).is_empty());
        assert!(jwt_keys_needed(GitlabVersion::new(18, 2), true).is_empty());
        let agent = jwt_keys_needed(GitlabVersion::new(18, 4), true);
        assert_eq!(agent.len(), 1);
        assert_eq!(agent[0].env, "DUO_WORKFLOW_SELF_SIGNED_JWT__SIGNING_KEY");
        assert_eq!(jwt_keys_needed(GitlabVersion::new(18, 10), false).len(), 2);
        assert_eq!(jwt_keys_needed(GitlabVersion::new(18, 11), true).len(), 4);
        assert!(jwt_keys_needed(GitlabVersion::new(17, 9), true).is_empty());
    }
}
