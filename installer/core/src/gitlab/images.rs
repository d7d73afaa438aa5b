//! Which gateway image goes with which GitLab version (docs/sources.md, "Gateway image").

use crate::catalog::gitlab::GitlabVersion;

/// GitLab's registry path for the self-hosted AI Gateway image (linux/amd64 only).
pub const GATEWAY_IMAGE: &str =
    "registry.gitlab.com/gitlab-org/modelops/applied-ml/code-suggestions/ai-assist/model-gateway";

/// vLLM's official OpenAI-compatible server image. GitLab asks for vLLM ≥ v0.6.4.post1; its offline
/// deployment guide (18.10) runs v0.18.1, which we pin rather than `latest`.
pub const VLLM_IMAGE: &str = "vllm/vllm-openai";
pub const VLLM_TAG: &str = "v0.18.1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error(transparent)]
    Version(#[from] crate::catalog::gitlab::VersionError),
    #[error(
        "GitLab {0} has no versioned self-hosted gateway image (versioned tags start with 17.2); upgrade GitLab, \
         or set gateway.tag in the spec to the tag you mirrored"
    )]
    NoVersionedImage(String),
}

/// The gateway tag for a GitLab version: `self-hosted-vX.Y.Z-ee` from 17.4 (the patch given, else .0; GitLab
/// advises the highest patch of the same X.Y), `gitlab-vX.Y.0` for 17.2 and 17.3. Never `latest`.
pub fn gateway_tag(gitlab_version: &str) -> Result<String, TagError> {
    let v: GitlabVersion = gitlab_version.parse()?;
    let patch = gitlab_version
        .trim()
        .trim_start_matches(['v', 'V'])
        .split(['-', '+'])
        .next()
        .and_then(|core| core.split('.').nth(2))
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(0);
    match (v.major, v.minor) {
        (17, 2 | 3) => Ok(format!("gitlab-v{}.{}.0", v.major, v.minor)),
        (major, minor) if (major, minor) >= (17, 4) => {
            Ok(format!("self-hosted-v{major}.{minor}.{patch}-ee"))
        }
        _ => Err(TagError::NoVersionedImage(v.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_gitlab_version() {
        assert_eq!(gateway_tag("18.2.1").unwrap(), "self-hosted-v18.2.1-ee");
        assert_eq!(gateway_tag("18.2").unwrap(), "self-hosted-v18.2.0-ee");
        assert_eq!(gateway_tag("17.4").unwrap(), "self-hosted-v17.4.0-ee");
        assert_eq!(gateway_tag("17.3.2").unwrap(), "gitlab-v17.3.0");
        assert!(matches!(
            gateway_tag("17.1"),
            Err(TagError::NoVersionedImage(_))
        ));
        assert!(gateway_tag("eighteen").is_err());
    }
}
