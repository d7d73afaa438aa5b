#!/usr/bin/env bash
# Sets up a Debian 12 machine for the test suites (packages, Rust, a running Docker engine) and runs every
# test of the workspace under a virtual display. CI=true makes a missing Docker engine or display a failure.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/src-tauri/scripts/setup-debian.sh" test
if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
cd "$root"
exec xvfb-run -a -s '-screen 0 1280x800x24' cargo test --workspace --locked "$@"
