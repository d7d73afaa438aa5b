//! A small HTTP/1.1 server of the tests' own on 127.0.0.1, plain or TLS, over hyper: the base of the
//! stand-ins for services outside the engine (the Hugging Face Hub, GitLab). A handler is a closure from
//! the request to a response whose body may stream (for bandwidth caps and disconnects).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A response body: whole or streamed; an `Err` chunk ends the connection mid-body (a disconnect).
pub type Body = BoxBody<Bytes, std::io::Error>;
pub type BoxFuture = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;
pub type Handler = Arc<dyn Fn(Request<Incoming>) -> BoxFuture + Send + Sync>;

/// A whole body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A response with `status` and a whole body.
pub fn respond(status: u16, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    r
}

/// What a server saw: method, path with query, and the `Authorization` header's presence (never its value
/// in a message; tests compare it explicitly).
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub range: Option<String>,
    pub host: Option<String>,
}

/// A running server; stopped when dropped.
pub struct Server {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:<port>` or `https://localhost:<port>` (the name its certificate carries).
    pub base: String,
    pub connections: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: CancellationToken,
}

impl Server {
    /// Starts on 127.0.0.1 (port chosen by the OS), TLS when `tls` is given.
    pub async fn start(handler: Handler, tls: Option<Arc<rustls::ServerConfig>>) -> Server {
        Self::start_on("127.0.0.1", handler, tls).await
    }

    /// Starts on `ip` (`0.0.0.0` for a container to reach it through a Docker bridge's gateway address).
    pub async fn start_on(
        ip: &str,
        handler: Handler,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Server {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = match tls {
            Some(_) => format!("https://localhost:{}", addr.port()),
            None => format!("http://127.0.0.1:{}", addr.port()),
        };
        let stop = CancellationToken::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let (stop2, seen2, conns2) = (stop.clone(), seen.clone(), connections.clone());
        tokio::spawn(async move {
            loop {
                let (tcp, _) = tokio::select! {
                    _ = stop2.cancelled() => return,
                    a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
                };
                conns2.fetch_add(1, Ordering::SeqCst);
                let (handler, seen, acceptor, stop) = (
                    handler.clone(),
                    seen2.clone(),
                    acceptor.clone(),
                    stop2.clone(),
                );
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let header = |n: &str| {
                            req.headers()
                                .get(n)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_string)
                        };
                        seen.lock().unwrap().push(Seen {
                            method: req.method().to_string(),
                            path: req
                                .uri()
                                .path_and_query()
                                .map(|p| p.to_string())
                                .unwrap_or_default(),
                            authorization: header("authorization"),
                            range: header("range"),
                            host: header("host"),
                        });
                        let fut = handler(req);
                        async move { Ok::<_, Infallible>(fut.await) }
                    });
                    let serve = async {
                        match acceptor {
                            Some(a) => {
                                // A client that refuses the certificate ends the handshake: not our failure.
                                if let Ok(s) = a.accept(tcp).await {
                                    let _ = hyper::server::conn::http1::Builder::new()
                                        .serve_connection(hyper_util::rt::TokioIo::new(s), service)
                                        .await;
                                }
                            }
                            None => {
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                                    .await;
                            }
                        }
                    };
                    tokio::select! { _ = stop.cancelled() => {}, _ = serve => {} }
                });
            }
        });
        Server {
            addr,
            base,
            connections,
            seen,
            stop,
        }
    }

    /// Every request seen so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A handler from a closure returning a future.
pub fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    Arc::new(move |req| Box::pin(f(req)))
}
