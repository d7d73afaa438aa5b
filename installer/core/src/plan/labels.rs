//! The labels that mark what this installer created. Everything the engine lists, changes or removes is
//! found by these labels, never by name alone, so nothing the installer did not create is ever touched.

/// Present, with value [`APP_ID`], on every object this installer creates.
pub const APP: &str = "io.aigw-installer.app";

pub const APP_ID: &str = "aigw-installer";

/// `gateway` or `model`.
pub const COMPONENT: &str = "io.aigw-installer.component";

/// SHA-256 of the container's desired configuration; a different hash means "recreate".
pub const CONFIG_HASH: &str = "io.aigw-installer.config-hash";
