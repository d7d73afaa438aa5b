#!/usr/bin/env bash
# Build and test times of two revisions side by side (issue 10's floors): a clean build of everything the
# test command compiles, the rebuild after touching one core file (sizing.rs), and the cargo part of the
# test command (`cargo test --workspace` under Xvfb; the .deb build is the same for both and left out).
# Each revision gets its own worktree and an empty target directory; crates.io downloads are shared.
#   tests/bench/build.sh [BASE [HEAD]]     (defaults: HEAD~1 and HEAD)
# Prints one Markdown row per measure. Needs what src-tauri/scripts/setup-debian.sh test installs.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
base="$(git -C "$root" rev-parse "${1:-HEAD~1}")"
head="$(git -C "$root" rev-parse "${2:-HEAD}")"
if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
work="$(mktemp -d)"
cleanup() {
  for r in base head; do git -C "$root" worktree remove --force "$work/$r" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
git -C "$root" worktree add -q --detach "$work/base" "$base"
git -C "$root" worktree add -q --detach "$work/head" "$head"
# Fetch every crate first so that no download is timed.
for r in base head; do (cd "$work/$r" && cargo fetch --locked -q); done

seconds() { # dir, command...: wall seconds of the command run in dir with its own target dir
  local dir="$1"; shift
  local t0 t1
  t0=$(date +%s.%N)
  (cd "$dir" && CARGO_TARGET_DIR="$dir/target" "$@" >"$dir/last.log" 2>&1) || { echo "failed: $* in $dir" >&2; tail -20 "$dir/last.log" >&2; exit 1; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }'
}

declare -A clean incr test nbin
for r in base head; do
  clean[$r]=$(seconds "$work/$r" cargo test --workspace --locked --no-run)
done
for r in base head; do
  touch "$work/$r/$(git -C "$work/$r" ls-files '*/sizing.rs' | head -n1)"
  incr[$r]=$(seconds "$work/$r" cargo test --workspace --locked --no-run)
done
for r in base head; do
  test[$r]=$(seconds "$work/$r" env CI=true xvfb-run -a -s '-screen 0 1280x800x24' cargo test --workspace --locked)
  nbin[$r]=$(grep -cE '^\s+Running ' "$work/$r/last.log" || true)
done
load=$(cut -d' ' -f1-3 /proc/loadavg)
row() { awk -v d="$(date +%F)" -v m="$1" -v a="$2" -v b="$3" -v n="$4" 'BEGIN { printf "| %s | %s | %.0f s | %.0f s | ×%.2f | %s |\n", d, m, a, b, b / a, n }'; }
echo "| date | measure | before (${base:0:7}) | after (${head:0:7}) | after/before | notes |"
echo "|---|---|---|---|---|---|"
row "clean build (\`cargo test --workspace --no-run\`, empty target)" "${clean[base]}" "${clean[head]}" "load $load"
row "rebuild after touching sizing.rs" "${incr[base]}" "${incr[head]}" ""
row "test command, cargo part (\`cargo test --workspace\`)" "${test[base]}" "${test[head]}" "test binaries run: ${nbin[base]} → ${nbin[head]}"
