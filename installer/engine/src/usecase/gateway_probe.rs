//! "Test GitLab" from where the gateway will run, named as apply names it: from a spec (`check gitlab
//! --spec`) or from the wizard's form before a spec exists (issue 13).

use std::path::Path;

use aigw_core::gitlab::images::{self, GATEWAY_IMAGE};
use aigw_core::gitlab::live::{Check, Outcome, Step, StepResult};
use aigw_core::spec::{DeploymentSpec, SpecError, DEFAULT_NETWORK};

/// GitLab's URL, the deployment network and the gateway's image:tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayPlace {
    pub url: String,
    pub network: String,
    pub image: String,
}

impl GatewayPlace {
    /// As apply will run the spec's gateway (the same network and image:tag as `plan`'s).
    pub fn of_spec(spec: &DeploymentSpec) -> Result<Self, SpecError> {
        Ok(Self {
            url: spec.gitlab.url.clone(),
            network: spec.network.clone(),
            image: format!("{}:{}", spec.gateway.image, spec.gateway_tag()?),
        })
    }

    /// The wizard's form: the default network, the image given or the default, the tag given or the
    /// GitLab version's. `None` when neither names a tag (no version yet, or one without a versioned image).
    pub fn of_form(
        url: &str,
        gitlab_version: &str,
        image: Option<&str>,
        tag: Option<&str>,
    ) -> Option<Self> {
        let given = |v: Option<&str>| {
            v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let image = given(image).unwrap_or_else(|| GATEWAY_IMAGE.to_string());
        let tag = match given(tag) {
            Some(t) => t,
            None => images::gateway_tag(gitlab_version).ok()?,
        };
        Some(Self {
            url: url.to_string(),
            network: DEFAULT_NETWORK.into(),
            image: format!("{image}:{tag}"),
        })
    }

    /// The network check not run because no image is known yet (`reason` says what to give).
    pub fn not_run_without_image(url: &str, reason: &str) -> Check {
        Check {
            url: url.to_string(),
            from: format!("the gateway's network ({DEFAULT_NETWORK})"),
            steps: vec![StepResult {
                step: Step::Keys,
                outcome: Outcome::not_run(reason),
            }],
        }
    }
}

/// The check from `place`'s network on the front end's engine; when no engine answers, one step not run
/// saying so (the check from this machine still stands on its own).
pub async fn check_gitlab_from_gateway(place: &GatewayPlace, ca_file: Option<&Path>) -> Check {
    match super::Session::connect().await {
        Ok(session) => {
            match super::check_gitlab_from_network(
                &session,
                &place.url,
                &place.network,
                &place.image,
                ca_file,
            )
            .await
            {
                Ok(check) => check,
                Err(e) => not_run(place, format!("{e}")),
            }
        }
        Err(e) => not_run(
            place,
            format!("no Docker engine answered, so the check could not run from the gateway's network: {e}"),
        ),
    }
}

/// `not_run`'s check, shaped as a real one.
fn not_run(place: &GatewayPlace, reason: String) -> Check {
    Check {
        url: place.url.clone(),
        from: format!(
            "the gateway's network ({}, image {})",
            place.network, place.image
        ),
        steps: vec![StepResult {
            step: Step::Keys,
            outcome: Outcome::not_run(reason),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_names_the_image_apply_would_run_and_nothing_without_a_version() {
        let p = GatewayPlace::of_form("https://gitlab.example", "18.4.1", None, None).unwrap();
        assert_eq!(p.network, DEFAULT_NETWORK);
        assert_eq!(p.image, format!("{GATEWAY_IMAGE}:self-hosted-v18.4.1-ee"));
        let t = GatewayPlace::of_form("https://g", "", Some(" mirror/gw "), Some("mine")).unwrap();
        assert_eq!(t.image, "mirror/gw:mine");
        assert!(GatewayPlace::of_form("https://g", "", Some("mirror/gw"), None).is_none());
    }
}
