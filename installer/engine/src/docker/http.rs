//! Small HTTP calls to the services we start (health, model list, smoke completion), each bounded in time.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// GET or POST (with a JSON body) `url`; `Err` is a transport failure or time-out, in words.
pub async fn request(
    url: &str,
    json_body: Option<&str>,
    timeout: Duration,
) -> Result<Response, String> {
    let method = if json_body.is_some() { "POST" } else { "GET" };
    call(method, url, json_body, timeout).await
}

/// Any method, with an optional JSON body.
pub async fn call(
    method: &str,
    url: &str,
    json_body: Option<&str>,
    timeout: Duration,
) -> Result<Response, String> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let builder = hyper::Request::builder()
        .uri(url)
        .method(method)
        .header("user-agent", "aigw-installer");
    let req = match json_body {
        Some(b) => builder
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(b.to_string()))),
        None => builder.body(Full::new(Bytes::new())),
    }
    .map_err(|e| format!("bad request for {url}: {e}"))?;
    let fut = async {
        let res = client.request(req).await.map_err(|e| {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg = format!("{msg}: {s}");
                src = s.source();
            }
            msg
        })?;
        let status = res.status().as_u16();
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(Response {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| format!("{url} did not answer within {timeout:?}"))?
}
