//! `diagnose` as an admin runs it: every kind of secret planted (the spec's environment, the token file,
//! the JWT keys, the containers' logs through the stand-in, the installer's own log), then the whole zip
//! read back: none survives, every part is there, and an existing zip is replaced only with --force.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_e2e::free_port;
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_aigw-installer");

/// Every planted secret carries this marker; the archive must not.
const MARK: &str = "PLANTED";

fn run(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .env("XDG_DATA_HOME", data)
        .env_remove("DOCKER_HOST")
        .env_remove("HF_TOKEN")
        .env_remove("AIGW_SPEC");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Each file of the zip, by name, as text.
fn unzip(path: &Path) -> BTreeMap<String, String> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut text = String::new();
            f.read_to_string(&mut text).unwrap();
            (f.name().unwrap().to_string(), text)
        })
        .collect()
}

fn private_file(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[tokio::test]
async fn diagnose_redacts_every_planted_secret_and_never_clobbers() {
    let Some(conn) = aigw_e2e::clean_engine().await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let ours = data.join("aigw-installer");
    // The token file and the JWT keys, where the installer keeps them.
    private_file(&ours.join("hf_token"), "tokenfile-PLANTED-0001\n");
    private_file(
        &ours.join("jwt/signing_key.pem"),
        "-----BEGIN PRIVATE KEY-----\nJWTLINE1-PLANTED-abcdef\nJWTLINE2-PLANTED-abcdef\n-----END PRIVATE KEY-----\n",
    );
    // The installer's own log: a line of the key (a cut log), the token, a password assignment.
    private_file(
        &ours.join("logs/aigw-installer.2026-01-01.log"),
        "INFO started\nkey part JWTLINE2-PLANTED-abcdef\nread tokenfile-PLANTED-0001\nretry with password=logpass-PLANTED-0001 ok\n",
    );
    // The spec's environment.
    let mut s = aigw_e2e::standin_spec(tmp.path(), "aigw-cli-diag");
    s.gateway.container = "aigw-cli-diag-gw".into();
    s.model.container = "aigw-cli-diag-model".into();
    s.model.served_model_name = "mistral-7b".into();
    s.gateway.port = free_port();
    s.model.port = free_port();
    s.model
        .env
        .insert("MY_SERVICE_TOKEN".into(), "envtoken-PLANTED-0001".into());
    s.gateway
        .env
        .insert("DB_PASSWORD".into(), "envpass-PLANTED-0001".into());
    let spec = tmp.path().join("spec.toml");
    std::fs::write(&spec, s.to_toml()).unwrap();
    let spec = spec.to_str().unwrap();
    // The model server's log, through the stand-in: every shape the redactor knows.
    std::fs::write(
        tmp.path().join("weights/STANDIN_SAY"),
        "Authorization: Bearer authheader-PLANTED-0001\n\
         GET https://user:urlpass-PLANTED-0001@hub.example.com/x\n\
         downloading with hf_ShapeOnlyPLANTED00000000001\n\
         export OTHER_API_KEY=shapekey-PLANTED-0001\n\
         -----BEGIN RSA PRIVATE KEY-----\nPEMBODY-PLANTED-0001\n-----END RSA PRIVATE KEY-----\n\
         known values: tokenfile-PLANTED-0001 envtoken-PLANTED-0001 envpass-PLANTED-0001\n",
    )
    .unwrap();

    let a = run(&data, &["apply", "--spec", spec], &[]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));

    let zip = tmp.path().join("diag.zip");
    let zip_s = zip.to_str().unwrap();
    let d = run(
        &data,
        &["diagnose", "--out", zip_s, "--spec", spec, "--json"],
        &[],
    );
    assert_eq!(d.status.code(), Some(0), "{}", text(&d));
    let result: serde_json::Value = serde_json::from_slice(&d.stdout).unwrap();
    assert_eq!(result["result"]["engine_reachable"], true, "{result}");
    assert_eq!(
        std::fs::metadata(&zip).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let files = unzip(&zip);
    for f in [
        "README.txt",
        "manifest.json",
        "system/detect.json",
        "status.json",
        "plan.json",
        "spec.toml",
        "engine/info.json",
        "engine/version.json",
        "containers/aigw-cli-diag-model.log",
        "containers/aigw-cli-diag-model.inspect.json",
        "containers/aigw-cli-diag-gw.log",
        "containers/aigw-cli-diag-gw.inspect.json",
        "installer-logs/aigw-installer.2026-01-01.log",
    ] {
        assert!(files.contains_key(f), "{f} missing: {:?}", files.keys());
    }
    for (name, body) in &files {
        assert!(!body.contains(MARK), "a secret survived in {name}:\n{body}");
    }
    // The files are the real ones, with the secrets masked in place.
    let log = &files["containers/aigw-cli-diag-model.log"];
    for s in [
        "stand-in vLLM: loading",
        "Authorization: [REDACTED]",
        "https://[REDACTED]@hub.example.com/x",
        "OTHER_API_KEY=[REDACTED]",
        "[REDACTED PRIVATE KEY]",
    ] {
        assert!(log.contains(s), "{s}: {log}");
    }
    assert!(files["spec.toml"].contains("aigw-cli-diag-model"));
    assert!(files["containers/aigw-cli-diag-model.inspect.json"]
        .contains("MY_SERVICE_TOKEN=[REDACTED]"));
    assert!(files["installer-logs/aigw-installer.2026-01-01.log"].contains("INFO started"));
    assert!(files["README.txt"].contains("containers/aigw-cli-diag-model.log"));
    let manifest: serde_json::Value = serde_json::from_str(&files["manifest.json"]).unwrap();
    assert_eq!(
        manifest["not_collected"],
        serde_json::json!([]),
        "{manifest}"
    );

    // An existing zip stays unless --force; no temporary file is left either way.
    let before = std::fs::read(&zip).unwrap();
    let again = run(&data, &["diagnose", "--out", zip_s, "--spec", spec], &[]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(text(&again).contains("already exists"), "{}", text(&again));
    assert!(text(&again).contains("--force"), "{}", text(&again));
    assert_eq!(std::fs::read(&zip).unwrap(), before);
    let forced = run(
        &data,
        &["diagnose", "--out", zip_s, "--spec", spec, "--force"],
        &[],
    );
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced));
    assert!(unzip(&zip).contains_key("README.txt"));
    let stray: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");

    aigw_engine::docker::manage::uninstall(&conn.docker)
        .await
        .unwrap();
}

/// With no engine and nothing installed, the bundle is still written, and says what it could not hold.
#[test]
fn diagnose_without_an_engine_says_so_inside() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let host = format!("unix://{}", tmp.path().join("no-docker.sock").display());
    let zip = tmp.path().join("diag.zip");
    let d = run(
        &data,
        &["diagnose", "--out", zip.to_str().unwrap()],
        &[("DOCKER_HOST", &host)],
    );
    assert_eq!(d.status.code(), Some(0), "{}", text(&d));
    assert!(text(&d).contains("could not be reached"), "{}", text(&d));
    let files = unzip(&zip);
    assert!(
        files["README.txt"].contains("could not be reached"),
        "{}",
        files["README.txt"]
    );
    assert!(
        files.contains_key("system/detect.json"),
        "{:?}",
        files.keys()
    );
    assert!(!files.contains_key("status.json"));
    let manifest: serde_json::Value = serde_json::from_str(&files["manifest.json"]).unwrap();
    assert_eq!(manifest["engine_reachable"], false);
    let missing: Vec<&str> = manifest["not_collected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["part"].as_str().unwrap())
        .collect();
    for part in [
        "spec.toml",
        "status.json",
        "containers/",
        "engine/info.json",
    ] {
        assert!(missing.contains(&part), "{part}: {missing:?}");
    }
}
