#!/usr/bin/env bash
# Benchmark (not a test): `aigw-installer weights fetch` against the Hub stand-in program
# (tests/src/bin/hub-standin.rs) serving a generated repository of SIZE_MIB (default 2048: SHARDS=2 shards
# of 1 GiB, index, config and tokenizer files) on 127.0.0.1, side by side in one run:
#   capped:   every response capped to RATE bytes/s (default 20 MB/s) after LATENCY_MS (default 50):
#             ours (8 connections, ranges of 32 MiB) vs curl fetching the same files one after another
#             vs huggingface_hub's snapshot_download (HF_ENDPOINT at the stand-in, the same files)
#   uncapped: ours vs copying the same bytes from a local file to the same disk (cp, then sync)
#   SHA-256:  `weights verify` over the fetched snapshot on one core (taskset -c 0)
#   memory:   peak RSS of each fetch (/usr/bin/time -v)
# huggingface_hub comes from PyPI into a venv in the work directory (HF_VENV=DIR reuses one): PyPI is
# reachable on the benchmark machine, not in CI; without it that column is skipped with a line saying so.
# Prints Markdown rows for docs/BENCHMARKS.md. Needs no engine; the stand-in is on 127.0.0.1 only.
# The generated files (≈ 3 × SIZE_MIB at most at once) are deleted on exit.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
SIZE_MIB="${SIZE_MIB:-2048}" SHARDS="${SHARDS:-2}" RATE="${RATE:-20000000}" LATENCY_MS="${LATENCY_MS:-50}"
work="$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/aigw-bench-weights.XXXXXX")"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
note() { echo "# $*" >&2; }

if [ ! -x /usr/bin/time ]; then
  note "installing GNU time (Debian) for the peak RSS"
  apt-get install -y -qq time >/dev/null || { note "could not install time"; exit 1; }
fi

# PROFILE=debug checks the script itself quickly; numbers come from release builds. SKIP_BUILD=1 takes
# the binaries as they are.
PROFILE="${PROFILE:-release}"
if [ -n "${SKIP_BUILD:-}" ]; then
  note "SKIP_BUILD: using the $PROFILE binaries already built"
elif [ "$PROFILE" = release ]; then
  nice -n 10 cargo build --release --locked --bin aigw-installer --bin hub-standin
else
  nice -n 10 cargo build --locked --bin aigw-installer --bin hub-standin
fi
target="${CARGO_TARGET_DIR:-$root/target}/$PROFILE"
export XDG_DATA_HOME="$work/data" HOME="$work"
unset HTTPS_PROXY HTTP_PROXY ALL_PROXY https_proxy http_proxy all_proxy HF_ENDPOINT HF_TOKEN AIGW_SPEC

# huggingface_hub in a venv (before the stand-in starts: pip reaches PyPI, nothing else does).
hf_py=""
if [ -n "${HF_VENV:-}" ] && [ -x "$HF_VENV/bin/python" ]; then
  hf_py="$HF_VENV/bin/python"
elif python3 -m venv "$work/venv" >/dev/null 2>&1 &&
  "$work/venv/bin/pip" install -q huggingface_hub >"$work/pip.log" 2>&1; then
  hf_py="$work/venv/bin/python"
else
  note "huggingface_hub column skipped: pip install huggingface_hub failed (no PyPI here?): $(tail -1 "$work/pip.log" 2>/dev/null)"
fi
hf_version=""
[ -n "$hf_py" ] && hf_version="$("$hf_py" -c 'import huggingface_hub as h; print(h.__version__)')"

drop_caches() { # best effort: needs root and a writable /proc/sys
  sync
  { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null && dropped=yes || dropped=no
}

# serve RATE LATENCY: (re)starts the stand-in; sets $endpoint and $desc.
serve() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  desc="$work/describe.json"; rm -f "$desc"
  "$target/hub-standin" --size-mib "$SIZE_MIB" --shards "$SHARDS" --rate "$1" --latency-ms "$2" \
    --describe "$desc" 2>"$work/hub.log" &
  pid=$!
  for _ in $(seq 1200); do [ -s "$desc" ] && break; sleep 0.1; done
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
since() { python3 -c "import sys; print(f'{float(sys.argv[2])-float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
mbs() { python3 -c "import sys; print(f'{float(sys.argv[1])/1e6/float(sys.argv[2]):.0f}')" "$1" "$2"; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }
rss() { awk '/Maximum resident/ {printf "%.0f", $6/1024}' "$work/time.txt"; }

# ours $1 = cache dir: timed (fetch, then sync so the bytes are on the disk) with its peak RSS.
ours() {
  spec "$1"
  local t0
  t0=$(now)
  /usr/bin/time -v -o "$work/time.txt" "$target/aigw-installer" --quiet weights fetch --spec "$work/spec.toml" >/dev/null
  sync
  secs=$(since "$t0"); rss_mb=$(rss)
}

serve "$RATE" "$LATENCY_MS"
# The bytes every client fetches: the selected files (no README, no original/).
total="$(python3 -c 'import json,sys; print(sum(f["size"] for f in json.load(open(sys.argv[1]))["files"]))' "$desc")"
note "stand-in: $SIZE_MIB MiB in $SHARDS shards, $total bytes selected; capped $RATE B/s, $LATENCY_MS ms"

ours "$work/capped"; ours_capped=$secs; rss_capped=$rss_mb
rm -rf "$work/capped"

mkdir -p "$work/curl"; t0=$(now)
python3 -c 'import json,sys; [print(f["url"]) for f in json.load(open(sys.argv[1]))["files"]]' "$desc" |
  while read -r url; do curl -sSfL -o "$work/curl/$(basename "$url")" "$url"; done
sync; curl_capped=$(since "$t0")
rm -rf "$work/curl"

hf_capped="" rss_hf=""
if [ -n "$hf_py" ]; then
  t0=$(now)
  if HF_ENDPOINT="$endpoint" HF_HOME="$work/hfhome" HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_PROGRESS_BARS=1 \
    /usr/bin/time -v -o "$work/time.txt" "$hf_py" -c 'import sys, huggingface_hub as h
h.snapshot_download("bench/standin", cache_dir=sys.argv[1], allow_patterns=["*.safetensors", "*.json"])' \
    "$work/hfcache" >"$work/hf.log" 2>&1; then
    sync; hf_capped=$(since "$t0"); rss_hf=$(rss)
  else
    note "huggingface_hub failed against the stand-in: $(tail -3 "$work/hf.log")"
  fi
  rm -rf "$work/hfcache" "$work/hfhome"
fi

serve 0 0
drop_caches
ours "$work/uncapped"; ours_free=$secs; rss_free=$rss_mb
cat "$work"/uncapped/hub/models--bench--standin/blobs/* >"$work/source.bin"
drop_caches
t0=$(now); cp "$work/source.bin" "$work/copy.bin"; sync; copy=$(since "$t0")
rm -f "$work/copy.bin" "$work/source.bin"
# SHA-256 is measured on bytes already in the page cache (read once first), so it times the hashing on
# one core, not the disk; `sha256sum` over the same blobs on the same core is its baseline.
cat "$work"/uncapped/hub/models--bench--standin/blobs/* >/dev/null
t0=$(now)
taskset -c 0 "$target/aigw-installer" --quiet weights verify --spec "$work/spec.toml" >/dev/null
verify=$(since "$t0")
t0=$(now)
taskset -c 0 sha256sum "$work"/uncapped/hub/models--bench--standin/blobs/* >/dev/null
shasum=$(since "$t0")

cores="$(nproc)"
load="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "| case | time (s) | rate (MB/s) | peak RSS (MB) | vs |"
echo "|---|---|---|---|---|"
echo "| capped ${RATE} B/s, ${LATENCY_MS} ms per response: ours | $ours_capped | $(mbs "$total" "$ours_capped") | $rss_capped | |"
echo "| capped: curl -L, one file after another | $curl_capped | $(mbs "$total" "$curl_capped") | | ours $(ratio "$curl_capped" "$ours_capped")× faster |"
if [ -n "$hf_capped" ]; then
  echo "| capped: huggingface_hub $hf_version snapshot_download | $hf_capped | $(mbs "$total" "$hf_capped") | $rss_hf | ours $(ratio "$hf_capped" "$ours_capped")× faster |"
else
  echo "| capped: huggingface_hub | skipped | | | see the lines above |"
fi
echo "| uncapped: ours (then sync) | $ours_free | $(mbs "$total" "$ours_free") | $rss_free | |"
echo "| uncapped: cp of the same bytes, same disk (then sync) | $copy | $(mbs "$total" "$copy") | | ours at $(python3 -c "print(f'{100*$copy/$ours_free:.0f}')") % of its rate |"
echo "| SHA-256: weights verify, taskset -c 0, bytes in the page cache | $verify | $(mbs "$total" "$verify") | | sha256sum on the same core: $shasum s, $(mbs "$total" "$shasum") MB/s |"
note "$cores cores, load $load at the end; page cache dropped: ${dropped:-no}"
