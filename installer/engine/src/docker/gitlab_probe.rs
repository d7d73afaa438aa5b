//! "Test GitLab" from the gateway's network: a short-lived container of the gateway's image on the
//! deployment's network fetches `<gitlab>/oauth/discovery/keys` with the gateway's own Python, so the
//! answer is what the gateway itself will get (its DNS, routes, proxy and trust). The network is created
//! when absent and removed after if we created it; the container is always removed, also on time-out.

use std::time::Duration;

use aigw_core::gitlab::live::{self, Check, Outcome, Step, StepResult};
use aigw_core::plan::labels;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;

/// The probe's whole life (create, start, answer) is bounded by this.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// Fetches the keys with the standard library only, prints one JSON line; exit 0 when keys came back.
/// The URL is the first `http(s)://` literal (the tests' stand-in image reads it from there).
fn script(url: &str) -> String {
    format!(
        "import json,sys,urllib.request\n\
         u='{url}'\n\
         try:\n r=urllib.request.urlopen(u,timeout=15)\n b=json.loads(r.read())\n n=len(b.get('keys') or [])\n \
         print(json.dumps({{'status':r.status,'keys':n}}))\n sys.exit(0 if n else 1)\n\
         except Exception as e:\n print(json.dumps({{'error':type(e).__name__+': '+str(e)}}))\n sys.exit(1)\n"
    )
}

/// Where to run from.
pub struct FromNetwork<'a> {
    pub network: &'a str,
    /// The gateway image; when the engine lacks it the check says so and does not run.
    pub image: &'a str,
    /// A site CA file, mounted read-only where the gateway would have it (`SSL_CERT_FILE`).
    pub ca_file: Option<&'a std::path::Path>,
}

/// The check from the gateway's network (`from` names the network and image).
pub async fn check_from_network(docker: &Docker, base: &url::Url, at: &FromNetwork<'_>) -> Check {
    let from = format!("the gateway's network ({}, image {})", at.network, at.image);
    let keys = format!(
        "{}/oauth/discovery/keys",
        base.as_str().trim_end_matches('/')
    );
    let outcome = if keys.contains(['\'', '"', '\\', ' ', '\n']) {
        Outcome::not_run("the URL holds quotes or spaces")
    } else if docker.inspect_image(at.image).await.is_err() {
        Outcome::not_run(format!(
            "the image {} is not on the engine, so the check could not run from the gateway's network \
             (load or pull it first)",
            at.image
        ))
    } else {
        probe(docker, &keys, base.host_str().unwrap_or_default(), at).await
    };
    Check {
        url: base.to_string(),
        from,
        steps: vec![StepResult {
            step: Step::Keys,
            outcome,
        }],
    }
}

async fn probe(docker: &Docker, keys: &str, host: &str, at: &FromNetwork<'_>) -> Outcome {
    let ours = || {
        Some(
            [(labels::APP.to_string(), labels::APP_ID.to_string())]
                .into_iter()
                .collect(),
        )
    };
    let created_network = match docker.inspect_network(at.network, None).await {
        Ok(_) => false,
        Err(_) => {
            let req = bollard::models::NetworkCreateRequest {
                name: at.network.to_string(),
                driver: Some("bridge".into()),
                labels: ours(),
                ..Default::default()
            };
            if let Err(e) = docker.create_network(req).await {
                return Outcome::not_run(format!("cannot create the network {}: {e}", at.network));
            }
            true
        }
    };
    let name = format!(
        "aigw-installer-gitlab-probe-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let (binds, env) = match at.ca_file {
        Some(f) => (
            Some(vec![format!(
                "{}:{}:ro",
                f.display(),
                live::GATEWAY_CA_PATH
            )]),
            Some(vec![
                format!("SSL_CERT_FILE={}", live::GATEWAY_CA_PATH),
                format!("REQUESTS_CA_BUNDLE={}", live::GATEWAY_CA_PATH),
            ]),
        ),
        None => (None, None),
    };
    let body = bollard::models::ContainerCreateBody {
        image: Some(at.image.to_string()),
        entrypoint: Some(vec!["python3".into(), "-c".into(), script(keys)]),
        cmd: Some(vec![]),
        env,
        labels: ours(),
        host_config: Some(bollard::models::HostConfig {
            network_mode: Some(at.network.to_string()),
            binds,
            ..Default::default()
        }),
        ..Default::default()
    };
    let run = async {
        docker
            .create_container(
                Some(CreateContainerOptionsBuilder::default().name(&name).build()),
                body,
            )
            .await
            .map_err(|e| format!("cannot create the probe: {e}"))?;
        docker
            .start_container(&name, None)
            .await
            .map_err(|e| format!("cannot start the probe: {e}"))?;
        let mut wait =
            docker.wait_container(&name, Some(WaitContainerOptionsBuilder::default().build()));
        let code = match wait.next().await {
            Some(Ok(w)) => w.status_code,
            // bollard reports a non-zero exit as an error carrying the code.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => return Err(format!("waiting for the probe: {e}")),
            None => return Err("the engine ended the wait without an exit code".into()),
        };
        let mut out = String::new();
        let mut logs = docker.logs(
            &name,
            Some(
                LogsOptionsBuilder::default()
                    .stdout(true)
                    .stderr(true)
                    .build(),
            ),
        );
        while let Some(Ok(chunk)) = logs.next().await {
            out.push_str(&chunk.to_string());
        }
        Ok::<_, String>((code, out))
    };
    let result = tokio::time::timeout(PROBE_TIMEOUT, run).await;
    let _ = docker
        .remove_container(
            &name,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        )
        .await;
    if created_network {
        let _ = docker.remove_network(at.network).await;
    }
    match result {
        Err(_) => Outcome::finding(
            "gitlab_probe_timeout",
            format!(
                "no answer from the gateway's network within {} s",
                PROBE_TIMEOUT.as_secs()
            ),
            format!(
                "check that {host} is reachable from Docker's networks (routes, firewall, proxy)"
            ),
        ),
        Ok(Err(why)) => Outcome::not_run(why),
        Ok(Ok((code, out))) => judge_probe(code, &out, host),
    }
}

/// The probe's exit code and output, judged: the JSON line when the image printed one.
fn judge_probe(code: i64, out: &str, host: &str) -> Outcome {
    let json = out
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok());
    let error = json
        .as_ref()
        .and_then(|v| v.get("error"))
        .and_then(|e| e.as_str())
        .map(str::to_string);
    match (code, error) {
        (0, _) => Outcome::pass(match json.and_then(|v| v.get("keys").cloned()) {
            Some(n) => format!("{n} signing key(s) fetched from the gateway's network"),
            None => "the keys answered 200 from the gateway's network".into(),
        }),
        (_, Some(e)) if e.contains("CERTIFICATE_VERIFY_FAILED") => {
            Outcome::finding("gitlab_tls_untrusted", e, live::ca_mount_fix(host))
        }
        (_, Some(e)) => Outcome::finding(
            "gitlab_unreachable_from_gateway",
            e,
            format!(
                "the gateway's network cannot fetch {host}'s keys: check DNS and routes from Docker's \
                 networks (a name only this machine's /etc/hosts knows is not seen there), and the proxy \
                 variables the gateway gets"
            ),
        ),
        (c, None) => Outcome::finding(
            "gitlab_unreachable_from_gateway",
            format!("the probe exited {c} without an answer of 200 with keys"),
            format!(
                "check that {host} is reachable from Docker's networks (DNS, routes, firewall, proxy)"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_script_names_the_url_first_and_its_answer_is_judged() {
        let s = script("http://gitlab.example/oauth/discovery/keys");
        assert!(s.find("http://") < s.find("urlopen"));
        assert!(matches!(
            judge_probe(0, "{\"status\":200,\"keys\":2}\n", "gl"),
            Outcome::Pass { .. }
        ));
        let tls = judge_probe(
            1,
            "{\"error\":\"URLError: <urlopen error [SSL: CERTIFICATE_VERIFY_FAILED]>\"}",
            "gl",
        );
        assert!(matches!(tls, Outcome::Finding { ref code, .. } if code == "gitlab_tls_untrusted"));
        assert!(judge_probe(1, "", "gl").is_finding());
    }
}
