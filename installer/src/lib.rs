//! aigw-installer's engine: everything the CLI and the desktop wizard do, with no GUI dependency.
//!
//! Functional core, imperative shell: [`hardware`] and [`docker`] read the system into plain data,
//! [`preflight`] judges that data with pure functions, and the binaries only render.

pub mod docker;
pub mod hardware;
pub mod logging;
pub mod preflight;
