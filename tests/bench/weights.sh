#!/usr/bin/env bash
# Benchmark (not a test): `aigw-installer weights fetch` against the Hub stand-in program
# (tests/src/bin/hub-standin.rs) serving a generated repository of SIZE_MIB (default 2048) on 127.0.0.1,
# side by side in one run:
#   capped:   every response capped to RATE bytes/s (default 20 MB/s) after LATENCY_MS (default 50):
#             ours (8 connections, ranges of 32 MiB) vs curl fetching the same files one after another
#   uncapped: ours vs copying the same bytes from a local file to the same disk (the disk's limit)
#   SHA-256:  `weights verify` over the fetched snapshot (one core)
#   memory:   peak RSS of our fetch (/usr/bin/time -v)
# The huggingface_hub comparison is a manual step (no PyPI here): with the stand-in running,
#   HF_ENDPOINT=<endpoint> python3 -c 'import huggingface_hub as h; h.snapshot_download("bench/standin",
#   cache_dir="/tmp/hfhub", allow_patterns=["*.safetensors","*.json"])'
# Prints a Markdown table for docs/BENCHMARKS.md. Needs no engine and nothing outside 127.0.0.1.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
SIZE_MIB="${SIZE_MIB:-2048}" RATE="${RATE:-20000000}" LATENCY_MS="${LATENCY_MS:-50}"
work="$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/aigw-bench-weights.XXXXXX")"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# PROFILE=debug checks the script itself quickly; numbers come from release builds.
PROFILE="${PROFILE:-release}"
if [ "$PROFILE" = release ]; then
  cargo build --release --locked --bin aigw-installer --bin hub-standin
else
  cargo build --locked --bin aigw-installer --bin hub-standin
fi
target="${CARGO_TARGET_DIR:-$root/target}/$PROFILE"
export XDG_DATA_HOME="$work/data" HOME="$work"
unset HTTPS_PROXY HTTP_PROXY ALL_PROXY https_proxy http_proxy all_proxy HF_ENDPOINT HF_TOKEN AIGW_SPEC

# serve RATE LATENCY: (re)starts the stand-in; sets $endpoint and $desc.
serve() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  desc="$work/describe.json"; rm -f "$desc"
  "$target/hub-standin" --size-mib "$SIZE_MIB" --rate "$1" --latency-ms "$2" --describe "$desc" &
  pid=$!
  for _ in $(seq 600); do [ -s "$desc" ] && break; sleep 0.1; done
  endpoint="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["endpoint"])' "$desc")"
}
spec() { # spec CACHE_DIR
  cat >"$work/spec.toml" <<TOML
[gitlab]
url = "https://gitlab.example.com"
version = "18.2.1"

[gateway]
host = "aigw.example.com"

[model]
served_model_name = "mistral-7b"

[model.weights]
source = "hugging_face"
repo = "bench/standin"
endpoint = "$endpoint"
cache_dir = "$1"
TOML
}
now() { date +%s.%N; }
mbs() { python3 -c "import sys; print(f'{float(sys.argv[1])/1e6/float(sys.argv[2]):.0f}')" "$1" "$2"; }
total=$(( SIZE_MIB << 20 ))

# ours, timed, with peak RSS; $1 = cache dir. Sets $secs and $rss_mb.
ours() {
  spec "$1"
  local t0 t1
  t0=$(now)
  /usr/bin/time -v -o "$work/time.txt" "$target/aigw-installer" --quiet weights fetch --spec "$work/spec.toml" >/dev/null
  t1=$(now)
  secs=$(python3 -c "print(f'{$t1-$t0:.1f}')")
  rss_mb=$(awk '/Maximum resident/ {printf "%.0f", $6/1024}' "$work/time.txt")
}

serve "$RATE" "$LATENCY_MS"
ours "$work/capped"; ours_capped=$secs; rss_capped=$rss_mb
mkdir -p "$work/curl"; t0=$(now)
python3 -c 'import json,sys; [print(f["url"]) for f in json.load(open(sys.argv[1]))["files"]]' "$desc" |
  while read -r url; do curl -sSfL -o "$work/curl/$(basename "$url")" "$url"; done
curl_capped=$(python3 -c "print(f'{$(now)-$t0:.1f}')")
rm -rf "$work/capped" "$work/curl"

serve 0 0
ours "$work/uncapped"; ours_free=$secs; rss_free=$rss_mb
cat "$work"/uncapped/hub/models--bench--standin/blobs/* >"$work/source.bin"; sync
t0=$(now); cp "$work/source.bin" "$work/copy.bin"; sync; copy=$(python3 -c "print(f'{$(now)-$t0:.1f}')")
t0=$(now)
"$target/aigw-installer" --quiet weights verify --spec "$work/spec.toml" >/dev/null
verify=$(python3 -c "print(f'{$(now)-$t0:.1f}')")

echo "| case | time (s) | rate (MB/s) | peak RSS (MB) |"
echo "|---|---|---|---|"
echo "| capped ${RATE} B/s, ${LATENCY_MS} ms per response: ours | $ours_capped | $(mbs $total $ours_capped) | $rss_capped |"
echo "| capped: curl, one file after another | $curl_capped | $(mbs $total $curl_capped) | |"
echo "| uncapped: ours | $ours_free | $(mbs $total $ours_free) | $rss_free |"
echo "| uncapped: cp of the same bytes, same disk | $copy | $(mbs $total $copy) | |"
echo "| SHA-256: weights verify | $verify | $(mbs $total $verify) | |"
