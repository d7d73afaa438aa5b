//! `weights status | verify | export | import` on temporary caches: the offline kit end to end through
//! the binary (no engine, no network).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_aigw-installer");
const REPO: &str = "mistralai/Mistral-7B-Instruct-v0.3";

/// A spec whose Hugging Face cache is `cache`.
fn spec(dir: &Path, cache: &Path) -> PathBuf {
    let path = dir.join(format!(
        "spec-{}.toml",
        cache.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(
        &path,
        format!(
            "[gitlab]\nurl = \"https://gitlab.example.com\"\nversion = \"18.2.1\"\n\n\
             [gateway]\nhost = \"aigw.example.com\"\n\n\
             [model]\nserved_model_name = \"mistral-7b\"\n\n\
             [model.weights]\nsource = \"hugging_face\"\nrepo = \"{REPO}\"\ncache_dir = \"{}\"\n",
            cache.display()
        ),
    )
    .unwrap();
    path
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--color=never")
        .args(args)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("HOME", dir)
        .env_remove("AIGW_SPEC")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn result(o: &Output) -> serde_json::Value {
    let line = String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {}", text(o)));
    v
}

#[test]
fn the_offline_kit_exports_imports_and_verifies_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (connected, site, kit) = (dir.join("connected"), dir.join("site"), dir.join("kit"));
    aigw_e2e::standin_hf_cache(&connected, REPO);
    let (s1, s2) = (spec(dir, &connected), spec(dir, &site));
    let (s1, s2) = (s1.to_str().unwrap(), s2.to_str().unwrap());

    let o = run(dir, &["weights", "verify", "--spec", s1]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("verified 4 file(s)"), "{}", text(&o));

    let o = run(
        dir,
        &[
            "weights",
            "export",
            "--spec",
            s1,
            "--out",
            kit.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(result(&o)["result"]["files"], 4);
    assert!(kit.join("aigw-weights-manifest.json").is_file());
    // A second export into the same folder is refused rather than mixed.
    let o = run(
        dir,
        &[
            "weights",
            "export",
            "--spec",
            s1,
            "--out",
            kit.to_str().unwrap(),
        ],
    );
    assert!(
        !o.status.success() && text(&o).contains("already exists"),
        "{}",
        text(&o)
    );

    let o = run(dir, &["weights", "status", "--spec", s2]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("no verified weights"), "{}", text(&o));

    let o = run(
        dir,
        &[
            "weights",
            "import",
            kit.to_str().unwrap(),
            "--spec",
            s2,
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(result(&o)["result"]["commit"], aigw_e2e::STANDIN_COMMIT);

    let o = run(dir, &["weights", "status", "--spec", s2, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let st = result(&o)["result"].clone();
    assert_eq!(st["files"].as_array().unwrap().len(), 4);
    assert!(
        st["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["state"] == "present"),
        "{st}"
    );
}

#[test]
fn a_tampered_kit_is_refused_and_a_corrupt_cache_fails_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (connected, site, kit) = (dir.join("connected"), dir.join("site"), dir.join("kit"));
    let snapshot = aigw_e2e::standin_hf_cache(&connected, REPO);
    let (s1, s2) = (spec(dir, &connected), spec(dir, &site));
    let (s1, s2) = (s1.to_str().unwrap(), s2.to_str().unwrap());
    let o = run(
        dir,
        &[
            "weights",
            "export",
            "--spec",
            s1,
            "--out",
            kit.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));

    std::fs::write(kit.join("model.safetensors"), "stand-im").unwrap();
    let o = run(
        dir,
        &[
            "weights",
            "import",
            kit.to_str().unwrap(),
            "--spec",
            s2,
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let line = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        line.contains("weights_corrupt") && line.contains("model.safetensors"),
        "{line}"
    );
    assert!(!site
        .join("hub")
        .join("models--mistralai--Mistral-7B-Instruct-v0.3")
        .join("snapshots")
        .exists());

    // One flipped byte in the connected cache: verify names the file, removes it, exits 1.
    let blob = std::fs::canonicalize(snapshot.join("config.json")).unwrap();
    let mut body = std::fs::read(&blob).unwrap();
    body[0] ^= 0x20;
    std::fs::write(&blob, body).unwrap();
    let o = run(dir, &["weights", "verify", "--spec", s1]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("corrupt config.json"), "{}", text(&o));
    assert!(!blob.exists());
}

#[test]
fn the_offline_kit_as_one_tar_exports_imports_and_refuses_a_tampered_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (connected, site) = (dir.join("connected"), dir.join("site"));
    let kit = dir.join("weights-kit.tar");
    let kit_s = kit.to_str().unwrap();
    aigw_e2e::standin_hf_cache(&connected, REPO);
    let (s1, s2) = (spec(dir, &connected), spec(dir, &site));
    let (s1, s2) = (s1.to_str().unwrap(), s2.to_str().unwrap());

    // `.tar` chooses the format: one file, never a folder.
    let o = run(dir, &["weights", "export", "--spec", s1, "--out", kit_s]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("exported 4 file(s)"), "{}", text(&o));
    assert!(kit.is_file());
    let o = run(dir, &["weights", "export", "--spec", s1, "--out", kit_s]);
    assert!(
        !o.status.success() && text(&o).contains("exists"),
        "{}",
        text(&o)
    );

    let o = run(dir, &["weights", "import", kit_s, "--spec", s2, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(result(&o)["result"]["commit"], aigw_e2e::STANDIN_COMMIT);
    let o = run(dir, &["weights", "verify", "--spec", s2]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("verified 4 file(s)"), "{}", text(&o));

    // --format tar whatever the name; one byte of the last entry's data flipped is named on import.
    let other = dir.join("kit.bin");
    let o = run(
        dir,
        &[
            "weights",
            "export",
            "--spec",
            s1,
            "--out",
            other.to_str().unwrap(),
            "--format",
            "tar",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let mut bytes = std::fs::read(&other).unwrap();
    let name = b"model.safetensors\0";
    let at = (0..bytes.len())
        .step_by(512)
        .find(|&i| bytes[i..].starts_with(name))
        .expect("the weights entry");
    bytes[at + 512 + 7] ^= 0x40;
    std::fs::write(&other, bytes).unwrap();
    let fresh = dir.join("fresh");
    let o = run(
        dir,
        &[
            "weights",
            "import",
            other.to_str().unwrap(),
            "--cache-dir",
            fresh.to_str().unwrap(),
        ],
    );
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("model.safetensors"), "{}", text(&o));
    assert!(
        !fresh
            .join("hub/models--mistralai--Mistral-7B-Instruct-v0.3/snapshots")
            .exists(),
        "nothing linked"
    );
}

/// A kit folder whose second file is big enough to be mid-copy under `--max-rate` when Ctrl-C comes.
fn big_kit(kit: &Path) {
    use aigw_core::weights::manifest::{Manifest, ManifestFile, EXPORT_MANIFEST, MANIFEST_VERSION};
    std::fs::create_dir_all(kit).unwrap();
    std::fs::write(kit.join("config.json"), "{}").unwrap();
    let big: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(kit.join("model.safetensors"), big).unwrap();
    let files = ["config.json", "model.safetensors"]
        .into_iter()
        .map(|name| {
            let (size, sha256) = aigw_engine::weights::verify_file(&kit.join(name)).unwrap();
            ManifestFile {
                name: name.into(),
                size,
                etag: sha256.clone(),
                sha256,
                git_blob: None,
            }
        })
        .collect();
    let m = Manifest {
        version: MANIFEST_VERSION,
        repo: REPO.into(),
        revision: "main".into(),
        commit: aigw_e2e::STANDIN_COMMIT.into(),
        endpoint: None,
        files,
        verified_at: None,
    };
    std::fs::write(kit.join(EXPORT_MANIFEST), m.to_json()).unwrap();
}

/// Starts the binary, waits until `started` holds (a file the copy declares by creating it), sends
/// SIGINT, and returns the exit code and stderr.
fn interrupted(dir: &Path, args: &[&str], started: impl Fn(u32) -> bool) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .arg("--color=never")
        .args(args)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("HOME", dir)
        .env_remove("AIGW_SPEC")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !started(child.id()) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "ended before the copy started"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the copy never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn ctrl_c_stops_an_export_and_an_import_mid_copy_leaving_nothing_half_made() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (connected, site, kit) = (dir.join("connected"), dir.join("site"), dir.join("kit"));
    big_kit(&kit);
    let (s1, s2) = (spec(dir, &connected), spec(dir, &site));
    let (s1, s2) = (s1.to_str().unwrap(), s2.to_str().unwrap());
    let o = run(
        dir,
        &["weights", "import", kit.to_str().unwrap(), "--spec", s1],
    );
    assert!(o.status.success(), "{}", text(&o));

    // 8 MiB at 2 MiB/s: the temporary tar appears at the start and the copy runs for seconds.
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let tar = out.join("x.tar");
    let (code, stderr) = interrupted(
        dir,
        &[
            "weights",
            "export",
            "--spec",
            s1,
            "--out",
            tar.to_str().unwrap(),
            "--max-rate",
            "2097152",
        ],
        |pid| out.join(format!(".x.tar.tmp-{pid}")).exists(),
    );
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stderr.contains("cancelled; what this export had written was removed"),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert!(
        left.is_empty(),
        "neither x.tar nor its temporary file: {left:?}"
    );

    // The import: its `.incomplete` appears, Ctrl-C, and nothing is linked nor left half-written.
    let blobs = site.join("hub/models--mistralai--Mistral-7B-Instruct-v0.3/blobs");
    let writing = || {
        std::fs::read_dir(&blobs).is_ok_and(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".incomplete"))
        })
    };
    let (code, stderr) = interrupted(
        dir,
        &[
            "weights",
            "import",
            kit.to_str().unwrap(),
            "--spec",
            s2,
            "--max-rate",
            "2097152",
        ],
        |_| writing(),
    );
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stderr.contains("cancelled; nothing was linked — run the import again"),
        "{stderr}"
    );
    assert!(!writing(), "the .incomplete is removed");
    assert!(
        !blobs.with_file_name("snapshots").exists(),
        "nothing linked"
    );

    // Run again, it completes; with --json stdout holds JSON lines only (no bars), the result last.
    let o = run(
        dir,
        &[
            "weights",
            "export",
            "--spec",
            s1,
            "--out",
            tar.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "{stdout}"
    );
    assert_eq!(result(&o)["result"]["files"], 2);
    let o = run(
        dir,
        &["weights", "import", tar.to_str().unwrap(), "--spec", s2],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("imported 2 file(s)"), "{}", text(&o));
}
