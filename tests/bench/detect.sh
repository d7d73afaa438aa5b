#!/usr/bin/env bash
# Benchmark (not a test): `aigw-installer detect --json` against the shell baseline, in the same run.
# Writes the hyperfine table to stdout and $OUT_MD (default target/bench-detect.md).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
cargo build --release --locked --bin aigw-installer
bin="${CARGO_TARGET_DIR:-$root/target}/release/aigw-installer"
out="${OUT_MD:-${CARGO_TARGET_DIR:-$root/target}/bench-detect.md}"
json="${out%.md}.json"
hyperfine --warmup 5 --runs "${RUNS:-50}" -N --export-markdown "$out" --export-json "$json" \
  -n "aigw-installer detect --json" "$bin detect --json" \
  -n "shell baseline" "bash tests/bench/detect-baseline.sh"
cat "$out"
# The targets are on medians: ours ≤ 0.5 × baseline, and under 150 ms.
jq -r '.results | "median: ours \(.[0].median * 1000 | floor) ms, baseline \(.[1].median * 1000 | floor) ms, ratio \((.[0].median / .[1].median * 100 | floor) / 100)"' "$json"
