//! aigw-installer's engine: everything the CLI and the desktop wizard do, with no GUI dependency.
//!
//! Functional core, imperative shell: [`hardware`] and [`docker`] read the system into plain data,
//! [`preflight`] judges that data with pure functions, and the binaries only render.

pub mod catalog;
pub mod docker;
pub mod export;
pub mod fsutil;
pub mod gitlab;
pub mod hardware;
pub mod logging;
pub mod plan;
pub mod preflight;
pub mod recommend;
pub mod sizing;
pub mod spec;
