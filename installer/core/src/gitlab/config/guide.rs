//! The steps done in GitLab's UI or consoles, as Markdown: Admin UI settings, feature flags, model
//! registration and verification.

use super::env::install_path;
use super::{Ctx, InstallType, Snippet, SnippetKind, API_KEY_PLACEHOLDER};

fn md(path: &str, title: String, body: String) -> Snippet {
    Snippet {
        path: path.into(),
        title,
        kind: SnippetKind::Markdown,
        body,
    }
}

fn notes(c: &Ctx) -> String {
    c.notes().iter().map(|n| format!("> {n}\n\n")).collect()
}

/// `gitlab-rails runner` for the install type. `code` must not contain double quotes.
fn rails_runner(i: InstallType, code: &str) -> String {
    match i {
        InstallType::Omnibus => format!("sudo gitlab-rails runner \"{code}\""),
        InstallType::Docker => format!("docker exec -it <gitlab-container> gitlab-rails runner \"{code}\""),
        InstallType::Helm => {
            format!("kubectl exec -it -n <namespace> <toolbox-pod> -- gitlab-rails runner \"{code}\"")
        }
        InstallType::Source => format!(
            "cd /home/git/gitlab && sudo -u git -H bundle exec rails runner -e production \"{code}\""
        ),
    }
}

fn rake(i: InstallType, task: &str) -> String {
    match i {
        InstallType::Omnibus => format!("sudo gitlab-rake \"{task}\""),
        InstallType::Docker => format!("docker exec -it <gitlab-container> gitlab-rake \"{task}\""),
        InstallType::Helm => {
            format!("kubectl exec -it -n <namespace> <toolbox-pod> -- gitlab-rake \"{task}\"")
        }
        InstallType::Source => {
            format!("cd /home/git/gitlab && sudo -u git -H bundle exec rake \"{task}\" RAILS_ENV=production")
        }
    }
}

/// 17.9+ only: the primary way to set the gateway URL.
pub(crate) fn admin_ui(c: &Ctx) -> Snippet {
    let mut b = format!("# GitLab Duo settings in the Admin UI (GitLab {})\n\n", c.v);
    b += &notes(c);
    b += &format!(
        "From 17.9 this is the primary way to point GitLab at the gateway. The `AI_GATEWAY_URL` environment \
         variable still works for legacy compatibility (`{}`); set the URL in one place only.\n\n",
        install_path(c.install)
    );
    b += "1. As an administrator, go to **Admin area > GitLab Duo > Change configuration**.\n";
    b += &format!(
        "2. **Local AI Gateway URL**: `{}`{}. GitLab, the gateway and every IDE must reach this exact address; \
         never `localhost`, which each of them resolves to itself.\n",
        c.gateway,
        c.lb_note()
    );
    let mut n = 3;
    if let Some(agent) = c.agent() {
        if c.at_least(18, 9) {
            // doc/administration/gitlab_duo_self_hosted/configure_duo_features.md (18.9+): the feature flag
            // self_hosted_agent_platform is gone; the setting on this page replaces it (placement inferred).
            b += &format!("{n}. Select **Turn on GitLab Duo Agent Platform** (18.9+).\n");
            n += 1;
        }
        b += &format!(
            "{n}. **Local URL for the GitLab Duo Agent Platform service**: `{agent}` (host:port, no `http://`).\n"
        );
        b += &if c.agent_insecure() && c.tls_in_ui() {
            // doc/install/install_ai_gateway.md (18.10): a migration copied the variable into the database
            // once; GitLab now reads this checkbox for self-hosted models.
            "   This port has no TLS here: clear **Use TLS for the GitLab Duo Agent Platform service** (from 18.10 GitLab \
             reads this checkbox, not `DUO_AGENT_PLATFORM_SERVICE_SECURE`).\n"
                .to_string()
        } else if c.tls_in_ui() {
            "   With TLS in front of it, select **Use TLS for the GitLab Duo Agent Platform service**; without TLS clear \
             it.\n"
                .to_string()
        } else if c.agent_insecure() {
            format!(
                "   This port has no TLS here, so GitLab also needs `DUO_AGENT_PLATFORM_SERVICE_SECURE=false` (set in \
                 `{}`).\n",
                install_path(c.install)
            )
        } else {
            "   With TLS in front of it, leave `DUO_AGENT_PLATFORM_SERVICE_SECURE` unset; without TLS set it to \
             `false` in GitLab's environment.\n"
                .to_string()
        };
        n += 1;
    }
    if c.at_least(18, 7) {
        b += &format!(
            "{n}. **AI Gateway request timeout** (same page; 18.7+): default 60 s, range 60-600. Raise it, for example \
             to 300, when the model answers slowly; requests that outlast it fail with `A1000`. A reverse proxy in \
             front of the gateway needs a matching read timeout (e.g. NGINX `proxy_read_timeout`).\n"
        );
        n += 1;
    }
    b += &format!("{n}. Save changes.\n");
    md(
        "gitlab/admin-ui.md",
        "Admin UI: Local AI Gateway URL (primary from 17.9)".into(),
        b,
    )
}

/// The flag history in docs/gitlab-config.md, "Version rules". None where the version needs no step.
pub(crate) fn feature_flags(c: &Ctx) -> Option<Snippet> {
    let mut steps = Vec::new();
    if !c.at_least(17, 6) {
        // ai_custom_model: off by default from 17.1, on by default in 17.6, removed in 17.8.
        steps.push(format!(
            "Turn on the `ai_custom_model` feature flag (off by default before 17.6):\n\n   ```shell\n   {}\n   ```",
            rails_runner(c.install, "Feature.enable(:ai_custom_model)")
        ));
    }
    if (c.v.major, c.v.minor) == (17, 4) {
        steps.push(format!(
            "The 17.4 docs also run:\n\n   ```shell\n   {}\n   ```",
            rake(c.install, "gitlab:duo:enable_feature_flags")
        ));
    }
    if matches!((c.v.major, c.v.minor), (17, 7) | (17, 8)) {
        steps.push(
            "Turn on **Turn on self-hosted models** in **Admin area > GitLab Duo** (17.7/17.8 UI toggle; the exact \
             page is inferred)."
                .to_string(),
        );
    }
    if c.agent().is_some() && !c.at_least(18, 9) {
        // Introduced in 18.4, removed in 18.9; default state not in the reference, so enabling is advised.
        steps.push(format!(
            "For the Agent Platform, turn on `self_hosted_agent_platform` (18.4-18.8; harmless if already on):\n\n   \
             ```shell\n   {}\n   ```",
            rails_runner(c.install, "Feature.enable(:self_hosted_agent_platform)")
        ));
    }
    if steps.is_empty() {
        return None;
    }
    let mut b = format!(
        "# Feature flags (GitLab {}, {})\n\n",
        c.v,
        c.install.label()
    );
    b += &notes(c);
    b += "Do these first: the self-hosted model pages (and in 18.4-18.8 the Agent Platform setting) depend on them.\n\n";
    for (i, s) in steps.iter().enumerate() {
        b += &format!("{}. {s}\n", i + 1);
    }
    Some(md(
        "gitlab/feature-flags.md",
        format!("Feature flags for GitLab {}", c.v),
        b,
    ))
}

fn feature_label(c: &Ctx, f: &str) -> String {
    match f {
        "code_completion" => "Code Suggestions: Code Completion".into(),
        "code_generation" => "Code Suggestions: Code Generation".into(),
        "duo_chat" if c.at_least(18, 0) => "GitLab Duo Chat: General Chat".into(),
        "duo_chat" => "GitLab Duo Chat".into(),
        other => other.into(),
    }
}

/// The page that lists self-hosted models, as the docs of each version name it. The docs were read at
/// 17.3 (doc/administration/self_hosted_models/configure_duo_features.md), 18.4 and 18.10
/// (doc/administration/gitlab_duo_self_hosted/configure_duo_features.md); the boundaries between those
/// readings are inferred: 17.9 (the GA move to Admin area > GitLab Duo) and 18.10.
fn models_page(c: &Ctx) -> &'static str {
    if c.at_least(18, 10) {
        "Admin area > GitLab Duo > Configure models for GitLab Duo"
    } else if c.ui_primary() {
        "Admin area > GitLab Duo > Configure GitLab Duo Self-Hosted"
    } else {
        "Admin area > AI-powered features > Models"
    }
}

/// Before 17.9 the page moved between releases; the 17.3 docs' name is the one given.
fn models_page_note(c: &Ctx) -> &'static str {
    if c.ui_primary() {
        ""
    } else {
        " (the 17.3 docs' menu names; later 17.x releases moved the page under **GitLab Duo**)"
    }
}

pub(crate) fn model(c: &Ctx) -> Snippet {
    let v18 = c.at_least(18, 0);
    let mut b = format!("# Register the self-hosted model (GitLab {})\n\n", c.v);
    b += &notes(c);
    if c.family == "general" {
        // doc/administration/gitlab_duo_self_hosted/supported_models_and_hardware_requirements.md (18.3+):
        // compatible models (family General) are beta; the checkbox's exact label is inferred.
        b += "Family `general` is a beta (compatible) model: first, in **Admin area > GitLab Duo > Change \
              configuration**, select **Use beta models and features in GitLab Duo Self-Hosted** and save; the \
              family is not offered otherwise.\n\n";
    }
    b += &format!(
        "Go to **{} > Add self-hosted model**{}.\n\n",
        models_page(c),
        models_page_note(c)
    );
    b += "| Field | Value |\n|---|---|\n";
    b += &format!("| Deployment name | `{}` (unique) |\n", c.name);
    b += if v18 {
        "| Platform | **API** (an OpenAI-compatible server) |\n"
    } else {
        "| Platform | none in 17.x: the form is for a self-hosted model |\n"
    };
    b += &format!("| Model family | `{}` |\n", c.family);
    b += &format!("| Endpoint | `{}` |\n", c.endpoint);
    b += &format!("| Model identifier | `{}` |\n", c.identifier);
    b += &format!("| API key | `{API_KEY_PLACEHOLDER}` |\n\n");
    b += "- The endpoint must end in `/v1`; without it the model server answers 404.\n";
    b += "- Never `localhost` in the endpoint: the gateway container resolves it to itself, not to the model server.\n";
    b += &format!(
        "- The identifier is `custom_openai/` plus the served name that `GET {}/models` lists as `data[].id`.{}\n",
        c.endpoint,
        if matches!((c.v.major, c.v.minor), (17, 7) | (17, 8)) { " Optional in 17.7/17.8; fill it anyway." } else { "" }
    );
    b += "- API key: this file never holds one. If vLLM runs with `--api-key`, paste that key yourself; otherwise \
          any text will do.\n";
    if v18 {
        b += "- Press **Test connection** before saving.\n";
    }
    b += "\n## Assign it to Duo features\n\n";
    b += &format!(
        "Registering is not enough: GitLab uses the model only for the features it is assigned to. On **{}**, the \
         {}, choose `{}` for each of:\n\n",
        models_page(c),
        if v18 {
            "**AI-native features** tab"
        } else {
            "**Features** tab (the 17.x tab name is inferred)"
        },
        c.name
    );
    if c.features.is_empty() {
        b += "- the features this model should serve\n";
    }
    for f in &c.features {
        b += &format!("- {}\n", feature_label(c, f));
    }
    b += "\nChat sub-features fall back to General Chat; choose **Disabled** explicitly for a feature you do not want. \
          Users also need an assigned GitLab Duo seat.\n";
    match &c.agent {
        Some(a) if c.agent().is_none() => {
            b += &format!(
                "\nThe Agent Platform (`{a}`) needs GitLab 18.4 or later; nothing is configured for it on {}.\n",
                c.v
            )
        }
        _ => {}
    }
    md(
        "gitlab/model-registration.md",
        format!("Register the model `{}`", c.name),
        b,
    )
}

fn gateway_tag(c: &Ctx) -> String {
    match (c.v.major, c.v.minor) {
        (17, 1) => "17.1 has no versioned image: `model-gateway:latest` or a `v1.x.y` tag, with \
                    `AIGW_CUSTOM_MODELS__ENABLED=true`"
            .into(),
        (17, 2 | 3) => format!("`gitlab-v{}.0`", c.v),
        _ => format!("`self-hosted-v{}.Z-ee` with the highest Z published", c.v),
    }
}

pub(crate) fn verify(c: &Ctx) -> Snippet {
    let i = c.install;
    let mut b = format!("# Verify (GitLab {}, {})\n\n", c.v, i.label());
    b += &notes(c);
    b += &format!(
        "1. Gateway health, from the GitLab host{} and from a developer machine:\n\n   ```shell\n   curl -fsS {}/monitoring/healthz\n   ```\n\n   Expect HTTP 200 and `{{}}`{}.\n",
        if i == InstallType::Helm { " (for Helm: from inside the cluster)" } else { "" },
        c.gateway,
        c.lb_note()
    );
    b += &match &c.model_check {
        // The registered endpoint may be a name only the gateway's container network resolves.
        Some(published) => format!(
            "2. The model server, on the host that runs it: `curl -fsS {published}/models` lists `{}` (the identifier without \
             `custom_openai/`). The gateway itself reaches it as `{}`.\n",
            c.identifier.trim_start_matches("custom_openai/"),
            c.endpoint
        ),
        None => format!(
            "2. The model server, from the gateway host: `curl -fsS {}/models` lists `{}` (the identifier without `custom_openai/`).\n",
            c.endpoint,
            c.identifier.trim_start_matches("custom_openai/")
        ),
    };
    b += &format!(
        "3. GitLab's own check (username optional, default root; use a user with a Duo seat):\n\n   ```shell\n   {}\n   ```\n\n   If the task is unknown in your version, use the next step.\n",
        rake(i, "gitlab:duo:verify_self_hosted_setup[<username>]")
    );
    b += "4. **Admin area > GitLab Duo > Run health check**, where your version has it (tests network, licence and the system exchange).\n";
    let setting = if c.ui_primary() {
        "puts Ai::Setting.instance.ai_gateway_url"
    } else {
        // Inferred: Rails only sees the variable, there is no setting yet.
        "puts ENV['AI_GATEWAY_URL']"
    };
    b += &format!(
        "5. What Rails uses, and whether it reaches the gateway:\n\n   ```shell\n   {}\n   {}\n   ```\n",
        rails_runner(i, setting),
        rails_runner(i, &format!("puts HTTParty.get('{}/monitoring/healthz').code", c.gateway))
    );
    b += &format!(
        "6. The gateway image tag matches GitLab {}: {}.\n\n",
        c.v,
        gateway_tag(c)
    );
    b += "## What a failure means\n\n| Symptom | Meaning and fix |\n|---|---|\n";
    let mut rows: Vec<String> = vec![
        "| healthz: connection refused or timeout | The gateway is not running, port 5052 is not published (`-p 5052:5052`), or a firewall is in the way. |".into(),
        "| Works with `localhost` on the gateway host only | GitLab, the gateway container and IDEs each resolve `localhost` to themselves: use a name or address all of them reach. |".into(),
        "| GitLab refuses or cannot use a private-address URL | Add the gateway host to Admin area > Settings > Network > Outbound requests allowlist. |".into(),
        format!("| Gateway log: `Signature verification failed` or `No keys founds in JWKS; are OIDC providers up?` | The gateway cannot reach GitLab at `{}` (proxy, DNS, firewall). |", c.gitlab),
        "| `CERTIFICATE_VERIFY_FAILED` or `JWKError: Could not deserialize key data` | The gateway does not trust GitLab's certificate: mount a CA bundle with your CA and set `SSL_CERT_FILE` and `REQUESTS_CA_BUNDLE`. |".into(),
        "| `Token creation failed` | The gateway lacks its self-signed JWT keys (`AIGW_SELF_SIGNED_JWT__*`). |".into(),
        "| 404 from the model | The endpoint lacks `/v1`, or the identifier does not match the served model name. |".into(),
        if c.at_least(18, 7) {
            "| `A1000` or timeouts | The model is slow: raise **AI Gateway request timeout** (Admin area > GitLab Duo). |".into()
        } else {
            "| `A1000` or timeouts | The model is slow: before 18.7 GitLab waits a fixed 60 s; use a faster model or shorter outputs (18.7 adds a timeout setting). |".into()
        },
        "| Health check reports 401 | Known issue gitlab-org/gitlab#517097. |".into(),
        "| Errors after a GitLab upgrade | Version skew: the gateway tag must match GitLab's X.Y. |".into(),
        "| A feature is missing from the feature list | Its unit primitive may be absent from cloud-connector `config/services/self_hosted_models.yml` for your version. |".into(),
    ];
    if !c.at_least(17, 6) {
        rows.push("| No self-hosted models page | The `ai_custom_model` feature flag is off (feature-flags.md). |".into());
    }
    b += &rows.join("\n");
    b += "\n\nMore detail: turn on **Enable AI logs** in the Admin UI (on Self-Managed, not `expanded_ai_logging`).\n";
    md(
        "gitlab/verify.md",
        format!("Verify GitLab {} with the gateway", c.v),
        b,
    )
}
