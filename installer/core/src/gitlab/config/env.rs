//! The environment GitLab's Rails processes need, per version, written for each install type.
//! Convention (as in Omnibus' gitlab.rb template): `## ` is prose, `# ` is a setting left commented out
//! that is valid once uncommented; the tests uncomment and check those too.

use super::{quote, Ctx, InstallType, Snippet, SnippetKind};

enum Val {
    Str(String),
    Bool(bool),
}

struct EnvVar {
    key: &'static str,
    val: Val,
    /// False: shown commented out (legacy or optional).
    active: bool,
    why: String,
}

/// docs/gitlab-config.md, "Version rules": AI_GATEWAY_URL is *the* way through 17.8 and legacy from 17.9; the extra variables
/// appear only in the docs of the versions named.
fn env_vars(c: &Ctx) -> Vec<EnvVar> {
    let mut vars = vec![EnvVar {
        key: "AI_GATEWAY_URL",
        val: Val::Str(c.gateway.clone()),
        active: !c.ui_primary(),
        why: if c.ui_primary() {
            "Legacy since 17.9 (still supported): set Local AI Gateway URL in the Admin UI instead. \
             Uncomment only if you keep the URL in configuration rather than in the UI."
                .into()
        } else {
            "17.1-17.8: GitLab reads the gateway URL from this variable only.".into()
        },
    }];
    if (c.v.major, c.v.minor) == (17, 3) {
        vars.push(EnvVar {
            key: "CLOUD_CONNECTOR_SELF_SIGN_TOKENS",
            val: Val::Str("1".into()),
            active: true,
            why: "The 17.3 docs set this next to AI_GATEWAY_URL.".into(),
        });
    }
    if matches!((c.v.major, c.v.minor), (17, 5) | (17, 6)) {
        for (key, val) in [
            ("GITLAB_LICENSE_MODE", "production"),
            ("CUSTOMER_PORTAL_URL", "https://customers.gitlab.com"),
        ] {
            vars.push(EnvVar {
                key,
                val: Val::Str(val.into()),
                active: true,
                why: "The 17.5/17.6 docs set this next to AI_GATEWAY_URL.".into(),
            });
        }
    }
    // 18.10+: GitLab reads the Admin UI checkbox instead (admin-ui.md); the variable was copied once.
    if c.agent_insecure() && !c.tls_in_ui() {
        vars.push(EnvVar {
            key: "DUO_AGENT_PLATFORM_SERVICE_SECURE",
            val: Val::Bool(false),
            active: true,
            why: "18.4-18.9: the Agent Platform port has no TLS (the gateway URL is plain http; inferred), so GitLab \
                  must not use TLS for it. Leave it unset if the Agent Platform uses a GitLab AI vendor model."
                .into(),
        });
    }
    vars
}

/// Where the environment for `install` goes in an export; the guides point to the same file.
pub(crate) fn install_path(install: InstallType) -> &'static str {
    match install {
        InstallType::Omnibus => "gitlab/gitlab.rb",
        InstallType::Helm => "gitlab/helm-values.yaml",
        InstallType::Docker => "gitlab/docker-env.txt",
        InstallType::Source => "gitlab/etc-default-gitlab.sh",
    }
}

/// Source installs run by systemd: GitLab's units (lib/support/systemd/gitlab-puma.service and
/// gitlab-sidekiq.service) do not read /etc/default/gitlab, so the variables go into a drop-in.
pub(crate) const SYSTEMD_DROPIN: &str = "gitlab/systemd-ai-gateway.conf";

/// A systemd `Environment=` assignment: the whole `KEY=value` in double quotes, with `\`, `"` and the
/// specifier character `%` escaped (systemd.exec(5), systemd.unit(5) "Specifiers").
fn systemd_env(key: &str, val: &str) -> String {
    let v = val
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%");
    format!("Environment=\"{key}={v}\"")
}

pub(crate) fn systemd_dropin(c: &Ctx) -> Snippet {
    let vars = env_vars(c);
    let any_active = vars.iter().any(|v| v.active);
    let mut out: String = [
        format!("GitLab Duo Self-Hosted, GitLab {}, self-compiled (source) with systemd.", c.v),
        "Save as /etc/systemd/system/gitlab-puma.service.d/ai-gateway.conf and as".into(),
        "/etc/systemd/system/gitlab-sidekiq.service.d/ai-gateway.conf (or paste it into".into(),
        "sudo systemctl edit gitlab-puma.service, then gitlab-sidekiq.service), then run:".into(),
        "sudo systemctl daemon-reload && sudo systemctl restart gitlab.target".into(),
        "GitLab's systemd units do not read /etc/default/gitlab (that file is for init.d installs only).".into(),
    ]
    .into_iter()
    .chain(c.notes())
    .map(|l| format!("## {l}\n"))
    .collect();
    let mut block = String::from("[Service]\n");
    for v in &vars {
        block += &format!("## {}\n", v.why);
        let off = if any_active && !v.active { "# " } else { "" };
        let val = match &v.val {
            Val::Str(s) => s.clone(),
            Val::Bool(b) => b.to_string(),
        };
        block += &format!("{off}{}\n", systemd_env(v.key, &val));
    }
    out += &comment_out_unless(any_active, block);
    Snippet {
        path: SYSTEMD_DROPIN.into(),
        title: if any_active {
            format!("Source install with systemd: drop-in for gitlab-puma and gitlab-sidekiq (GitLab {})", c.v)
        } else {
            "Source install with systemd: optional drop-in (the legacy alternative to the Admin UI setting)".into()
        },
        kind: SnippetKind::Systemd,
        body: out,
    }
}

pub(crate) fn install_file(c: &Ctx, install: InstallType) -> Snippet {
    let vars = env_vars(c);
    let any_active = vars.iter().any(|v| v.active);
    let (kind, body) = match install {
        InstallType::Omnibus => (SnippetKind::Ruby, omnibus(c, &vars, any_active)),
        InstallType::Helm => (SnippetKind::Yaml, helm(c, &vars, any_active)),
        InstallType::Docker => (SnippetKind::EnvFile, docker(c, &vars, any_active)),
        InstallType::Source => (SnippetKind::Shell, source(c, &vars)),
    };
    let what = if any_active {
        format!("environment for GitLab {}", c.v)
    } else {
        "optional: the legacy alternative to the Admin UI setting".to_string()
    };
    Snippet {
        path: install_path(install).into(),
        title: format!("{}: {what}", install.label()),
        kind,
        body,
    }
}

/// `## ` prose lines: what the file is, how to apply it, and the shared notes.
fn header(c: &Ctx, install: InstallType, how: &[&str]) -> String {
    let mut lines = vec![format!(
        "GitLab Duo Self-Hosted, GitLab {}, {}.",
        c.v,
        install.label()
    )];
    lines.extend(how.iter().map(|s| s.to_string()));
    if let Some(lb) = &c.gateway_lb {
        lines.push(format!(
            "The gateway URL here is the Ingress of kubernetes/aigw.yaml (port 80); with \
             kubernetes/gateway-loadbalancer.yaml instead, use {lb}."
        ));
    }
    if c.ui_primary() {
        lines.push(
            "From 17.9 the gateway URL is set in the Admin UI (admin-ui.md); AI_GATEWAY_URL below is legacy."
                .into(),
        );
    }
    lines.extend(c.notes());
    lines.iter().map(|l| format!("## {l}\n")).collect()
}

fn ruby_val(v: &Val) -> String {
    match v {
        Val::Str(s) => quote::ruby(s),
        Val::Bool(b) => b.to_string(),
    }
}

/// Prefixes every line with `# ` when nothing in the block is active.
fn comment_out_unless(active: bool, block: String) -> String {
    if active {
        return block;
    }
    block.lines().map(|l| format!("# {l}\n")).collect()
}

fn omnibus(c: &Ctx, vars: &[EnvVar], any_active: bool) -> String {
    let mut block = String::from("gitlab_rails['env'] = {\n");
    for v in vars {
        block += &format!("  ## {}\n", v.why);
        let off = if any_active && !v.active { "# " } else { "" };
        block += &format!("  {off}'{}' => {},\n", v.key, ruby_val(&v.val));
    }
    block += "}\n";
    header(
        c,
        InstallType::Omnibus,
        &[
            "Add to /etc/gitlab/gitlab.rb, then run: sudo gitlab-ctl reconfigure",
            "A second gitlab_rails['env'] assignment replaces the first: if gitlab.rb has one, merge these keys into it.",
        ],
    ) + &comment_out_unless(any_active, block)
}

fn helm(c: &Ctx, vars: &[EnvVar], any_active: bool) -> String {
    let mut block = String::from("gitlab:\n");
    for (i, component) in ["webservice", "sidekiq", "toolbox"].into_iter().enumerate() {
        block += &format!("  {component}:\n    extraEnv:\n");
        for v in vars {
            if i == 0 {
                block += &format!("      ## {}\n", v.why);
            }
            let off = if any_active && !v.active { "# " } else { "" };
            let val = match &v.val {
                Val::Str(s) => quote::yaml(s),
                // Kubernetes env values are strings.
                Val::Bool(b) => quote::yaml(&b.to_string()),
            };
            block += &format!("      {off}{}: {val}\n", v.key);
        }
    }
    header(
        c,
        InstallType::Helm,
        &[
            "Pass as an extra values file: helm upgrade <release> gitlab/gitlab -f <your values> -f helm-values.yaml",
            "(maps merge across -f files, so your other extraEnv entries stay).",
            "webservice's value is handed to IDEs for direct connections, so IDEs must reach it; sidekiq and toolbox",
            "may use the in-cluster name instead, e.g. http://ai-gateway.<namespace>.svc.cluster.local:5052.",
            "The 17.7/17.8 docs set AI_GATEWAY_URL through extraEnv of webservice, sidekiq and toolbox; the same",
            "form for other versions and variables is inferred.",
        ],
    ) + &comment_out_unless(any_active, block)
}

/// The gitlab.rb setting on one line, for GITLAB_OMNIBUS_CONFIG.
fn omnibus_config(c: &Ctx, vars: &[&EnvVar]) -> String {
    let pairs: String = vars
        .iter()
        .map(|v| format!("'{}' => {}, ", v.key, ruby_val(&v.val)))
        .collect();
    format!(
        "GITLAB_OMNIBUS_CONFIG=external_url {}; gitlab_rails['env'] = {{ {pairs}}}",
        quote::ruby(&c.gitlab)
    )
}

fn docker(c: &Ctx, vars: &[EnvVar], any_active: bool) -> String {
    let mut out = header(
        c,
        InstallType::Docker,
        &[
            "Not documented for Docker specifically: this is the gitlab.rb setting passed in GITLAB_OMNIBUS_CONFIG (inferred).",
            "The value replaces any GITLAB_OMNIBUS_CONFIG you pass already, so it repeats external_url; append your",
            "other settings after a \"; \". Use with docker run --env-file docker-env.txt or Compose env_file:, then",
            "recreate the container (docker compose up -d, or docker rm -f and docker run again); a restart keeps the old value.",
            "Alternative: edit /etc/gitlab/gitlab.rb in the container (see the Linux package form), then",
            "docker exec -it <gitlab-container> gitlab-ctl reconfigure",
        ],
    );
    for v in vars {
        out += &format!("## {}: {}\n", v.key, v.why);
    }
    let active: Vec<&EnvVar> = vars.iter().filter(|v| v.active).collect();
    if any_active {
        out += &omnibus_config(c, &active);
        out += "\n";
    }
    if active.len() < vars.len() {
        out += "## With the legacy variable (only if you do not set the URL in the Admin UI):\n";
        out += &format!(
            "# {}\n",
            omnibus_config(c, &vars.iter().collect::<Vec<_>>())
        );
    }
    out
}

fn source(c: &Ctx, vars: &[EnvVar]) -> String {
    let mut out = header(
        c,
        InstallType::Source,
        &[
            "init.d installs only: add to /etc/default/gitlab, then sudo service gitlab restart. With systemd",
            "use systemd-ai-gateway.conf instead: GitLab's systemd units do not read this file. The docs give",
            "this file only for DUO_AGENT_PLATFORM_SERVICE_SECURE; using it for the other variables is inferred.",
        ],
    );
    for v in vars {
        out += &format!("## {}\n", v.why);
        let off = if v.active { "" } else { "# " };
        let val = match &v.val {
            Val::Str(s) => quote::shell(s),
            Val::Bool(b) => b.to_string(),
        };
        out += &format!("{off}export {}={val}\n", v.key);
    }
    out
}
