//! The engine's HTTP client (`aigw_engine::net`) against servers of the tests' own on 127.0.0.1: TLS with
//! a test CA (trusted only when given), expired and wrong-name certificates, a forward proxy and NO_PROXY.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_e2e::httpd::{handler, respond, Server};
use aigw_e2e::proxy::Proxy;
use aigw_e2e::tls::TestCa;
use aigw_engine::net::{classify, client, FailureKind, HttpOptions};

async fn hello(tls: Option<std::sync::Arc<rustls::ServerConfig>>) -> Server {
    Server::start(handler(|_req| async { respond(200, "hello") }), tls).await
}

async fn get(opts: &HttpOptions, url: &str) -> Result<String, reqwest::Error> {
    client(opts).unwrap().get(url).send().await?.text().await
}

#[tokio::test]
async fn a_site_ca_is_trusted_only_when_given() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("aigw test CA");
    let server = hello(Some(ca.server_config(&ca.server(&["localhost"])))).await;

    let err = get(&HttpOptions::default(), &server.base)
        .await
        .unwrap_err();
    let f = classify(&err);
    assert_eq!(f.kind, FailureKind::TlsUntrusted, "{f:?}");
    assert!(f.fix("localhost").contains("CA"), "{}", f.fix("localhost"));

    let opts = HttpOptions {
        ca_file: Some(ca.write_cert(dir.path(), "ca")),
        ..Default::default()
    };
    assert_eq!(get(&opts, &server.base).await.unwrap(), "hello");
}

#[tokio::test]
async fn expired_and_wrong_name_certificates_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("aigw test CA");
    let opts = HttpOptions {
        ca_file: Some(ca.write_cert(dir.path(), "ca")),
        only_ca_file: true,
        ..Default::default()
    };
    let expired = hello(Some(ca.server_config(&ca.expired_server(&["localhost"])))).await;
    let err = get(&opts, &expired.base).await.unwrap_err();
    assert_eq!(classify(&err).kind, FailureKind::TlsExpired, "{err:?}");

    let other = hello(Some(ca.server_config(&ca.server(&["gitlab.example"])))).await;
    let err = get(&opts, &other.base).await.unwrap_err();
    assert_eq!(classify(&err).kind, FailureKind::TlsName, "{err:?}");
}

#[tokio::test]
async fn requests_go_through_the_proxy_unless_no_proxy_names_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("aigw test CA");
    let tls = hello(Some(ca.server_config(&ca.server(&["localhost"])))).await;
    let plain = hello(None).await;
    let proxy = Proxy::start(None).await;
    let opts = HttpOptions {
        https_proxy: Some(proxy.url.clone()),
        http_proxy: Some(proxy.url.clone()),
        ca_file: Some(ca.write_cert(dir.path(), "ca")),
        ..Default::default()
    };
    assert_eq!(get(&opts, &tls.base).await.unwrap(), "hello");
    assert_eq!(get(&opts, &plain.base).await.unwrap(), "hello");
    assert_eq!(
        proxy.targets(),
        vec![
            format!("localhost:{}", tls.addr.port()),
            format!("127.0.0.1:{}", plain.addr.port())
        ]
    );

    let direct = HttpOptions {
        no_proxy: Some("localhost,127.0.0.1".into()),
        ..opts.clone()
    };
    assert_eq!(get(&direct, &tls.base).await.unwrap(), "hello");
    assert_eq!(
        proxy.targets().len(),
        2,
        "NO_PROXY hosts went through the proxy"
    );
}

#[tokio::test]
async fn a_proxy_that_wants_credentials_gets_them_from_the_url_and_never_shows_them() {
    let plain = hello(None).await;
    let proxy = Proxy::start(Some("alice:s3cret")).await;
    let with = |p: String| HttpOptions {
        http_proxy: Some(p),
        ..Default::default()
    };
    let url = proxy.url.replace("http://", "http://alice:s3cret@");
    assert_eq!(get(&with(url.clone()), &plain.base).await.unwrap(), "hello");
    assert_eq!(
        with(url).proxy_for(&plain.base.parse().unwrap()).unwrap(),
        format!("{}/", proxy.url)
    );
    let status = client(&with(proxy.url.clone()))
        .unwrap()
        .get(&plain.base)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 407);
}
