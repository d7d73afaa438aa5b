//! End-to-end suites against the real Docker engine: one binary.

mod compose;
mod data_parallel;
mod docker_engine;
mod fixtures_load;
mod gpu_probe;
mod lock;
mod net;
mod offline_weights;
mod provision;
mod stability;
mod weights_fetch;
mod weights_review;
