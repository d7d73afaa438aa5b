//! ssh:// engines, as the docker CLI reaches them: the system `ssh` runs `docker system dial-stdio` on the
//! server and the Engine API flows through its stdin and stdout. The admin's own ssh config, agent and
//! known_hosts apply; `BatchMode=yes` means a missing key or an unknown host key fails with ssh's words
//! instead of a password or yes/no prompt nobody can answer.
//!
//! Not bollard's `ssh` feature: its connector drops the port of ssh://user@host:PORT (it hands
//! `user@host:PORT` to ssh as the host name) and accepts unknown host keys silently
//! (StrictHostKeyChecking=accept-new).
//!
//! One ssh login per client: the ping runs over a master connection (OpenSSH's ControlMaster, its control
//! socket in a private folder of ours), and every pooled connection after it is a session multiplexed over
//! that login, which costs a channel and not a key exchange and authentication. The master's own session is
//! a `dial-stdio` whose stdin is ours: when the client is dropped, or this process dies, that stdin closes,
//! the session ends and the master exits once its last multiplexed session has (it never outlives us, unlike
//! `ControlPersist`, which forks a background master holding the caller's pipes).

use bollard::{ClientVersion, Docker};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::path::{Path, PathBuf};
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
    /// never be read as an option. Options given here come before the admin's ssh config, so they win.
    fn command(&self, mux: Mux<'_>) -> Command {
        let mut c = Command::new("ssh");
        c.args(["-o", "BatchMode=yes"])
            .arg("-o")
            .arg(format!("ConnectTimeout={CONNECT_TIMEOUT_S}"))
            .args(["-o", "ServerAliveInterval=15"]);
        match mux {
            Mux::Master(path) => {
                c.args(["-o", "ControlMaster=yes", "-o", "ControlPersist=no"])
                    .arg("-o")
                    .arg(control_path_option(path));
            }
            // With the master gone (its socket too), ssh connects on its own: slower, still correct.
            Mux::Session(path) => {
                c.args(["-o", "ControlMaster=no"])
                    .arg("-o")
                    .arg(control_path_option(path));
            }
            Mux::None => {
                c.args(["-o", "ControlMaster=no", "-o", "ControlPath=none"]);
            }
        }
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

/// How a connection relates to the client's one login.
#[derive(Clone, Copy)]
enum Mux<'a> {
    /// The login itself, listening on this control socket.
    Master(&'a Path),
    /// A session over the master's socket.
    Session(&'a Path),
    /// Its own login (no master: the control folder could not be made).
    None,
}

/// `ControlPath=…`, with ssh's `%` escapes doubled (a temp folder's name is ours, but `TMPDIR` is not).
fn control_path_option(path: &Path) -> String {
    format!(
        "ControlPath={}",
        path.display().to_string().replace('%', "%%")
    )
}

/// The client's one ssh login. Dropping it closes the master session's stdin; the master process then ends
/// by itself once no multiplexed session is left (it is not killed: that would cut sessions in use).
pub struct Master {
    /// Holds the control socket; removed with it.
    dir: Option<tempfile::TempDir>,
    _stdin: ChildStdin,
    _stdout: ChildStdout,
    _child: Child,
}

impl Master {
    fn socket(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.path().join("m"))
    }
}

/// A private folder (0700) for the control socket, short enough for a Unix socket path (ssh adds a
/// random suffix while binding): the runtime directory when set, else /tmp.
fn control_dir() -> Option<tempfile::TempDir> {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_dir() && d.as_os_str().len() < 40)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    tempfile::Builder::new()
        .prefix("aigw-ssh-")
        .tempdir_in(base)
        .ok()
}

/// The answer to a keep-alive `GET /_ping`: the bytes up to the end of the headers and the `Content-Length`
/// body, read without waiting for the connection to close (it stays open: it is the master's session).
async fn read_answer(out: &mut ChildStdout) -> Vec<u8> {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
            let body = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if answer.len() >= end + 4 + body {
                return answer;
            }
        }
        match out.read(&mut buf).await {
            Ok(0) | Err(_) => return answer,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
        if answer.len() > 64 * 1024 {
            return answer;
        }
    }
}

/// Logs in once (the master connection) and asks `GET /_ping` over it: the engine's newest API version and
/// the login, or ssh's own failure as a reason.
pub async fn connect(
    t: &SshTarget,
    budget: Duration,
) -> Result<(ClientVersion, Master), (Unreachable, String)> {
    let dir = control_dir();
    let socket = dir.as_ref().map(|d| d.path().join("m"));
    let mut cmd = t.command(socket.as_deref().map_or(Mux::None, Mux::Master));
    cmd.stderr(Stdio::piped()).kill_on_drop(false);
    let mut child = cmd.spawn().map_err(|e| {
        (
            Unreachable::Other,
            format!("cannot run ssh (install openssh-client): {e}"),
        )
    })?;
    let (Some(mut stdin), Some(mut stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.start_kill();
        return Err((Unreachable::Other, "ssh gave no stdin or stdout".into()));
    };
    let at = t.display();
    let exchange = async {
        let _ = stdin
            .write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nUser-Agent: aigw-installer\r\n\r\n")
            .await;
        read_answer(&mut stdout).await
    };
    let answer = match tokio::time::timeout(budget, exchange).await {
        Ok(a) => a,
        Err(_) => {
            let _ = child.start_kill();
            return Err((
                Unreachable::TimedOut,
                format!("{at}: no answer through ssh within {budget:?}"),
            ));
        }
    };
    let failed = |why: (Unreachable, String), mut child: Child| {
        let _ = child.start_kill();
        Err(why)
    };
    if answer.is_empty() {
        // ssh ended (or closed its output): what it said is the reason.
        let mut err = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(2), async {
            let _ = stderr.take(64 * 1024).read_to_end(&mut err).await;
        });
        let _ = read.await;
        let stderr = String::from_utf8_lossy(&err).into_owned();
        let detail = last_lines(&stderr);
        return failed((classify(&stderr), format!("{at}: {detail}")), child);
    }
    let version = match super::engine::parse_ping(&answer) {
        Ok(v) => v,
        Err(why) => return failed((Unreachable::NotDocker, why), child),
    };
    // ssh may still warn; its stderr is drained so a full pipe never blocks it.
    tokio::spawn(async move {
        let mut sink = tokio::io::sink();
        let _ = tokio::io::copy(&mut stderr.take(u64::MAX), &mut sink).await;
    });
    Ok((
        version,
        Master {
            dir,
            _stdin: stdin,
            _stdout: stdout,
            _child: child,
        },
    ))
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

/// A bollard client whose connections are ssh sessions over `master`'s login (kept alive by the client).
pub fn client(
    t: &SshTarget,
    master: Master,
    timeout_s: u64,
    v: &ClientVersion,
) -> Result<Docker, bollard::errors::Error> {
    let dialer = Dialer {
        target: t.clone(),
        master: Arc::new(master),
    };
    let http = Arc::new(Client::builder(TokioExecutor::new()).build(dialer));
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

/// Opens one connection: an ssh session running `docker system dial-stdio` over the master's login.
#[derive(Clone)]
struct Dialer {
    target: SshTarget,
    master: Arc<Master>,
}

impl tower_service::Service<hyper::Uri> for Dialer {
    type Response = SshStream;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<SshStream>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let socket = self.master.socket();
        let mut cmd = self
            .target
            .command(socket.as_deref().map_or(Mux::None, Mux::Session));
        // Checked by `ping` before any client is made; later failures show as a closed connection.
        cmd.stderr(Stdio::null());
        let master = Arc::clone(&self.master);
        Box::pin(async move {
            let mut child = cmd.spawn()?;
            match (child.stdout.take(), child.stdin.take()) {
                (Some(out), Some(inp)) => Ok(SshStream {
                    io: TokioIo::new(tokio::io::join(out, inp)),
                    _child: child,
                    _master: master,
                }),
                _ => Err(std::io::Error::other("ssh gave no stdin or stdout")),
            }
        })
    }
}

/// The ssh process's stdout and stdin as one duplex stream; the process is killed with it. It holds the
/// master too: a connection hyper still drives keeps the login it runs over.
struct SshStream {
    io: TokioIo<Join<ChildStdout, ChildStdin>>,
    _child: Child,
    _master: Arc<Master>,
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
        let cmd = t.command(Mux::Session(Path::new("/run/x%y")));
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
        assert!(args.windows(2).any(|w| w == ["-o", "ControlMaster=no"]));
        assert!(args
            .windows(2)
            .any(|w| w == ["-o", "ControlPath=/run/x%%y"]));
        assert_eq!(t.display(), "ssh://admin@gpu01:2222");
    }
}
