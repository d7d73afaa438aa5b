//! Offline image bundles: the spec's two images saved into one tar with a SHA-256 manifest, and loaded
//! on a site without registry access (verified first).

use aigw_core::spec::DeploymentSpec;
use std::path::Path;

use super::provision::check_bundle;
use super::{CancellationToken, Error, Session, Sink};
use crate::docker::images::{self, BundleManifest};

pub async fn save_images(
    t: &Session,
    s: &DeploymentSpec,
    out: &Path,
    force: bool,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<BundleManifest, Error> {
    let desired = aigw_core::plan::desired(s, None)?;
    let refs: Vec<String> = desired.containers.iter().map(|c| c.image.clone()).collect();
    Ok(images::save(&t.conn.docker, &refs, out, force, sink, cancel).await?)
}

/// The references loaded (holding the engine's lock).
pub async fn load_images(
    t: &Session,
    bundle: &Path,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<Vec<String>, Error> {
    check_bundle(bundle)?;
    t.locked("load images", async {
        Ok(images::load(&t.conn.docker, bundle, sink, cancel).await?)
    })
    .await
}
