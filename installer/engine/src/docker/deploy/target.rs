//! Everything an apply needs, decided before it runs: the containers complete with their secrets, the
//! platform images are pulled for, and where the gateway logs on the host.

use aigw_core::secret::Secret;
use std::collections::BTreeMap;
use std::path::PathBuf;

use super::DeployError;
use aigw_core::plan::{self, Component, Desired};
use aigw_core::spec::DeploymentSpec;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The containers exactly as they are to run, the gateway's secret environment included.
    pub desired: Desired,
    /// Passed to every pull: the spec's platform.
    pub pull_platform: Option<String>,
    /// Created and given to the gateway's user before the containers start, when the engine is local.
    pub log_dir: PathBuf,
}

/// The spec as an apply's target. `token_file` is the Hugging Face token file to mount;
/// `gateway_secret_env` carries secrets the gateway needs in its environment (the JWT keys of GitLab
/// 18.10+): they are part of the container's configuration (and so of its config hash), never of the spec.
pub fn target(
    spec: &DeploymentSpec,
    token_file: Option<&str>,
    gateway_secret_env: &BTreeMap<String, Secret>,
) -> Result<Target, DeployError> {
    let mut desired = plan::desired(spec, token_file)?;
    for c in desired
        .containers
        .iter_mut()
        .filter(|c| c.component == Component::Gateway)
    {
        c.env.extend(
            gateway_secret_env
                .iter()
                .map(|(k, v)| (k.clone(), v.expose().to_string())),
        );
    }
    Ok(Target {
        desired,
        pull_platform: spec.platform.clone(),
        log_dir: spec.log_dir.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_go_to_the_gateway_only_and_the_spec_decides_platform_and_log_dir() {
        let mut spec = DeploymentSpec::from_toml(
            include_str!("../../../../../tests/fixtures/specs/hf-mistral-small.toml"),
            "t",
        )
        .unwrap();
        spec.gitlab.version = "18.10".into();
        spec.log_dir = "/srv/aigw-logs".into();
        spec.platform = Some("linux/amd64".into());
        let secrets = BTreeMap::from([("AIGW_JWT_KEY".to_string(), Secret::new("secret-pem"))]);
        let t = target(&spec, None, &secrets).unwrap();
        // In the container's environment, never in what a `{:?}` shows.
        let shown = format!("{t:?}");
        assert!(
            !shown.contains("secret-pem") && shown.contains("AIGW_JWT_KEY"),
            "{shown}"
        );
        let env_of = |c: Component| {
            t.desired
                .containers
                .iter()
                .find(|d| d.component == c)
                .map(|d| d.env.get("AIGW_JWT_KEY").cloned())
                .unwrap()
        };
        assert_eq!(env_of(Component::Gateway).as_deref(), Some("secret-pem"));
        assert_eq!(env_of(Component::Model), None);
        assert_eq!(t.pull_platform.as_deref(), Some("linux/amd64"));
        assert_eq!(t.log_dir, PathBuf::from("/srv/aigw-logs"));
        // The secrets are configuration: a new key recreates the gateway.
        let without = target(&spec, None, &BTreeMap::new()).unwrap();
        assert_ne!(
            without.desired.containers[1].config_hash(),
            t.desired.containers[1].config_hash()
        );
    }
}
