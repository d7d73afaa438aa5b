//! GPUs of the engine's host, read through the engine (issue 14): a short-lived container with a GPU
//! device request runs `nvidia-smi --query-gpu` (the NVIDIA container toolkit mounts `nvidia-smi` and the
//! driver into any image), and the core parses its CSV into the same reading as NVML. The container is
//! removed whatever happens: the probe runs as its own task, so a caller that stops waiting (cancel,
//! time-out) leaves the removal to finish.

use bollard::models::{ContainerCreateBody, DeviceRequest, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListImagesOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use aigw_core::report::gpu::{NvmlFailure, NvmlReading, NvmlUnavailable};
use aigw_core::report::nvidia_smi;

/// Marks probe containers (not our app label: status, plan and uninstall never list them).
pub const PROBE_LABEL: &str = "io.aigw-installer.probe";

/// Images known to carry glibc, so the toolkit's `nvidia-smi` runs in them, tried after the preferred ones.
const GLIBC_IMAGES: [&str; 6] = [
    "vllm/vllm-openai",
    "nvidia/cuda",
    "ubuntu",
    "debian",
    "registry.gitlab.com/gitlab-org/modelops/applied-ml/code-suggestions/ai-assist/model-gateway",
    "python",
];

#[derive(Debug, Clone)]
pub struct GpuProbeOptions {
    /// Images to run the probe in, best first (the spec's model image); then any local image of
    /// [`GLIBC_IMAGES`].
    pub preferred_images: Vec<String>,
    /// The GPU device request. Off only in tests on a machine without GPUs (the fake `nvidia-smi` needs
    /// no device); [`probe_body`] shows what it adds.
    pub device_request: bool,
    pub budget: Duration,
}

/// What the probe found, and which image it ran in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuProbeResult {
    pub reading: NvmlReading,
    pub image: Option<String>,
}

/// The create body of the probe container: `nvidia-smi` with the query as entrypoint (no shell needed),
/// all GPUs with the `gpu` and `utility` capabilities (`utility` is what mounts `nvidia-smi`).
pub fn probe_body(image: &str, device_request: bool) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(image.to_string()),
        entrypoint: Some(vec!["nvidia-smi".to_string()]),
        cmd: Some(nvidia_smi::query_args()),
        labels: Some(HashMap::from([(
            PROBE_LABEL.to_string(),
            "gpu".to_string(),
        )])),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            device_requests: device_request.then(|| {
                vec![DeviceRequest {
                    driver: Some("nvidia".into()),
                    count: Some(-1),
                    device_ids: None,
                    capabilities: Some(vec![vec!["gpu".into(), "utility".into()]]),
                    options: None,
                }]
            }),
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The first preferred image present on the engine, else the first local image of a known glibc base.
pub async fn choose_image(docker: &Docker, preferred: &[String]) -> Option<String> {
    for image in preferred {
        if docker.inspect_image(image).await.is_ok() {
            return Some(image.clone());
        }
    }
    let images = docker
        .list_images(Some(ListImagesOptionsBuilder::default().build()))
        .await
        .ok()?;
    let tags: Vec<String> = images.into_iter().flat_map(|i| i.repo_tags).collect();
    GLIBC_IMAGES.iter().find_map(|base| {
        tags.iter()
            .find(|t| t.rsplit_once(':').is_some_and(|(repo, _)| repo == *base))
            .cloned()
    })
}

/// Reads the engine host's GPUs. Never fails: a failure is an unavailable reading saying why.
pub async fn probe(
    docker: &Docker,
    opts: &GpuProbeOptions,
    cancel: &CancellationToken,
) -> GpuProbeResult {
    let image = choose_image(docker, &opts.preferred_images).await;
    probe_in(docker, image, opts, cancel).await
}

/// [`probe`] in an image already chosen (`None`: there is none on the server).
pub async fn probe_in(
    docker: &Docker,
    image: Option<String>,
    opts: &GpuProbeOptions,
    cancel: &CancellationToken,
) -> GpuProbeResult {
    let Some(image) = image else {
        let tried = if opts.preferred_images.is_empty() {
            String::new()
        } else {
            format!("{}, ", opts.preferred_images.join(", "))
        };
        return GpuProbeResult {
            reading: unavailable(
                NvmlFailure::NoProbeImage,
                format!(
                    "no image on the server to run nvidia-smi in (looked for {tried}{})",
                    GLIBC_IMAGES.join(", ")
                ),
            ),
            image: None,
        };
    };
    let name = format!(
        "aigw-gpu-probe-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let task = tokio::spawn(run(
        docker.clone(),
        name,
        probe_body(&image, opts.device_request),
        opts.budget,
        cancel.clone(),
    ));
    let reading = match task.await {
        Ok(Ok(csv)) => nvidia_smi::parse(&csv)
            .unwrap_or_else(|e| unavailable(NvmlFailure::ProbeFailed, e.to_string())),
        Ok(Err(why)) => unavailable(NvmlFailure::ProbeFailed, why),
        Err(e) => unavailable(NvmlFailure::ProbeFailed, e.to_string()),
    };
    GpuProbeResult {
        reading,
        image: Some(image),
    }
}

fn unavailable(kind: NvmlFailure, detail: String) -> NvmlReading {
    NvmlReading::Unavailable(NvmlUnavailable { kind, detail })
}

/// Create, run, read, and remove: the removal runs on every path out of the run.
async fn run(
    docker: Docker,
    name: String,
    body: ContainerCreateBody,
    budget: Duration,
    cancel: CancellationToken,
) -> Result<String, String> {
    let created = docker
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(&name).build()),
            body,
        )
        .await;
    if let Err(e) = created {
        return Err(format!("creating the probe container: {e}"));
    }
    let out = tokio::select! {
        r = tokio::time::timeout(budget, crate::docker::oneshot::run(&docker, &name, "nvidia-smi")) => {
            r.unwrap_or_else(|_| Err(format!("nvidia-smi did not finish within {budget:?}")))
        }
        () = cancel.cancelled() => Err("cancelled".to_string()),
    };
    remove(&docker, &name).await;
    out
}

async fn remove(docker: &Docker, name: &str) {
    if let Err(e) = docker
        .remove_container(
            name,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        )
        .await
    {
        tracing::warn!("removing the GPU probe container {name}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_asks_for_every_gpu_with_the_utility_capability() {
        let body = probe_body("vllm/vllm-openai:v0.18.1", true);
        let req = &body
            .host_config
            .as_ref()
            .unwrap()
            .device_requests
            .as_ref()
            .unwrap()[0];
        assert_eq!(req.driver.as_deref(), Some("nvidia"));
        assert_eq!(req.count, Some(-1));
        assert_eq!(
            req.capabilities,
            Some(vec![vec!["gpu".to_string(), "utility".to_string()]])
        );
        assert_eq!(body.entrypoint, Some(vec!["nvidia-smi".to_string()]));
        assert_eq!(body.cmd, Some(nvidia_smi::query_args()));
        let without = probe_body("x", false);
        assert!(without.host_config.unwrap().device_requests.is_none());
    }
}
