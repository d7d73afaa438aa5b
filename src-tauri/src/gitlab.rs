//! Configure's "Test GitLab" and the version's "Detect": the live checks of `usecase`, nothing decided here.
//! The token is used for one request and dropped; it is never stored, returned or logged.

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

/// "Test GitLab": DNS, TCP, TLS and the keys the gateway fetches, from this machine.
#[tauri::command]
pub async fn check_gitlab(url: String, ca_file: Option<String>) -> Result<Check, UiError> {
    Ok(usecase::check_gitlab(&url, &http(ca_file)).await?)
}

/// "Detect": GitLab's version from its answer (with a read_api token if given); the page fills the field
/// only from a `found` answer.
#[tauri::command]
pub async fn gitlab_version(
    url: String,
    token: Option<String>,
    ca_file: Option<String>,
) -> Result<VersionAnswer, UiError> {
    let token = token
        .filter(|t| !t.trim().is_empty())
        .map(|t| Secret::new(t.trim()));
    Ok(usecase::gitlab_version(&url, token.as_ref(), &http(ca_file)).await?)
}
