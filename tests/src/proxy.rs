//! A forward proxy of the tests' own on 127.0.0.1: `CONNECT host:port` tunnels (for https://) and
//! absolute-form requests (for http://), recording every target so a test can assert which requests
//! went through it. Optionally requires `Proxy-Authorization`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub struct Proxy {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:<port>` (without credentials).
    pub url: String,
    targets: Arc<Mutex<Vec<String>>>,
    stop: CancellationToken,
}

impl Proxy {
    /// Starts the proxy; with `basic` (`user:password`), a request without that `Proxy-Authorization`
    /// gets 407.
    pub async fn start(basic: Option<&str>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let targets = Arc::new(Mutex::new(Vec::new()));
        let want = basic.map(|b| base64(b.as_bytes()));
        let (stop2, targets2) = (stop.clone(), targets.clone());
        tokio::spawn(async move {
            loop {
                let (tcp, _) = tokio::select! {
                    _ = stop2.cancelled() => return,
                    a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
                };
                let (targets, want, stop) = (targets2.clone(), want.clone(), stop2.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        _ = stop.cancelled() => {},
                        _ = serve(tcp, targets, want) => {},
                    }
                });
            }
        });
        Proxy {
            addr,
            url: format!("http://127.0.0.1:{}", addr.port()),
            targets,
            stop,
        }
    }

    /// The authorities (`host:port`) of the requests that went through, in order.
    pub fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve(
    tcp: TcpStream,
    targets: Arc<Mutex<Vec<String>>>,
    want: Option<String>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(tcp);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let end = line == "\r\n" || line == "\n";
        head.push(line);
        if end {
            break;
        }
    }
    let first = head[0].clone();
    let mut parts = first.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if let Some(want) = &want {
        let ok = head.iter().any(|h| {
            h.split_once(':').is_some_and(|(name, value)| {
                let mut v = value.split_whitespace();
                name.eq_ignore_ascii_case("proxy-authorization")
                    && v.next().is_some_and(|s| s.eq_ignore_ascii_case("basic"))
                    && v.next() == Some(want.as_str())
            })
        });
        if !ok {
            reader
                .get_mut()
                .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"t\"\r\ncontent-length: 0\r\n\r\n")
                .await?;
            return Ok(());
        }
    }
    if method.eq_ignore_ascii_case("CONNECT") {
        targets.lock().unwrap().push(target.to_string());
        let mut upstream = match TcpStream::connect(target).await {
            Ok(s) => s,
            Err(_) => {
                reader
                    .get_mut()
                    .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                    .await?;
                return Ok(());
            }
        };
        reader
            .get_mut()
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await?;
        let buffered = reader.buffer().to_vec();
        upstream.write_all(&buffered).await?;
        let mut client = reader.into_inner();
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        return Ok(());
    }
    // Absolute form: `GET http://host:port/path HTTP/1.1` → origin form to host:port; one request per
    // connection (Connection: close) keeps this simple.
    let url = url::Url::parse(target).map_err(std::io::Error::other)?;
    let authority = format!(
        "{}:{}",
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(80)
    );
    targets.lock().unwrap().push(authority.clone());
    let mut upstream = TcpStream::connect(&authority).await?;
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let mut out = format!("{method} {path} HTTP/1.1\r\n");
    for h in &head[1..] {
        let lower = h.to_ascii_lowercase();
        if lower.starts_with("proxy-") || lower.starts_with("connection:") || h == "\r\n" {
            continue;
        }
        out.push_str(h);
    }
    out.push_str("connection: close\r\n\r\n");
    upstream.write_all(out.as_bytes()).await?;
    let buffered = reader.buffer().to_vec();
    upstream.write_all(&buffered).await?;
    let mut client = reader.into_inner();
    let (mut ur, mut uw) = upstream.into_split();
    let (mut cr, mut cw) = client.split();
    // The answer ends the exchange (connection: close); the client's side may stay open meanwhile.
    let up = async {
        let _ = tokio::io::copy(&mut cr, &mut uw).await;
        std::future::pending::<()>().await
    };
    tokio::select! { _ = tokio::io::copy(&mut ur, &mut cw) => {}, _ = up => {} }
    Ok(())
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
