#!/usr/bin/env bash
# Builds the desktop Debian package with Tauri's own bundler: aigw-installer_<version>_amd64.deb, holding the
# wizard (/usr/bin/aigw-installer-app, a .desktop entry, hicolor icons, the copyright file). It depends on
# aigw-installer-cli of the same version, which ships the CLI (/usr/bin/aigw-installer, its completions and
# manual page): build that one with installer/cli/scripts/build-deb.sh.
# Prints the .deb's path on the last line. Honours CARGO_TARGET_DIR. Run setup-debian.sh (app or test) first.
#
# tauri-cli is installed into ~/.cargo/bin once (cargo install, ~7 min on 2 cores) and reused afterwards.
set -euo pipefail

tauri_cli_version="2.12.4"
here="$(cd "$(dirname "$0")" && pwd)"
app_dir="$(dirname "$here")" # src-tauri/, where tauri.conf.json lives
root="$(dirname "$app_dir")"
if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi

say() { echo "build-deb: $*" >&2; }
die() {
  echo "build-deb: error: $*" >&2
  exit 1
}

command -v cargo >/dev/null 2>&1 || die "cargo is not installed; run src-tauri/scripts/setup-debian.sh app first"

# A relative CARGO_TARGET_DIR means "relative to where you ran this"; make it absolute before we change directory.
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
  mkdir -p "$CARGO_TARGET_DIR"
  CARGO_TARGET_DIR="$(cd "$CARGO_TARGET_DIR" && pwd)"
  export CARGO_TARGET_DIR
fi
cd "$root"
# Where cargo puts its output (CARGO_TARGET_DIR, a config's build.target-dir, or target/).
target_dir="$(cargo metadata --format-version 1 --no-deps --locked | sed -nE 's/.*"target_directory":"([^"]*)".*/\1/p')"
[ -n "$target_dir" ] || die "cargo metadata did not name the target directory"

# 1. tauri-cli (cargo tauri), only when missing.
if cli_version="$(cargo tauri --version 2>/dev/null)" && [[ "$cli_version" =~ ^tauri-cli\ 2\. ]]; then
  say "using $cli_version"
else
  say "installing tauri-cli $tauri_cli_version into ~/.cargo/bin (cargo install --locked; about 7 minutes on 2 cores)"
  cargo install tauri-cli --version "=$tauri_cli_version" --locked --quiet
  say "installed $(cargo tauri --version)"
fi

# 2. The app, built by tauri (release, with the custom-protocol feature), and the package.
say "building the app and the package (cargo tauri build --bundles deb)"
version="$(sed -nE 's/^  "version": "([^"]+)".*/\1/p' "$app_dir/tauri.conf.json")"
deb="$target_dir/release/bundle/deb/aigw-installer_${version}_amd64.deb"
rm -f "$deb"
(cd "$app_dir" && cargo tauri build --ci --bundles deb -- --locked)
[ -f "$deb" ] || die "the bundler finished but $deb is missing"
say "done: $(du -h "$deb" | cut -f1) (check it with src-tauri/scripts/check-deb.sh)"
echo "$deb"
