//! Which engine the installer acts on: the engines this machine knows (its own socket or DOCKER_HOST,
//! and each Docker context), testing one with its real error and fix, and remembering the admin's choice
//! in the data directory. The wizard's engine chooser stands on these.

use aigw_core::report::endpoint::Origin;
use aigw_core::report::engine::{EngineFacts, EngineStatus};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Error;
use crate::docker::engine::{self, DockerEnv, Endpoint, EngineChoice};

/// One engine the admin can choose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownEngine {
    /// `default` (this machine, or DOCKER_HOST), else the Docker context's name.
    pub name: String,
    pub endpoint: Endpoint,
    pub local: bool,
    /// What to pass back to use it.
    pub choice: EngineChoice,
}

/// This machine's engine and each Docker context, as the docker CLI would list them.
pub fn engines() -> Vec<KnownEngine> {
    engine::known_engines(&DockerEnv::from_process())
        .into_iter()
        .map(|(name, endpoint)| KnownEngine {
            local: endpoint.is_local(),
            choice: EngineChoice {
                context: (name != "default").then(|| name.clone()),
                ..Default::default()
            },
            name,
            endpoint,
        })
        .collect()
}

/// The engine `choice` names, and where that was decided.
pub fn resolve(choice: &EngineChoice) -> (Endpoint, Origin) {
    engine::resolve(choice, &DockerEnv::from_process())
}

/// Connects to the engine `choice` names and reads its facts, or the real error with its fix.
pub async fn test_engine(choice: &EngineChoice) -> Result<EngineFacts, Error> {
    let (endpoint, origin) = resolve(choice);
    let report = engine::probe_from(endpoint.clone(), Some(origin), TEST_BUDGET).await;
    match report.status {
        EngineStatus::Reachable(facts) => Ok(*facts),
        EngineStatus::Unreachable { reason, detail } => Err(Error::Unreachable(
            aigw_core::preflight::docker_unreachable(reason, &endpoint.display(), &detail),
        )),
    }
}

/// An ssh login and a slow server's `/info` both fit in this.
const TEST_BUDGET: Duration = Duration::from_secs(30);

fn choice_path(data_dir: &Path) -> PathBuf {
    data_dir.join("engine.json")
}

/// Remembers the chosen engine (no secret is in it: paths and names only).
pub fn remember_engine(data_dir: &Path, choice: &EngineChoice) -> Result<(), Error> {
    let path = choice_path(data_dir);
    std::fs::create_dir_all(data_dir).map_err(|e| Error::Write {
        path: data_dir.display().to_string(),
        detail: e.to_string(),
    })?;
    let bytes = serde_json::to_vec_pretty(choice).map_err(|e| Error::Write {
        path: path.display().to_string(),
        detail: e.to_string(),
    })?;
    crate::fsutil::write_new(&path, &bytes, true, 0o600).map_err(|e| Error::Write {
        path: path.display().to_string(),
        detail: e.to_string(),
    })
}

/// The engine remembered by [`remember_engine`], if any (an unreadable file counts as none).
pub fn remembered_engine(data_dir: &Path) -> Option<EngineChoice> {
    let text = std::fs::read_to_string(choice_path(data_dir)).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_choice_is_remembered() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(remembered_engine(dir.path()), None);
        let choice = EngineChoice {
            host: Some("ssh://admin@gpu01".into()),
            ..Default::default()
        };
        remember_engine(dir.path(), &choice).unwrap();
        assert_eq!(remembered_engine(dir.path()), Some(choice.clone()));
        let other = EngineChoice {
            context: Some("gpu02".into()),
            ..Default::default()
        };
        remember_engine(dir.path(), &other).unwrap();
        assert_eq!(remembered_engine(dir.path()), Some(other));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("engine.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
