//! The one typed event stream of long operations. The CLI renders it with progress bars; the wizard
//! receives the same events through a Tauri channel.

use serde::{Deserialize, Serialize};

use aigw_core::plan::{Component, Step};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Plan {
        steps: Vec<Step>,
    },
    Phase {
        phase: String,
        state: PhaseState,
    },
    /// One image layer's progress while pulling or loading.
    Layer {
        image: String,
        layer: String,
        status: String,
        current: u64,
        total: u64,
    },
    /// Bytes of a bundle saved, verified or loaded; `total` when known.
    Transfer {
        what: String,
        current: u64,
        total: Option<u64>,
    },
    Health {
        component: Component,
        waited_s: u64,
        status: String,
    },
    Log {
        component: Component,
        line: String,
    },
    Warning {
        message: String,
    },
    /// One weights file: bytes on disk of its size, and what is happening to it.
    WeightsFile {
        file: String,
        current: u64,
        total: u64,
        state: WeightsFileState,
    },
    /// The weights phase in total: bytes on disk of all files, the recent rate and the time left at it.
    Weights {
        current: u64,
        total: u64,
        bytes_per_sec: u64,
        eta_s: Option<u64>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightsFileState {
    Fetching,
    Verifying,
    /// Copied by the offline kit's export or import, hashed in the same pass.
    Copying,
    /// Verified and in the cache (fetched now, or found verified).
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseState {
    Started,
    Done,
    Failed,
}

/// Where events go. `None` discards them.
pub type Sink = Option<tokio::sync::mpsc::UnboundedSender<Event>>;

pub fn emit(sink: &Sink, e: Event) {
    // The milestones also go to the log file, so a failed install can be read after the fact. Server log
    // lines and byte counts do not (they are the sink's, and a server may print anything).
    match &e {
        Event::Plan { steps } => tracing::info!(steps = steps.len(), "planned"),
        Event::Phase { phase, state } => tracing::info!(?state, "{phase}"),
        Event::Warning { message } => tracing::info!("warning: {message}"),
        _ => {}
    }
    if let Some(tx) = sink {
        // A receiver that went away (closed window) must not stop the operation.
        let _ = tx.send(e);
    }
}

/// Reads a failed server's last log lines for the usual causes, so the error says what to do.
pub fn likely_cause(lines: &[String]) -> Option<&'static str> {
    let text = lines.join("\n").to_ascii_lowercase();
    let rules: [(&[&str], &'static str); 8] = [
        (
            &["is larger than the maximum number of tokens that can be stored in kv cache"],
            "the KV cache cannot hold max_model_len: lower --max-model-len or raise --gpu-memory-utilization \
             (`aigw-installer recommend` computes a fitting pair)",
        ),
        (
            &["less than desired gpu memory utilization"],
            "another process holds GPU memory: stop it, or lower --gpu-memory-utilization",
        ),
        (
            &["cuda out of memory", "outofmemoryerror"],
            "the model does not fit in GPU memory: choose a smaller or quantised model, or more GPUs",
        ),
        (
            &["could not select device driver"],
            "the NVIDIA Container Toolkit is missing: install nvidia-container-toolkit, then \
             nvidia-ctk runtime configure --runtime=docker and restart Docker",
        ),
        (
            &["gated repo", "401 client error", "access to model", "invalid user token"],
            "Hugging Face refused the download: accept the model's licence on huggingface.co and provide a \
             token (HF_TOKEN or model.weights.token_file)",
        ),
        (
            &["name or service not known", "temporary failure in name resolution", "connection refused"],
            "a network call failed: for air-gapped sites use local weights (source = \"local\")",
        ),
        (
            &["bfloat16 is only supported on gpus with compute capability"],
            "this GPU has no bf16: use --dtype half",
        ),
        (
            &["exec format error"],
            "the image is for another CPU architecture: set platform = \"linux/amd64\" (emulation)",
        ),
    ];
    rules
        .iter()
        .find(|(needles, _)| needles.iter().any(|n| text.contains(n)))
        .map(|(_, cause)| *cause)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vllm_refusals_are_explained() {
        let lines = vec![
            "INFO loading weights".to_string(),
            "ValueError: The model's max seq len (32768) is larger than the maximum number of tokens that can be stored in KV cache (29568). Try increasing `gpu_memory_utilization`".to_string(),
        ];
        assert!(likely_cause(&lines).unwrap().contains("--max-model-len"));
        assert!(
            likely_cause(&["torch.OutOfMemoryError: CUDA out of memory".into()])
                .unwrap()
                .contains("does not fit")
        );
        assert!(likely_cause(&["all good".into()]).is_none());
    }
}
