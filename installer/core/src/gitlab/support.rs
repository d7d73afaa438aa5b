//! Whether GitLab supports what a spec deploys: the model inside its support window for the GitLab
//! version (catalog `gitlab.since` / `gitlab.until`), and the version among those this installer knows.
//! Pure: export and apply call it before anything is written or created.

use crate::catalog::gitlab::{GitlabVersion, NEWEST_KNOWN};
use crate::catalog::{Catalog, ModelSpec};
use crate::spec::{DeploymentSpec, Weights};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{model} is supported by GitLab {range}, not by GitLab {version}")]
pub struct UnsupportedModel {
    pub model: String,
    pub version: GitlabVersion,
    /// The versions that do support it, as the catalog says ("18.3 and later").
    pub range: String,
}

impl crate::problem::Explain for UnsupportedModel {
    fn code(&self) -> &'static str {
        "unsupported_model"
    }
    fn fix(&self) -> Option<String> {
        Some(format!(
            "run GitLab {}, or choose a model GitLab {} supports (aigw-installer models); to go on anyway, set \
             gitlab.allow_unsupported = true in the spec (--allow-unsupported)",
            self.range, self.version
        ))
    }
    fn field(&self) -> Option<String> {
        Some("model".into())
    }
}

/// The catalog entry a spec deploys: by the Hugging Face repository of any of its checkpoints, else by the
/// served name (id, served name or alias). None for a model the catalog does not know (a stand-in).
pub fn catalog_model<'a>(spec: &DeploymentSpec, catalog: &'a Catalog) -> Option<&'a ModelSpec> {
    if let Weights::HuggingFace { repo, .. } = &spec.model.weights {
        let by_repo = catalog.models.iter().find(|m| {
            m.checkpoints
                .iter()
                .any(|c| c.hf_repo.eq_ignore_ascii_case(repo.trim()))
        });
        if by_repo.is_some() {
            return by_repo;
        }
    }
    let served = spec.model.served_model_name.trim().to_ascii_lowercase();
    catalog
        .models
        .iter()
        .find(|m| m.answers_to(&served) || m.served_name == served)
}

/// The warnings to show before export or apply; an error when the model is outside its support window
/// and the spec does not allow that. A version the spec cannot parse is the spec's own error, not this one.
pub fn check(spec: &DeploymentSpec, catalog: &Catalog) -> Result<Vec<String>, UnsupportedModel> {
    let Ok(version) = spec.gitlab_version() else {
        return Ok(Vec::new());
    };
    let mut warnings = version_warnings(spec, version);
    if let Some(m) = catalog_model(spec, catalog) {
        if !m.gitlab.covers(version) {
            let e = UnsupportedModel {
                model: m.name.clone(),
                version,
                range: m.gitlab.range(),
            };
            if !spec.gitlab.allow_unsupported {
                return Err(e);
            }
            warnings.push(format!(
                "{e}; going on because the spec allows unsupported models (gitlab.allow_unsupported)"
            ));
        }
    }
    Ok(warnings)
}

/// A version newer than the newest this installer knows: its steps are the newest known ones, and its
/// gateway tag is derived, not known to exist.
pub fn version_warnings(spec: &DeploymentSpec, version: GitlabVersion) -> Vec<String> {
    if version <= NEWEST_KNOWN {
        return Vec::new();
    }
    let tag = spec.gateway_tag().unwrap_or_default();
    vec![format!(
        "GitLab {version} is newer than {NEWEST_KNOWN}, the newest release this installer knows: the GitLab steps \
         are those of {NEWEST_KNOWN}, and the gateway tag {tag} is assumed (check that it exists, or set gateway.tag)"
    )]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::problem::Explain;

    fn spec(version: &str) -> DeploymentSpec {
        let mut s = DeploymentSpec::from_toml(
            include_str!("../../../../tests/fixtures/specs/hf-mistral-small-tp2.toml"),
            "t",
        )
        .unwrap();
        s.gitlab.version = version.into();
        s
    }

    #[test]
    fn mistral_small_before_18_3_is_refused_with_the_versions_that_support_it() {
        let cat = Catalog::builtin().unwrap();
        for v in ["17.3", "17.9", "18.2.1"] {
            let e = check(&spec(v), &cat).unwrap_err();
            assert_eq!(e.range, "18.3 and later", "{v}");
            assert_eq!(e.code(), "unsupported_model");
            let text = e.to_string();
            assert!(
                text.contains("Mistral Small 3.2") && text.contains("18.3 and later"),
                "{text}"
            );
            assert!(e.fix().unwrap().contains("--allow-unsupported"));
        }
        assert_eq!(check(&spec("18.3"), &cat), Ok(Vec::new()));
        assert_eq!(check(&spec("18.11.0"), &cat), Ok(Vec::new()));
    }

    #[test]
    fn the_override_turns_the_refusal_into_a_warning() {
        let cat = Catalog::builtin().unwrap();
        let mut s = spec("18.2");
        s.gitlab.allow_unsupported = true;
        let w = check(&s, &cat).unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("not by GitLab 18.2"), "{w:?}");
    }

    #[test]
    fn models_past_their_window_and_unknown_models() {
        let cat = Catalog::builtin().unwrap();
        let mut s = spec("18.5");
        s.model.weights = Weights::HuggingFace {
            repo: "mistralai/Mistral-7B-Instruct-v0.3".into(),
            revision: "main".into(),
            endpoint: None,
            cache_dir: "/srv/cache".into(),
            token_file: None,
        };
        let e = check(&s, &cat).unwrap_err();
        assert_eq!(e.range, "17.1–18.4");
        // Local weights are matched by the served name; a model the catalog lacks is not judged.
        s.model.weights = Weights::Local {
            path: "/srv/models/x".into(),
        };
        s.model.served_model_name = "mistral-7b-instruct-v0.3".into();
        assert!(check(&s, &cat).is_err());
        s.model.served_model_name = "standin".into();
        assert_eq!(check(&s, &cat), Ok(Vec::new()));
    }

    #[test]
    fn a_version_newer_than_the_newest_known_warns_with_the_tag_assumed() {
        let cat = Catalog::builtin().unwrap();
        let w = check(&spec("18.99.0"), &cat).unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains(&format!("newer than {NEWEST_KNOWN}")),
            "{w:?}"
        );
        assert!(w[0].contains("self-hosted-v18.99.0-ee"), "{w:?}");
        let w = check(&spec("99.1"), &cat).unwrap();
        assert!(w[0].contains("self-hosted-v99.1.0-ee"), "{w:?}");
        assert!(version_warnings(&spec("18.11"), NEWEST_KNOWN).is_empty());
    }
}
