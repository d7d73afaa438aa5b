#!/usr/bin/env bash
# Benchmark (not a test, issue 14): an engine through ssh:// against the admin's manual way, in one run.
#   1. `aigw-installer -H ssh://root@127.0.0.1:PORT detect --json`  vs  a shell doing the three ssh commands an
#      admin would (`ssh host docker info`, `ssh host nvidia-smi --query-gpu=… --format=csv,noheader`,
#      `ssh host df -P /var/lib/docker`); nvidia-smi may be absent: the manual side runs it and tolerates its
#      failure, as ours does. Target: ratio ≤ 1.0.
#   2. `apply` of the stand-in spec through ssh:// twice; the second (a no-op) timed. Target: ≤ 1 s.
# An sshd on 127.0.0.1 (temp host and user keys, known_hosts) as the test harness starts it
# (installer/cli/tests/cli/remote_engines.rs); both sides use the same `ssh -F config` through an `ssh` wrapper on
# PATH, with ControlMaster off: the manual side reuses no connection; the installer's own -o ControlMaster/ControlPath
# (one login per command) win over the config. Needs root (sshd, login as root), docker on
# this machine, hyperfine and jq; the stand-in images (test fixtures) are built if missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
work="$(mktemp -d)"
sshd_pid=""
bin=""
cleanup() {
  [ -n "$bin" ] && PATH="$work/bin:$PATH" "$bin" -H "${url:-unix:///var/run/docker.sock}" uninstall >/dev/null 2>&1 || true
  [ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# AIGW_BIN: another build of the CLI (to try the script; record figures of the release build only).
if [ -z "${AIGW_BIN:-}" ]; then
  cargo build --release --locked --bin aigw-installer
fi
bin="${AIGW_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/aigw-installer}"

# Stand-in images (test fixtures), as tests/bench/apply.sh builds them.
if ! docker image inspect aigw-test/gateway:standin >/dev/null 2>&1; then
  rustc --edition 2021 -O -C target-feature=+crt-static -C strip=symbols -o "$work/standin" tests/standin/standin.rs
  for role in model gateway; do
    img=aigw-test/gateway; [ "$role" = model ] && img=aigw-test/model-server
    printf 'FROM scratch\nLABEL io.aigw-installer.test-fixture=true\nCOPY standin /standin\nCOPY standin /usr/bin/python3\nENTRYPOINT ["/standin", "%s"]\n' "$role" > "$work/Dockerfile"
    docker build -q -t "$img:standin" "$work" >/dev/null
  done
fi

# sshd on 127.0.0.1 with its own keys; ready when it says it listens.
mkdir -p /run/sshd "$work/bin"
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/user_key"
cp "$work/user_key.pub" "$work/authorized_keys"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat > "$work/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $work/host_key
AuthorizedKeysFile $work/authorized_keys
PidFile none
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
CONF
/usr/sbin/sshd -D -e -f "$work/sshd_config" 2> "$work/sshd.log" &
sshd_pid=$!
for _ in $(seq 100); do grep -q "Server listening on 127.0.0.1" "$work/sshd.log" && break; sleep 0.1; done
grep -q "Server listening on 127.0.0.1" "$work/sshd.log" || { cat "$work/sshd.log"; exit 1; }
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$work/host_key.pub")" > "$work/known_hosts"
cat > "$work/ssh_config" <<CONF
Host *
  IdentityFile $work/user_key
  IdentitiesOnly yes
  UserKnownHostsFile $work/known_hosts
  GlobalKnownHostsFile /dev/null
  IdentityAgent none
  ControlMaster no
  ControlPath none
  BatchMode yes
CONF
printf '#!/bin/sh\nexec /usr/bin/ssh -F "%s" "$@"\n' "$work/ssh_config" > "$work/bin/ssh"
chmod +x "$work/bin/ssh"
export PATH="$work/bin:$PATH"
url="ssh://root@127.0.0.1:$port"

cat > "$work/manual.sh" <<MANUAL
#!/bin/sh
ssh -p $port root@127.0.0.1 docker info >/dev/null
ssh -p $port root@127.0.0.1 nvidia-smi --query-gpu=name,memory.total,compute_cap,driver_version --format=csv,noheader >/dev/null 2>&1 || true
ssh -p $port root@127.0.0.1 df -P /var/lib/docker >/dev/null
MANUAL
chmod +x "$work/manual.sh"
"$bin" -H "$url" detect --json >/dev/null   # fails loudly here if ssh:// does not work
"$work/manual.sh"

out="${CARGO_TARGET_DIR:-$root/target}/bench-remote"
hyperfine --warmup 2 --runs "${RUNS:-15}" -N --export-markdown "$out-detect.md" --export-json "$out-detect.json" \
  -n "aigw-installer -H ssh:// detect --json" "$bin -H $url detect --json" \
  -n "ssh docker info + nvidia-smi + df" "$work/manual.sh"

mkdir -p "$work/weights" "$work/logs"
# Through ssh:// the installer cannot hand the log folder to the gateway's user on that host: open it here.
chmod 0755 "$work"; chmod 0777 "$work/logs"
for f in config.json params.json model.safetensors consolidated.safetensors; do echo '{}' > "$work/weights/$f"; done
cat > "$work/spec.toml" <<SPEC
network = "aigw-bench-remote"
log_dir = "$work/logs"
[gitlab]
url = "https://gitlab.example.com"
version = "18.2.1"
[gateway]
host = "aigw.example.com"
image = "aigw-test/gateway"
tag = "standin"
port = 15053
[model]
image = "aigw-test/model-server"
tag = "standin"
served_model_name = "mistral-small-3.2-24b"
port = 18001
[model.weights]
source = "local"
path = "$work/weights"
SPEC
# The engine is shared with the e2e suites: hold their lock (tests/src/lib.rs engine_lock) while our
# containers run, and wait while another operation holds the installer's own lock.
exec 9>"${TMPDIR:-/tmp}/aigw-e2e-engine.lock"
flock 9
for _ in $(seq 120); do
  if "$bin" -H "$url" apply --spec "$work/spec.toml" --no-smoke-test --stable-for 0 > "$work/apply.log" 2>&1; then break; fi
  grep -q "another operation is changing" "$work/apply.log" || { cat "$work/apply.log"; exit 1; }
  sleep 5
done
hyperfine --warmup 1 --runs "${RUNS:-15}" -N --export-markdown "$out-noop.md" --export-json "$out-noop.json" \
  -n "aigw-installer -H ssh:// apply (no-op)" "$bin -H $url apply --spec $work/spec.toml"

cat "$out-detect.md" "$out-noop.md"
jq -r -s '"median: detect via ssh:// \(.[0].results[0].median*1000|floor) ms vs manual \(.[0].results[1].median*1000|floor) ms (ratio \(((.[0].results[0].median/.[0].results[1].median)*100|floor)/100)); no-op apply via ssh:// \(.[1].results[0].median*1000|floor) ms"' \
  "$out-detect.json" "$out-noop.json"
