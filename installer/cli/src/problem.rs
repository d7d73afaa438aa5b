//! Errors as the CLI prints them: the engine's one shape (message, fix, field), with the field and the
//! fix put in this CLI's words — its flags, which the engine's messages never name.

use aigw_core::problem::{Explain, Problem};

/// The engine's explanation of the first error in the chain that has one.
pub fn of(e: &anyhow::Error) -> Option<Problem> {
    fn try_as<E: Explain + Send + Sync + 'static>(
        c: &(dyn std::error::Error + 'static),
    ) -> Option<Problem> {
        c.downcast_ref::<E>().map(Explain::problem)
    }
    e.chain().find_map(|c| {
        try_as::<aigw_engine::usecase::Error>(c)
            .or_else(|| try_as::<aigw_engine::docker::deploy::DeployError>(c))
            .or_else(|| try_as::<aigw_engine::lock::LockError>(c))
            .or_else(|| try_as::<aigw_core::spec::SpecError>(c))
            .or_else(|| try_as::<aigw_core::export::archive::ExportError>(c))
            .or_else(|| try_as::<aigw_core::recommend::RecommendError>(c))
            .or_else(|| try_as::<aigw_core::catalog::LookupError>(c))
            .or_else(|| try_as::<aigw_core::catalog::CatalogError>(c))
            .or_else(|| try_as::<aigw_core::catalog::gitlab::VersionError>(c))
            .or_else(|| try_as::<aigw_core::gitlab::inputs::InputError>(c))
    })
}

/// The flag that sets a field, where this CLI has one.
pub fn flag(field: &str) -> Option<&'static str> {
    Some(match field {
        "gpus" => "--gpus",
        "gitlab_version" | "gitlab.version" => "--gitlab-version",
        "model" => "--model",
        "precision" => "--precision",
        "tp" => "--tp",
        "context" => "--context",
        "developers" => "--developers",
        "platform" => "--platform",
        "accept_license" => "--accept-license",
        "gitlab.url" => "--gitlab-url",
        "gateway.host" => "--gateway-host",
        "gitlab.install_type" => "--install-type",
        "model.weights" | "model.weights.path" => "--weights-dir",
        "model.weights.token_file" => "--hf-token-file",
        "upgrade.gateway_tag" => "--gateway-tag",
        "image_bundle" => "BUNDLE.tar",
        _ => return None,
    })
}

/// What the CLI adds to the engine's fix: the command or flag that does it here.
pub fn cli_fix(p: &Problem) -> Option<String> {
    let model = p.field.as_deref().and_then(|f| f.strip_prefix("license:"));
    match (p.code, model) {
        ("license_required", Some(m)) => Some(format!("to accept it: --accept-license {m}")),
        ("exists", _) => Some("pass --force to replace it".into()),
        ("pull_failed", _) => Some("aigw-installer images load BUNDLE.tar".into()),
        // Another host's lock (the engine's field says so): only the admin can know that installer is gone.
        ("locked", _) if p.field.as_deref() == Some("break_lock") => {
            Some("to break it: run the same command again with --break-lock".into())
        }
        _ => None,
    }
}

/// The exit status an error ends the CLI with: 3 blocked (or locked by another operation), 4 unhealthy or smoke test failed, 130
/// cancelled, 1 anything else.
pub fn exit_status(e: &anyhow::Error) -> u8 {
    match of(e).map(|p| p.code) {
        Some("blocked" | "locked") => crate::EXIT_BLOCKED,
        Some("unhealthy" | "unstable" | "smoke_test_failed") => crate::EXIT_UNHEALTHY,
        Some("cancelled") => crate::EXIT_CANCELLED,
        _ => 1,
    }
}
