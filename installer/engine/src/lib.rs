//! aigw-installer's engine: everything that touches the machine, for both front ends (the CLI and the
//! desktop wizard), over the pure `aigw-core`.
//!
//! [`hardware`] probes the machine into the core's report, [`docker`] talks to the Docker engine,
//! [`secrets`] and [`spec_file`] keep files, [`export_zip`] writes exports, [`logging`] sets up tracing.

pub mod docker;
pub mod export_zip;
pub mod fsutil;
pub mod gitlab_live;
pub mod hardware;
pub mod lock;
pub mod logging;
pub mod net;
pub mod secrets;
pub mod spec_file;
pub mod usecase;
pub mod weights;
