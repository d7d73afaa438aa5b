//! Host memory and the free space where images, model weights and gateway logs will live.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    pub total_mib: u64,
    pub available_mib: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiskPurpose {
    /// The Docker root directory: image layers (the vLLM image alone is several GiB).
    Images,
    /// Model weights (a bf16 checkpoint is 2 bytes per parameter).
    Weights,
    /// Gateway logs.
    Logs,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskSpace {
    pub purpose: DiskPurpose,
    /// The directory asked about (it may not exist yet).
    pub path: PathBuf,
    /// The existing directory that was measured: `path` or its nearest existing parent.
    pub measured_at: PathBuf,
    pub total_mib: u64,
    pub available_mib: u64,
}
