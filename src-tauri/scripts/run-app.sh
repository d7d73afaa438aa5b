#!/usr/bin/env bash
# Sets up a Debian 12 machine (packages, Rust) and starts the installer's desktop wizard.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
"$root/src-tauri/scripts/setup-debian.sh" app
if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
cd "$root"
exec cargo run --release --locked --bin aigw-installer-app
