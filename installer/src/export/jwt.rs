//! The gateway's self-signed JWT keys: which GitLab versions need them, and generating them locally.
//! Sources (shared reference §2): `AIGW_SELF_SIGNED_JWT__SIGNING_KEY` / `__VALIDATION_KEY` are documented
//! for self-hosters from 18.10 (missing → "Token creation failed"); the Agent Platform (Duo Workflow
//! Service) needs `DUO_WORKFLOW_SELF_SIGNED_JWT__SIGNING_KEY` from 18.4 when it is used, and its
//! `__VALIDATION_KEY` from 18.10. The docs generate them with `openssl genrsa 2048`; so do we.

use crate::catalog::gitlab::GitlabVersion;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtKey {
    /// The gateway environment variable that carries the PEM.
    pub env: &'static str,
    /// Where the key lives in the bundle (a secret, 0600).
    pub file: &'static str,
}

/// The keys a GitLab version (and the Agent Platform, when used) needs. Pure.
pub fn needed(version: GitlabVersion, agent_platform: bool) -> Vec<JwtKey> {
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

#[derive(Debug, thiserror::Error)]
#[error("cannot generate an RSA key with openssl ({0}); install openssl (apt-get install openssl), or export \
         without --include-secrets and generate the keys as the bundle's README says")]
pub struct KeygenError(String);

/// A new RSA-2048 private key, PEM. Fixed arguments only; nothing from the user reaches the command.
pub fn generate_rsa_2048() -> Result<String, KeygenError> {
    let out = std::process::Command::new("openssl")
        .args(["genrsa", "2048"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| KeygenError(e.to_string()))?;
    let pem = String::from_utf8(out.stdout).map_err(|e| KeygenError(e.to_string()))?;
    if !out.status.success() || !pem.contains("-----BEGIN") {
        return Err(KeygenError(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_that_need_keys() {
        assert!(needed(GitlabVersion::new(18, 2), false).is_empty());
        assert!(needed(GitlabVersion::new(18, 2), true).is_empty());
        let agent = needed(GitlabVersion::new(18, 4), true);
        assert_eq!(agent.len(), 1);
        assert_eq!(agent[0].env, "DUO_WORKFLOW_SELF_SIGNED_JWT__SIGNING_KEY");
        assert_eq!(needed(GitlabVersion::new(18, 10), false).len(), 2);
        assert_eq!(needed(GitlabVersion::new(18, 11), true).len(), 4);
        assert!(needed(GitlabVersion::new(17, 9), true).is_empty());
    }

    #[test]
    fn keys_are_real_rsa_2048() {
        let pem = generate_rsa_2048().unwrap();
        assert!(pem.contains("PRIVATE KEY-----"));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k.pem");
        std::fs::write(&f, &pem).unwrap();
        let text = std::process::Command::new("openssl")
            .args(["rsa", "-noout", "-text", "-in"])
            .arg(&f)
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&text.stdout).contains("2048 bit"));
        assert_ne!(pem, generate_rsa_2048().unwrap(), "each key is new");
    }
}
