//! aigw-installer's pure core: what the installer knows and decides, as functions over plain data.
//!
//! Nothing here touches the machine, the network or Docker: [`report`] is what detection found,
//! [`preflight`] judges it, [`catalog`], [`sizing`] and [`recommend`] choose a deployment, [`spec`] and
//! [`plan`] turn the admin's choice into desired containers and steps, and [`gitlab`] and [`export`] render
//! the GitLab side and the exports as text. The engine crate (`aigw-engine`) does the I/O.

pub mod catalog;
pub mod diagnose;
pub mod export;
pub mod gitlab;
pub mod plan;
pub mod preflight;
pub mod problem;
pub mod recommend;
pub mod report;
pub mod secret;
pub mod sizing;
pub mod spec;
pub mod weights;
