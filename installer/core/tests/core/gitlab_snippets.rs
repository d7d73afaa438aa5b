//! The GitLab-side snippets: snapshots read once against docs/gitlab-config.md and its sources, and every
//! Ruby, YAML and shell file checked by the real interpreters (ruby, sh), including the settings left
//! commented out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use aigw_core::catalog::gitlab::{GitlabVersion, NEWEST_KNOWN};
use aigw_core::gitlab::config::{
    agent_platform_checked, gateway_url_checked, gitlab_version_checked, model_endpoint_checked,
    snippet_for, snippets, GitlabSide, InstallType, ModelRegistration, Part, Snippet, SnippetKind,
    API_KEY_PLACEHOLDER,
};
use aigw_core::gitlab::inputs::parse_gitlab_url;

const GATEWAY: &str = "http://aigw.example.com:5052";

fn side(v: &str, install: InstallType) -> GitlabSide {
    // 17.1 offers only the mistral and mixtral families.
    let (name, family) = if v == "17.1" {
        ("mistral-7b", "mistral")
    } else {
        ("codestral-22b", "codestral")
    };
    GitlabSide {
        gitlab: parse_gitlab_url("gitlab_url", "https://gitlab.example.com").unwrap(),
        version: v.parse().unwrap(),
        install,
        gateway_url: GATEWAY.into(),
        gateway_load_balancer: None,
        agent_platform: Some("aigw.example.com:50052".into()),
        model: ModelRegistration {
            name: name.into(),
            family: family.into(),
            endpoint: "http://gpu01.example.com:8000/v1".into(),
            identifier: format!("custom_openai/{name}"),
            features: vec!["code_generation".into(), "code_completion".into()],
        },
        model_check: None,
    }
}

fn all(s: &GitlabSide) -> Vec<Snippet> {
    snippets(s).unwrap()
}

/// The versions where a rule starts or stops, plus one newer than the newest known.
const EDGES: [&str; 17] = [
    "17.1", "17.3", "17.4", "17.5", "17.6", "17.7", "17.8", "17.9", "18.0", "18.2", "18.3", "18.4",
    "18.6", "18.7", "18.8", "18.9", "19.0",
];

fn matrix() -> Vec<GitlabSide> {
    let mut out = Vec::new();
    for v in EDGES
        .iter()
        .copied()
        .chain([NEWEST_KNOWN.to_string().leak() as &str])
    {
        for i in InstallType::ALL {
            let with_agent = side(v, i);
            let mut without = with_agent.clone();
            without.agent_platform = None;
            let mut tls = with_agent.clone();
            tls.gateway_url = "https://aigw.example.com".into();
            out.extend([with_agent, without, tls]);
        }
    }
    out
}

// ---------- real tools ----------

/// True when `tool` runs. Missing tools skip locally but fail in CI, so a check never vanishes there.
fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is required when CI is set"
        );
        eprintln!("skipping: {tool} not found");
    }
    ok
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn run(cmd: &str, args: &[&str]) -> (bool, String) {
    let o = Command::new(cmd).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    (o.status.success(), text)
}

fn ruby_c(dir: &Path, what: &str, code: &str) {
    let f = write(dir, "check.rb", code);
    let (ok, out) = run("ruby", &["-c", f.to_str().unwrap()]);
    assert!(ok, "ruby -c failed for {what}:\n{out}\n---\n{code}");
}

/// Evaluates gitlab.rb-style Ruby against stand-ins for Omnibus' config methods; returns what it set.
fn ruby_eval(dir: &Path, code: &str) -> serde_json::Value {
    let f = write(dir, "eval.rb", code);
    let script = "require 'json'; $g = {}; def gitlab_rails; $g; end; \
                  def external_url(u); $g['external_url'] = u; end; \
                  eval(File.read(ARGV[0])); puts JSON.generate($g)";
    let (ok, out) = run("ruby", &["-e", script, f.to_str().unwrap()]);
    assert!(ok, "{out}\n---\n{code}");
    serde_json::from_str(out.trim()).unwrap()
}

/// Parses many YAML texts with one Ruby process (`YAML.safe_load`), returned as JSON, in order.
fn yaml_json(dir: &Path, texts: &[String]) -> Vec<serde_json::Value> {
    let files: Vec<String> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            write(dir, &format!("values-{i}.yaml"), t)
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut args = vec![
        "-ryaml",
        "-rjson",
        "-e",
        "ARGV.each { |f| puts JSON.generate([YAML.safe_load(File.read(f))]) }",
    ];
    args.extend(files.iter().map(String::as_str));
    let (ok, out) = run("ruby", &args);
    assert!(ok, "YAML does not parse:\n{out}");
    let docs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()[0].clone())
        .collect();
    assert_eq!(docs.len(), texts.len());
    docs
}

/// Turns settings left commented out (`# `, not prose `## `) back on.
fn uncomment(text: &str) -> String {
    text.lines()
        .map(|l| {
            let indent = l.len() - l.trim_start().len();
            match l.trim_start().strip_prefix("# ") {
                Some(rest) => format!("{}{rest}\n", &l[..indent]),
                None => format!("{l}\n"),
            }
        })
        .collect()
}

/// The Ruby inside each `GITLAB_OMNIBUS_CONFIG=` line of the Docker env file, active or commented out.
fn omnibus_configs(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| {
            l.trim_start_matches("# ")
                .strip_prefix("GITLAB_OMNIBUS_CONFIG=")
        })
        .map(str::to_string)
        .collect()
}

// ---------- snapshots ----------

fn render(all: &[Snippet]) -> String {
    all.iter()
        .map(|s| {
            format!(
                "===== {} ({}) — {}\n{}",
                s.path,
                s.kind.fence(),
                s.title,
                s.body
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn gitlab_snapshots_for_each_version_and_install_type() {
    for v in ["17.3", "17.9", "18.2", &NEWEST_KNOWN.to_string()] {
        for i in InstallType::ALL {
            insta::assert_snapshot!(format!("{v}-{i}"), render(&all(&side(v, i))));
        }
    }
}

// ---------- real-tool checks ----------

#[test]
fn gitlab_ruby_snippets_and_omnibus_config_pass_ruby_c() {
    if !have("ruby") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for s in matrix() {
        let omnibus = snippet_for(&s, Part::Omnibus).unwrap().unwrap();
        assert_eq!(omnibus.kind, SnippetKind::Ruby);
        ruby_c(dir.path(), "gitlab.rb", &omnibus.body);
        ruby_c(
            dir.path(),
            "gitlab.rb uncommented",
            &uncomment(&omnibus.body),
        );
        let docker = snippet_for(&s, Part::Docker).unwrap().unwrap();
        let configs = omnibus_configs(&docker.body);
        assert!(!configs.is_empty(), "{}", docker.body);
        for rb in configs {
            ruby_c(dir.path(), "GITLAB_OMNIBUS_CONFIG", &rb);
            checked += 1;
        }
    }
    assert!(checked > 50);
}

#[test]
fn gitlab_rb_sets_what_each_version_needs() {
    if !have("ruby") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = |v: &str, agent: bool, uncommented: bool| {
        let mut s = side(v, InstallType::Omnibus);
        if !agent {
            s.agent_platform = None;
        }
        let body = snippet_for(&s, Part::Omnibus).unwrap().unwrap().body;
        let body = if uncommented { uncomment(&body) } else { body };
        ruby_eval(dir.path(), &body)["env"].clone()
    };
    let e = env("17.3", false, false);
    assert_eq!(e["AI_GATEWAY_URL"], GATEWAY);
    assert_eq!(e["CLOUD_CONNECTOR_SELF_SIGN_TOKENS"], "1");
    let e = env("17.5", false, false);
    assert_eq!(e["GITLAB_LICENSE_MODE"], "production");
    assert_eq!(e["CUSTOMER_PORTAL_URL"], "https://customers.gitlab.com");
    assert!(env("17.4", false, false)
        .get("CLOUD_CONNECTOR_SELF_SIGN_TOKENS")
        .is_none());
    assert!(env("17.7", false, false)
        .get("GITLAB_LICENSE_MODE")
        .is_none());
    // 17.9+: nothing active without the Agent Platform; the legacy line still works once uncommented.
    assert!(env("17.9", false, false).is_null());
    assert_eq!(env("17.9", false, true)["AI_GATEWAY_URL"], GATEWAY);
    // 18.4+ with a plain-http gateway: only the TLS switch is active.
    let e = env("18.4", true, false);
    assert_eq!(e["DUO_AGENT_PLATFORM_SERVICE_SECURE"], false);
    assert!(e.get("AI_GATEWAY_URL").is_none());
    assert_eq!(env("18.4", true, true)["AI_GATEWAY_URL"], GATEWAY);
    assert!(env("18.3", true, false).is_null());
}

#[test]
fn gitlab_omnibus_config_quotes_survive_a_quote_in_the_gitlab_url() {
    if !have("ruby") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = side("17.3", InstallType::Docker);
    s.gitlab = parse_gitlab_url("gitlab_url", "https://example.com/it's\\git").unwrap();
    let wanted = s.gitlab.as_str().to_string();
    assert!(wanted.contains('\''), "{wanted}");
    let body = snippet_for(&s, Part::Docker).unwrap().unwrap().body;
    let configs = omnibus_configs(&body);
    let got = ruby_eval(dir.path(), &configs[0]);
    assert_eq!(got["external_url"], wanted.as_str());
    assert_eq!(got["env"]["AI_GATEWAY_URL"], GATEWAY);
}

#[test]
fn gitlab_helm_values_parse_and_cover_webservice_sidekiq_and_toolbox() {
    if !have("ruby") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sides = matrix();
    let texts: Vec<String> = sides
        .iter()
        .flat_map(|s| {
            let helm = snippet_for(s, Part::Helm).unwrap().unwrap();
            assert_eq!(helm.kind, SnippetKind::Yaml);
            [helm.body.clone(), uncomment(&helm.body)]
        })
        .collect();
    let docs = yaml_json(dir.path(), &texts);
    for (s, pair) in sides.iter().zip(docs.chunks(2)) {
        let what = format!("{} {:?} {}", s.version, s.agent_platform, s.gateway_url);
        let (as_is, on) = (&pair[0], &pair[1]);
        for c in ["webservice", "sidekiq", "toolbox"] {
            assert_eq!(
                on["gitlab"][c]["extraEnv"]["AI_GATEWAY_URL"],
                s.gateway_url.as_str()
            );
            let env = &as_is["gitlab"][c]["extraEnv"];
            if s.version < GitlabVersion::new(17, 9) {
                assert_eq!(env["AI_GATEWAY_URL"], s.gateway_url.as_str(), "{what}");
            } else {
                assert!(env.get("AI_GATEWAY_URL").is_none(), "{what}: {env}");
            }
            // 18.10+: the Admin UI checkbox replaces the variable.
            let insecure = s.version >= GitlabVersion::new(18, 4)
                && s.version < GitlabVersion::new(18, 10)
                && s.agent_platform.is_some()
                && s.gateway_url.starts_with("http://");
            let flag = env.get("DUO_AGENT_PLATFORM_SERVICE_SECURE");
            assert_eq!(
                flag.and_then(|f| f.as_str()),
                insecure.then_some("false"),
                "{what}"
            );
        }
    }
}

#[test]
fn gitlab_source_snippets_pass_sh_n_and_export_the_url() {
    let dir = tempfile::tempdir().unwrap();
    for s in matrix() {
        let src = snippet_for(&s, Part::Source).unwrap().unwrap();
        assert_eq!(src.kind, SnippetKind::Shell);
        for text in [src.body.clone(), uncomment(&src.body)] {
            let f = write(dir.path(), "gitlab.sh", &text);
            let (ok, out) = run("sh", &["-n", f.to_str().unwrap()]);
            assert!(ok, "{out}\n{text}");
        }
        let f = write(dir.path(), "gitlab.sh", &uncomment(&src.body));
        let (ok, out) = run(
            "sh",
            &[
                "-c",
                ". \"$1\" && printf %s \"$AI_GATEWAY_URL\"",
                "sh",
                f.to_str().unwrap(),
            ],
        );
        assert!(ok);
        assert_eq!(out, s.gateway_url);
    }
}

// ---------- version rules ----------

fn paths(s: &GitlabSide) -> Vec<String> {
    all(s).into_iter().map(|s| s.path).collect()
}

#[test]
fn gitlab_env_var_before_17_9_admin_ui_from_17_9() {
    let p = paths(&side("17.8", InstallType::Omnibus));
    // Flags first (17.7/17.8: the self-hosted models toggle), then the environment.
    assert_eq!(p[..2], ["gitlab/feature-flags.md", "gitlab/gitlab.rb"]);
    assert!(!p.contains(&"gitlab/admin-ui.md".to_string()));
    assert!(
        snippet_for(&side("17.8", InstallType::Omnibus), Part::AdminUi)
            .unwrap()
            .is_none()
    );

    let s = side("17.9", InstallType::Helm);
    let a = all(&s);
    assert_eq!(a[0].path, "gitlab/admin-ui.md");
    assert!(a[0]
        .body
        .contains(&format!("**Local AI Gateway URL**: `{GATEWAY}`")));
    assert!(
        a[0].body.contains("gitlab/helm-values.yaml"),
        "names the legacy file"
    );
    assert_eq!(a[1].path, "gitlab/helm-values.yaml");
    assert!(a[1].title.contains("legacy"));
    let order: Vec<_> = a.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        &order[order.len() - 2..],
        ["gitlab/model-registration.md", "gitlab/verify.md"]
    );
}

#[test]
fn gitlab_feature_flag_steps_only_where_needed() {
    let flags = |v: &str, agent: bool| {
        let mut s = side(v, InstallType::Omnibus);
        if !agent {
            s.agent_platform = None;
        }
        snippet_for(&s, Part::FeatureFlags).unwrap().map(|s| s.body)
    };
    for v in ["17.1", "17.3", "17.5"] {
        let b = flags(v, false).unwrap();
        assert!(
            b.contains("sudo gitlab-rails runner \"Feature.enable(:ai_custom_model)\""),
            "{v}"
        );
        assert!(!b.contains("enable_feature_flags"), "{v}");
    }
    assert!(flags("17.4", false)
        .unwrap()
        .contains("sudo gitlab-rake \"gitlab:duo:enable_feature_flags\""));
    for v in ["17.7", "17.8"] {
        let b = flags(v, false).unwrap();
        assert!(
            b.contains("Turn on self-hosted models") && !b.contains("ai_custom_model"),
            "{v}"
        );
    }
    for v in ["17.6", "17.9", "18.2", "18.3", "18.9", "18.11"] {
        assert_eq!(flags(v, true), None, "{v}");
    }
    assert_eq!(flags("18.4", false), None);
    for v in ["18.4", "18.8"] {
        assert!(
            flags(v, true)
                .unwrap()
                .contains("Feature.enable(:self_hosted_agent_platform)"),
            "{v}"
        );
    }
    // The command follows the install type.
    let mut s = side("17.3", InstallType::Helm);
    s.agent_platform = None;
    let b = snippet_for(&s, Part::FeatureFlags).unwrap().unwrap().body;
    assert!(b.contains("kubectl exec -it -n <namespace> <toolbox-pod> -- gitlab-rails runner"));
}

#[test]
fn gitlab_agent_platform_from_18_4_and_timeout_from_18_7() {
    let ui = |v: &str| {
        snippet_for(&side(v, InstallType::Omnibus), Part::AdminUi)
            .unwrap()
            .unwrap()
            .body
    };
    assert!(!ui("18.3").contains("Agent Platform service"));
    assert!(
        snippet_for(&side("18.3", InstallType::Omnibus), Part::Model)
            .unwrap()
            .unwrap()
            .body
            .contains("needs GitLab 18.4 or later")
    );
    assert!(ui("18.4").contains(
        "**Local URL for the GitLab Duo Agent Platform service**: `aigw.example.com:50052`"
    ));
    assert!(!ui("18.6").contains("request timeout"));
    assert!(ui("18.7").contains("**AI Gateway request timeout**"));
    let verify = |v: &str| {
        snippet_for(&side(v, InstallType::Omnibus), Part::Verify)
            .unwrap()
            .unwrap()
            .body
    };
    assert!(verify("18.6").contains("fixed 60 s"));
    assert!(verify("18.7").contains("raise **AI Gateway request timeout**"));
}

#[test]
fn gitlab_model_registration_wording_follows_the_version() {
    let m = |v: &str| {
        snippet_for(&side(v, InstallType::Omnibus), Part::Model)
            .unwrap()
            .unwrap()
            .body
    };
    let m18 = m("18.2");
    assert!(m18.contains("| Platform | **API**"));
    assert!(m18.contains("| Endpoint | `http://gpu01.example.com:8000/v1` |"));
    assert!(m18.contains("| Model identifier | `custom_openai/codestral-22b` |"));
    assert!(m18.contains("- Code Suggestions: Code Generation"));
    assert!(m18.contains("AI-native features"));
    let m17 = m("17.3");
    assert!(!m17.contains("**API**") && m17.contains("self-hosted model"));
    assert!(m17.contains("`/v1`") && m17.contains("Never `localhost`"));
}

#[test]
fn gitlab_verify_names_the_rake_task_health_url_and_tag() {
    let v = |ver: &str, i| {
        snippet_for(&side(ver, i), Part::Verify)
            .unwrap()
            .unwrap()
            .body
    };
    let b = v("18.2", InstallType::Omnibus);
    assert!(b.contains("sudo gitlab-rake \"gitlab:duo:verify_self_hosted_setup[<username>]\""));
    assert!(b.contains(&format!("curl -fsS {GATEWAY}/monitoring/healthz")));
    assert!(b.contains("`self-hosted-v18.2.Z-ee`"));
    assert!(b.contains("Ai::Setting.instance.ai_gateway_url"));
    assert!(v("17.3", InstallType::Omnibus).contains("`gitlab-v17.3.0`"));
    assert!(
        v("17.3", InstallType::Docker).contains("docker exec -it <gitlab-container> gitlab-rake")
    );
    assert!(v("17.3", InstallType::Source).contains(
        "bundle exec rake \"gitlab:duo:verify_self_hosted_setup[<username>]\" RAILS_ENV=production"
    ));
}

#[test]
fn gitlab_private_gateway_address_gets_the_allowlist_step() {
    let mut s = side("18.2", InstallType::Omnibus);
    s.gateway_url = "http://10.0.0.5:5052".into();
    let a = all(&s);
    assert!(a[0].body.contains("10.0.0.5 is a private address"));
    assert!(!all(&side("18.2", InstallType::Omnibus))[0]
        .body
        .contains("is a private address"));
}

// ---------- inputs ----------

#[test]
fn gitlab_gateway_urls_are_normalised() {
    assert_eq!(
        gateway_url_checked(" http://aigw.example.com:5052/ ").unwrap(),
        GATEWAY
    );
    assert_eq!(
        gateway_url_checked("https://aigw.example.com:443").unwrap(),
        "https://aigw.example.com"
    );
    assert_eq!(
        gateway_url_checked("http://[2001:db8::5]:5052").unwrap(),
        "http://[2001:db8::5]:5052"
    );
}

#[test]
fn gitlab_bad_gateway_urls_each_get_their_own_error() {
    for (input, needle) in [
        ("http://localhost:5052", "different machine"),
        ("http://127.0.0.1:5052", "loopback"),
        ("http://[::1]:5052", "loopback"),
        ("http://169.254.10.1:5052", "link-local"),
        ("http://[fe80::1]:5052", "link-local"),
        ("http://0.0.0.0:5052", "unspecified"),
        (
            "http://admin:pw@aigw.example.com:5052",
            "user name or password",
        ),
        ("http://aigw example.com:5052", "contains a space"),
        (
            "http://aigw.example.com:abc",
            "not a number from 1 to 65535",
        ),
        ("http://aigw.example.com:0", "port 0"),
        ("aigw.example.com:5052", "no scheme"),
        ("ftp://aigw.example.com", "scheme ftp"),
        ("http://aigw.example.com:5052/v1", "must not have a path"),
        ("http://aigw.example.com:5052/?a=1", "query"),
        ("", "is empty"),
    ] {
        let e = gateway_url_checked(input).unwrap_err();
        assert_eq!(e.field, "gateway_url", "{input:?}");
        let text = e.to_string();
        assert!(text.contains(needle), "{input:?}: {text}");
        // The example is the fix, printed once beside the message.
        let fix = aigw_core::problem::Explain::fix(&e).unwrap_or_default();
        assert!(
            fix.contains("http://aigw.example.com:5052"),
            "example given: {fix}"
        );
    }
}

#[test]
fn gitlab_bad_versions_are_refused() {
    for (input, needle) in [
        ("16.11", "predates GitLab Duo Self-Hosted"),
        ("17.0", "predates"),
        ("abc", "must be a number"),
        ("18", "minor version is missing"),
        ("", "major version is missing"),
    ] {
        let e = gitlab_version_checked(input).unwrap_err();
        assert_eq!(e.field, "gitlab_version");
        assert!(e.to_string().contains(needle), "{input:?}: {e}");
    }
    assert_eq!(
        gitlab_version_checked("v18.2.1-ee").unwrap(),
        GitlabVersion::new(18, 2)
    );
    let e = snippets(&side("16.11", InstallType::Omnibus)).unwrap_err();
    assert_eq!(e.field, "gitlab_version");
}

#[test]
fn gitlab_bad_agent_platform_and_model_inputs() {
    assert_eq!(
        agent_platform_checked("aigw.example.com:50052").unwrap(),
        "aigw.example.com:50052"
    );
    assert_eq!(
        agent_platform_checked("[2001:db8::5]:50052").unwrap(),
        "[2001:db8::5]:50052"
    );
    for (input, needle) in [
        ("http://aigw.example.com:50052", "without http://"),
        ("aigw.example.com", "has no port"),
        ("aigw.example.com:grpc", "not a number"),
        ("localhost:50052", "different machine"),
        ("[::1]:50052", "loopback"),
        ("2001:db8::5:50052", "brackets"),
    ] {
        let e = agent_platform_checked(input).unwrap_err();
        assert_eq!(e.field, "agent_platform");
        assert!(e.to_string().contains(needle), "{input:?}: {e}");
    }
    assert_eq!(
        model_endpoint_checked("http://gpu01.example.com:8000/v1/").unwrap(),
        "http://gpu01.example.com:8000/v1"
    );
    for (input, needle) in [
        ("http://gpu01.example.com:8000", "must end in /v1"),
        ("http://localhost:8000/v1", "different machine"),
        ("http://gpu01.example.com:x/v1", "not a number"),
    ] {
        let e = model_endpoint_checked(input).unwrap_err();
        assert_eq!(e.field, "model.endpoint");
        assert!(e.to_string().contains(needle), "{input:?}: {e}");
    }
    let bad = |f: fn(&mut GitlabSide)| {
        let mut s = side("17.3", InstallType::Omnibus);
        f(&mut s);
        snippets(&s).unwrap_err()
    };
    assert_eq!(
        bad(|s| s.model.identifier = "codestral-22b".into()).field,
        "model.identifier"
    );
    assert_eq!(
        bad(|s| s.model.family = "general".into()).field,
        "model.family"
    );
    assert_eq!(bad(|s| s.model.name = "a`b".into()).field, "model.name");
    assert_eq!(
        bad(|s| s.gateway_url = "http://[::1]:5052".into()).field,
        "gateway_url"
    );
    assert_eq!(
        bad(|s| s.agent_platform = Some("127.0.0.1:50052".into())).field,
        "agent_platform"
    );
    let mut s = side("18.3", InstallType::Omnibus);
    s.model.family = "general".into();
    snippets(&s).unwrap();
}

#[test]
fn gitlab_install_types_and_parts_parse_with_clear_errors() {
    assert_eq!(
        "linux-package".parse::<InstallType>().unwrap(),
        InstallType::Omnibus
    );
    assert_eq!("Helm".parse::<InstallType>().unwrap(), InstallType::Helm);
    let e = "kubernetes".parse::<InstallType>().unwrap_err();
    assert_eq!(e.field, "install_type");
    assert!(e
        .to_string()
        .contains("omnibus (or linux-package), helm, docker, source"));
    assert_eq!("admin-ui".parse::<Part>().unwrap(), Part::AdminUi);
    let e = "compose".parse::<Part>().unwrap_err();
    assert!(e
        .to_string()
        .contains("omnibus, helm, docker, source, admin-ui"));
    // A part renders for the install type it names.
    let s = snippet_for(&side("17.3", InstallType::Helm), Part::Omnibus)
        .unwrap()
        .unwrap();
    assert_eq!(s.path, "gitlab/gitlab.rb");
}

// ---------- secrets ----------

/// A run of 24+ letters and digits looks like a key or token; so do the usual prefixes.
fn secret_like(text: &str) -> Option<String> {
    for p in ["sk-", "glpat-", "hf_", "BEGIN ", "PRIVATE KEY"] {
        if text.contains(p) {
            return Some(p.to_string());
        }
    }
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.len() >= 24)
        .map(str::to_string)
}

/// A credential as an admin might paste one (a GitLab token's shape).
const PLANTED: &str = "glpat-Zq8vR2mK7xW4nB6tY1pL";

/// The side with `PLANTED` typed into each field that takes a URL or an address, as the password in its
/// user info (where a copied URL carries one), and what the refusal says instead of it.
fn with_planted_credentials(s: &GitlabSide) -> Vec<(&'static str, GitlabSide, &'static str)> {
    let in_url = |url: &str| url.replacen("://", &format!("://admin:{PLANTED}@"), 1);
    let mut gateway = s.clone();
    gateway.gateway_url = in_url(&s.gateway_url);
    let mut endpoint = s.clone();
    endpoint.model.endpoint = in_url(&s.model.endpoint);
    let mut agent = s.clone();
    agent.agent_platform = Some(format!("admin:{PLANTED}@aigw.example.com:50052"));
    vec![
        (
            "gateway_url",
            gateway,
            "must not contain a user name or password",
        ),
        (
            "model.endpoint",
            endpoint,
            "must not contain a user name or password",
        ),
        (
            "agent_platform",
            agent,
            "must not contain a user name or password",
        ),
    ]
}

#[test]
fn gitlab_no_secret_ever_appears_only_the_placeholder() {
    // Positive control: the scan finds a secret that does reach the snippets. A token typed as the model's
    // display name is rendered wherever the model is named, and the scan flags it there.
    assert_eq!(secret_like(PLANTED).as_deref(), Some("glpat-"));
    let mut named = side("18.2", InstallType::Omnibus);
    named.model.name = PLANTED.into();
    let flagged: Vec<_> = all(&named)
        .into_iter()
        .filter(|sn| secret_like(&sn.body).is_some())
        .map(|sn| sn.path)
        .collect();
    assert!(!flagged.is_empty(), "the scan found no planted name");

    for s in matrix() {
        for sn in all(&s) {
            assert_eq!(secret_like(&sn.body), None, "{}: {}", sn.path, sn.body);
        }
        let m = snippet_for(&s, Part::Model).unwrap().unwrap().body;
        assert!(m.contains(&format!("| API key | `{API_KEY_PLACEHOLDER}` |")));
        // Credentials planted in the inputs are refused, and neither the refusal nor any snippet repeats them.
        for (field, planted, instead) in with_planted_credentials(&s) {
            let e = match snippets(&planted) {
                Err(e) => e,
                Ok(out) => panic!(
                    "{field} with a password was accepted: {:#?}",
                    out.iter().map(|sn| &sn.body).collect::<Vec<_>>()
                ),
            };
            assert_eq!(e.field, field, "{e}");
            let text = e.to_string();
            assert!(!text.contains(PLANTED), "{field}: {text}");
            assert!(text.contains(instead), "{field}: {text}");
        }
    }
    let e = parse_gitlab_url(
        "gitlab_url",
        &format!("https://root:{PLANTED}@gitlab.example.com"),
    )
    .unwrap_err()
    .to_string();
    assert!(!e.contains(PLANTED), "{e}");
    // Errors mask credentials typed into a URL.
    for input in [
        "http://admin:hunter2secretvalue@aigw.example.com:5052",
        "http://admin:hunter2secretvalue@aigw example.com:5052",
        "http://admin:hunter2secretvalue@aigw.example.com:abc",
        "admin:hunter2secretvalue@aigw.example.com:5052",
    ] {
        let e = gateway_url_checked(input).unwrap_err().to_string();
        assert!(!e.contains("hunter2secretvalue"), "{e}");
        let e = model_endpoint_checked(input).unwrap_err().to_string();
        assert!(!e.contains("hunter2secretvalue"), "{e}");
    }
    let e = agent_platform_checked("admin:hunter2secretvalue@aigw.example.com:50052")
        .unwrap_err()
        .to_string();
    assert!(!e.contains("hunter2secretvalue"), "{e}");
}

// ---------- issue 13: the review against GitLab's docs ----------

#[test]
fn gitlab_agent_platform_tls_variable_until_18_9_checkbox_from_18_10() {
    let ui = |v: &str| {
        snippet_for(&side(v, InstallType::Omnibus), Part::AdminUi)
            .unwrap()
            .unwrap()
            .body
    };
    let rb = |v: &str| {
        snippet_for(&side(v, InstallType::Omnibus), Part::Omnibus)
            .unwrap()
            .unwrap()
            .body
    };
    for v in ["18.4", "18.9"] {
        assert!(
            rb(v).contains("'DUO_AGENT_PLATFORM_SERVICE_SECURE' => false"),
            "{v}"
        );
        assert!(
            !ui(v).contains("Use TLS for the GitLab Duo Agent Platform service"),
            "{v}"
        );
    }
    for v in ["18.10", "18.11"] {
        assert!(
            !rb(v).contains("DUO_AGENT_PLATFORM_SERVICE_SECURE' =>"),
            "{v}"
        );
        assert!(
            ui(v).contains("clear **Use TLS for the GitLab Duo Agent Platform service**"),
            "{v}"
        );
    }
    // 18.9+: the Agent Platform is turned on in the Admin UI (the flag is gone).
    assert!(!ui("18.8").contains("Turn on GitLab Duo Agent Platform"));
    assert!(ui("18.9").contains("**Turn on GitLab Duo Agent Platform**"));
    let mut no_agent = side("18.11", InstallType::Omnibus);
    no_agent.agent_platform = None;
    assert!(!snippet_for(&no_agent, Part::AdminUi)
        .unwrap()
        .unwrap()
        .body
        .contains("Agent Platform"));
}

#[test]
fn gitlab_models_page_and_beta_checkbox_per_version() {
    let m = |v: &str, family: &str| {
        let mut s = side(v, InstallType::Omnibus);
        s.model.family = family.into();
        snippet_for(&s, Part::Model).unwrap().unwrap().body
    };
    assert!(m("17.3", "codestral")
        .contains("**Admin area > AI-powered features > Models > Add self-hosted model**"));
    assert!(m("18.4", "codestral")
        .contains("**Admin area > GitLab Duo > Configure GitLab Duo Self-Hosted > Add"));
    assert!(m("18.10", "codestral")
        .contains("**Admin area > GitLab Duo > Configure models for GitLab Duo > Add"));
    let general = m("18.3", "general");
    assert!(general.contains("**Use beta models and features in GitLab Duo Self-Hosted**"));
    assert!(!m("18.3", "codestral").contains("beta models"));
    // The beta step comes before the registration it unlocks, the assignment after it.
    let beta = general.find("beta models").unwrap();
    let add = general.find("Add self-hosted model").unwrap();
    let assign = general.find("Assign it to Duo features").unwrap();
    assert!(beta < add && add < assign, "{general}");
}

#[test]
fn gitlab_verify_uses_the_published_model_address_when_given() {
    let mut s = side("18.11", InstallType::Omnibus);
    s.model.endpoint = "http://gitlab-aigw-model:8000/v1".into();
    s.model_check = Some("http://127.0.0.1:8000/v1".into());
    let b = snippet_for(&s, Part::Verify).unwrap().unwrap().body;
    assert!(
        b.contains("`curl -fsS http://127.0.0.1:8000/v1/models`"),
        "{b}"
    );
    assert!(!b.contains("curl -fsS http://gitlab-aigw-model"), "{b}");
}

#[test]
fn gitlab_source_installs_get_a_systemd_dropin_and_init_d_keeps_etc_default() {
    let paths = |v: &str| {
        all(&side(v, InstallType::Source))
            .into_iter()
            .map(|s| s.path)
            .collect::<Vec<_>>()
    };
    for v in ["17.3", "18.4", "18.11"] {
        let p = paths(v);
        let env = p
            .iter()
            .position(|x| x == "gitlab/etc-default-gitlab.sh")
            .unwrap();
        let dropin = p
            .iter()
            .position(|x| x == "gitlab/systemd-ai-gateway.conf")
            .unwrap();
        assert_eq!(dropin, env + 1, "{v}: {p:?}");
    }
    assert!(!paths("17.3").is_empty());
    let dropin = |v: &str| {
        all(&side(v, InstallType::Source))
            .into_iter()
            .find(|s| s.path == "gitlab/systemd-ai-gateway.conf")
            .unwrap()
    };
    let d = dropin("17.3");
    assert_eq!(d.kind, SnippetKind::Systemd);
    assert!(d
        .body
        .contains("/etc/systemd/system/gitlab-puma.service.d/ai-gateway.conf"));
    assert!(d
        .body
        .contains("/etc/systemd/system/gitlab-sidekiq.service.d/ai-gateway.conf"));
    assert!(d.body.contains("sudo systemctl daemon-reload"));
    assert!(d.body.lines().any(|l| l == "[Service]"), "{}", d.body);
    assert!(d
        .body
        .lines()
        .any(|l| l == format!("Environment=\"AI_GATEWAY_URL={GATEWAY}\"")));
    // 17.9+: the URL is legacy there, so the whole drop-in is commented out unless something is needed.
    let d = dropin("17.9");
    assert!(d.body.lines().all(|l| l.starts_with('#')), "{}", d.body);
    assert!(d
        .body
        .contains(&format!("# Environment=\"AI_GATEWAY_URL={GATEWAY}\"")));
    // 18.4-18.9 with a plain-http Agent Platform: the TLS switch is active, the URL commented out.
    // 18.4-18.8: the Agent Platform's flag comes before the Admin UI that shows its setting.
    let order = paths("18.4");
    assert_eq!(
        order[..2],
        ["gitlab/feature-flags.md", "gitlab/admin-ui.md"],
        "{order:?}"
    );
    let d = dropin("18.4");
    assert!(d
        .body
        .lines()
        .any(|l| l == "Environment=\"DUO_AGENT_PLATFORM_SERVICE_SECURE=false\""));
    assert!(d.body.contains("# Environment=\"AI_GATEWAY_URL="));
    let src = snippet_for(&side("17.3", InstallType::Source), Part::Source)
        .unwrap()
        .unwrap()
        .body;
    assert!(src.contains("init.d installs only"), "{src}");
    // systemd-analyze, where present, reads the drop-in's syntax.
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let dir = tempfile::tempdir().unwrap();
        let unit = write(
            dir.path(),
            "aigw-check.service",
            &format!("{}\nExecStart=/bin/true\n", uncomment(&dropin("17.3").body)),
        );
        let (_, out) = run("systemd-analyze", &["verify", unit.to_str().unwrap()]);
        assert!(!out.contains("Failed to parse"), "{out}");
    }
}
