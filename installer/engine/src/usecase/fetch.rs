//! `weights fetch`, and the plan Review shows: the spec's Hugging Face weights brought into its cache
//! directory over the network (`crate::weights::fetch`), with the token, endpoint and network options
//! the front end gathered.

use std::path::PathBuf;

use aigw_core::secret::Secret;
use aigw_core::spec::{DeploymentSpec, Weights};
use aigw_core::weights::hub::Endpoint;
use tokio_util::sync::CancellationToken;

use super::Error;
use crate::docker::events::{emit, Event, PhaseState, Sink};
use crate::net::HttpOptions;
use crate::weights::fetch::{self, FetchOptions, FetchPlan, Fetched};

/// What a front end read from its flags and environment, once (the engine reads no environment).
#[derive(Debug, Clone, Default)]
pub struct FetchRequest {
    /// Proxies and the CA file (`HttpOptions::from_env()` plus flags).
    pub http: HttpOptions,
    /// Connections at once; the engine's default when `None`.
    pub connections: Option<usize>,
    /// Byte-range size; the engine's default when `None`.
    pub chunk: Option<u64>,
    /// `HF_TOKEN`, used when the spec names no token file.
    pub env_token: Option<Secret>,
    /// `HF_ENDPOINT`, used when the spec names no endpoint.
    pub env_endpoint: Option<String>,
    /// Where an earlier install kept a token given through `HF_TOKEN` (the data directory), if any.
    pub data_dir: Option<PathBuf>,
}

/// The fetch's options for this spec: the spec's endpoint, else `HF_ENDPOINT`, else the Hub; the spec's
/// token file (checked 0600), else `HF_TOKEN`, else the token an earlier install kept.
pub fn fetch_options(s: &DeploymentSpec, req: &FetchRequest) -> Result<FetchOptions, Error> {
    let Weights::HuggingFace {
        repo,
        revision,
        endpoint,
        cache_dir,
        token_file,
    } = &s.model.weights
    else {
        return Err(Error::LocalWeights);
    };
    let endpoint = Endpoint::from_spec(endpoint.as_deref().or(req.env_endpoint.as_deref()))
        .map_err(crate::weights::WeightsError::from)?;
    let file = match token_file {
        Some(f) => Some(f.clone()),
        None if req.env_token.is_some() => None,
        None => match &req.data_dir {
            Some(d) => crate::secrets::stored_token_file(d)?,
            None => None,
        },
    };
    let token = match file {
        Some(f) => {
            crate::fsutil::check_secret_file(&f).map_err(|p| {
                aigw_core::spec::invalid(
                    "model.weights.token_file",
                    p,
                    format!("chmod 600 {}", f.display()),
                )
            })?;
            let text = std::fs::read_to_string(&f).map_err(|source| Error::ReadToken {
                path: f.display().to_string(),
                source,
            })?;
            Some(Secret::new(text.trim()))
        }
        None => req.env_token.clone(),
    };
    let mut o = FetchOptions::new(repo, revision, endpoint, cache_dir);
    o.format = super::weights_format(s);
    o.token = token;
    o.http = req.http.clone();
    if let Some(c) = req.chunk {
        o.chunk = c.max(1);
    }
    if let Some(n) = req.connections {
        o.connections = n.max(1);
    }
    Ok(o)
}

/// The files, sizes and the line Review shows ("download ≈ X GB from <host> to <dir>"); every refusal
/// (access, space) before the first byte.
pub async fn weights_plan(s: &DeploymentSpec, req: &FetchRequest) -> Result<FetchPlan, Error> {
    Ok(fetch::plan(&fetch_options(s, req)?).await?)
}

/// Fetches the spec's snapshot into its cache directory: the `weights` phase's events, then the
/// per-file and total progress. Cancelling keeps what is verified; the next run resumes.
pub async fn weights_fetch(
    s: &DeploymentSpec,
    req: &FetchRequest,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<Fetched, Error> {
    let o = fetch_options(s, req)?;
    let phase = |state| Event::Phase {
        phase: format!("weights: {} into {}", o.repo, o.cache_dir.display()),
        state,
    };
    emit(sink, phase(PhaseState::Started));
    match fetch::fetch(&o, sink, cancel).await {
        Ok(f) => {
            emit(sink, phase(PhaseState::Done));
            Ok(f)
        }
        Err(e) => {
            emit(sink, phase(PhaseState::Failed));
            Err(e.into())
        }
    }
}
