//! Detection: the probes that read this machine (and the Docker engine it talks to) into the core's
//! [`SystemReport`]. Everything here reads; the judgement lives in `aigw_core::preflight`.

pub mod accel;
mod detect;
pub mod gpu;
pub mod network;
pub mod platform;
pub mod resources;

pub use aigw_core::report::{GpuSource, SystemReport, REPORT_SCHEMA_VERSION};
pub use detect::{connect_docker, connect_docker_to, detect, DetectOptions};
