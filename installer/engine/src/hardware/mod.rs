//! Detection: the probes that read this machine (and the Docker engine it talks to) into the core's
//! [`SystemReport`]. Everything here reads; the judgement lives in `aigw_core::preflight`.

pub mod accel;
mod detect;
pub mod gpu;
pub mod gpu_probe;
pub mod network;
pub mod platform;
pub mod resources;
pub mod server;
mod via_engine;

pub use aigw_core::report::{GpuSource, SystemReport, REPORT_SCHEMA_VERSION};
pub use detect::{connect_docker, connect_docker_to, detect, DetectOptions};
