//! Review, install and upgrade: the spec becomes running containers through one apply (pull first,
//! create, wait healthy, smoke test; on failure or cancel, everything this run changed is put back).

use aigw_core::plan::{Desired, Plan};
use aigw_core::secret::Secret;
use aigw_core::spec::{DeploymentSpec, Weights};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::server_side::{self, mounted_token};
use super::{CancellationToken, Error, Session, Sink};
use crate::docker::deploy::{self, ApplyOptions, ApplyReport};
use crate::docker::images;
use crate::secrets;

/// What `apply` would do, before anything changes.
pub struct Reviewed {
    pub desired: Desired,
    /// Against the engine, when there is one (without, planning and export still work).
    pub plan: Option<Result<Plan, Error>>,
}

/// The desired state, and the plan against the engine when there is one. Keys already made are part of
/// the gateway's configuration (so an unchanged install plans "keep"); missing ones are only generated
/// by install.
pub async fn review(target: Option<&Session>, s: &DeploymentSpec) -> Result<Reviewed, Error> {
    super::check_weights_on(target.is_none_or(Session::is_local), s)?;
    let desired = aigw_core::plan::desired(s, None)?;
    let plan = match target {
        Some(t) => {
            let keys = secrets::resolve_jwt_keys(s, &t.data_dir, false)?;
            let planned = secrets::planned_token_file(s, &t.data_dir)?;
            let token = mounted_token(t.is_local(), s, planned.as_deref());
            Some(
                deploy::plan(&t.conn.docker, s, token.as_deref(), &keys, t.is_local())
                    .await
                    .map(|(_, p)| p)
                    .map_err(Error::from),
            )
        }
        None => None,
    };
    Ok(Reviewed { desired, plan })
}

/// What an install or upgrade leaves: the spec that now runs (naming the token file it used) and how.
pub struct Installed {
    pub spec: DeploymentSpec,
    pub token_file: Option<PathBuf>,
    pub report: ApplyReport,
}

/// How an install runs; the defaults are the wizard's.
#[derive(Debug, Clone)]
pub struct InstallOptions<'a> {
    /// A Hugging Face token typed in (or `HF_TOKEN`): kept as a 0600 file, never in the spec.
    pub hf_token: Option<&'a str>,
    /// An offline image bundle to load first.
    pub image_bundle: Option<&'a Path>,
    pub rollback_on_failure: bool,
    pub smoke_test: bool,
    /// The stability window after each server's first healthy answer (zero: none).
    pub stable_for: Duration,
    /// Fetch Hugging Face weights first (the `weights` phase, before any container is created), with
    /// the front end's network options; `None` leaves the cache as it is.
    pub fetch: Option<super::FetchRequest>,
}

impl Default for InstallOptions<'_> {
    fn default() -> Self {
        Self {
            hf_token: None,
            image_bundle: None,
            rollback_on_failure: true,
            smoke_test: true,
            stable_for: Duration::from_secs(deploy::DEFAULT_STABLE_FOR_S),
            fetch: None,
        }
    }
}

/// The token file, the JWT keys (generated on first use) and the apply options: what install and
/// upgrade share.
fn prepare(
    t: &Session,
    s: &DeploymentSpec,
    hf_token: Option<&str>,
    cancel: CancellationToken,
) -> Result<(Option<PathBuf>, ApplyOptions), Error> {
    let token = secrets::resolve_token_file(s, hf_token, &t.data_dir)?;
    let opts = ApplyOptions {
        local_engine: t.is_local(),
        gateway_secret_env: secrets::resolve_jwt_keys(s, &t.data_dir, true)?,
        cancel,
        ..Default::default()
    };
    Ok((token, opts))
}

/// The support-window check of [`aigw_core::gitlab::support`], against the built-in catalog.
pub fn supported(s: &DeploymentSpec) -> Result<Vec<String>, Error> {
    let catalog = aigw_core::catalog::Catalog::builtin()
        .map_err(|e| aigw_core::export::archive::ExportError::Version(e.to_string()))?;
    Ok(aigw_core::gitlab::support::check(s, &catalog)
        .map_err(aigw_core::export::archive::ExportError::from)?)
}

/// Loads the offline bundle (if any), then applies the spec, holding the engine's lock throughout.
pub async fn install(
    t: &Session,
    s: &DeploymentSpec,
    o: &InstallOptions<'_>,
    sink: &Sink,
    cancel: CancellationToken,
) -> Result<Installed, Error> {
    // Before anything is pulled or created: a model GitLab does not support here is refused (or, allowed
    // by the spec, a warning), as is every other finding about the GitLab version.
    for message in supported(s)? {
        crate::docker::events::emit(sink, crate::docker::events::Event::Warning { message });
    }
    if let Some(bundle) = o.image_bundle {
        check_bundle(bundle)?;
    }
    super::check_weights_on(t.is_local(), s)?;
    t.locked("apply", async {
        let (token_file, mut opts) = prepare(t, s, o.hf_token, cancel.clone())?;
        opts.rollback_on_failure = o.rollback_on_failure;
        opts.smoke_test = o.smoke_test;
        opts.stable_for = o.stable_for;
        if !t.is_local() {
            remote_files(t, s, o, token_file.as_deref(), sink, &cancel).await?;
        } else if let (
            Some(req),
            Weights::HuggingFace {
                repo,
                revision,
                cache_dir,
                ..
            },
        ) = (&o.fetch, &s.model.weights)
        {
            // Under the lock, before any container: the model server then starts offline on the snapshot.
            // A snapshot already complete per its verified manifest (a `weights import` on an air-gapped
            // site, or an earlier fetch) needs no network: the Hub is not asked at all.
            if snapshot_complete(cache_dir, repo, revision) {
                crate::docker::events::emit(
                    sink,
                    crate::docker::events::Event::Phase {
                        phase: format!(
                            "weights: {repo} at {revision} already verified in {}",
                            cache_dir.display()
                        ),
                        state: crate::docker::events::PhaseState::Done,
                    },
                );
            } else {
                let req = super::FetchRequest {
                    env_token: req
                        .env_token
                        .clone()
                        .or_else(|| o.hf_token.map(Secret::new)),
                    data_dir: Some(t.data_dir.clone()),
                    ..req.clone()
                };
                super::weights_fetch(s, &req, sink, &cancel).await?;
            }
        }
        if let Some(bundle) = o.image_bundle {
            images::load(&t.conn.docker, bundle, sink, &cancel).await?;
        }
        let report = deploy::apply(
            &t.conn.docker,
            s,
            mounted_token(t.is_local(), s, token_file.as_deref()).as_deref(),
            &opts,
            sink,
        )
        .await?;
        Ok(Installed {
            spec: with_token_file(s.clone(), token_file.as_deref()),
            token_file,
            report,
        })
    })
    .await
}

/// New tags through the same apply: pull first, keep the old container until the new one is healthy,
/// put it back if not. The returned spec names the new tags.
pub async fn upgrade(
    t: &Session,
    s: &DeploymentSpec,
    gateway_tag: Option<&str>,
    model_tag: Option<&str>,
    stable_for: Duration,
    sink: &Sink,
    cancel: CancellationToken,
) -> Result<Installed, Error> {
    if gateway_tag.is_none() && model_tag.is_none() {
        return Err(Error::NoNewTag);
    }
    t.locked("upgrade", async {
        let (token_file, mut opts) = prepare(t, s, None, cancel)?;
        opts.stable_for = stable_for;
        if !t.is_local() {
            server_side::prepare_server(t, s, token_file.as_deref(), sink)
                .await?
                .close()
                .await;
        }
        let (next, report) = deploy::upgrade(
            &t.conn.docker,
            s,
            gateway_tag,
            model_tag,
            mounted_token(t.is_local(), s, token_file.as_deref()).as_deref(),
            &opts,
            sink,
        )
        .await?;
        Ok(Installed {
            spec: with_token_file(next, token_file.as_deref()),
            token_file,
            report,
        })
    })
    .await
}

/// A remote engine's files, made on the server through the engine before any container: the log
/// directory and the token, then (when the install fetches) the snapshot fetched into the workstation's
/// cache and streamed to the server. The helper is removed whatever happens.
async fn remote_files(
    t: &Session,
    s: &DeploymentSpec,
    o: &InstallOptions<'_>,
    token_file: Option<&Path>,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    if let Weights::Local { path } = &s.model.weights {
        let message = format!(
            "the weights folder {} is read on the server, not from here: the installer does not check it; \
             a missing checkpoint shows in the model server's log",
            path.display()
        );
        crate::docker::events::emit(sink, crate::docker::events::Event::Warning { message });
    }
    let files = server_side::prepare_server(t, s, token_file, sink).await?;
    let r = match &o.fetch {
        Some(req) => {
            let req = super::FetchRequest {
                env_token: req
                    .env_token
                    .clone()
                    .or_else(|| o.hf_token.map(Secret::new)),
                data_dir: Some(t.data_dir.clone()),
                ..req.clone()
            };
            server_side::weights_to_server(t, &files, s, &req, sink, cancel).await
        }
        None => Ok(()),
    };
    files.close().await;
    r
}

fn with_token_file(mut s: DeploymentSpec, token: Option<&Path>) -> DeploymentSpec {
    if let (Weights::HuggingFace { token_file, .. }, Some(t)) = (&mut s.model.weights, token) {
        *token_file = Some(t.to_path_buf());
    }
    s
}

/// An image bundle is the tar and its manifest beside it.
pub fn check_bundle(path: &Path) -> Result<(), Error> {
    let manifest = images::manifest_path(path);
    if path.is_file() && manifest.is_file() {
        Ok(())
    } else {
        Err(Error::NotABundle {
            path: path.display().to_string(),
            manifest: manifest.display().to_string(),
        })
    }
}

/// Whether the cache holds every file of the snapshot `revision` names, per its verified manifest.
fn snapshot_complete(cache_dir: &Path, repo: &str, revision: &str) -> bool {
    crate::weights::status(cache_dir, repo, revision).is_ok_and(|st| st.complete())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec_file::SpecFile;

    const EXAMPLE: &str = include_str!("../../../../tests/fixtures/specs/hf-mistral-small.toml");

    /// The spec file written after an install that was given a token (what `upgrade` and the wizard
    /// save) names the token's file and never holds the token itself.
    #[test]
    fn the_saved_spec_names_the_token_file_not_the_token() {
        let s = DeploymentSpec::from_toml(EXAMPLE, "example").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let token = secrets::resolve_token_file(&s, Some("hf_secret123"), dir.path())
            .unwrap()
            .unwrap();
        let saved = dir.path().join("aigw-spec.toml");
        with_token_file(s, Some(&token))
            .save(&saved, false)
            .unwrap();
        let text = std::fs::read_to_string(&saved).unwrap();
        assert!(
            text.contains(&format!("token_file = \"{}\"", token.display())),
            "{text}"
        );
        assert!(!text.contains("hf_secret123"), "{text}");
        let again = DeploymentSpec::load(&saved).unwrap();
        assert!(matches!(
            again.model.weights,
            Weights::HuggingFace { token_file: Some(f), .. } if f == token
        ));
    }
}
