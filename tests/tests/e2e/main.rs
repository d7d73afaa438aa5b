//! End-to-end suites against the real Docker engine: one binary.

mod compose;
mod docker_engine;
mod fixtures_load;
mod lock;
mod provision;
