//! The core's integration tests over fixtures: one binary.

mod floors;
mod gitlab_snippets;
mod preflight_profiles;
mod recommend_props;
mod recommend_snapshots;
mod recommend_table;
