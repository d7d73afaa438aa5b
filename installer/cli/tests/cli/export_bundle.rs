//! The export bundle: snapshots per GitLab version, real tools on what it contains (docker-compose,
//! Ruby's YAML parser, a Kubernetes structure check), the zip round trip with its checksums, secrets kept
//! out by default, and writes that never clobber or leave half a file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_core::export::archive::{export_files, ExportOptions, TOKEN_PATH};
use aigw_core::gitlab::config::InstallType;
use aigw_core::spec::DeploymentSpec;
use aigw_engine::export_zip::write_zip;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_aigw-installer");
const SECRET: &str = "hf_SuperSecretToken123";

fn spec(version: &str) -> DeploymentSpec {
    let mut s = DeploymentSpec::from_toml(
        include_str!("../../../../tests/fixtures/specs/hf-mistral-small-tp2.toml"),
        "test",
    )
    .unwrap();
    s.gitlab.version = version.into();
    s.model.gitlab_family = Some("mistral".into());
    // Mistral Small 3.2 is supported from 18.3: older versions get a model they support.
    if s.gitlab_version().unwrap() < aigw_core::catalog::GitlabVersion::new(18, 3) {
        s.model.weights = aigw_core::spec::Weights::HuggingFace {
            repo: "mistralai/Codestral-22B-v0.1".into(),
            revision: "main".into(),
            endpoint: None,
            cache_dir: "/srv/gitlab-agw-models/hf-cache".into(),
            token_file: None,
        };
        s.model.served_model_name = "codestral-22b".into();
        s.model.gitlab_family = Some("codestral".into());
    }
    s.model.duo_features = ["code_completion", "code_generation", "duo_chat"]
        .map(String::from)
        .into();
    s
}

fn opts(install: InstallType) -> ExportOptions {
    // A token is at hand, but not asked for: it must stay out.
    ExportOptions {
        hf_token: Some(SECRET.into()),
        ..ExportOptions::without_secrets(install)
    }
}

fn ruby_available() -> bool {
    let ok = Command::new("ruby")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "CI is set but ruby is missing"
    );
    ok
}

#[test]
fn every_file_per_version_snapshot() {
    // The options hold the token; printing them shows none of it.
    let shown = format!("{:?}", opts(InstallType::Omnibus));
    assert!(!shown.contains(SECRET) && shown.contains("***"), "{shown}");
    for version in ["17.3", "17.9", "18.2", "18.11"] {
        let files = export_files(&spec(version), &opts(InstallType::Omnibus)).unwrap();
        let text: String = files
            .iter()
            .map(|f| {
                let body = String::from_utf8(f.bytes.clone()).unwrap();
                // The config hash has its own tests; only its digest is masked.
                let body = aigw_core::plan::labels::without_config_digests(&body);
                format!("===== {} =====\n{body}\n", f.path)
            })
            .collect();
        insta::assert_snapshot!(format!("bundle_{version}"), text);
    }
}

/// GitLab on Kubernetes (Helm): the gateway beside it answers at its Ingress, `http://<host>` on port 80,
/// in every file GitLab's side reads; the LoadBalancer's `:<port>` appears only where it is named as the
/// alternative. Other install types keep `http://<host>:<port>`.
#[test]
fn a_kubernetes_export_points_gitlab_at_the_ingress_and_names_the_load_balancer() {
    let s = spec("18.2");
    let ingress = format!("http://{}/", s.gateway.host);
    let direct = format!("http://{}:{}", s.gateway.host, s.gateway.port);
    let files = export_files(&s, &opts(InstallType::Helm)).unwrap();
    let text: String = files
        .iter()
        .map(|f| {
            let body = String::from_utf8(f.bytes.clone()).unwrap();
            let body = aigw_core::plan::labels::without_config_digests(&body);
            format!("===== {} =====\n{body}\n", f.path)
        })
        .collect();
    insta::assert_snapshot!("bundle_18.2_helm", text);
    for f in files
        .iter()
        .filter(|f| f.path == "README.md" || f.path.starts_with("gitlab/"))
    {
        let body = String::from_utf8(f.bytes.clone()).unwrap();
        for line in body.lines().filter(|l| l.contains(&direct)) {
            assert!(
                line.contains("gateway-loadbalancer.yaml"),
                "{}: {direct} outside the LoadBalancer alternative: {line}",
                f.path
            );
        }
    }
    let gitlab_side = |files: &[aigw_core::export::archive::ExportFile]| {
        files
            .iter()
            .filter(|f| f.path == "README.md" || f.path.starts_with("gitlab/"))
            .map(|f| String::from_utf8(f.bytes.clone()).unwrap())
            .collect::<String>()
    };
    let helm = gitlab_side(&files);
    let ingress = ingress.trim_end_matches('/');
    for want in [
        format!("curl -fsS {ingress}/monitoring/healthz"),
        format!("AI_GATEWAY_URL: '{ingress}'"),
        format!("**Local AI Gateway URL**: `{ingress}`"),
        format!("gateway-loadbalancer.yaml` instead, `{direct}`"),
    ] {
        assert!(helm.contains(&want), "{want}");
    }
    for install in [
        InstallType::Omnibus,
        InstallType::Docker,
        InstallType::Source,
    ] {
        let other = gitlab_side(&export_files(&s, &opts(install)).unwrap());
        assert!(
            other.contains(&format!("{direct}/monitoring/healthz")),
            "{install}"
        );
        assert!(
            !other.contains("gateway-loadbalancer.yaml instead"),
            "{install}"
        );
    }
}

#[test]
fn compose_yaml_and_kubernetes_pass_the_real_tools() {
    let dir = tempfile::tempdir().unwrap();
    for f in export_files(&spec("18.2"), &opts(InstallType::Helm)).unwrap() {
        let p = dir.path().join(&f.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, &f.bytes).unwrap();
    }
    let cfg = Command::new("docker-compose")
        .arg("-f")
        .arg(dir.path().join("docker-compose.yml"))
        .args(["config", "-q"])
        .output();
    match cfg {
        Ok(o) => assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => assert!(
            std::env::var_os("CI").is_none(),
            "docker-compose missing in CI: {e}"
        ),
    }
    let sh = Command::new("sh")
        .arg("-n")
        .arg(dir.path().join("docker-run.sh"))
        .output()
        .unwrap();
    assert!(
        sh.status.success(),
        "docker-run.sh: {}",
        String::from_utf8_lossy(&sh.stderr)
    );
    if !ruby_available() {
        return;
    }
    // Every YAML document parses, and the Kubernetes objects have the shape the API server requires.
    let check = r#"
require "yaml"; require "json"
docs = YAML.load_stream(File.read(ARGV[0]))
YAML.safe_load(File.read(ARGV[1]))
YAML.safe_load(File.read(ARGV[2]))
out = docs.map do |d|
  raise "no apiVersion/kind/name" unless d["apiVersion"] && d["kind"] && d.dig("metadata", "name")
  if d["kind"] == "Deployment"
    sel = d.dig("spec", "selector", "matchLabels")
    lab = d.dig("spec", "template", "metadata", "labels")
    raise "selector does not match template labels" unless sel.all? { |k, v| lab[k] == v }
    c = d.dig("spec", "template", "spec", "containers")[0]
    raise "no image" unless c["image"].is_a?(String)
    { "kind" => "Deployment", "name" => d["metadata"]["name"], "gpus" => c.dig("resources", "limits", "nvidia.com/gpu"),
      "port" => c["ports"][0]["containerPort"], "args" => c["args"] || [] }
  else
    { "kind" => d["kind"], "name" => d["metadata"]["name"], "port" => d.dig("spec", "ports", 0, "port") }
  end
end
puts JSON.generate(out)
"#;
    let o = Command::new("ruby")
        .args(["-e", check])
        .arg(dir.path().join("kubernetes/aigw.yaml"))
        .arg(dir.path().join("docker-compose.yml"))
        .arg(dir.path().join("gitlab/helm-values.yaml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let objs: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let objs = objs.as_array().unwrap();
    // Deployment and Service for each server, and the gateway's Ingress.
    assert_eq!(objs.len(), 5, "{objs:#?}");
    let model = objs
        .iter()
        .find(|o| o["kind"] == "Deployment" && o["name"] == "gitlab-aigw-model")
        .unwrap();
    assert_eq!(model["gpus"], 2);
    assert_eq!(model["port"], 8000);
    assert!(model["args"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "--tensor-parallel-size"));
    assert!(objs
        .iter()
        .any(|o| o["kind"] == "Service" && o["name"] == "gitlab-aigw" && o["port"] == 5052));
}

fn read_zip(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut b = Vec::new();
            f.read_to_end(&mut b).unwrap();
            (f.name().unwrap().to_string(), b)
        })
        .collect()
}

#[test]
fn the_zip_round_trips_and_its_checksums_match() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bundle.zip");
    let s = spec("18.2");
    let o = opts(InstallType::Docker);
    let files = export_files(&s, &o).unwrap();
    write_zip(&files, &s, &o, &out, false).unwrap();
    let entries = read_zip(&out);
    let manifest: serde_json::Value = serde_json::from_slice(
        &entries
            .iter()
            .find(|(n, _)| n == "manifest.json")
            .unwrap()
            .1,
    )
    .unwrap();
    let listed = manifest["files"].as_array().unwrap();
    assert_eq!(listed.len(), entries.len() - 1);
    for entry in listed {
        let (_, bytes) = entries
            .iter()
            .find(|(n, _)| n == entry["path"].as_str().unwrap())
            .unwrap();
        let sum: String = Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(entry["sha256"], sum.as_str(), "{}", entry["path"]);
    }
    for needed in [
        "README.md",
        "docker-compose.yml",
        "aigw.env",
        "kubernetes/aigw.yaml",
        "aigw-spec.toml",
        "gitlab/docker-env.txt",
    ] {
        assert!(entries.iter().any(|(n, _)| n == needed), "{needed} missing");
    }
    assert_eq!(manifest["contains_secrets"], false);
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o644
    );
}

#[test]
fn secrets_stay_out_unless_asked_and_then_the_zip_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let s = spec("18.11");
    let out = dir.path().join("plain.zip");
    let o = opts(InstallType::Omnibus);
    write_zip(&export_files(&s, &o).unwrap(), &s, &o, &out, false).unwrap();
    for (name, bytes) in read_zip(&out) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SECRET),
            "{name} leaks the token"
        );
    }
    let readme = read_zip(&out)
        .into_iter()
        .find(|(n, _)| n == "README.md")
        .unwrap()
        .1;
    assert!(
        String::from_utf8_lossy(&readme).contains(TOKEN_PATH),
        "README says where the token goes"
    );

    let secret_out = dir.path().join("secret.zip");
    let o = ExportOptions {
        include_secrets: true,
        ..opts(InstallType::Omnibus)
    };
    let m = write_zip(&export_files(&s, &o).unwrap(), &s, &o, &secret_out, false).unwrap();
    assert!(m.contains_secrets);
    assert_eq!(
        std::fs::metadata(&secret_out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let entries = read_zip(&secret_out);
    assert_eq!(
        entries.iter().find(|(n, _)| n == TOKEN_PATH).unwrap().1,
        SECRET.as_bytes()
    );
    let compose = &entries
        .iter()
        .find(|(n, _)| n == "docker-compose.yml")
        .unwrap()
        .1;
    assert!(
        String::from_utf8_lossy(compose).contains("HF_TOKEN_PATH"),
        "the token file is wired in"
    );
}

#[test]
fn the_cli_never_clobbers_and_bad_inputs_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("spec.toml");
    std::fs::write(&spec_path, spec("18.2").to_toml()).unwrap();
    let out = dir.path().join("out.zip");
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env("HF_TOKEN", SECRET)
            .env("RUST_LOG", "debug")
            .env("XDG_DATA_HOME", &data)
            .output()
            .unwrap()
    };
    let s = spec_path.to_str().unwrap();
    let o = out.to_str().unwrap();
    assert!(run(&["export", "--spec", s, "--out", o]).status.success());
    let before = std::fs::read(&out).unwrap();
    let again = run(&["export", "--spec", s, "--out", o, "--install-type", "helm"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        before,
        "the existing zip is untouched"
    );
    assert!(run(&[
        "export",
        "--spec",
        s,
        "--out",
        o,
        "--force",
        "--install-type",
        "helm"
    ])
    .status
    .success());
    assert_ne!(std::fs::read(&out).unwrap(), before);

    // A directory that does not exist: an error, and no partial file anywhere.
    let missing = dir.path().join("no/such/dir/out.zip");
    let e = run(&["export", "--spec", s, "--out", missing.to_str().unwrap()]);
    assert_eq!(e.status.code(), Some(1));
    assert!(!dir.path().join("no").exists());

    for (field, bad) in [
        (
            "gateway.host",
            spec("18.2")
                .to_toml()
                .replace("aigw.example.com", "127.0.0.1"),
        ),
        (
            "gateway.host",
            spec("18.2").to_toml().replace("aigw.example.com", "[::1]"),
        ),
        (
            "gitlab.url",
            spec("18.2").to_toml().replace(
                "https://gitlab.example.com",
                "https://root:pw@gitlab.example.com",
            ),
        ),
        (
            "gitlab.url",
            spec("18.2")
                .to_toml()
                .replace("https://gitlab.example.com", "https://gitlab example.com"),
        ),
        (
            "gitlab.version",
            spec("18.2")
                .to_toml()
                .replace("version = \"18.2\"", "version = \"16.11\""),
        ),
    ] {
        let bad_spec = dir.path().join("bad.toml");
        std::fs::write(&bad_spec, bad).unwrap();
        let bad_out = dir.path().join("bad.zip");
        let r = run(&[
            "export",
            "--spec",
            bad_spec.to_str().unwrap(),
            "--out",
            bad_out.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{err}");
        assert!(err.contains(field), "{field}: {err}");
        assert!(!err.contains("pw@"), "credentials are not echoed: {err}");
        assert!(!bad_out.exists(), "nothing written for {field}");
    }
    // A name that cannot resolve anywhere (`.invalid`, RFC 6761): a warning, not a refusal. A resolvable
    // name gets no warning, whatever this machine's resolver does with example.com.
    let unresolvable = dir.path().join("unresolvable.toml");
    std::fs::write(
        &unresolvable,
        spec("18.2")
            .to_toml()
            .replace("aigw.example.com", "aigw.no-such-host.invalid"),
    )
    .unwrap();
    let first = run(&[
        "export",
        "--spec",
        unresolvable.to_str().unwrap(),
        "--out",
        dir.path().join("w.zip").to_str().unwrap(),
    ]);
    let warned = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{warned}");
    // "does not resolve", or "took longer" where the resolver cannot answer at all: a warning either way.
    assert!(
        warned.contains("warning:") && warned.contains("aigw.no-such-host.invalid"),
        "{warned}"
    );
    let by_address = dir.path().join("address.toml");
    std::fs::write(
        &by_address,
        spec("18.2")
            .to_toml()
            .replace("aigw.example.com", "10.0.0.5"),
    )
    .unwrap();
    let quiet = run(&[
        "export",
        "--spec",
        by_address.to_str().unwrap(),
        "--out",
        dir.path().join("a.zip").to_str().unwrap(),
    ]);
    assert!(quiet.status.success());
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("does not resolve"));
    // The token was in the environment all along: no output and no log line carries it.
    let logs = std::fs::read_dir(data.join("aigw-installer/logs")).unwrap();
    for f in logs.flatten() {
        assert!(
            !std::fs::read_to_string(f.path()).unwrap().contains(SECRET),
            "the log file leaks the token"
        );
    }
    assert!(!String::from_utf8_lossy(&first.stderr).contains(SECRET));
    assert!(!String::from_utf8_lossy(&first.stdout).contains(SECRET));
    // A path that exists as a directory is not a zip to overwrite.
    let r = run(&[
        "export",
        "--spec",
        s,
        "--out",
        dir.path().to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(r.status.code(), Some(1));
}

#[test]
fn jwt_keys_for_18_10_are_generated_only_when_asked_and_never_written_in_clear_elsewhere() {
    let s = spec("18.11");
    let dir = tempfile::tempdir().unwrap();
    // Without secrets: the README says how to make them; the compose file passes them through by name.
    let files = export_files(&s, &opts(InstallType::Omnibus)).unwrap();
    let get = |files: &[aigw_core::export::archive::ExportFile], p: &str| {
        String::from_utf8(files.iter().find(|f| f.path == p).unwrap().bytes.clone()).unwrap()
    };
    assert!(get(&files, "README.md").contains("openssl genrsa -out secrets/aigw_signing.key 2048"));
    assert!(
        get(&files, "docker-compose.yml").contains("      AIGW_SELF_SIGNED_JWT__SIGNING_KEY:\n")
    );
    assert!(get(&files, "docker-run.sh").contains("-e AIGW_SELF_SIGNED_JWT__VALIDATION_KEY"));
    assert!(!files.iter().any(|f| f.path.ends_with(".key")));
    // 18.2 needs none.
    assert!(!get(
        &export_files(&spec("18.2"), &opts(InstallType::Omnibus)).unwrap(),
        "README.md"
    )
    .contains("JWT"));

    // With secrets: fresh RSA keys in secrets/, the zip private, the keys in no other file.
    let mut o = opts(InstallType::Omnibus);
    o.include_secrets = true;
    o.jwt_keys = aigw_engine::export_zip::generate_keys(&s, &o).unwrap();
    assert_eq!(o.jwt_keys.len(), 2);
    let files = export_files(&s, &o).unwrap();
    let out = dir.path().join("k.zip");
    let m = write_zip(&files, &s, &o, &out, false).unwrap();
    assert!(m.contains_secrets);
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let entries = read_zip(&out);
    let key = &entries
        .iter()
        .find(|(n, _)| n == "secrets/aigw_signing.key")
        .unwrap()
        .1;
    let pem_body = String::from_utf8_lossy(key)
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    for (name, bytes) in &entries {
        if !name.starts_with("secrets/") {
            assert!(
                !String::from_utf8_lossy(bytes).contains(&pem_body),
                "{name} holds key material"
            );
        }
    }
}

/// `--spec` falls back to `AIGW_SPEC`, then to the installed spec; with none, the error says all three.
#[test]
fn the_spec_comes_from_the_flag_the_environment_or_the_installation() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str], env: Option<&std::path::Path>| {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("XDG_DATA_HOME", &data)
            .env_remove("AIGW_SPEC");
        if let Some(p) = env {
            c.env("AIGW_SPEC", p);
        }
        c.output().unwrap()
    };
    let none = run(&["snippets", "--for", "omnibus"], None);
    let err = String::from_utf8_lossy(&none.stderr);
    assert_eq!(none.status.code(), Some(1), "{err}");
    assert!(err.contains("--spec") && err.contains("AIGW_SPEC"), "{err}");

    let mut s = spec("18.2");
    s.model.gpus.clear();
    let from_env = dir.path().join("from-env.toml");
    std::fs::write(&from_env, s.to_toml()).unwrap();
    let e = run(&["snippets", "--for", "omnibus"], Some(&from_env));
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    assert!(String::from_utf8_lossy(&e.stdout).contains("gitlab_rails"));

    let installed = data.join("aigw-installer/aigw-spec.toml");
    std::fs::create_dir_all(installed.parent().unwrap()).unwrap();
    s.gateway.host = "installed.example.com".into();
    std::fs::write(&installed, s.to_toml()).unwrap();
    let i = run(&["snippets", "--for", "omnibus"], None);
    assert!(i.status.success(), "{}", String::from_utf8_lossy(&i.stderr));
    assert!(String::from_utf8_lossy(&i.stdout).contains("installed.example.com"));
}

/// Issue 13: the Agent Platform's port published everywhere the gateway runs, its keys from a Secret on
/// Kubernetes (never inlined), an Ingress for the gateway host and a LoadBalancer alternative.
#[test]
fn the_agent_platform_port_and_keys_reach_every_output() {
    let mut s = spec("18.11");
    s.gateway.agent_platform = true;
    s.gitlab.offline_license = true;
    let files = export_files(&s, &opts(InstallType::Omnibus)).unwrap();
    let file = |path: &str| {
        String::from_utf8(files.iter().find(|f| f.path == path).unwrap().bytes.clone()).unwrap()
    };
    assert!(file("docker-compose.yml").contains("- \"0.0.0.0:50052:50052\""));
    assert!(file("docker-run.sh").contains("-p 0.0.0.0:50052:50052"));
    let env = file("aigw.env");
    assert!(env.contains("DUO_WORKFLOW_AUTH__ENABLED=true"), "{env}");
    assert!(
        env.contains("AIGW_CUSTOMER_PORTAL_URL=https://gitlab.example.com"),
        "{env}"
    );
    assert!(env.contains("DUO_WORKFLOW_AUTH__OIDC_CUSTOMER_PORTAL_URL=https://gitlab.example.com"));
    let k8s = file("kubernetes/aigw.yaml");
    for key in [
        "AIGW_SELF_SIGNED_JWT__SIGNING_KEY",
        "AIGW_SELF_SIGNED_JWT__VALIDATION_KEY",
        "DUO_WORKFLOW_SELF_SIGNED_JWT__SIGNING_KEY",
        "DUO_WORKFLOW_SELF_SIGNED_JWT__VALIDATION_KEY",
    ] {
        assert!(
            k8s.contains(&format!(
                "- name: \"{key}\"\n              valueFrom:\n                secretKeyRef:\n                  name: \"aigw-jwt-keys\"\n                  key: \"{key}\""
            )),
            "{key}: {k8s}"
        );
    }
    assert!(!k8s.contains("PRIVATE KEY"));
    assert!(k8s.contains("kind: Ingress") && k8s.contains("- host: \"aigw.example.com\""));
    assert!(k8s.contains("- name: \"grpc\"\n      port: 50052"), "{k8s}");
    let lb = file("kubernetes/gateway-loadbalancer.yaml");
    assert!(
        lb.contains("type: \"LoadBalancer\"") && lb.contains("port: 50052"),
        "{lb}"
    );
    let readme = file("README.md");
    assert!(
        readme.contains("kubectl create secret generic aigw-jwt-keys"),
        "{readme}"
    );
    assert!(readme.contains("--from-file=DUO_WORKFLOW_SELF_SIGNED_JWT__VALIDATION_KEY=secrets/duo_workflow_validation.key"));
    assert!(readme.contains("50052 (Agent Platform, gRPC)"));
    let verify = file("gitlab/verify.md");
    assert!(
        verify.contains("curl -fsS http://127.0.0.1:8000/v1/models"),
        "{verify}"
    );
    assert!(
        !verify.contains("curl -fsS http://gitlab-aigw-model"),
        "{verify}"
    );
    let ui = file("gitlab/admin-ui.md");
    assert!(ui.contains("`aigw.example.com:50052`"), "{ui}");

    // Without the Agent Platform nothing of it appears.
    let files = export_files(&spec("18.11"), &opts(InstallType::Omnibus)).unwrap();
    for f in &files {
        let text = String::from_utf8_lossy(&f.bytes);
        assert!(!text.contains("50052"), "{}: {text}", f.path);
    }
}

/// Issue 13: a model outside GitLab's support window is refused by export with the versions that
/// support it, and goes through with a warning when allowed (spec field or CLI flag).
#[test]
fn a_model_outside_its_support_window_is_refused_unless_allowed() {
    let mut s = spec("18.11");
    s.gitlab.version = "18.2.1".into();
    let e = export_files(&s, &opts(InstallType::Omnibus)).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("18.3 and later") && text.contains("not by GitLab 18.2"),
        "{text}"
    );
    assert_eq!(aigw_core::problem::Explain::code(&e), "unsupported_model");
    s.gitlab.allow_unsupported = true;
    let files = export_files(&s, &opts(InstallType::Omnibus)).unwrap();
    let readme = String::from_utf8(files[0].bytes.clone()).unwrap();
    assert!(
        readme.contains("> **Warning:** Mistral Small 3.2"),
        "{readme}"
    );

    // The CLI: refused with the fix, then allowed by --allow-unsupported with a warning.
    let dir = tempfile::tempdir().unwrap();
    s.gitlab.allow_unsupported = false;
    let spec_path = dir.path().join("spec.toml");
    std::fs::write(&spec_path, s.to_toml()).unwrap();
    let out = dir.path().join("x.zip");
    let run = |extra: &[&str]| {
        Command::new(BIN)
            .args([
                "export",
                "--spec",
                spec_path.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ])
            .args(extra)
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .env_remove("HF_TOKEN")
            .output()
            .unwrap()
    };
    let refused = run(&[]);
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("18.3 and later") && err.contains("--allow-unsupported"),
        "{err}"
    );
    assert!(!out.exists());
    let allowed = run(&["--allow-unsupported"]);
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    assert!(String::from_utf8_lossy(&allowed.stderr).contains("warning:"));
    assert!(out.exists());
}

/// Issue 13: a version newer than the newest known is a warning naming the tag assumed; a malformed one
/// an error saying where to find the version.
#[test]
fn versions_newer_than_known_warn_and_malformed_ones_are_refused() {
    let mut s = spec("18.11");
    s.gitlab.version = "18.99.0".into();
    let files = export_files(&s, &opts(InstallType::Omnibus)).unwrap();
    let readme = String::from_utf8(files[0].bytes.clone()).unwrap();
    assert!(
        readme.contains("newer than 18.11") && readme.contains("self-hosted-v18.99.0-ee"),
        "{readme}"
    );
    s.gitlab.version = "18.x".into();
    let e = s.validate(&Default::default()).unwrap_err();
    assert!(
        aigw_core::problem::Explain::fix(&e)
            .unwrap()
            .contains("/api/v4/version"),
        "{e}"
    );
}
