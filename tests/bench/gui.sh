#!/usr/bin/env bash
# Benchmark (not a test): the desktop wizard against a bare Tauri window (tests/bench/bare-window), side by side
# in one run, both built the same way (cargo tauri build: release profile + tauri's custom-protocol feature;
# the wizard's binary is the very one in the .deb):
#   1. launch → first interactive step (page loaded), with AIGW_EXIT_WHEN_READY=1: hyperfine, warm caches, and
#      with the page cache dropped before each run where this machine allows it;
#   2. memory at idle: PSS summed over the process and its descendants (WebKit's web and network processes);
#   3. the .deb's size and both release binaries' sizes.
# Prints a markdown table and the rows for docs/BENCHMARKS.md; writes $OUT_MD (default <target>/bench-gui.md).
# Knobs: RUNS (warm runs, default 15), COLD_RUNS (default 5), IDLE_S (wait after the window appears, default 5),
# MEM_ROUNDS (launches per binary for memory, default 3). Runs itself under Xvfb when DISPLAY is unset.
set -euo pipefail
shopt -s inherit_errexit
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
if [ -z "${DISPLAY:-}" ]; then
  exec xvfb-run -a -s '-screen 0 1280x800x24' "$here/gui.sh" "$@"
fi
if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
for tool in cargo hyperfine jq xdotool pgrep; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "gui.sh: $tool is missing; run src-tauri/scripts/setup-debian.sh test" >&2
    exit 1
  }
done
runs="${RUNS:-15}"
cold_runs="${COLD_RUNS:-5}"
idle_s="${IDLE_S:-5}"
mem_rounds="${MEM_ROUNDS:-3}"

if [ -n "${CARGO_TARGET_DIR:-}" ]; then
  mkdir -p "$CARGO_TARGET_DIR"
  CARGO_TARGET_DIR="$(cd "$CARGO_TARGET_DIR" && pwd)"
  export CARGO_TARGET_DIR
fi
cd "$root"
target_dir="$(cargo metadata --format-version 1 --no-deps --locked | jq -r .target_directory)"
out="${OUT_MD:-$target_dir/bench-gui.md}"
work="$(mktemp -d)"
tree() { # a pid and all its descendants
  echo "$1"
  local c
  for c in $(pgrep -P "$1" || true); do tree "$c"; done
}
cleanup() { # the app a failed memory round left running, with its WebKit processes
  if [ -f "$work/running" ]; then
    # shellcheck disable=SC2046
    kill -KILL $(tree "$(cat "$work/running")") 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- Build both the same way. -------------------------------------------------------------------------------
echo "== building the wizard and its .deb (src-tauri/scripts/build-deb.sh)" >&2
deb="$("$root/src-tauri/scripts/build-deb.sh" | tail -n 1)"
echo "== building the bare window (cargo tauri build --no-bundle)" >&2
(cd "$root/tests/bench/bare-window" && cargo tauri build --ci --no-bundle -- --locked) >&2
app="$target_dir/release/aigw-installer-app"
bare="$target_dir/release/aigw-bench-bare-window"
for b in "$app" "$bare"; do [ -x "$b" ] || {
  echo "gui.sh: $b was not built" >&2
  exit 1
}; done

# Both run with a scratch HOME: no logs or WebKit caches left behind, and the same (empty, then warmed) state.
export HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share" XDG_CACHE_HOME="$work/home/.cache" \
  XDG_CONFIG_HOME="$work/home/.config"
mkdir -p "$HOME"
load_before="$(cut -d' ' -f1 /proc/loadavg)"

# --- 1. Launch → page loaded. ----------------------------------------------------------------------------------
echo "== launch → page loaded, warm ($runs runs each)" >&2
AIGW_EXIT_WHEN_READY=1 hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/warm.json" \
  -n "wizard" "$app" -n "bare window" "$bare" >&2
cold_note=""
if (sync && echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
  echo "== launch → page loaded, page cache dropped before each run ($cold_runs runs each)" >&2
  AIGW_EXIT_WHEN_READY=1 hyperfine -N --runs "$cold_runs" --export-json "$work/cold.json" \
    --prepare "sh -c 'sync; echo 3 > /proc/sys/vm/drop_caches'" \
    -n "wizard" "$app" -n "bare window" "$bare" >&2
else
  cold_note="cannot write /proc/sys/vm/drop_caches here (needs root outside a container): no truly-cold run"
  echo "gui.sh: $cold_note" >&2
fi

# --- 2. Memory at idle. ----------------------------------------------------------------------------------------
pss_kb() { # PSS of a process tree, in kB
  local sum=0 p v
  for p in $(tree "$1"); do
    v="$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || true)"
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
median() { sort -n | awk 'NF { a[++n] = $1 } END { print (n % 2) ? a[(n + 1) / 2] : int((a[n / 2] + a[n / 2 + 1]) / 2) }'; }
idle_pss() { # launches the binary, waits for its window, then idle_s; prints the median of 5 PSS samples (kB)
  local bin="$1" pid samples="" i kids
  "$bin" >"$work/$(basename "$bin").log" 2>&1 &
  pid=$!
  echo "$pid" >"$work/running"
  if ! timeout 30 xdotool search --sync --onlyvisible --pid "$pid" >/dev/null 2>&1; then
    echo "gui.sh: no window from $bin within 30 s; its output:" >&2
    cat "$work/$(basename "$bin").log" >&2
    return 1
  fi
  sleep "$idle_s"
  for i in 1 2 3 4 5; do
    samples+="$(pss_kb "$pid")"$'\n'
    [ "$i" -eq 5 ] || sleep 1
  done
  echo "   $(basename "$bin"): $(for p in $(tree "$pid"); do basename "$(readlink "/proc/$p/exe")"; done |
    sort | uniq -c | awk '{ printf "%s%s×%s", sep, $1, $2; sep = " + " }'), $((${samples%%$'\n'*} / 1024)) MiB" >&2
  kids="$(tree "$pid")"
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    # shellcheck disable=SC2086
    ps -o pid= -p "$(echo $kids | tr ' ' ,)" >/dev/null 2>&1 || break
    sleep 0.1
  done
  # shellcheck disable=SC2086
  kill -KILL $kids 2>/dev/null || true
  rm -f "$work/running"
  median <<<"$samples"
}
echo "== memory at idle (PSS of the process tree, ${idle_s} s after the window appears; $mem_rounds launches each)" >&2
app_mem=""
bare_mem=""
for _ in $(seq 1 "$mem_rounds"); do
  app_mem+="$(idle_pss "$app")"$'\n'
  bare_mem+="$(idle_pss "$bare")"$'\n'
done
app_pss="$(median <<<"$app_mem")"
bare_pss="$(median <<<"$bare_mem")"
load_after="$(cut -d' ' -f1 /proc/loadavg)"

# --- 3. Sizes, and the report. ---------------------------------------------------------------------------------
deb_bytes="$(stat -c %s "$deb")"
app_bytes="$(stat -c %s "$app")"
bare_bytes="$(stat -c %s "$bare")"
med() { jq -r --arg n "$2" '.results[] | select(.command == $n) | .median' "$1"; }
sd() { jq -r --arg n "$2" '.results[] | select(.command == $n) | .stddev' "$1"; }
awk_fmt() { awk "BEGIN { $1 }"; }
yes_no() { awk_fmt "print ($1) ? \"yes\" : \"**no**\""; }

w_app="$(med "$work/warm.json" wizard)"
w_bare="$(med "$work/warm.json" "bare window")"
w_ratio="$(awk_fmt "printf \"%.2f\", $w_app / $w_bare")"
w_met="$(yes_no "$w_app <= 1.5 && $w_app / $w_bare <= 1.3")"
rows=()
rows+=("| launch → page loaded, warm (median of $runs) | $(awk_fmt "printf \"%.0f ms ± %.0f\", $w_app * 1000, $(sd "$work/warm.json" wizard) * 1000") | $(awk_fmt "printf \"%.0f ms ± %.0f\", $w_bare * 1000, $(sd "$work/warm.json" "bare window") * 1000") | ×$w_ratio | ≤ 1.5 s and ≤ 1.3 × bare | $w_met |")
if [ -f "$work/cold.json" ]; then
  c_app="$(med "$work/cold.json" wizard)"
  c_bare="$(med "$work/cold.json" "bare window")"
  rows+=("| launch → page loaded, page cache dropped (median of $cold_runs) | $(awk_fmt "printf \"%.0f ms\", $c_app * 1000") | $(awk_fmt "printf \"%.0f ms\", $c_bare * 1000") | ×$(awk_fmt "printf \"%.2f\", $c_app / $c_bare") | ≤ 1.5 s and ≤ 1.3 × bare | $(yes_no "$c_app <= 1.5 && $c_app / $c_bare <= 1.3") |")
fi
mb() { awk_fmt "printf \"%.1f MB\", ($1) / 1000000"; } # MB = 10^6 bytes
rows+=("| memory at idle, PSS of the process tree (median of $mem_rounds) | $(mb "$app_pss * 1024") | $(mb "$bare_pss * 1024") | +$(mb "($app_pss - $bare_pss) * 1024") | ≤ bare + 60 MB | $(yes_no "($app_pss - $bare_pss) * 1024 <= 60000000") |")
rows+=("| release binary (stripped) | $(mb "$app_bytes") | $(mb "$bare_bytes") | +$(mb "$app_bytes - $bare_bytes") | — | — |")
rows+=("| .deb (desktop; the CLI is aigw-installer-cli) | $(mb "$deb_bytes") | — | — | ≤ 15 MB | $(yes_no "$deb_bytes <= 15000000") |")

conditions="$(nproc) cores, load $load_before before, $load_after after"
busy=0
for name in cargo rustc cc1 cc1plus; do busy=$((busy + $(pgrep -c -x "$name" || true))); done
if [ "$busy" -gt 0 ]; then conditions+=", $busy compiler processes at the end"; fi
{
  echo "| measure | wizard | bare window | wizard vs bare | target | met |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Conditions: $conditions; Xvfb 1280x800x24 (software rendering); both built by cargo tauri build."
  if [ -n "$cold_note" ]; then echo "Note: $cold_note."; fi
  echo
  echo "Rows for docs/BENCHMARKS.md:"
  echo
  for r in "${rows[@]}"; do echo "| $(date +%F) $r $conditions |"; done
} | tee "$out"
echo "(written to $out)" >&2
