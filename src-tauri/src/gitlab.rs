//! Configure's "Test GitLab" and the version's "Detect": the live checks of `usecase`, nothing decided here.
//! The token is used for one request and dropped, unless "Remember the token" asks to keep it (0600 in the
//! data directory); it is never returned or logged.

use aigw_core::gitlab::live::{Check, VersionAnswer};
use aigw_core::secret::Secret;
use aigw_engine::net::HttpOptions;
use aigw_engine::usecase;

use crate::error::UiError;

fn http(ca_file: Option<String>) -> HttpOptions {
    let mut o = HttpOptions::from_env();
    if let Some(f) = ca_file.filter(|f| !f.trim().is_empty()) {
        o.ca_file = Some(f.into());
    }
    o
}

/// Both answers of "Test GitLab": this machine's steps (flattened, as before) and the gateway network's.
#[derive(serde::Serialize)]
pub struct GitlabChecks {
    #[serde(flatten)]
    here: Check,
    from_network: Check,
}

/// "Test GitLab": DNS, TCP, TLS and the keys the gateway fetches, from this machine and from the gateway's
/// network (the deployment network, the form's gateway image with its tag or GitLab version's), the latter
/// not run with its reason when no engine answers, no tag is known yet or the image is not loaded.
#[tauri::command]
pub async fn check_gitlab(
    url: String,
    ca_file: Option<String>,
    gitlab_version: Option<String>,
    gateway_image: Option<String>,
    gateway_tag: Option<String>,
) -> Result<GitlabChecks, UiError> {
    let ca = ca_file.clone().filter(|f| !f.trim().is_empty());
    let here = usecase::check_gitlab(&url, &http(ca_file)).await?;
    let version = gitlab_version.unwrap_or_default();
    let from_network = match usecase::GatewayPlace::of_form(
        &url,
        &version,
        gateway_image.as_deref(),
        gateway_tag.as_deref(),
    ) {
        Some(place) => {
            usecase::check_gitlab_from_gateway(&place, ca.as_deref().map(std::path::Path::new))
                .await
        }
        None => usecase::GatewayPlace::not_run_without_image(
            &url,
            "no gateway image yet: give the GitLab version (Model step) or a gateway tag",
        ),
    };
    Ok(GitlabChecks { here, from_network })
}

/// What "Detect" answers: GitLab's answer, and where a token is kept when one was used or kept.
#[derive(Debug, serde::Serialize)]
pub struct Detected {
    #[serde(flatten)]
    pub answer: VersionAnswer,
    /// The kept token's file this request used (no token typed), for the page to say so.
    pub used_kept: Option<String>,
    /// Where the typed token was kept, when "Remember the token" was ticked and GitLab accepted it.
    pub kept_in: Option<String>,
}

/// "Detect": GitLab's version from its answer (with a read_api token if given, else the kept one); the
/// page fills the field only from a `found` answer. With `remember`, a token GitLab accepted is kept as a
/// 0600 file in the data directory; it is never returned.
#[tauri::command]
pub async fn gitlab_version(
    url: String,
    token: Option<String>,
    remember: Option<bool>,
    ca_file: Option<String>,
) -> Result<Detected, UiError> {
    let given = token
        .filter(|t| !t.trim().is_empty())
        .map(|t| Secret::new(t.trim()));
    let (token, used_kept) = match given {
        Some(t) => (Some(t), None),
        None => match usecase::kept_gitlab_token()? {
            Some((path, t)) => (Some(t), Some(path.display().to_string())),
            None => (None, None),
        },
    };
    let answer = usecase::gitlab_version(&url, token.as_ref(), &http(ca_file)).await?;
    let found = matches!(answer, VersionAnswer::Found { .. });
    let kept_in = match (
        &token,
        remember.unwrap_or(false) && used_kept.is_none() && found,
    ) {
        (Some(t), true) => Some(usecase::keep_gitlab_token(t)?.display().to_string()),
        _ => None,
    };
    Ok(Detected {
        answer,
        used_kept,
        kept_in,
    })
}
