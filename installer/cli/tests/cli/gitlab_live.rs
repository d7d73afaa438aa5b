//! The live checks of the GitLab side as an admin runs them (issue 13), against a GitLab stand-in and a
//! registry stand-in of the tests' own on 127.0.0.1 (`aigw_e2e::httpd`, plain and TLS with a test CA) and
//! a forward proxy wanting credentials. The CLI runs as a child process with its own environment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_e2e::httpd::{handler, respond, Server};
use aigw_e2e::proxy::Proxy;
use aigw_e2e::tls::TestCa;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_aigw-installer");
/// The token GitLab's stand-in accepts; it must appear in no output or log.
const TOKEN: &str = "glpat-PLANTEDtoken0123456789";

/// GitLab's stand-in: `/api/v4/version` (200 with the token, 401 otherwise) and `/oauth/discovery/keys`.
async fn gitlab(ca: Option<&TestCa>) -> Server {
    let tls = ca.map(|ca| ca.server_config(&ca.server(&["localhost"])));
    Server::start(
        handler(|req| async move {
            let token = req
                .headers()
                .get("private-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            match req.uri().path() {
                "/api/v4/version" if token.as_deref() == Some(TOKEN) => respond(
                    200,
                    r#"{"version":"18.4.1-ee","revision":"a1b2c3d","kas":{"enabled":true}}"#,
                ),
                "/api/v4/version" => respond(401, r#"{"message":"401 Unauthorized"}"#),
                "/oauth/discovery/keys" => respond(
                    200,
                    r#"{"keys":[{"kty":"RSA","kid":"k1","e":"AQAB","n":"xyz","use":"sig","alg":"RS256"}]}"#,
                ),
                _ => respond(404, "not found"),
            }
        }),
        tls,
    )
    .await
}

/// The CLI with `args`, a fresh data directory, no proxy or CA from the test's own environment, plus `env`.
/// Run off the runtime's threads so the servers keep answering.
async fn cli(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).env("XDG_DATA_HOME", data).env("NO_COLOR", "1");
    for v in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "AIGW_CA_FILE",
        "GITLAB_TOKEN",
        "RUST_LOG",
    ] {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The `result` object of a `--json` run.
fn result(o: &Output) -> serde_json::Value {
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out.lines().last().unwrap_or_else(|| panic!("{}", text(o)));
    serde_json::from_str::<serde_json::Value>(line).unwrap()["result"].clone()
}

/// The step's JSON object of a check's result.
fn step<'a>(r: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no {name} step in {r}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_gitlab_ca_is_a_finding_with_the_gateway_mount_then_passes_when_given() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("aigw gitlab test CA");
    let server = gitlab(Some(&ca)).await;

    let o = cli(
        dir.path(),
        &["check", "gitlab", "--gitlab-url", &server.base, "--json"],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let r = result(&o);
    let tls = step(&r, "tls");
    assert_eq!(tls["result"], "finding", "{r}");
    assert_eq!(tls["code"], "gitlab_tls_untrusted", "{r}");
    let fix = tls["fix"].as_str().unwrap();
    for want in [
        "SSL_CERT_FILE=/etc/ssl/certs/aigw-gitlab-ca-bundle.pem",
        "REQUESTS_CA_BUNDLE=",
        ":ro",
        "--ca-file",
    ] {
        assert!(fix.contains(want), "{want} missing from {fix}");
    }
    assert_eq!(step(&r, "keys")["result"], "not_run", "{r}");

    let ca_file = ca.write_cert(dir.path(), "ca");
    let o = cli(
        dir.path(),
        &[
            "check",
            "gitlab",
            "--gitlab-url",
            &server.base,
            "--ca-file",
            ca_file.to_str().unwrap(),
            "--json",
        ],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = result(&o);
    for s in ["dns", "tcp", "tls", "keys"] {
        assert_eq!(step(&r, s)["result"], "pass", "{s}: {r}");
    }
    assert!(
        server
            .seen()
            .iter()
            .any(|s| s.path == "/oauth/discovery/keys"),
        "the keys were not fetched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_does_not_resolve_and_a_wrong_port_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("gitlab-{}.invalid", aigw_e2e::free_port());
    let o = cli(
        dir.path(),
        &[
            "check",
            "gitlab",
            "--url",
            &format!("https://{name}"),
            "--json",
        ],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let r = result(&o);
    assert_eq!(step(&r, "dns")["code"], "gitlab_dns", "{r}");
    assert!(step(&r, "dns")["fix"].as_str().unwrap().contains(&name));
    assert_eq!(step(&r, "keys")["result"], "not_run", "{r}");

    let port = aigw_e2e::free_port();
    let o = cli(
        dir.path(),
        &[
            "check",
            "gitlab",
            "--url",
            &format!("http://127.0.0.1:{port}"),
        ],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("FINDING TCP") && out.contains("check the port"),
        "{out}"
    );
    assert!(out.contains("ok      DNS"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_behind_a_proxy_is_reached_with_its_credentials_which_never_show() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("aigw gitlab test CA");
    let ca_file = ca.write_cert(dir.path(), "ca");
    let server = gitlab(Some(&ca)).await;
    let proxy = Proxy::start(Some("alice:s3cretPLANTED")).await;
    let args = [
        "check",
        "gitlab",
        "--url",
        &server.base,
        "--ca-file",
        ca_file.to_str().unwrap(),
    ];

    // Without the proxy's credentials: a finding about the proxy, and nothing reached GitLab.
    let o = cli(dir.path(), &args, &[("HTTPS_PROXY", &proxy.url)]).await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("[gitlab_proxy]"), "{}", text(&o));
    assert!(text(&o).contains("HTTPS_PROXY"), "{}", text(&o));

    let with = proxy.url.replace("http://", "http://alice:s3cretPLANTED@");
    let o = cli(dir.path(), &args, &[("HTTPS_PROXY", &with)]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("through the proxy"), "{out}");
    assert!(
        !out.contains("s3cretPLANTED"),
        "proxy credentials shown: {out}"
    );
    assert!(
        proxy
            .targets()
            .contains(&format!("localhost:{}", server.addr.port())),
        "{:?}",
        proxy.targets()
    );
    assert!(server
        .seen()
        .iter()
        .any(|s| s.path == "/oauth/discovery/keys"));
}

/// Every file under `dir`, as text (the CLI's log directory).
fn all_files(dir: &Path) -> String {
    let mut text = String::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                text.push_str(&all_files(&p));
            } else {
                text.push_str(&String::from_utf8_lossy(
                    &std::fs::read(&p).unwrap_or_default(),
                ));
            }
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_version_comes_from_gitlab_with_a_token_that_appears_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let server = gitlab(None).await;
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();

    let o = cli(
        dir.path(),
        &[
            "-vvv",
            "gitlab",
            "version",
            "--gitlab-url",
            &server.base,
            "--token-file",
            token_file.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("GitLab 18.4.1-ee (revision a1b2c3d)"),
        "{}",
        text(&o)
    );

    // A bad token from the environment: GitLab's refusal, and where the admin finds the version instead.
    let bad = "glpat-PLANTEDbad";
    let o = cli(
        dir.path(),
        &["-vvv", "gitlab", "version", "--url", &server.base, "--json"],
        &[("GITLAB_TOKEN", bad)],
    )
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let r = result(&o);
    assert_eq!(r["result"], "unknown", "{r}");
    assert!(
        r["reason"].as_str().unwrap().contains("refused the token"),
        "{r}"
    );
    assert!(r["fix"].as_str().unwrap().contains("/help"), "{r}");

    // No token: GitLab's 401, and the Help page or a read_api token named.
    let o = cli(
        dir.path(),
        &["gitlab", "version", "--url", &server.base],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains(&format!("{}/help", server.base)) && out.contains("read_api"),
        "{out}"
    );

    let seen = server.seen();
    assert_eq!(seen.len(), 3, "one request per run: {seen:?}");
    let logs = all_files(&dir.path().join("aigw-installer"));
    assert!(
        !logs.is_empty(),
        "the CLI wrote no log under the data directory"
    );
    for secret in [TOKEN, bad, "PLANTED"] {
        assert!(!text(&o).contains(secret));
        assert!(!logs.contains(secret), "{secret} in the log directory");
    }
}

/// A registry stand-in: manifests need a Bearer token from its token route, as registry.gitlab.com does.
async fn registry() -> Server {
    let base = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let b2 = base.clone();
    let server = Server::start(
        handler(move |req| {
            let base = b2.get().cloned().unwrap_or_default();
            async move {
                let auth = req
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let path = req.uri().path().to_string();
                if path == "/jwt/auth" {
                    let q = req.uri().query().unwrap_or_default();
                    return if q.contains("service=container_registry") && q.contains("scope=") {
                        respond(200, r#"{"token":"registry-token-1"}"#)
                    } else {
                        respond(400, "no scope")
                    };
                }
                if auth.as_deref() != Some("Bearer registry-token-1") {
                    let mut r = respond(401, "");
                    r.headers_mut().insert(
                        "www-authenticate",
                        format!(
                            r#"Bearer realm="{base}/jwt/auth",service="container_registry",scope="repository:x:pull""#
                        )
                        .parse()
                        .unwrap(),
                    );
                    return r;
                }
                if path.ends_with("/manifests/self-hosted-v18.4.1-ee") {
                    respond(200, "")
                } else {
                    respond(404, "")
                }
            }
        }),
        None,
    )
    .await;
    base.set(server.base.clone()).unwrap();
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_tag_is_checked_against_the_registry_with_its_anonymous_token() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry().await;
    let run = |tag: &'static str| {
        let base = reg.base.clone();
        let d = dir.path().to_path_buf();
        async move {
            cli(
                &d,
                &["check", "tag", "--tag", tag, "--registry", &base, "--json"],
                &[],
            )
            .await
        }
    };
    let o = run("self-hosted-v18.4.1-ee").await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(result(&o)["result"], "exists");
    let o = run("self-hosted-v18.99.0-ee").await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_eq!(result(&o)["result"], "missing", "{}", text(&o));
    let seen = reg.seen();
    assert!(
        seen.iter().any(|s| s.path.starts_with("/jwt/auth?")),
        "{seen:?}"
    );
    assert!(seen.iter().any(|s| s.method == "HEAD"
        && s.path.ends_with("/manifests/self-hosted-v18.4.1-ee")
        && s.path.contains("/v2/gitlab-org/modelops/")));

    // Nothing listening: said plainly.
    let port = aigw_e2e::free_port();
    let o = cli(
        dir.path(),
        &[
            "check",
            "tag",
            "--tag",
            "x",
            "--registry",
            &format!("http://127.0.0.1:{port}"),
        ],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("could not check"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_health_is_asked_at_the_address_gitlab_uses() {
    let gw = Server::start(
        handler(|req| async move {
            if req.uri().path() == "/monitoring/healthz" {
                respond(200, "{}")
            } else {
                respond(404, "")
            }
        }),
        None,
    )
    .await;
    let steps = aigw_engine::usecase::gateway_health("127.0.0.1", gw.addr.port()).await;
    let v = serde_json::to_value(&steps).unwrap();
    assert_eq!(v[0]["step"], "dns", "{v}");
    assert_eq!(v[0]["result"], "pass", "{v}");
    assert_eq!(v[1]["result"], "pass", "{v}");
    assert!(gw.seen().iter().any(|s| s.path == "/monitoring/healthz"));

    let port = aigw_e2e::free_port();
    let steps = aigw_engine::usecase::gateway_health("127.0.0.1", port).await;
    assert!(steps[1].outcome.is_finding(), "{steps:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_is_tested_from_the_gateway_network_with_a_probe_that_is_always_removed() {
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let docker = &engine.docker;
    let dir = tempfile::tempdir().unwrap();
    let keys = Server::start_on(
        "0.0.0.0",
        handler(|req| async move {
            match req.uri().path() {
                "/oauth/discovery/keys" => respond(200, r#"{"keys":[{"kid":"k1"}]}"#),
                _ => respond(404, ""),
            }
        }),
        None,
    )
    .await;
    let host = aigw_e2e::bridge_gateway(docker).await;
    let url = format!("http://{host}:{}", keys.addr.port());
    let network = format!("aigw-gitlab-probe-test-{}", aigw_e2e::free_port());
    let image = format!("{}:standin", aigw_e2e::standin::GATEWAY_IMAGE);

    let o = cli(
        dir.path(),
        &[
            "check",
            "gitlab",
            "--url",
            &url,
            "--network",
            &network,
            "--image",
            &image,
            "--json",
        ],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = result(&o);
    let from = &r["gateway_network"];
    assert!(from["from"].as_str().unwrap().contains(&network), "{r}");
    let keys_step = step(from, "keys");
    assert_eq!(keys_step["result"], "pass", "{r}");
    // The probe's own JSON line was judged: one key came back.
    assert!(keys_step.to_string().contains("1 signing key(s)"), "{r}");
    // Requests from here and from the container both reached the stand-in.
    assert!(
        keys.seen()
            .iter()
            .filter(|s| s.path == "/oauth/discovery/keys")
            .count()
            >= 2,
        "{:?}",
        keys.seen()
    );
    // The network it created and the probe are gone.
    assert!(docker.inspect_network(&network, None).await.is_err());
    let left = aigw_engine::docker::labels::labelled(docker, aigw_core::plan::labels::APP)
        .await
        .unwrap();
    assert!(left.is_empty(), "left behind: {left:?}");

    // No such image on the engine: said, and nothing run.
    let o = cli(
        dir.path(),
        &[
            "check",
            "gitlab",
            "--url",
            &url,
            "--network",
            &network,
            "--image",
            "aigw-test/not-here:absent",
        ],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("not on the engine"), "{}", text(&o));
}

/// The probe container and any network the check created are gone: asserted through the engine.
async fn nothing_left(docker: &bollard::Docker, network: &str) {
    assert!(
        docker.inspect_network(network, None).await.is_err(),
        "{network} left"
    );
    let left = aigw_engine::docker::labels::labelled(docker, aigw_core::plan::labels::APP)
        .await
        .unwrap();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// `check gitlab` from here and from a fresh network with the gateway stand-in, as JSON.
async fn check_from_network(
    dir: &Path,
    url: &str,
    network: &str,
    extra: &[&str],
) -> (Option<i32>, serde_json::Value, String) {
    let image = format!("{}:standin", aigw_e2e::standin::GATEWAY_IMAGE);
    let mut args = vec![
        "check",
        "gitlab",
        "--url",
        url,
        "--network",
        network,
        "--image",
        &image,
        "--json",
    ];
    args.extend_from_slice(extra);
    let o = cli(dir, &args, &[]).await;
    (o.status.code(), result(&o), text(&o))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_gitlab_from_the_gateway_network_needs_the_ca_mount_and_a_wrong_port_is_a_finding() {
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let docker = &engine.docker;
    let dir = tempfile::tempdir().unwrap();
    let host = aigw_e2e::bridge_gateway(docker).await;
    let ca = TestCa::new("aigw gateway-network test CA");
    let ca_file = ca.write_cert(dir.path(), "site-ca");
    let keys = Server::start_on(
        "0.0.0.0",
        handler(|req| async move {
            match req.uri().path() {
                "/oauth/discovery/keys" => {
                    respond(200, r#"{"keys":[{"kid":"k1","n":"a{b"},{"kid":"k2"}]}"#)
                }
                _ => respond(404, ""),
            }
        }),
        Some(ca.server_config(&ca.server(&[host.as_str()]))),
    )
    .await;
    let url = format!("https://{host}:{}", keys.addr.port());
    let network = format!("aigw-gitlab-probe-tls-{}", aigw_e2e::free_port());

    // The site CA not given: the gateway's Python refuses the chain; the fix names the mount.
    let (code, r, out) = check_from_network(dir.path(), &url, &network, &[]).await;
    assert_eq!(code, Some(3), "{out}");
    let from = step(&r["gateway_network"], "keys");
    assert_eq!(from["result"], "finding", "{r}");
    assert_eq!(from["code"], "gitlab_tls_untrusted", "{r}");
    assert!(
        from.to_string().contains("CERTIFICATE_VERIFY_FAILED"),
        "{r}"
    );
    let fix = from["fix"].as_str().unwrap();
    for want in [
        "SSL_CERT_FILE=/etc/ssl/certs/aigw-gitlab-ca-bundle.pem",
        "REQUESTS_CA_BUNDLE=",
        ":/etc/ssl/certs/aigw-gitlab-ca-bundle.pem:ro",
    ] {
        assert!(fix.contains(want), "{want} not in {fix}");
    }
    nothing_left(docker, &network).await;

    // Given: mounted at the gateway's CA path, both pass and two keys are counted.
    let (code, r, out) = check_from_network(
        dir.path(),
        &url,
        &network,
        &["--ca-file", ca_file.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(step(&r, "tls")["result"], "pass", "{r}");
    let from = step(&r["gateway_network"], "keys");
    assert_eq!(from["result"], "pass", "{r}");
    assert!(from.to_string().contains("2 signing key(s)"), "{r}");
    nothing_left(docker, &network).await;

    // From the spec: its GitLab URL, its network and its gateway image:tag, as apply names them.
    let mut spec = aigw_e2e::standin_spec(dir.path(), &network);
    spec.gitlab.url = url.clone();
    let spec_file = dir.path().join("aigw-spec.toml");
    std::fs::write(&spec_file, spec.to_toml()).unwrap();
    let spec_arg = spec_file.to_str().unwrap();
    let o = cli(
        dir.path(),
        &[
            "check",
            "gitlab",
            "--spec",
            spec_arg,
            "--ca-file",
            ca_file.to_str().unwrap(),
            "--json",
        ],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = result(&o);
    assert_eq!(r["url"].as_str().unwrap().trim_end_matches('/'), url, "{r}");
    let from = &r["gateway_network"];
    let image = format!(
        "{}:{}",
        aigw_e2e::standin::GATEWAY_IMAGE,
        spec.gateway_tag().unwrap()
    );
    assert!(from["from"].as_str().unwrap().contains(&network), "{r}");
    assert!(from["from"].as_str().unwrap().contains(&image), "{r}");
    assert_eq!(step(from, "keys")["result"], "pass", "{r}");
    nothing_left(docker, &network).await;
    // The spec's image not on the engine yet: said plainly, not run.
    spec.gateway.tag = Some("not-loaded-yet".into());
    std::fs::write(&spec_file, spec.to_toml()).unwrap();
    let o = cli(dir.path(), &["check", "gitlab", "--spec", spec_arg], &[]).await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "the image {}:not-loaded-yet is not on the engine",
            aigw_e2e::standin::GATEWAY_IMAGE
        )),
        "{}",
        text(&o)
    );
    nothing_left(docker, &network).await;

    // A port nobody listens on, from the gateway's network: refused, with a fix.
    let wrong = format!("http://{host}:{}", aigw_e2e::free_port());
    let (code, r, out) = check_from_network(dir.path(), &wrong, &network, &[]).await;
    assert_eq!(code, Some(3), "{out}");
    let from = step(&r["gateway_network"], "keys");
    assert_eq!(from["result"], "finding", "{r}");
    assert_eq!(from["code"], "gitlab_unreachable_from_gateway", "{r}");
    assert!(from.to_string().contains("Connection refused"), "{r}");
    assert!(!from["fix"].as_str().unwrap_or_default().is_empty(), "{r}");
    nothing_left(docker, &network).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_asks_the_gateway_health_at_the_spec_gateway_address() {
    if !aigw_e2e::docker_available() {
        return;
    }
    let conn =
        aigw_engine::docker::engine::connect(&aigw_engine::docker::engine::default_socket(None))
            .await
            .unwrap_or_else(|(r, d)| panic!("{r:?}: {d}"));
    let dir = tempfile::tempdir().unwrap();
    // A gateway stand-in on every interface; the spec names it by an address of this machine's bridge.
    let gw = Server::start_on(
        "0.0.0.0",
        handler(|req| async move {
            match req.uri().path() {
                "/monitoring/healthz" => respond(200, "{}"),
                _ => respond(404, ""),
            }
        }),
        None,
    )
    .await;
    let host = aigw_e2e::bridge_gateway(&conn.docker).await;
    let spec = dir.path().join("spec.toml");
    std::fs::write(
        &spec,
        include_str!("../../../../tests/fixtures/specs/standin.toml").replace(
            "host = \"aigw.example.com\"",
            &format!("host = \"{host}\"\nport = {}", gw.addr.port()),
        ),
    )
    .unwrap();
    let o = cli(
        dir.path(),
        &["status", "--spec", spec.to_str().unwrap(), "--json"],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let h = &v["gateway_health"];
    assert_eq!(h[0]["step"], "dns", "{v}");
    assert_eq!(h[0]["result"], "pass", "{v}");
    assert_eq!(h[1]["step"], "health", "{v}");
    assert_eq!(h[1]["result"], "pass", "{v}");
    assert!(gw.seen().iter().any(|s| s.path == "/monitoring/healthz"));
}

/// The stand-in spec for this file's apply, gateway host `host`, in `dir`; returns its path.
fn apply_spec(dir: &Path, host: &str, gw: u16, model: u16) -> String {
    let mut s = aigw_e2e::standin_spec(dir, "aigw-gitlab-reach-e2e");
    s.gateway.host = host.into();
    s.gateway.container = "aigw-gitlab-reach-gw".into();
    s.gateway.port = gw;
    s.model.container = "aigw-gitlab-reach-model".into();
    s.model.port = model;
    let path = dir.join("spec.toml");
    std::fs::write(&path, s.to_toml()).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_reports_the_gateway_at_gitlabs_address_and_a_finding_keeps_the_install() {
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let docker = &engine.docker;
    let dir = tempfile::tempdir().unwrap();
    let (gw, model) = (aigw_e2e::free_port(), aigw_e2e::free_port());
    let env = [("AIGW_STABLE_FOR", "0")];

    // An address of this machine (the engine's bridge): the published gateway answers there.
    let host = aigw_e2e::bridge_gateway(docker).await;
    let spec = apply_spec(dir.path(), &host, gw, model);
    let o = cli(dir.path(), &["apply", "--spec", &spec, "--json"], &env).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = result(&o);
    let reach = serde_json::json!({ "steps": r["gitlab_reach"] });
    assert_eq!(step(&reach, "dns")["result"], "pass", "{r}");
    let health = step(&reach, "health");
    assert_eq!(health["result"], "pass", "{r}");
    assert!(
        health["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("http://{host}:{gw}/monitoring/healthz")),
        "{r}"
    );

    // A name that resolves nowhere: a finding with its fix, printed after the result line, exit 0, and
    // the containers kept (the host is not part of the containers' configuration: nothing to change).
    let spec = apply_spec(dir.path(), "aigw-reach-test.invalid", gw, model);
    let o = cli(dir.path(), &["apply", "--spec", &spec], &env).await;
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let after = t
        .split("up to date")
        .nth(1)
        .unwrap_or_else(|| panic!("{t}"));
    assert!(
        after.contains(
            "FINDING DNS   aigw-reach-test.invalid does not resolve [gateway_host_unresolved]"
        ),
        "{t}"
    );
    assert!(
        after.contains("fix: add aigw-reach-test.invalid to DNS"),
        "{t}"
    );
    let ours = aigw_engine::docker::manage::status(docker).await.unwrap();
    assert_eq!(ours.len(), 2, "{ours:?}");
    assert!(ours.iter().all(|c| c.condition == "running"), "{ours:?}");

    // A gateway tag that exists nowhere reachable: the pull's error names the tag and where it came from.
    let missing = format!("no-such-tag-{gw}");
    let mut s = aigw_core::spec::DeploymentSpec::from_toml(
        &std::fs::read_to_string(&spec).unwrap(),
        "spec",
    )
    .unwrap();
    s.gateway.tag = Some(missing.clone());
    std::fs::write(&spec, s.to_toml()).unwrap();
    let o = cli(dir.path(), &["apply", "--spec", &spec], &env).await;
    let t = text(&o);
    assert_ne!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains(&format!(
            "the gateway tag {missing} (set by gateway.tag in the spec)"
        )) && t.contains(&format!("check tag --tag {missing}")),
        "{t}"
    );
    aigw_engine::docker::manage::uninstall(docker)
        .await
        .unwrap();
}

/// `--save-token` keeps a token GitLab accepted as a 0600 file in the data directory; a later run without
/// a token uses it and says so; `--forget-token` deletes it. The token itself is in no output or log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitlab_token_is_kept_on_request_0600_reused_and_forgotten() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let server = gitlab(None).await;
    let kept = dir.path().join("aigw-installer/gitlab_token");
    let mut outputs = String::new();

    // A refused token is not kept.
    let o = cli(
        dir.path(),
        &["gitlab", "version", "--url", &server.base, "--save-token"],
        &[("GITLAB_TOKEN", "glpat-PLANTEDbad")],
    )
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("not kept"), "{}", text(&o));
    assert!(!kept.exists());
    outputs += &text(&o);

    let o = cli(
        dir.path(),
        &["gitlab", "version", "--url", &server.base, "--save-token"],
        &[("GITLAB_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("kept the token in"), "{}", text(&o));
    let mode = std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    outputs += &text(&o);

    // No token given: the kept one is used, and said so.
    let o = cli(
        dir.path(),
        &["gitlab", "version", "--url", &server.base],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains(&format!("using the token kept in {}", kept.display()))
            && t.contains("GitLab 18.4.1-ee"),
        "{t}"
    );
    outputs += &t;

    // The diagnostics bundle redacts it (the engine may be absent: the part is then recorded as missing).
    let zip = dir.path().join("diag.zip");
    let o = cli(
        dir.path(),
        &["diagnose", "--out", zip.to_str().unwrap()],
        &[],
    )
    .await;
    if zip.exists() {
        let mut a = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
        for i in 0..a.len() {
            let mut f = a.by_index(i).unwrap();
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut body).unwrap();
            assert!(
                !String::from_utf8_lossy(&body).contains(TOKEN),
                "the token is in the diagnostics bundle's file {i}"
            );
        }
    } else {
        panic!("no diagnostics bundle: {}", text(&o));
    }

    let o = cli(dir.path(), &["gitlab", "version", "--forget-token"], &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("forgot the GitLab token"), "{}", text(&o));
    assert!(!kept.exists());
    let o = cli(
        dir.path(),
        &["gitlab", "version", "--url", &server.base],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    outputs += &text(&o);

    assert!(!outputs.contains(TOKEN), "{outputs}");
    let logs = all_files(&dir.path().join("aigw-installer/logs"));
    assert!(!logs.contains(TOKEN), "the token is in the log directory");
}

/// `check tag` looks on the engine first, then in a bundle, then in the registry; each answer names its
/// source, and with none reachable it says so with every reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tag_is_found_on_the_engine_or_in_a_bundle_or_said_plainly() {
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let docker = &engine.docker;
    let dir = tempfile::tempdir().unwrap();
    let gateway = aigw_core::gitlab::images::GATEWAY_IMAGE;
    let tag = format!("self-hosted-vtest{}-ee", aigw_e2e::free_port());
    let image = format!("{gateway}:{tag}");
    docker
        .tag_image(
            &format!("{}:standin", aigw_e2e::standin::GATEWAY_IMAGE),
            Some(
                bollard::query_parameters::TagImageOptionsBuilder::default()
                    .repo(gateway)
                    .tag(&tag)
                    .build(),
            ),
        )
        .await
        .unwrap();
    // No registry answers here.
    let registry = format!("http://127.0.0.1:{}", aigw_e2e::free_port());
    let check = |extra: Vec<String>| {
        let mut args: Vec<String> = [
            "check",
            "tag",
            "--tag",
            &tag,
            "--registry",
            &registry,
            "--json",
        ]
        .map(String::from)
        .into();
        args.extend(extra);
        let data = dir.path().to_path_buf();
        async move {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            cli(&data, &a, &[]).await
        }
    };

    let o = check(vec![]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = result(&o);
    assert_eq!(
        (r["result"].as_str(), r["source"].as_str()),
        (Some("exists"), Some("on the engine")),
        "{r}"
    );

    // A bundle of it, by `images save`; then the local tag goes: the bundle answers.
    let mut s = aigw_e2e::standin_spec(dir.path(), "aigw-tag-check-e2e");
    s.gateway.image = gateway.into();
    s.gateway.tag = Some(tag.clone());
    let spec = dir.path().join("spec.toml");
    std::fs::write(&spec, s.to_toml()).unwrap();
    let bundle = dir.path().join("bundle.tar");
    let o = cli(
        dir.path(),
        &[
            "images",
            "save",
            "--spec",
            spec.to_str().unwrap(),
            "--out",
            bundle.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    docker
        .remove_image(
            &image,
            Some(
                bollard::query_parameters::RemoveImageOptionsBuilder::default()
                    .noprune(true)
                    .build(),
            ),
            None,
        )
        .await
        .unwrap();
    let o = check(vec!["--bundle".into(), bundle.display().to_string()]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = result(&o);
    assert_eq!(r["result"], "exists", "{r}");
    assert!(
        r["source"]
            .as_str()
            .unwrap()
            .contains("in the image bundle"),
        "{r}"
    );

    // Docker's own manifest.json inside the tar is read when the bundle's manifest is absent.
    std::fs::remove_file(dir.path().join("bundle.tar.manifest.json")).unwrap();
    let o = check(vec!["--bundle".into(), bundle.display().to_string()]).await;
    assert_eq!(result(&o)["result"], "exists", "{}", text(&o));

    // Nowhere: not on the engine, no registry: said plainly, with both reasons.
    let o = check(vec![]).await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let r = result(&o);
    assert_eq!(r["result"], "could_not_check", "{r}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("not on the engine") && reason.contains("127.0.0.1"),
        "{r}"
    );
}
