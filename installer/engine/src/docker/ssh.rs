//! ssh:// engines, as the docker CLI reaches them: the system `ssh` runs `docker system dial-stdio` on the
//! server and the Engine API flows through its stdin and stdout. The admin's own ssh config, agent and
//! known_hosts apply; `BatchMode=yes` means a missing key or an unknown host key fails with ssh's words
//! instead of a password or yes/no prompt nobody can answer.
//!
//! Not bollard's `ssh` feature: its connector drops the port of ssh://user@host:PORT (it hands
//! `user@host:PORT` to ssh as the host name) and accepts unknown host keys silently
//! (StrictHostKeyChecking=accept-new). Connections are pooled by hyper, so one ssh process serves many
//! requests.

use bollard::{ClientVersion, Docker};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Join};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::engine::Unreachable;

/// How long ssh may take to reach the server and authenticate.
const CONNECT_TIMEOUT_S: u32 = 10;

/// The server: ssh://[user@]host[:port].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl SshTarget {
    /// `ssh -o BatchMode=yes … host docker system dial-stdio`; the host comes after `--`, so a name can
    /// never be read as an option.
    fn command(&self) -> Command {
        let mut c = Command::new("ssh");
        c.args(["-o", "BatchMode=yes"])
            .arg("-o")
            .arg(format!("ConnectTimeout={CONNECT_TIMEOUT_S}"))
            .args(["-o", "ServerAliveInterval=15"]);
        if let Some(p) = self.port {
            c.arg("-p").arg(p.to_string());
        }
        if let Some(u) = &self.user {
            c.arg("-l").arg(u);
        }
        c.arg("--")
            .arg(&self.host)
            .args(["docker", "system", "dial-stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        c
    }
}

/// `GET /_ping` through a fresh ssh: the engine's newest API version, or ssh's own failure as a reason.
pub async fn ping(t: &SshTarget, budget: Duration) -> Result<ClientVersion, (Unreachable, String)> {
    let mut cmd = t.command();
    cmd.stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        (
            Unreachable::Other,
            format!("cannot run ssh (install openssh-client): {e}"),
        )
    })?;
    let exchange = async {
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return (Vec::new(), String::new());
        };
        let _ = stdin
            .write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nUser-Agent: aigw-installer\r\nConnection: close\r\n\r\n")
            .await;
        let mut answer = Vec::new();
        let mut err = Vec::new();
        // stdin stays open until the answer is read: closing it early half-closes the engine's side.
        let (mut out, mut errs) = (stdout.take(64 * 1024), stderr.take(64 * 1024));
        let _ = tokio::join!(out.read_to_end(&mut answer), errs.read_to_end(&mut err));
        drop(stdin);
        (answer, String::from_utf8_lossy(&err).into_owned())
    };
    let at = t.display();
    let (answer, stderr) = tokio::time::timeout(budget, exchange).await.map_err(|_| {
        (
            Unreachable::TimedOut,
            format!("{at}: no answer through ssh within {budget:?}"),
        )
    })?;
    let _ = child.wait().await;
    if answer.is_empty() {
        let detail = last_lines(&stderr);
        return Err((classify(&stderr), format!("{at}: {detail}")));
    }
    super::engine::parse_ping(&answer).map_err(|why| (Unreachable::NotDocker, why))
}

impl SshTarget {
    pub fn display(&self) -> String {
        let user = self
            .user
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!("ssh://{user}{}{port}", self.host)
    }
}

/// ssh's stderr → the reason an admin can act on.
pub fn classify(stderr: &str) -> Unreachable {
    let has = |words: &[&str]| words.iter().any(|w| stderr.contains(w));
    if has(&[
        "Host key verification failed",
        "REMOTE HOST IDENTIFICATION HAS CHANGED",
        "host key is known",
    ]) {
        Unreachable::SshHostKey
    } else if has(&["Permission denied (", "Too many authentication failures"]) {
        Unreachable::SshAuth
    } else if has(&["Connection timed out", "Operation timed out"]) {
        Unreachable::TimedOut
    } else if has(&[
        "Connection refused",
        "No route to host",
        "Network is unreachable",
        "Could not resolve hostname",
        "Connection closed by",
        "Connection reset by",
    ]) {
        Unreachable::ConnectionRefused
    } else if has(&[
        "command not found",
        "Cannot connect to the Docker daemon",
        "permission denied while trying to connect",
        "docker:",
    ]) {
        Unreachable::SshRemoteDocker
    } else {
        Unreachable::Other
    }
}

/// The last few meaningful lines ssh wrote (a warning that a key was added is not the error).
fn last_lines(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
        .collect();
    let start = lines.len().saturating_sub(3);
    let text = lines[start..].join(" ");
    if text.is_empty() {
        "ssh ended without a word".into()
    } else {
        text
    }
}

/// A bollard client whose connections are ssh processes.
pub fn client(
    t: &SshTarget,
    timeout_s: u64,
    v: &ClientVersion,
) -> Result<Docker, bollard::errors::Error> {
    let http = Arc::new(Client::builder(TokioExecutor::new()).build(Dialer(t.clone())));
    Docker::connect_with_custom_transport(
        move |req: bollard::BollardRequest| {
            let http = Arc::clone(&http);
            async move {
                http.request(req)
                    .await
                    .map_err(bollard::errors::Error::from)
            }
        },
        // The dialer ignores the URL; a plain Host header keeps the engine's HTTP server content.
        Some("ssh://docker"),
        timeout_s,
        v,
    )
}

/// Opens one connection: an ssh process running `docker system dial-stdio`.
#[derive(Clone)]
struct Dialer(SshTarget);

impl tower_service::Service<hyper::Uri> for Dialer {
    type Response = SshStream;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<SshStream>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let mut cmd = self.0.command();
        // Checked by `ping` before any client is made; later failures show as a closed connection.
        cmd.stderr(Stdio::null());
        Box::pin(async move {
            let mut child = cmd.spawn()?;
            match (child.stdout.take(), child.stdin.take()) {
                (Some(out), Some(inp)) => Ok(SshStream {
                    io: TokioIo::new(tokio::io::join(out, inp)),
                    _child: child,
                }),
                _ => Err(std::io::Error::other("ssh gave no stdin or stdout")),
            }
        })
    }
}

/// The ssh process's stdout and stdin as one duplex stream; the process is killed with it.
struct SshStream {
    io: TokioIo<Join<ChildStdout, ChildStdin>>,
    _child: Child,
}

impl Connection for SshStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for SshStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for SshStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

// `Join` is only AsyncRead + AsyncWrite; these keep the compiler honest about what TokioIo wraps.
const _: fn() = || {
    fn duplex<T: AsyncRead + AsyncWrite + Unpin + Send>() {}
    duplex::<Join<ChildStdout, ChildStdin>>();
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_failures_read_as_reasons() {
        let cases = [
            ("No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\r\nHost key verification failed.\r\n", Unreachable::SshHostKey),
            ("@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n", Unreachable::SshHostKey),
            ("admin@127.0.0.1: Permission denied (publickey).\r\n", Unreachable::SshAuth),
            ("ssh: connect to host 127.0.0.1 port 9: Connection refused\r\n", Unreachable::ConnectionRefused),
            ("ssh: Could not resolve hostname gpu99: Name or service not known\r\n", Unreachable::ConnectionRefused),
            ("ssh: connect to host 10.9.9.9 port 22: Connection timed out\r\n", Unreachable::TimedOut),
            ("bash: line 1: docker: command not found\n", Unreachable::SshRemoteDocker),
            ("permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock\n", Unreachable::SshRemoteDocker),
            ("something else entirely\n", Unreachable::Other),
        ];
        for (stderr, want) in cases {
            assert_eq!(classify(stderr), want, "{stderr}");
        }
        assert_eq!(
            last_lines("Warning: Permanently added 'x' (ED25519) to the list of known hosts.\r\nadmin@x: Permission denied (publickey).\r\n"),
            "admin@x: Permission denied (publickey)."
        );
        assert_eq!(last_lines(""), "ssh ended without a word");
    }

    #[test]
    fn the_host_never_reads_as_an_option() {
        let t = SshTarget {
            user: Some("admin".into()),
            host: "gpu01".into(),
            port: Some(2222),
        };
        let cmd = t.command();
        let args: Vec<String> = cmd
            .as_std()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let dashdash = args.iter().position(|a| a == "--").unwrap();
        assert_eq!(args[dashdash + 1], "gpu01");
        assert!(args.windows(2).any(|w| w == ["-p", "2222"]));
        assert!(args.windows(2).any(|w| w == ["-l", "admin"]));
        assert!(args.windows(2).any(|w| w == ["-o", "BatchMode=yes"]));
        assert_eq!(t.display(), "ssh://admin@gpu01:2222");
    }
}
