//! Planning, as pure functions: the spec becomes desired containers (with a hash of each one's config),
//! and desired versus observed becomes a list of steps with reasons, like `terraform plan`. Compose's
//! rule, adopted: a container is recreated when its config hash or its image changed, started when it is
//! up to date but stopped, and otherwise kept. Added: only a container that is up is kept — one in a
//! restart loop is recreated, an exited one started (see [`Condition`]).

pub mod labels;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;

use crate::gitlab::inputs::parse_gitlab_url;
use crate::spec::{DeploymentSpec, RestartPolicy, SpecError, Weights};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    /// Started first: the gateway is useless without it.
    Model,
    Gateway,
}

impl Component {
    pub const ALL: [Component; 2] = [Component::Model, Component::Gateway];

    pub fn label(self) -> &'static str {
        match self {
            Component::Model => "model",
            Component::Gateway => "gateway",
        }
    }

    /// The name an admin reads (the wizard's lists); `label` is the one in names and files.
    pub fn title(self) -> &'static str {
        match self {
            Component::Model => "Model server",
            Component::Gateway => "AI Gateway",
        }
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMap {
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    pub host: String,
    pub container: String,
    pub read_only: bool,
}

/// Everything that defines a container; its hash decides recreation. `Debug` masks the values of
/// secret-named environment variables (the gateway's JWT keys live here once the engine adds them).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredContainer {
    pub component: Component,
    pub name: String,
    pub image: String,
    pub cmd: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub ports: Vec<PortMap>,
    pub binds: Vec<Bind>,
    /// NVIDIA device ids for the GPU device request; empty: no GPU.
    pub gpus: Vec<String>,
    /// Docker HEALTHCHECK in CMD form.
    pub healthcheck: Vec<String>,
    pub restart: RestartPolicy,
    pub network: String,
    /// vLLM needs shared memory for tensor parallelism (`--ipc=host`).
    pub ipc_host: bool,
    pub platform: Option<String>,
    /// The URL probed from the host for readiness (not container config: not hashed).
    #[serde(skip)]
    pub probe_url: String,
    /// Seconds to wait for readiness (not container config: not hashed).
    #[serde(skip)]
    pub health_timeout_s: u64,
}

impl fmt::Debug for DesiredContainer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env: BTreeMap<&str, &str> = self
            .env
            .iter()
            .map(|(k, v)| {
                let shown = if crate::secret::is_secret_name(k) {
                    "***"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("DesiredContainer")
            .field("component", &self.component)
            .field("name", &self.name)
            .field("image", &self.image)
            .field("cmd", &self.cmd)
            .field("env", &env)
            .field("ports", &self.ports)
            .field("binds", &self.binds)
            .field("gpus", &self.gpus)
            .field("healthcheck", &self.healthcheck)
            .field("restart", &self.restart)
            .field("network", &self.network)
            .field("ipc_host", &self.ipc_host)
            .field("platform", &self.platform)
            .field("probe_url", &self.probe_url)
            .field("health_timeout_s", &self.health_timeout_s)
            .finish()
    }
}

/// Docker health-check timing, the same in the container body, the compose file and `docker run`.
pub const HEALTH_INTERVAL_S: u64 = 10;
pub const HEALTH_TIMEOUT_S: u64 = 6;
pub const HEALTH_RETRIES: u64 = 3;

impl DesiredContainer {
    /// Grace before failed checks count: loading weights onto GPUs is not unhealthiness.
    pub fn health_start_period_s(&self) -> u64 {
        if self.gpus.is_empty() {
            30
        } else {
            600
        }
    }

    /// SHA-256 of the canonical JSON (maps are ordered), as hex.
    pub fn config_hash(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let digest = Sha256::digest(&json);
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (labels::APP.to_string(), labels::APP_ID.to_string()),
            (
                labels::COMPONENT.to_string(),
                self.component.label().to_string(),
            ),
            (labels::CONFIG_HASH.to_string(), self.config_hash()),
        ])
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desired {
    pub network: String,
    /// Model first, then gateway: the order of creation and health waits.
    pub containers: Vec<DesiredContainer>,
    pub served_model_name: String,
}

/// Where the Hugging Face token file is mounted; `HF_TOKEN_PATH` points there so the token itself never
/// appears in the container's configuration.
pub const HF_TOKEN_MOUNT: &str = "/run/secrets/hf_token";
pub const HF_CACHE_MOUNT: &str = "/root/.cache/huggingface";
const WEIGHTS_MOUNT: &str = "/models/weights";
const GATEWAY_LOG_MOUNT: &str = "/var/log/aigw";

/// The spec as containers. `hf_token_file` is the token file to mount, if one was found.
pub fn desired(spec: &DeploymentSpec, hf_token_file: Option<&str>) -> Result<Desired, SpecError> {
    let gitlab = parse_gitlab_url("gitlab.url", &spec.gitlab.url)?;
    let m = &spec.model;
    let mut binds = Vec::new();
    let mut env = m.env.clone();
    let mut revision_arg = None;
    let model_ref = match &m.weights {
        Weights::HuggingFace {
            repo,
            revision,
            cache_dir,
            ..
        } => {
            // The installer fetched and verified the snapshot before this container starts: the server
            // reads it offline, so its health time-out covers loading only.
            env.insert("HF_HUB_OFFLINE".into(), "1".into());
            revision_arg = Some(revision.clone());
            binds.push(Bind {
                host: cache_dir.display().to_string(),
                container: HF_CACHE_MOUNT.into(),
                read_only: false,
            });
            if let Some(token) = hf_token_file {
                binds.push(Bind {
                    host: token.to_string(),
                    container: HF_TOKEN_MOUNT.into(),
                    read_only: true,
                });
                env.insert("HF_TOKEN_PATH".into(), HF_TOKEN_MOUNT.into());
            }
            repo.clone()
        }
        Weights::Local { path } => {
            binds.push(Bind {
                host: path.display().to_string(),
                container: WEIGHTS_MOUNT.into(),
                read_only: true,
            });
            // Air-gapped: never try the Hub.
            env.insert("HF_HUB_OFFLINE".into(), "1".into());
            WEIGHTS_MOUNT.into()
        }
    };
    let mut cmd = vec![
        "--model".to_string(),
        model_ref,
        "--served-model-name".into(),
        m.served_model_name.clone(),
        "--port".into(),
        m.port.to_string(),
    ];
    if let Some(rev) = revision_arg {
        cmd.extend(["--revision".to_string(), rev]);
    }
    cmd.extend(m.args.iter().cloned());
    let model = DesiredContainer {
        component: Component::Model,
        name: m.container.clone(),
        image: format!("{}:{}", m.image, m.tag),
        cmd,
        env,
        ports: vec![PortMap {
            host_ip: m.bind.clone(),
            host_port: m.port,
            container_port: m.port,
        }],
        binds,
        gpus: m.gpus.clone(),
        healthcheck: python_get(&format!("http://127.0.0.1:{}/health", m.port)),
        restart: spec.restart,
        network: spec.network.clone(),
        ipc_host: true,
        platform: None,
        probe_url: format!("http://{}:{}", probe_host(&m.bind), m.port),
        health_timeout_s: m.health_timeout_s,
    };

    let g = &spec.gateway;
    let mut genv = g.env.clone();
    genv.insert("AIGW_GITLAB_URL".into(), gitlab.as_str().to_string());
    genv.insert("AIGW_GITLAB_API_URL".into(), gitlab.api_url());
    // Baked into self-hosted images from 17.4; older images need it passed (17.1-17.3 docs).
    genv.insert("AIGW_CUSTOM_MODELS__ENABLED".into(), "true".into());
    genv.insert("AIGW_FASTAPI__API_PORT".into(), g.port.to_string());
    genv.entry("AIGW_LOGGING__TO_FILE".into())
        .or_insert_with(|| format!("{GATEWAY_LOG_MOUNT}/modelgateway.log"));
    let gateway = DesiredContainer {
        component: Component::Gateway,
        name: g.container.clone(),
        image: format!("{}:{}", g.image, spec.gateway_tag()?),
        cmd: Vec::new(),
        env: genv,
        ports: vec![PortMap {
            host_ip: "0.0.0.0".into(),
            host_port: g.port,
            container_port: g.port,
        }],
        binds: vec![Bind {
            host: spec.log_dir.display().to_string(),
            container: GATEWAY_LOG_MOUNT.into(),
            read_only: false,
        }],
        gpus: Vec::new(),
        healthcheck: python_get(&format!("http://127.0.0.1:{}/monitoring/healthz", g.port)),
        restart: spec.restart,
        network: spec.network.clone(),
        ipc_host: false,
        platform: spec.platform.clone(),
        probe_url: format!("http://127.0.0.1:{}", g.port),
        health_timeout_s: g.health_timeout_s,
    };
    Ok(Desired {
        network: spec.network.clone(),
        containers: vec![model, gateway],
        served_model_name: m.served_model_name.clone(),
    })
}

/// Both real images ship Python (vLLM's and the gateway's python:3.12-slim base) but not always curl.
fn python_get(url: &str) -> Vec<String> {
    vec![
        "CMD".into(),
        "python3".into(),
        "-c".into(),
        format!("import urllib.request; urllib.request.urlopen('{url}', timeout=5)"),
    ]
}

fn probe_host(bind: &str) -> &str {
    match bind {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" => "::1",
        other => other,
    }
}

/// One of our containers, as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedContainer {
    pub id: String,
    pub name: String,
    pub component: Option<Component>,
    pub config_hash: Option<String>,
    pub running: bool,
    pub image_id: String,
    /// Host ports it publishes (while running).
    #[serde(default)]
    pub published_ports: Vec<u16>,
    /// The networks it is attached to, by name.
    #[serde(default)]
    pub networks: Vec<String>,
    /// How it runs (restarts, last exit, health), as the engine's inspect reports it.
    #[serde(default)]
    pub run: RunState,
}

/// How one of our containers runs, as the engine reports it: enough to tell up from a restart loop.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    /// The restart policy is about to bring it back (between an exit and the next start).
    pub restarting: bool,
    /// How often the restart policy brought it back.
    pub restart_count: i64,
    /// The last exit's code (0 before any exit, and again once a restart brought it back).
    pub exit_code: Option<i64>,
    /// Docker's health-check verdict (`healthy`, `unhealthy`, `starting`), when it has one.
    pub health: Option<String>,
}

/// What an observed container's state means for the plan and for `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "condition", rename_all = "snake_case")]
pub enum Condition {
    /// Running, and either never restarted or healthy again since.
    Up,
    /// The restart policy keeps bringing back a process that keeps exiting: restarting now, or
    /// restarted and not healthy since.
    RestartLoop { restarts: i64 },
    /// Not running, and not about to be brought back.
    Exited { code: Option<i64> },
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Up => f.write_str("running"),
            Condition::RestartLoop { restarts } => write!(f, "restart loop ({restarts} restarts)"),
            Condition::Exited { code: Some(code) } => write!(f, "exited (code {code})"),
            Condition::Exited { code: None } => f.write_str("not running"),
        }
    }
}

impl ObservedContainer {
    pub fn condition(&self) -> Condition {
        let r = &self.run;
        let healthy = r.health.as_deref() == Some("healthy");
        if r.restarting || (self.running && r.restart_count > 0 && !healthy) {
            Condition::RestartLoop {
                restarts: r.restart_count,
            }
        } else if self.running {
            Condition::Up
        } else {
            Condition::Exited { code: r.exit_code }
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// `Some(ours)` when a network of the desired name exists.
    pub network: Option<bool>,
    /// Containers carrying our app label.
    pub ours: Vec<ObservedContainer>,
    /// Containers holding a desired name without our label: never touched, always a blocker.
    pub foreign_names: Vec<String>,
    /// Image id per desired image reference; `None` when absent locally.
    pub images: BTreeMap<String, Option<String>>,
    /// Host ports (of the desired ones) that something other than our containers holds.
    pub ports_taken: Vec<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Step {
    CreateNetwork {
        name: String,
    },
    PullImage {
        image: String,
    },
    Create {
        component: Component,
        name: String,
        reason: String,
    },
    Recreate {
        component: Component,
        name: String,
        old_id: String,
        reason: String,
    },
    Start {
        component: Component,
        name: String,
        reason: String,
    },
    Keep {
        component: Component,
        name: String,
    },
    Remove {
        name: String,
        id: String,
        reason: String,
    },
}

impl Step {
    pub fn changes(&self) -> bool {
        !matches!(self, Step::Keep { .. })
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::CreateNetwork { name } => write!(f, "create  network {name}"),
            Step::PullImage { image } => write!(f, "pull    {image} (not present on the engine)"),
            Step::Create { name, reason, .. } => write!(f, "create  {name} ({reason})"),
            Step::Recreate { name, reason, .. } => write!(f, "recreate {name} because {reason}"),
            Step::Start { name, reason, .. } => write!(f, "start   {name} ({reason})"),
            Step::Keep { name, .. } => write!(f, "keep    {name} (up to date and running)"),
            Step::Remove { name, reason, .. } => write!(f, "remove  {name} ({reason})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Reasons nothing can be applied; each says how to fix it.
    pub blockers: Vec<String>,
}

impl Plan {
    pub fn is_noop(&self) -> bool {
        self.blockers.is_empty() && self.steps.iter().all(|s| !s.changes())
    }
}

/// Desired versus observed. Pure.
pub fn diff(desired: &Desired, observed: &Observed) -> Plan {
    let mut steps = Vec::new();
    let mut blockers = Vec::new();
    match observed.network {
        None => steps.push(Step::CreateNetwork {
            name: desired.network.clone(),
        }),
        Some(true) => {}
        Some(false) => blockers.push(format!(
            "a network named {} exists and was not created by the installer; remove it or set `network` in the spec",
            desired.network
        )),
    }
    for name in &observed.foreign_names {
        blockers.push(format!(
            "a container named {name} exists and was not created by the installer; rename or remove it \
             (docker rm -f {name}) or choose another container name in the spec"
        ));
    }
    for port in &observed.ports_taken {
        blockers.push(format!(
            "port {port} is in use by another program; stop it (find it with: sudo ss -ltnp 'sport = :{port}') \
             or choose another port in the spec"
        ));
    }
    for c in &desired.containers {
        let image_id = observed.images.get(&c.image).cloned().flatten();
        if image_id.is_none()
            && !steps
                .iter()
                .any(|s| matches!(s, Step::PullImage { image } if image == &c.image))
        {
            steps.push(Step::PullImage {
                image: c.image.clone(),
            });
        }
        let current = observed.ours.iter().find(|o| o.name == c.name);
        let hash = c.config_hash();
        steps.push(match current {
            None => Step::Create {
                component: c.component,
                name: c.name.clone(),
                reason: "no container yet".into(),
            },
            Some(o) if o.config_hash.as_deref() != Some(hash.as_str()) => Step::Recreate {
                component: c.component,
                name: c.name.clone(),
                old_id: o.id.clone(),
                reason: "its configuration changed".into(),
            },
            Some(o) if image_id.as_ref().is_some_and(|id| id != &o.image_id) => Step::Recreate {
                component: c.component,
                name: c.name.clone(),
                old_id: o.id.clone(),
                reason: format!("{} now points to another image", c.image),
            },
            // Drift: the network was removed, or the container disconnected from it. The other
            // service cannot reach it by name; recreating attaches it again.
            Some(o) if observed.network.is_none() || !o.networks.contains(&desired.network) => {
                Step::Recreate {
                    component: c.component,
                    name: c.name.clone(),
                    old_id: o.id.clone(),
                    reason: format!("it is not attached to the network {}", desired.network),
                }
            }
            // Only what is up is kept: a restart loop gets a fresh container (and the stability window),
            // an exited one is started again.
            Some(o) => match o.condition() {
                Condition::Up => Step::Keep {
                    component: c.component,
                    name: c.name.clone(),
                },
                loop_ @ Condition::RestartLoop { .. } => Step::Recreate {
                    component: c.component,
                    name: c.name.clone(),
                    old_id: o.id.clone(),
                    reason: loop_.to_string(),
                },
                Condition::Exited { code: Some(code) } if code != 0 => Step::Start {
                    component: c.component,
                    name: c.name.clone(),
                    reason: format!("up to date but exited (code {code})"),
                },
                Condition::Exited { .. } => Step::Start {
                    component: c.component,
                    name: c.name.clone(),
                    reason: "up to date but not running".into(),
                },
            },
        });
    }
    let desired_names: Vec<&str> = desired.containers.iter().map(|c| c.name.as_str()).collect();
    for o in &observed.ours {
        if !desired_names.contains(&o.name.as_str()) {
            steps.push(Step::Remove {
                name: o.name.clone(),
                id: o.id.clone(),
                reason: "left over from an earlier or interrupted run".into(),
            });
        }
    }
    Plan { steps, blockers }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> DeploymentSpec {
        DeploymentSpec::from_toml(
            include_str!("../../../../tests/fixtures/specs/hf-mistral-7b-two-gpus.toml"),
            "t",
        )
        .unwrap()
    }

    fn observed_matching(d: &Desired) -> Observed {
        Observed {
            network: Some(true),
            ours: d
                .containers
                .iter()
                .map(|c| ObservedContainer {
                    id: format!("id-{}", c.name),
                    name: c.name.clone(),
                    component: Some(c.component),
                    config_hash: Some(c.config_hash()),
                    running: true,
                    image_id: "sha256:img".into(),
                    published_ports: vec![],
                    networks: vec![d.network.clone()],
                    run: RunState {
                        health: Some("healthy".into()),
                        ..RunState::default()
                    },
                })
                .collect(),
            foreign_names: vec![],
            images: d
                .containers
                .iter()
                .map(|c| (c.image.clone(), Some("sha256:img".into())))
                .collect(),
            ports_taken: vec![],
        }
    }

    #[test]
    fn desired_containers_carry_the_derived_gateway_environment() {
        let d = desired(&spec(), None).unwrap();
        let g = &d.containers[1];
        assert_eq!(g.env["AIGW_GITLAB_URL"], "https://gitlab.example.com");
        assert_eq!(
            g.env["AIGW_GITLAB_API_URL"],
            "https://gitlab.example.com/api/v4/"
        );
        assert_eq!(g.env["AIGW_CUSTOM_MODELS__ENABLED"], "true");
        assert_eq!(g.ports[0].host_port, 5052);
        assert!(g.image.ends_with(":self-hosted-v18.2.0-ee"));
        let m = &d.containers[0];
        assert_eq!(
            &m.cmd[..4],
            [
                "--model",
                "mistralai/Mistral-7B-Instruct-v0.3",
                "--served-model-name",
                "mistral-7b"
            ]
        );
        assert_eq!(m.gpus, ["0", "1"]);
        assert_eq!(m.ports[0].host_ip, "127.0.0.1");
    }

    #[test]
    fn the_token_is_mounted_never_put_in_the_environment() {
        let d = desired(&spec(), Some("/root/.config/hf_token")).unwrap();
        let m = &d.containers[0];
        assert_eq!(m.env["HF_TOKEN_PATH"], HF_TOKEN_MOUNT);
        assert!(m
            .binds
            .iter()
            .any(|b| b.container == HF_TOKEN_MOUNT && b.read_only));
        assert!(!m.env.contains_key("HF_TOKEN"));
    }

    #[test]
    fn from_nothing_everything_is_created() {
        let d = desired(&spec(), None).unwrap();
        let p = diff(&d, &Observed::default());
        let kinds: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
        insta::assert_snapshot!(kinds.join("\n"));
        assert!(p.blockers.is_empty());
    }

    #[test]
    fn same_spec_is_a_noop() {
        let d = desired(&spec(), None).unwrap();
        let p = diff(&d, &observed_matching(&d));
        assert!(p.is_noop(), "{p:#?}");
    }

    #[test]
    fn a_changed_tag_recreates_only_that_container() {
        let d = desired(&spec(), None).unwrap();
        let obs = observed_matching(&d);
        let mut s = spec();
        s.gateway.tag = Some("self-hosted-v18.2.1-ee".into());
        let d2 = desired(&s, None).unwrap();
        let mut obs2 = obs.clone();
        obs2.images
            .insert(d2.containers[1].image.clone(), Some("sha256:new".into()));
        let p = diff(&d2, &obs2);
        let changed: Vec<_> = p.steps.iter().filter(|s| s.changes()).collect();
        assert_eq!(changed.len(), 1, "{changed:#?}");
        assert!(matches!(
            changed[0],
            Step::Recreate {
                component: Component::Gateway,
                ..
            }
        ));
    }

    /// Drift: a removed network, or a container disconnected from it, is repaired, never "kept".
    #[test]
    fn containers_off_their_network_are_recreated() {
        let d = desired(&spec(), None).unwrap();
        let matching = observed_matching(&d);
        assert!(diff(&d, &matching).is_noop());
        let mut disconnected = matching.clone();
        disconnected.ours[1].networks.clear();
        let p = diff(&d, &disconnected);
        assert!(
            matches!(&p.steps[..], [Step::Keep { .. }, Step::Recreate { name, reason, .. }] if name == &d.containers[1].name && reason.contains("not attached")),
            "{p:?}"
        );
        let mut gone = matching;
        gone.network = None;
        let p = diff(&d, &gone);
        assert!(matches!(p.steps[0], Step::CreateNetwork { .. }), "{p:?}");
        assert_eq!(
            p.steps
                .iter()
                .filter(|s| matches!(s, Step::Recreate { .. }))
                .count(),
            2,
            "{p:?}"
        );
    }

    #[test]
    fn stopped_missing_leftover_and_repointed_tags() {
        let d = desired(&spec(), None).unwrap();
        let mut obs = observed_matching(&d);
        obs.ours[0].running = false;
        obs.ours.remove(1);
        obs.ours.push(ObservedContainer {
            id: "x".into(),
            name: "gitlab-aigw-model-prev".into(),
            component: Some(Component::Model),
            config_hash: None,
            running: false,
            image_id: "sha256:img".into(),
            published_ports: vec![],
            networks: vec![d.network.clone()],
            run: RunState::default(),
        });
        let p = diff(&d, &obs);
        assert!(matches!(
            p.steps[0],
            Step::Start {
                component: Component::Model,
                ..
            }
        ));
        assert!(matches!(
            p.steps[1],
            Step::Create {
                component: Component::Gateway,
                ..
            }
        ));
        assert!(
            matches!(&p.steps[2], Step::Remove { name, .. } if name == "gitlab-aigw-model-prev")
        );

        let mut obs = observed_matching(&d);
        obs.images
            .insert(d.containers[0].image.clone(), Some("sha256:loaded".into()));
        let p = diff(&d, &obs);
        assert!(p.steps[0]
            .to_string()
            .contains("now points to another image"));
    }

    /// Nothing that is not up is "kept": a restart loop is recreated, an exited container started, and
    /// a container that restarted once but is healthy again is left alone.
    #[test]
    fn restart_loops_are_recreated_and_exited_containers_started() {
        let d = desired(&spec(), None).unwrap();
        let matching = observed_matching(&d);
        let with_model = |run: RunState, running: bool| {
            let mut obs = matching.clone();
            obs.ours[0].run = run;
            obs.ours[0].running = running;
            diff(&d, &obs)
        };
        let restarting = RunState {
            restarting: true,
            restart_count: 5,
            exit_code: Some(1),
            health: Some("unhealthy".into()),
        };
        let p = with_model(restarting, true);
        assert!(
            matches!(&p.steps[..], [Step::Recreate { component: Component::Model, reason, .. }, Step::Keep { .. }] if reason == "restart loop (5 restarts)"),
            "{p:?}"
        );
        assert_eq!(
            p.steps[0].to_string(),
            format!(
                "recreate {} because restart loop (5 restarts)",
                d.containers[0].name
            )
        );
        // Back up between two crashes: exit code 0, running, not healthy since its restart.
        let between = RunState {
            restart_count: 2,
            exit_code: Some(0),
            health: Some("starting".into()),
            ..RunState::default()
        };
        let p = with_model(between.clone(), true);
        assert!(
            matches!(&p.steps[0], Step::Recreate { reason, .. } if reason == "restart loop (2 restarts)"),
            "{p:?}"
        );
        let recovered = RunState {
            health: Some("healthy".into()),
            ..between
        };
        assert!(with_model(recovered, true).is_noop());
        let exited = RunState {
            exit_code: Some(137),
            ..RunState::default()
        };
        let p = with_model(exited, false);
        assert!(
            matches!(&p.steps[0], Step::Start { reason, .. } if reason.contains("exited (code 137)")),
            "{p:?}"
        );
        // Loading for the first time (no restart yet) is up: the apply's health wait covers it.
        let loading = RunState {
            health: Some("starting".into()),
            ..RunState::default()
        };
        assert!(with_model(loading, true).is_noop());
    }

    #[test]
    fn conditions_read_as_status_shows_them() {
        let o = |running: bool, run: RunState| ObservedContainer {
            id: "i".into(),
            name: "n".into(),
            component: None,
            config_hash: None,
            running,
            image_id: String::new(),
            published_ports: vec![],
            networks: vec![],
            run,
        };
        assert_eq!(
            o(true, RunState::default()).condition().to_string(),
            "running"
        );
        let looping = RunState {
            restarting: true,
            restart_count: 3,
            ..RunState::default()
        };
        assert_eq!(
            o(true, looping).condition().to_string(),
            "restart loop (3 restarts)"
        );
        let exited = RunState {
            exit_code: Some(1),
            ..RunState::default()
        };
        assert_eq!(o(false, exited).condition().to_string(), "exited (code 1)");
    }

    #[test]
    fn foreign_objects_and_taken_ports_block() {
        let d = desired(&spec(), None).unwrap();
        let mut obs = observed_matching(&d);
        obs.network = Some(false);
        obs.foreign_names = vec!["gitlab-aigw".into()];
        obs.ports_taken = vec![5052];
        let p = diff(&d, &obs);
        assert_eq!(p.blockers.len(), 3, "{:#?}", p.blockers);
        assert!(p.blockers[2].contains("port 5052"));
        assert!(!p.is_noop());
    }

    #[test]
    fn waiting_longer_is_not_a_reason_to_recreate() {
        let a = desired(&spec(), None).unwrap();
        let mut s = spec();
        s.model.health_timeout_s = 7200;
        let b = desired(&s, None).unwrap();
        assert_eq!(a.containers[0].config_hash(), b.containers[0].config_hash());
    }

    #[test]
    fn hash_ignores_nothing_that_matters() {
        let a = desired(&spec(), None).unwrap();
        let mut s = spec();
        s.model.args.push("--enforce-eager".into());
        let b = desired(&s, None).unwrap();
        assert_ne!(a.containers[0].config_hash(), b.containers[0].config_hash());
        assert_eq!(a.containers[1].config_hash(), b.containers[1].config_hash());
        assert_eq!(a.containers[0].config_hash().len(), 64);
    }
}
