#!/usr/bin/env bash
# Benchmark (not a test): `aigw-installer apply` against Debian's docker-compose 1.29 on the same stand-in
# images and the same health checks, in one run.
#   1. from nothing to healthy: our apply  vs  `docker-compose up -d` + polling the same endpoints
#   2. no-op: our apply again                vs  `docker-compose up -d` again
# Compose 1.29 has no --wait, so the baseline polls /health, /v1/models and /monitoring/healthz every
# 250 ms (our poll interval). The compose file is the one `snippets --for compose` exports, minus
# `condition: service_healthy` (with it, compose waits for Docker's 10 s health interval, which would
# measure Docker's timer rather than compose). Ours runs with --stable-for 0: the stability window is a
# deliberate wait (10 s per server by default) that Compose does not make.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
work="$(mktemp -d)"
trap 'docker-compose -p aigwbench -f "$work/compose.yml" down >/dev/null 2>&1 || true; "$bin" uninstall >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

cargo build --release --locked --bin aigw-installer
bin="${CARGO_TARGET_DIR:-$root/target}/release/aigw-installer"

# Stand-in images (test fixtures), built like the test harness builds them.
if ! docker image inspect aigw-test/model-server:standin >/dev/null 2>&1; then
  rustc --edition 2021 -O -C target-feature=+crt-static -C strip=symbols -o "$work/standin" tests/standin/standin.rs
  for role in model gateway; do
    img=aigw-test/gateway; [ "$role" = model ] && img=aigw-test/model-server
    printf 'FROM scratch\nLABEL io.aigw-installer.test-fixture=true\nCOPY standin /standin\nCOPY standin /usr/bin/python3\nENTRYPOINT ["/standin", "%s"]\n' "$role" > "$work/Dockerfile"
    docker build -q -t "$img:standin" "$work" >/dev/null
  done
fi

mkdir -p "$work/weights"
cat > "$work/spec.toml" <<SPEC
network = "aigw-bench"
log_dir = "$work/logs"
[gitlab]
url = "https://gitlab.example.com"
version = "18.2.1"
[gateway]
host = "aigw.example.com"
image = "aigw-test/gateway"
tag = "standin"
port = 15052
[model]
image = "aigw-test/model-server"
tag = "standin"
served_model_name = "mistral-small-3.2-24b"
port = 18000
[model.weights]
source = "local"
path = "$work/weights"
SPEC
"$bin" snippets --for compose --spec "$work/spec.toml" | grep -v 'condition: "service_healthy"' \
  | sed 's/^    depends_on:$/    depends_on: ["model"]/; /^      model:$/d' > "$work/compose.yml"
docker-compose -f "$work/compose.yml" config -q

cat > "$work/wait.sh" <<'WAIT'
#!/usr/bin/env bash
until curl -sf http://127.0.0.1:18000/health >/dev/null \
   && curl -sf http://127.0.0.1:18000/v1/models | grep -q mistral-small-3.2-24b \
   && curl -sf http://127.0.0.1:15052/monitoring/healthz >/dev/null; do sleep 0.25; done
WAIT
chmod +x "$work/wait.sh"
compose="docker-compose -p aigwbench -f $work/compose.yml"
out="${CARGO_TARGET_DIR:-$root/target}/bench-apply"

hyperfine --runs "${RUNS:-10}" --export-markdown "$out-fresh.md" --export-json "$out-fresh.json" \
  --prepare "$bin uninstall >/dev/null; $compose down >/dev/null 2>&1" \
  -n "aigw-installer apply (nothing → healthy)" "$bin apply --spec $work/spec.toml --no-smoke-test --stable-for 0" \
  -n "docker-compose up -d + poll health" "$compose up -d >/dev/null 2>&1 && $work/wait.sh"

"$bin" uninstall >/dev/null; $compose down >/dev/null 2>&1 || true
"$bin" apply --spec "$work/spec.toml" --no-smoke-test --stable-for 0 >/dev/null 2>&1
hyperfine --warmup 2 --runs "${RUNS:-20}" -N --export-markdown "$out-noop.md" --export-json "$out-noop.json" \
  -n "aigw-installer apply (no-op)" "$bin apply --spec $work/spec.toml"
"$bin" uninstall >/dev/null
$compose up -d >/dev/null 2>&1; "$work/wait.sh"
hyperfine --warmup 2 --runs "${RUNS:-20}" --export-markdown "$out-noop-compose.md" --export-json "$out-noop-compose.json" \
  -n "docker-compose up -d (no-op)" "$compose up -d >/dev/null 2>&1"

cat "$out-fresh.md" "$out-noop.md" "$out-noop-compose.md"
jq -r -s '"median: apply fresh \(.[0].results[0].median*1000|floor) ms vs compose \(.[0].results[1].median*1000|floor) ms (ratio \(((.[0].results[0].median/.[0].results[1].median)*100|floor)/100)); no-op \(.[1].results[0].median*1000|floor) ms vs \(.[2].results[0].median*1000|floor) ms (ratio \(((.[1].results[0].median/.[2].results[0].median)*100|floor)/100))"' \
  "$out-fresh.json" "$out-noop.json" "$out-noop-compose.json"
