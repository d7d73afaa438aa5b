//! An OpenSSH server on 127.0.0.1 for the remote-engine suites (the CLI's and the wizard's): its own host
//! key, a user key it accepts and one it does not, known_hosts, and an ssh config reached through a
//! wrapper `ssh` on PATH. Root's own ~/.ssh is never read or touched.

use crate::free_port;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

const SSHD: &str = "/usr/sbin/sshd";

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn keygen(path: &Path) -> String {
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "aigw-test", "-f"])
        .arg(path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    std::fs::read_to_string(path.with_extension("pub")).unwrap()
}

/// sshd on 127.0.0.1, and what a client needs: a user key it accepts, a key it does not, known_hosts,
/// an ssh config naming them, and a directory with an `ssh` that reads that config (ssh takes its
/// config from the passwd home, not $HOME, so `-F` it is).
pub struct Sshd {
    child: Child,
    pub port: u16,
    /// sshd's log lines as read so far (LogLevel VERBOSE), and the first not yet counted.
    log: Arc<(Mutex<Vec<String>>, Condvar)>,
    counted: Mutex<usize>,
    dir: tempfile::TempDir,
}

impl Sshd {
    /// `None` outside CI when Debian's openssh-server is not installed.
    pub fn start() -> Option<Sshd> {
        if !Path::new(SSHD).exists() {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "CI is set but {SSHD} is missing: setup-debian.sh test installs openssh-server"
                );
            }
            eprintln!("skipping: no {SSHD} (apt-get install openssh-server)");
            return None;
        }
        // sshd refuses to start without its privilege separation directory.
        std::fs::create_dir_all("/run/sshd").ok();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let host_pub = keygen(&d.join("host_key"));
        let user_pub = keygen(&d.join("user_key"));
        keygen(&d.join("wrong_key"));
        std::fs::write(d.join("authorized_keys"), user_pub).unwrap();
        // A port another process takes between the probe and sshd's bind is retried with another.
        for _ in 0..5 {
            let port = free_port();
            std::fs::write(
                d.join("sshd_config"),
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {ak}\n\
                     PidFile none\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                     PermitRootLogin prohibit-password\nLogLevel VERBOSE\n",
                    hk = d.join("host_key").display(),
                    ak = d.join("authorized_keys").display(),
                ),
            )
            .unwrap();
            let mut child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(d.join("sshd_config"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            // Ready when it says it listens (its declared state); its log is drained afterwards.
            let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
            let mut listening = false;
            for line in lines.by_ref() {
                let line = line.unwrap_or_default();
                if line.contains("Server listening on 127.0.0.1") {
                    listening = true;
                    break;
                }
            }
            if !listening {
                let _ = child.kill();
                let _ = child.wait();
                continue;
            }
            let log = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
            let sink = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    sink.0.lock().unwrap().push(line);
                    sink.1.notify_all();
                }
            });
            let sshd = Sshd {
                child,
                port,
                dir,
                log,
                counted: Mutex::new(0),
            };
            let key = host_pub
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            std::fs::write(sshd.known_hosts(), format!("[127.0.0.1]:{port} {key}\n")).unwrap();
            std::fs::write(sshd.path("empty_known_hosts"), "").unwrap();
            return Some(sshd);
        }
        panic!("sshd did not start on any of five ports");
    }

    /// The logins sshd accepted since the last call (or its start). Every line sshd wrote before is read
    /// first: a marker connection is made and its own log line waited for (sshd's declared state).
    pub fn accepted_logins(&self) -> usize {
        let marker = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let needle = format!("127.0.0.1 port {} ", marker.local_addr().unwrap().port());
        drop(marker);
        let (lines, seen) = &*self.log;
        let guard = lines.lock().unwrap();
        let mut counted = self.counted.lock().unwrap();
        let start = *counted;
        let (guard, timeout) = seen
            .wait_timeout_while(guard, Duration::from_secs(20), |l| {
                !l[start..].iter().any(|x| x.contains(&needle))
            })
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "sshd never logged the marker connection"
        );
        let end = start
            + guard[start..]
                .iter()
                .position(|x| x.contains(&needle))
                .unwrap();
        *counted = end + 1;
        guard[start..end]
            .iter()
            .filter(|l| l.contains("Accepted publickey"))
            .count()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.path("known_hosts")
    }

    pub fn url(&self) -> String {
        format!("ssh://root@127.0.0.1:{}", self.port)
    }

    /// A directory whose `ssh` runs the system ssh with a config naming `key` and `known_hosts`.
    pub fn client(&self, name: &str, key: &str, known_hosts: &Path) -> PathBuf {
        let bin = self.path(name);
        std::fs::create_dir_all(&bin).unwrap();
        let config = bin.join("ssh_config");
        std::fs::write(
            &config,
            format!(
                "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  \
                 GlobalKnownHostsFile /dev/null\n  IdentityAgent none\n",
                self.path(key).display(),
                known_hosts.display()
            ),
        )
        .unwrap();
        let ssh = bin.join("ssh");
        std::fs::write(
            &ssh,
            format!(
                "#!/bin/sh\nexec /usr/bin/ssh -F '{}' \"$@\"\n",
                config.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755)).unwrap();
        bin
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
