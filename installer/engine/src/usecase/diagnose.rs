//! Diagnostics: what support asks for first — the detection report, status, the plan, each of our
//! containers' last log lines and inspection, the engine's `/info` and `/version`, the spec and the
//! installer's own logs — redacted by the core's [`Redactor`], in one 0600 zip with a README and a
//! manifest of what could not be collected. A part that fails is recorded, never fatal; with the engine
//! down the bundle says so.

use aigw_core::diagnose::{readme, utc_timestamp, DiagFile, DiagManifest, NotCollected, Redactor};
use aigw_core::spec::{DeploymentSpec, Weights};
use futures_util::StreamExt;
use std::future::Future;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{data_dir, Error, Session};
use crate::hardware::DetectOptions;
use crate::spec_file::SpecFile;

/// Log lines kept of each container.
pub const LOG_LINES: u32 = 500;
/// Of each of the installer's log files, the last this many bytes.
const MAX_LOG_BYTES: u64 = 4 << 20;
/// No part may hold the bundle up longer than this.
const PART_TIMEOUT: Duration = Duration::from_secs(20);

pub struct DiagnoseOptions<'a> {
    /// The zip to write.
    pub out: &'a Path,
    /// Replace `out` if it exists.
    pub force: bool,
    /// The spec to include and plan (else the installation's, if any).
    pub spec: Option<&'a Path>,
    /// The engine to read (the wizard's current choice); `None`: the front end's process-wide one.
    pub engine: Option<&'a crate::docker::engine::EngineChoice>,
}

pub struct Diagnosed {
    pub path: PathBuf,
    pub manifest: DiagManifest,
}

/// The parts collected so far, already redacted.
struct Bundle {
    redactor: Redactor,
    files: Vec<(String, String, Vec<u8>)>,
    missing: Vec<NotCollected>,
}

impl Bundle {
    fn add(&mut self, path: impl Into<String>, what: impl Into<String>, text: &str) {
        let text = self.redactor.redact(text);
        self.files
            .push((path.into(), what.into(), text.into_bytes()));
    }

    fn json(&mut self, path: &str, what: &str, value: Result<serde_json::Value, String>) {
        match value.and_then(|v| serde_json::to_string_pretty(&v).map_err(|e| e.to_string())) {
            Ok(text) => self.add(path, what, &text),
            Err(reason) => self.miss(path, &reason),
        }
    }

    fn miss(&mut self, part: &str, reason: &str) {
        let reason = self.redactor.redact(reason);
        self.missing.push(NotCollected {
            part: part.into(),
            reason,
        });
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, String> {
    serde_json::to_value(v).map_err(|e| e.to_string())
}

async fn within<T>(f: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::time::timeout(PART_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", PART_TIMEOUT.as_secs())))
}

/// Every secret the installer knows of: the Hugging Face token (its file, the data directory's, and
/// `HF_TOKEN`), the JWT keys under `<data_dir>/jwt/`, and the spec's secret-named variables.
pub fn redactor(data_dir: &Path, spec: Option<&DeploymentSpec>) -> Redactor {
    let mut r = Redactor::new();
    let mut files = vec![
        data_dir.join("hf_token"),
        data_dir.join(crate::secrets::GITLAB_TOKEN_FILE),
    ];
    if let Some(Weights::HuggingFace {
        token_file: Some(f),
        ..
    }) = spec.map(|s| &s.model.weights)
    {
        files.push(f.clone());
    }
    if let Ok(dir) = std::fs::read_dir(data_dir.join("jwt")) {
        files.extend(dir.flatten().map(|e| e.path()));
    }
    for f in files {
        if let Ok(text) = std::fs::read_to_string(&f) {
            r.add_known(&text);
        }
    }
    if let Ok(t) = std::env::var("HF_TOKEN") {
        r.add_known(&t);
    }
    if let Some(s) = spec {
        r.add_env(&s.gateway.env);
        r.add_env(&s.model.env);
    }
    r
}

/// Collects everything it can and writes the zip (mode 0600, through a temporary file; never over an
/// existing file unless `force`).
pub async fn diagnose(o: &DiagnoseOptions<'_>) -> Result<Diagnosed, Error> {
    if !o.force && o.out.exists() {
        return Err(Error::Exists(o.out.display().to_string()));
    }
    let data_dir = data_dir()?;
    let spec = match o.spec {
        Some(p) => DeploymentSpec::load(p)
            .map(|s| Some((p.to_path_buf(), s)))
            .map_err(|e| e.to_string()),
        None => super::installed_spec().map_err(|e| e.to_string()),
    };
    let mut b = Bundle {
        redactor: redactor(
            &data_dir,
            spec.as_ref().ok().and_then(|s| s.as_ref().map(|s| &s.1)),
        ),
        files: Vec::new(),
        missing: Vec::new(),
    };
    let spec = match spec {
        Ok(Some((path, s))) => {
            b.add(
                "spec.toml",
                format!("the deployment spec ({})", path.display()),
                &s.to_toml(),
            );
            Some(s)
        }
        Ok(None) => {
            b.miss(
                "spec.toml",
                "no spec was given and nothing was installed from here",
            );
            None
        }
        Err(e) => {
            b.miss("spec.toml", &e);
            None
        }
    };
    let choice = o
        .engine
        .cloned()
        .unwrap_or_else(crate::docker::engine::chosen);
    let detect_opts = DetectOptions::for_engine(&choice);
    let (report, engine) = tokio::join!(
        super::detect(&detect_opts),
        within(async {
            Session::connect_with(&choice)
                .await
                .map_err(|e| e.to_string())
        })
    );
    b.json(
        "system/detect.json",
        "the detection report: GPUs, platform, memory, disks, ports, the Docker engine, findings",
        to_json(&report),
    );
    let engine_reachable = engine.is_ok();
    match engine {
        Ok(t) => engine_parts(&mut b, &t, spec.as_ref()).await,
        Err(reason) => {
            for part in [
                "status.json",
                "plan.json",
                "containers/",
                "engine/info.json",
                "engine/version.json",
            ] {
                b.miss(part, &reason);
            }
        }
    }
    installer_logs(&mut b);
    write(b, o, engine_reachable)
}

/// What the engine knows: status, the plan, each of our containers' logs and inspection, info, version.
async fn engine_parts(b: &mut Bundle, t: &Session, spec: Option<&DeploymentSpec>) {
    let docker = &t.conn.docker;
    let plan = async {
        match spec {
            Some(s) => Some(
                within(async {
                    match super::review(Some(t), s, None).await {
                        Ok(r) => match r.plan {
                            Some(Ok(p)) => to_json(&p),
                            Some(Err(e)) => Err(e.to_string()),
                            None => Err("no engine to plan against".into()),
                        },
                        Err(e) => Err(e.to_string()),
                    }
                })
                .await,
            ),
            None => None,
        }
    };
    let (info, version, status, plan, ours) = tokio::join!(
        within(async {
            docker
                .info()
                .await
                .map_err(|e| e.to_string())
                .and_then(|i| to_json(&i))
        }),
        within(async {
            docker
                .version()
                .await
                .map_err(|e| e.to_string())
                .and_then(|v| to_json(&v))
        }),
        within(async {
            super::status(t)
                .await
                .map_err(|e| e.to_string())
                .and_then(|s| to_json(&s))
        }),
        plan,
        within(async {
            crate::docker::deploy::list_ours(docker)
                .await
                .map_err(|e| e.to_string())
        }),
    );
    b.json("engine/info.json", "the Docker engine's /info", info);
    b.json(
        "engine/version.json",
        "the Docker engine's /version",
        version,
    );
    b.json(
        "status.json",
        "the installed containers: state, health, image, endpoints, GPUs",
        status,
    );
    match plan {
        Some(p) => b.json("plan.json", "what apply would change now, and why", p),
        None => b.miss("plan.json", "no spec to plan"),
    }
    let ours = match ours {
        Ok(o) => o,
        Err(e) => {
            b.miss("containers/", &e);
            return;
        }
    };
    let per_container = ours.iter().map(|c| async move {
        let inspect = within(async {
            docker
                .inspect_container(&c.id, None)
                .await
                .map_err(|e| e.to_string())
                .and_then(|i| to_json(&i))
        });
        let logs = within(async {
            let mut out = String::new();
            let mut s = Box::pin(crate::docker::manage::logs(docker, &c.id, LOG_LINES, false));
            while let Some(line) = s.next().await {
                out.push_str(&line.map_err(|e| e.to_string())?);
            }
            Ok(out)
        });
        let (inspect, logs) = tokio::join!(inspect, logs);
        (c.name.clone(), inspect, logs)
    });
    for (name, inspect, logs) in futures_util::future::join_all(per_container).await {
        b.json(
            &format!("containers/{name}.inspect.json"),
            &format!("{name}: the engine's inspection (configuration, state, mounts)"),
            inspect,
        );
        match logs {
            Ok(text) => b.add(
                format!("containers/{name}.log"),
                format!("{name}: its last {LOG_LINES} log lines (stdout and stderr)"),
                &text,
            ),
            Err(e) => b.miss(&format!("containers/{name}.log"), &e),
        }
    }
    if ours.is_empty() {
        b.miss("containers/", "no container carries the installer's labels");
    }
}

/// The installer's own log files (the last 4 MiB of each).
fn installer_logs(b: &mut Bundle) {
    let Some(dir) = crate::logging::log_dir() else {
        b.miss("installer-logs/", "this user has no data directory");
        return;
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) => {
            b.miss("installer-logs/", &format!("{}: {e}", dir.display()));
            return;
        }
    };
    let mut names: Vec<_> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    for name in names {
        match tail_file(&dir.join(&name), MAX_LOG_BYTES) {
            Ok(text) => b.add(
                format!("installer-logs/{name}"),
                "the installer's own log (a day's file; the last 4 MiB)",
                &text,
            ),
            Err(e) => b.miss(&format!("installer-logs/{name}"), &e.to_string()),
        }
    }
}

/// The last `max` bytes of a file, from the start of a line.
fn tail_file(path: &Path, max: u64) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let mut bytes = Vec::new();
    if len > max {
        f.seek(std::io::SeekFrom::Start(len - max))?;
        f.read_to_end(&mut bytes)?;
        let from = bytes.iter().position(|b| *b == b'\n').map_or(0, |i| i + 1);
        bytes.drain(..from);
    } else {
        f.read_to_end(&mut bytes)?;
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn write(b: Bundle, o: &DiagnoseOptions<'_>, engine_reachable: bool) -> Result<Diagnosed, Error> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let manifest = DiagManifest {
        generator: format!("aigw-installer {}", env!("CARGO_PKG_VERSION")),
        created: utc_timestamp(now),
        engine_reachable,
        files: b
            .files
            .iter()
            .map(|(path, what, bytes)| DiagFile {
                path: path.clone(),
                bytes: bytes.len() as u64,
                what: what.clone(),
            })
            .collect(),
        not_collected: b.missing,
    };
    let werr = |detail: String| Error::Write {
        path: o.out.display().to_string(),
        detail,
    };
    let manifest_json = serde_json::to_vec_pretty(&manifest).map_err(|e| werr(e.to_string()))?;
    let readme = readme(&manifest).into_bytes();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o600);
    let all = [("README.txt", &readme), ("manifest.json", &manifest_json)]
        .into_iter()
        .chain(b.files.iter().map(|(p, _, bytes)| (p.as_str(), bytes)));
    for (path, bytes) in all {
        zip.start_file(path, options)
            .map_err(|e| werr(e.to_string()))?;
        zip.write_all(bytes).map_err(|e| werr(e.to_string()))?;
    }
    let bytes = zip.finish().map_err(|e| werr(e.to_string()))?.into_inner();
    crate::fsutil::write_new(o.out, &bytes, o.force, 0o600).map_err(|e| match e {
        crate::fsutil::WriteError::Exists => Error::Exists(o.out.display().to_string()),
        crate::fsutil::WriteError::Io(io) => werr(io.to_string()),
    })?;
    Ok(Diagnosed {
        path: o.out.to_path_buf(),
        manifest,
    })
}

/// Where the wizard saves a bundle when not asked: `<data_dir>/diagnostics/aigw-diagnostics-<time>.zip`
/// (the folder made, private).
pub fn default_diagnostics_path() -> Result<PathBuf, Error> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = data_dir()?.join("diagnostics");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Error::Write {
            path: dir.display().to_string(),
            detail: e.to_string(),
        })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let stamp: String = utc_timestamp(now)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let mut path = dir.join(format!("aigw-diagnostics-{stamp}.zip"));
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = dir.join(format!("aigw-diagnostics-{stamp}-{n}.zip"));
    }
    Ok(path)
}

/// The folder of the installer's own log files.
pub fn log_folder() -> Result<PathBuf, Error> {
    crate::logging::log_dir().ok_or(Error::NoDataDir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redactor_knows_the_token_file_the_keys_and_the_spec_env() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hf_token"), "hf_plantedtoken").unwrap();
        std::fs::write(dir.path().join("gitlab_token"), "glpat-plantedkept\n").unwrap();
        std::fs::create_dir(dir.path().join("jwt")).unwrap();
        std::fs::write(
            dir.path().join("jwt/signing_key.pem"),
            "-----BEGIN PRIVATE KEY-----\nPLANTEDKEYLINE0001\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let other = dir.path().join("my-token");
        std::fs::write(&other, "specfiletoken\n").unwrap();
        let mut s = DeploymentSpec::from_toml(
            include_str!("../../../../tests/fixtures/specs/hf-mistral-small.toml"),
            "fixture",
        )
        .unwrap();
        if let Weights::HuggingFace { token_file, .. } = &mut s.model.weights {
            *token_file = Some(other);
        }
        s.gateway
            .env
            .insert("EXTRA_API_KEY".into(), "planted-env-value".into());
        let r = redactor(dir.path(), Some(&s));
        let out =
            r.redact("a hf_plantedtoken b specfiletoken c PLANTEDKEYLINE0001 d planted-env-value e glpat-plantedkept");
        for s in [
            "plantedtoken",
            "plantedkept",
            "specfiletoken",
            "PLANTEDKEYLINE",
            "planted-env",
        ] {
            assert!(!out.contains(s), "{s}: {out}");
        }
    }

    #[test]
    fn tail_starts_at_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(&p, "first line\nsecond\nthird\n").unwrap();
        assert_eq!(tail_file(&p, 100).unwrap(), "first line\nsecond\nthird\n");
        assert_eq!(tail_file(&p, 10).unwrap(), "third\n");
    }
}
