#!/usr/bin/env bash
# Sets up a Debian 12 machine for the test suites (packages, Rust, a running Docker engine) and runs every
# test of the workspace under a virtual display, then builds both .debs and checks them (install, start, remove):
# the CLI-only aigw-installer-cli, then the desktop aigw-installer installed after it.
# CI=true makes a missing Docker engine or display a failure. SKIP_DEB=1 stops after the cargo tests.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/src-tauri/scripts/setup-debian.sh" test
if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
cd "$root"
xvfb-run -a -s '-screen 0 1280x800x24' cargo test --workspace --locked "$@"
if [ "${SKIP_DEB:-}" = 1 ] && [ -n "${CI:-}" ]; then
  echo "run-all: SKIP_DEB=1 is refused when CI is set: the .deb is part of all tests" >&2
  exit 1
fi
if [ "${SKIP_DEB:-}" = 1 ]; then
  echo "run-all: SKIP_DEB=1: not building or checking the .debs"
  exit 0
fi
# They honour CARGO_TARGET_DIR; each check-deb.sh finds the packages where the build-deb.sh scripts put them.
installer/cli/scripts/build-deb.sh
installer/cli/scripts/check-deb.sh
src-tauri/scripts/build-deb.sh
src-tauri/scripts/check-deb.sh
