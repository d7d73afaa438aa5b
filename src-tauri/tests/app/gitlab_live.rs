//! The wizard's live checks through WebDriver: "Detect" fills the GitLab version only from GitLab's own
//! answer (a 401 leaves it empty and says where to look; the token's answer fills it), and "Test GitLab"
//! on Configure lists each step, against a GitLab stand-in of the tests' own on 127.0.0.1, and the check
//! from the gateway's network as not run, with its reason (the app is given no engine).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_e2e::httpd::{handler, respond, Server};
use aigw_e2e::webdriver::{gui_available, Driver};

const APP: &str = env!("CARGO_BIN_EXE_aigw-installer-app");
const TOKEN: &str = "glpat-PLANTEDwizard0123";

async fn value(d: &Driver, css: &str) -> String {
    d.execute_async(&format!(
        "arguments[0](document.querySelector({css:?}).value)"
    ))
    .await
    .as_str()
    .unwrap_or_default()
    .to_string()
}

#[tokio::test]
async fn detect_fills_the_version_only_from_gitlab_and_test_gitlab_lists_each_step() {
    if !gui_available() {
        return;
    }
    let gitlab = Server::start(
        handler(|req| async move {
            let token = req
                .headers()
                .get("private-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            match req.uri().path() {
                "/api/v4/version" if token.as_deref() == Some(TOKEN) => {
                    respond(200, r#"{"version":"18.4.1-ee","revision":"abc"}"#)
                }
                "/api/v4/version" => respond(401, r#"{"message":"401 Unauthorized"}"#),
                "/oauth/discovery/keys" => respond(200, r#"{"keys":[{"kid":"k"}]}"#),
                _ => respond(404, ""),
            }
        }),
        None,
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let host = format!("unix://{}", tmp.path().join("no-docker.sock").display());
    let d = Driver::launch(
        APP,
        &[
            ("XDG_DATA_HOME", data.to_str().unwrap()),
            ("DOCKER_HOST", &host),
        ],
    )
    .await;
    d.click("[data-step='model']").await;
    d.type_into("#m-gitlab", "").await;
    d.type_into("#m-gitlab-url", &gitlab.base).await;
    d.click("#m-gitlab-detect").await;
    d.wait_attribute("#m-gitlab-detected", "data-state", |v| v == Some("unknown"))
        .await;
    assert!(d.text("#m-gitlab-detected").await.contains("/help"));
    assert_eq!(value(&d, "#m-gitlab").await, "", "filled without an answer");

    d.type_into("#m-gitlab-token", TOKEN).await;
    d.click("#m-gitlab-detect").await;
    d.wait_attribute("#m-gitlab-detected", "data-state", |v| v == Some("found"))
        .await;
    assert_eq!(value(&d, "#m-gitlab").await, "18.4.1-ee");
    assert_eq!(
        value(&d, "#m-gitlab-token").await,
        "",
        "the token stays in the field"
    );

    d.click("[data-step='configure']").await;
    assert_eq!(value(&d, "#c-gitlab-url").await, gitlab.base);
    d.click("#c-gitlab-test").await;
    d.wait_attribute("#c-gitlab-result", "data-state", |v| v == Some("passed"))
        .await;
    let steps = d.text("#c-gitlab-result").await;
    assert!(steps.contains("KEYS") && steps.contains("DNS"), "{steps}");
    // From the gateway's network: not run, and why (this app's engine does not answer).
    d.wait_attribute("#c-gitlab-network", "data-from-network", |v| {
        v == Some("not-run")
    })
    .await;
    let net = d.text("#c-gitlab-network").await;
    assert!(
        net.contains("no Docker engine answered") && net.contains("self-hosted-v18.4.1-ee"),
        "{net}"
    );
    assert!(gitlab
        .seen()
        .iter()
        .any(|s| s.path == "/oauth/discovery/keys"));
    d.quit().await;
}

/// "Test GitLab" from the gateway's network through the real engine: the form's gateway image and tag name
/// the gateway stand-in, whose `python3` fetches the keys from the GitLab stand-in (on every interface,
/// reached at the bridge's gateway address); the probe and the network it made are gone afterwards.
#[tokio::test]
async fn test_gitlab_passes_from_the_gateway_network_with_the_image_the_form_names() {
    if !gui_available() {
        return;
    }
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let gitlab = Server::start_on(
        "0.0.0.0",
        handler(|req| async move {
            match req.uri().path() {
                "/oauth/discovery/keys" => respond(200, r#"{"keys":[{"kid":"k"}]}"#),
                _ => respond(404, ""),
            }
        }),
        None,
    )
    .await;
    let host = aigw_e2e::bridge_gateway(&engine.docker).await;
    let url = format!("http://{host}:{}", gitlab.addr.port());
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let network = aigw_core::spec::DEFAULT_NETWORK;
    let existed = engine.docker.inspect_network(network, None).await.is_ok();
    let d = Driver::launch(APP, &[("XDG_DATA_HOME", data.to_str().unwrap())]).await;
    d.click("[data-step='configure']").await;
    d.type_into("#c-gitlab-url", &url).await;
    d.click("details:has(#c-gateway-image) > summary").await;
    d.type_into("#c-gateway-image", aigw_e2e::standin::GATEWAY_IMAGE)
        .await;
    d.type_into("#c-gateway-tag", "standin").await;
    d.click("#c-gitlab-test").await;
    d.wait_attribute("#c-gitlab-network", "data-from-network", |v| {
        matches!(v, Some("pass" | "finding" | "not-run"))
    })
    .await;
    let net = d.text("#c-gitlab-network").await;
    let state = d
        .execute_async(
            "arguments[0](document.querySelector('#c-gitlab-network').dataset.fromNetwork)",
        )
        .await;
    assert_eq!(state.as_str(), Some("pass"), "{net}");
    assert!(net.contains("1 signing key(s)"), "{net}");
    assert!(
        net.contains(&format!("{}:standin", aigw_e2e::standin::GATEWAY_IMAGE)),
        "{net}"
    );
    d.quit().await;
    // Requests from here and from the probe container both arrived; the probe is gone, and the network
    // too unless it was there before.
    let asked = gitlab
        .seen()
        .iter()
        .filter(|s| s.path == "/oauth/discovery/keys")
        .count();
    assert!(asked >= 2, "{asked}");
    if !existed {
        assert!(engine.docker.inspect_network(network, None).await.is_err());
    }
    let left = aigw_engine::docker::labels::labelled(&engine.docker, aigw_core::plan::labels::APP)
        .await
        .unwrap();
    assert!(left.is_empty(), "left behind: {left:?}");
}
