//! TEST FIXTURE — not part of the product. The gateway probe's answer as the real image's Python prints it
//! (`installer/engine/src/docker/gitlab_probe.rs`): one JSON line, `{"status":200,"keys":N}` (exit 0 when
//! N > 0, else 1) or `{"error":"<Type>: <message>"}` (exit 1), the messages worded as urllib words them so
//! the installer judges the same text. Std only: compiled into the stand-in (plain HTTP) and into
//! `standin-tls` (HTTPS over rustls), which includes this file.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The probe script's timeout (`urlopen(u, timeout=15)`).
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// The first `http://` or `https://` literal of a Python script: the URL the probe fetches.
pub fn url_in(code: &str) -> Option<String> {
    let at = [code.find("http://"), code.find("https://")]
        .into_iter()
        .flatten()
        .min()?;
    Some(
        code[at..]
            .chars()
            .take_while(|c| !matches!(c, '\'' | '"' | ' ' | ')' | '\n'))
            .collect(),
    )
}

/// A URL's parts: whether it is https, host, port and path.
pub struct Target {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("ValueError: unknown url type: '{url}'"));
        };
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => match p.parse() {
                Ok(p) => (h.trim_matches(|c| c == '[' || c == ']').to_string(), p),
                Err(_) => return Err(format!("InvalidURL: nonnumeric port: '{p}'")),
            },
            _ => (hostport.to_string(), if tls { 443 } else { 80 }),
        };
        Ok(Target {
            tls,
            host,
            port,
            path,
        })
    }

    /// The `Host` header.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Connects as urllib does, its failures worded as urllib's `URLError`.
pub fn connect(t: &Target) -> Result<TcpStream, String> {
    let addrs: Vec<_> = (t.host.as_str(), t.port)
        .to_socket_addrs()
        .map_err(|_| "URLError: <urlopen error [Errno -2] Name or service not known>".to_string())?
        .collect();
    let mut last = "URLError: <urlopen error [Errno -2] Name or service not known>".to_string();
    for a in addrs {
        match TcpStream::connect_timeout(&a, TIMEOUT) {
            Ok(s) => {
                let _ = s.set_read_timeout(Some(TIMEOUT));
                let _ = s.set_write_timeout(Some(TIMEOUT));
                return Ok(s);
            }
            Err(e) => last = io_error(&e),
        }
    }
    Err(last)
}

/// An I/O failure worded as urllib's.
pub fn io_error(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "URLError: <urlopen error [Errno 111] Connection refused>".into(),
        TimedOut | WouldBlock => "TimeoutError: timed out".into(),
        HostUnreachable | NetworkUnreachable => {
            "URLError: <urlopen error [Errno 113] No route to host>".into()
        }
        ConnectionReset => "ConnectionResetError: [Errno 104] Connection reset by peer".into(),
        _ => format!("URLError: <urlopen error {e}>"),
    }
}

/// One GET over `s` (HTTP/1.1, `Connection: close`): the status, its reason and the body.
pub fn get<S: Read + Write>(s: &mut S, t: &Target) -> Result<(u16, String, Vec<u8>), String> {
    write!(
        s,
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: Python-urllib/3.12\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n",
        t.path,
        t.authority()
    )
    .map_err(|e| io_error(&e))?;
    let mut raw = Vec::new();
    if let Err(e) = s.read_to_end(&mut raw) {
        // A TLS peer closing without close_notify still delivered its answer.
        if raw.is_empty() || e.kind() != std::io::ErrorKind::UnexpectedEof {
            return Err(io_error(&e));
        }
    }
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("RemoteDisconnected: Remote end closed connection without response")?;
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let status_line = head.lines().next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let _version = parts.next();
    let code = parts
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("BadStatusLine: {status_line}"))?;
    let reason = parts.next().unwrap_or_default().to_string();
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = raw[end + 4..].to_vec();
    Ok((code, reason, if chunked { dechunk(&body) } else { body }))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 || b.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
    out
}

/// The number of objects in the body's top-level `"keys"` array (`len(body.get('keys') or [])`).
pub fn count_keys(body: &str) -> Result<usize, String> {
    let trimmed = body.trim_start();
    if !trimmed.starts_with('{') && !trimmed.starts_with('[') {
        return Err("JSONDecodeError: Expecting value: line 1 column 1 (char 0)".into());
    }
    let Some(at) = body.find("\"keys\"") else {
        return Ok(0);
    };
    let Some(open) = body[at..].find('[') else {
        return Ok(0);
    };
    let (mut depth, mut n, mut in_str, mut escaped) = (0usize, 0usize, false, false);
    for c in body[at + open + 1..].chars() {
        if in_str {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '{' | '[' => {
                if depth == 0 {
                    n += 1;
                }
                depth += 1;
            }
            '}' => depth = depth.saturating_sub(1),
            ']' if depth == 0 => break,
            ']' => depth -= 1,
            _ => {}
        }
    }
    Ok(n)
}

/// Prints the script's one line for `answer` and returns its exit code.
pub fn report(answer: Result<(u16, String, Vec<u8>), String>) -> i32 {
    let fail = |e: String| {
        println!(
            "{{\"error\":\"{}\"}}",
            e.replace('\\', "\\\\").replace('"', "\\\"")
        );
        1
    };
    match answer {
        Err(e) => fail(e),
        // urlopen raises for 4xx and 5xx.
        Ok((code, reason, _)) if code >= 400 => {
            fail(format!("HTTPError: HTTP Error {code}: {reason}"))
        }
        Ok((code, _, body)) => match count_keys(&String::from_utf8_lossy(&body)) {
            Err(e) => fail(e),
            Ok(n) => {
                println!("{{\"status\":{code},\"keys\":{n}}}");
                if n > 0 {
                    0
                } else {
                    1
                }
            }
        },
    }
}
