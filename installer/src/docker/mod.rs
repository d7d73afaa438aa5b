//! The thin layer that talks to the Docker Engine API (through bollard, never the `docker` CLI).

pub mod engine;
pub mod labels;
