#!/usr/bin/env bash
# Benchmark (not a test): `aigw-installer diagnose` with both containers running vs collecting the same by
# hand, in one run:
#   ours:     diagnose --out FILE --force (report, status, plan, 500 log lines and inspection of each
#             container, the engine's info and version, the spec, the installer's logs; redacted, zipped)
#   by hand:  docker logs --tail 500 ×2, docker inspect ×2, docker info, copying the installer's logs
# Holds the end-to-end suites' engine lock throughout (their clean-up removes every labelled container),
# uses its own data directory, network, container names and ports, and removes only what it created.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
work="$(mktemp -d)"
export XDG_DATA_HOME="$work/data"
gw=aigw-bench-diag-gw model=aigw-bench-diag-model net=aigw-bench-diag tag=bench-diag
cleanup() {
  docker rm -f "$gw" "$model" >/dev/null 2>&1 || true
  docker network rm "$net" >/dev/null 2>&1 || true
  docker rmi "aigw-test/gateway:$tag" "aigw-test/model-server:$tag" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
cargo build --release --locked --bin aigw-installer
bin="${CARGO_TARGET_DIR:-$root/target}/release/aigw-installer"
# The lock only after the build: the suites of other checkouts wait for it.
exec 9>"${TMPDIR:-/tmp}/aigw-e2e-engine.lock"
flock 9

# Stand-in images (test fixtures) from this checkout's source, under a tag of their own (the suites'
# tags may hold another checkout's stand-in); removed at the end.
rustc --edition 2021 -O -C target-feature=+crt-static -C strip=symbols -o "$work/standin" tests/standin/standin.rs
for role in model gateway; do
  img=aigw-test/gateway; [ "$role" = model ] && img=aigw-test/model-server
  printf 'FROM scratch\nLABEL io.aigw-installer.test-fixture=true\nCOPY standin /standin\nCOPY standin /usr/bin/python3\nENTRYPOINT ["/standin", "%s"]\n' "$role" > "$work/Dockerfile"
  docker build -q -t "$img:$tag" "$work" >/dev/null
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mkdir -p "$work/weights"
cat > "$work/spec.toml" <<SPEC
network = "$net"
log_dir = "$work/logs"
[gitlab]
url = "https://gitlab.example.com"
version = "18.2.1"
[gateway]
host = "aigw.example.com"
image = "aigw-test/gateway"
tag = "$tag"
container = "$gw"
port = $(free_port)
[model]
image = "aigw-test/model-server"
tag = "$tag"
container = "$model"
served_model_name = "mistral-small-3.2-24b"
port = $(free_port)
[model.weights]
source = "local"
path = "$work/weights"
SPEC
# A few thousand log lines, so that "the last 500" means something.
seq 1 3000 | sed 's/^/INFO stand-in: planted line /' > "$work/weights/STANDIN_SAY"
"$bin" apply --spec "$work/spec.toml" --no-smoke-test >/dev/null
# The installer's own log has lines now; the hand-made copy goes to the same place each run.
logs="$XDG_DATA_HOME/aigw-installer/logs"

cat > "$work/by-hand.sh" <<HAND
#!/usr/bin/env bash
set -e
d="$work/by-hand"; rm -rf "\$d"; mkdir -p "\$d"
docker logs --tail 500 $gw >"\$d/gw.log" 2>&1
docker logs --tail 500 $model >"\$d/model.log" 2>&1
docker inspect $gw >"\$d/gw.json"
docker inspect $model >"\$d/model.json"
docker info >"\$d/info.txt"
cp -r "$logs" "\$d/installer-logs"
HAND
chmod +x "$work/by-hand.sh"
out="${CARGO_TARGET_DIR:-$root/target}/bench-diagnose"

hyperfine --warmup 2 --runs "${RUNS:-20}" -N --export-markdown "$out.md" --export-json "$out.json" \
  -n "aigw-installer diagnose" "$bin diagnose --out $work/diag.zip --force --spec $work/spec.toml" \
  -n "by hand (docker logs ×2, inspect ×2, info, cp logs)" "$work/by-hand.sh"
unzip -l "$work/diag.zip"
wc -l "$work/by-hand/model.log"
cat "$out.md"
jq -r '"median: diagnose \(.results[0].median*1000|floor) ms vs by hand \(.results[1].median*1000|floor) ms (ratio \(((.results[0].median/.results[1].median)*100|floor)/100))"' "$out.json"
