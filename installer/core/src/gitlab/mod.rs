//! The GitLab side: validated inputs (URLs, hosts), the gateway image that matches a GitLab version, and
//! the configuration snippets for each install type.

pub mod config;
pub mod images;
pub mod inputs;
pub mod live;
pub mod support;
