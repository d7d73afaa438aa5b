//! The live checks of the GitLab side, for both front ends (issue 13).

use aigw_core::gitlab::images::GATEWAY_IMAGE;
use aigw_core::gitlab::live::{Check, StepResult, TagAnswer, VersionAnswer};
use aigw_core::secret::Secret;

use crate::gitlab_live::{self, LiveError};
use crate::net::HttpOptions;

/// "Test GitLab" from this machine: DNS, TCP, TLS and the keys the gateway fetches.
pub async fn check_gitlab(url: &str, opts: &HttpOptions) -> Result<Check, LiveError> {
    gitlab_live::check_from_here(&gitlab_live::parse_url(url)?, opts).await
}

/// GitLab's version, from its answer only (never guessed); the token is used for this one request.
pub async fn gitlab_version(
    url: &str,
    token: Option<&Secret>,
    opts: &HttpOptions,
) -> Result<VersionAnswer, LiveError> {
    gitlab_live::detect_version(&gitlab_live::parse_url(url)?, token, opts).await
}

/// Whether the gateway image `tag` exists in `registry` (default `https://registry.gitlab.com`).
pub async fn gateway_tag_exists(
    tag: &str,
    registry: Option<&str>,
    opts: &HttpOptions,
) -> Result<TagAnswer, LiveError> {
    let (default_registry, name) = GATEWAY_IMAGE
        .split_once('/')
        .unwrap_or(("registry.gitlab.com", GATEWAY_IMAGE));
    let base = match registry {
        Some(r) => gitlab_live::parse_url(r)?,
        None => gitlab_live::parse_url(&format!("https://{default_registry}"))?,
    };
    gitlab_live::tag_in_registry(&base, name, tag, opts).await
}

/// Where `check tag` looks, in this order: the engine's images, a loaded image bundle, the registry.
#[derive(Default)]
pub struct TagPlaces<'a> {
    pub engine: Option<&'a super::Session>,
    pub bundle: Option<&'a std::path::Path>,
    /// The registry's base URL (default `https://registry.gitlab.com`); `None` with `skip_registry`.
    pub registry: Option<&'a str>,
    /// Never ask the registry (an air-gapped site).
    pub skip_registry: bool,
}

/// Whether the gateway image `tag` exists: on the engine, else in the bundle, else in the registry; the
/// first place that has it answers (with its source), the registry only when neither did.
pub async fn gateway_tag_found(
    tag: &str,
    places: &TagPlaces<'_>,
    opts: &HttpOptions,
) -> Result<TagAnswer, LiveError> {
    use crate::docker::container_engine::{ContainerEngine, EngineError};
    let image = format!("{GATEWAY_IMAGE}:{tag}");
    let mut answers = Vec::new();
    if let Some(session) = places.engine {
        answers.push(
            match ContainerEngine::inspect_image(&session.conn.docker, &image).await {
                Ok(_) => TagAnswer::Exists {
                    image: image.clone(),
                    source: "on the engine".into(),
                },
                Err(EngineError::NotFound(_)) => TagAnswer::CouldNotCheck {
                    image: image.clone(),
                    reason: "not on the engine".into(),
                },
                Err(e) => TagAnswer::CouldNotCheck {
                    image: image.clone(),
                    reason: format!("the engine's images could not be listed: {e}"),
                },
            },
        );
    }
    if let (false, Some(bundle)) = (found(&answers), places.bundle) {
        answers.push(match crate::docker::images::bundle_references(bundle) {
            Ok(refs) => {
                aigw_core::gitlab::live::judge_bundle(&image, &bundle.display().to_string(), &refs)
            }
            Err(reason) => TagAnswer::CouldNotCheck {
                image: image.clone(),
                reason,
            },
        });
    }
    if !found(&answers) && !places.skip_registry {
        answers.push(gateway_tag_exists(tag, places.registry, opts).await?);
    }
    Ok(aigw_core::gitlab::live::decide_tag(&image, &answers))
}

fn found(answers: &[TagAnswer]) -> bool {
    answers
        .iter()
        .any(|a| matches!(a, TagAnswer::Exists { .. }))
}

/// The gateway's health at the address GitLab will use.
pub async fn gateway_health(host: &str, port: u16) -> Vec<StepResult> {
    gitlab_live::gateway_health(host, port).await
}

/// The gateway's health at the address GitLab will use, for the engine of `session`: a local engine's
/// gateway must be this machine, a remote engine's the server (by its endpoint's host), or the check says
/// it cannot tell.
pub async fn gateway_health_for(
    session: &super::Session,
    host: &str,
    port: u16,
) -> Vec<StepResult> {
    let on = if session.is_local() {
        gitlab_live::this_machine()
    } else {
        let name = aigw_core::report::server::endpoint_host(&session.endpoint);
        gitlab_live::server_machine(name.as_deref()).await
    };
    gitlab_live::gateway_health_on(host, port, &on).await
}

/// After a successful apply: the gateway at GitLab's address, each finding also a warning on `sink` (the
/// containers are healthy where they run, so nothing is rolled back: the fix is GitLab's side or DNS).
pub(super) async fn reach_after_apply(
    session: &super::Session,
    s: &aigw_core::spec::DeploymentSpec,
    sink: &super::Sink,
) -> Vec<StepResult> {
    let steps = gateway_health_for(session, &s.gateway.host, s.gateway.port).await;
    for st in &steps {
        if let aigw_core::gitlab::live::Outcome::Finding { message, fix, .. } = &st.outcome {
            crate::docker::events::emit(
                sink,
                crate::docker::events::Event::Warning {
                    message: format!("the gateway at GitLab's address: {message} (fix: {fix})"),
                },
            );
        }
    }
    steps
}

/// "Test GitLab" from the gateway's network: a short-lived container of `image` on `network` (created if
/// absent, removed after if so), the probe always removed.
pub async fn check_gitlab_from_network(
    session: &super::Session,
    url: &str,
    network: &str,
    image: &str,
    ca_file: Option<&std::path::Path>,
) -> Result<Check, LiveError> {
    let base = gitlab_live::parse_url(url)?;
    let at = crate::docker::gitlab_probe::FromNetwork {
        network,
        image,
        ca_file,
    };
    Ok(crate::docker::gitlab_probe::check_from_network(&session.conn.docker, &base, &at).await)
}

/// Keeps the GitLab token (read_api) the admin asked to remember, 0600 in the data directory.
pub fn keep_gitlab_token(token: &Secret) -> Result<std::path::PathBuf, super::Error> {
    Ok(crate::secrets::keep_gitlab_token(
        &super::data_dir()?,
        token,
    )?)
}

/// The GitLab token kept earlier and its file, or none.
pub fn kept_gitlab_token() -> Result<Option<(std::path::PathBuf, Secret)>, super::Error> {
    Ok(crate::secrets::kept_gitlab_token(&super::data_dir()?)?)
}

/// Forgets the kept GitLab token; its file's path when there was one.
pub fn forget_gitlab_token() -> Result<Option<std::path::PathBuf>, super::Error> {
    Ok(crate::secrets::forget_gitlab_token(&super::data_dir()?)?)
}
