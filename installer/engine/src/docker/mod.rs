//! The thin layer that talks to the Docker Engine API (through bollard, never the `docker` CLI).

pub mod body;
mod bollard_engine;
pub mod container_engine;
pub mod deploy;
pub mod engine;
pub mod events;
pub mod gitlab_probe;
pub mod http;
pub mod images;
pub mod labels;
pub mod manage;
pub mod oneshot;
pub mod owner;
pub mod server_files;
pub mod server_space;
pub mod ssh;
