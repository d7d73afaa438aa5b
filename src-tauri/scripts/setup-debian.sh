#!/usr/bin/env bash
# Installs what aigw-installer needs on Debian 12, and nothing twice: it checks each package first and says
# what it installs. Profiles:
#   app   build and run the desktop app and the CLI (WebKitGTK, GTK, a C toolchain, Rust)
#   test  app + what the test suites use: Xvfb, the WebKit WebDriver, a running Docker engine with
#         Debian's Compose tool, ruby (checks gitlab.rb), hyperfine (benchmarks), desktop-file-utils
#         (the .deb check), openssh-server (the ssh:// engine tests start their own sshd); tauri-cli
#         itself is installed by build-deb.sh when it first needs it
set -euo pipefail

profile="${1:-app}"
case "$profile" in app|test) ;; *) echo "usage: $0 [app|test]" >&2; exit 2 ;; esac

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

app_pkgs=(build-essential pkg-config file curl ca-certificates libssl-dev
  libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libayatana-appindicator3-dev fonts-dejavu-core)
test_pkgs=(xvfb xauth webkit2gtk-driver imagemagick xdotool docker.io docker-compose ruby hyperfine jq util-linux iproute2
  desktop-file-utils man-db openssh-server)

wanted=("${app_pkgs[@]}")
if [ "$profile" = test ]; then wanted+=("${test_pkgs[@]}"); fi

missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: Debian packages already present (${#wanted[@]} checked)"
fi

# Rust: Debian 12's rustc (1.63) is too old for this workspace (rust-version 1.85); use rustup's.
need_minor=85
rust_ok() {
  command -v cargo >/dev/null 2>&1 && command -v rustc >/dev/null 2>&1 || return 1
  local minor
  minor=$(rustc --version | sed -E 's/^rustc 1\.([0-9]+).*/\1/')
  [ "${minor:-0}" -ge "$need_minor" ]
}
if ! rust_ok && [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
if ! rust_ok; then
  echo "setup: installing the Rust toolchain with rustup (stable, minimal profile + clippy, rustfmt)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt
  export PATH="$HOME/.cargo/bin:$PATH"
else
  echo "setup: $(rustc --version)"
fi
for comp in clippy rustfmt; do
  if ! cargo "${comp/rustfmt/fmt}" --version >/dev/null 2>&1 && command -v rustup >/dev/null 2>&1; then
    echo "setup: adding rustup component $comp"
    rustup component add "$comp"
  fi
done

if [ "$profile" = test ] && ! command -v tauri-driver >/dev/null 2>&1; then
  # The GUI suite drives the real app through tauri-driver (which starts WebKitWebDriver).
  echo "setup: installing tauri-driver (cargo install tauri-driver --locked)"
  cargo install tauri-driver --locked --quiet
fi

if [ "$profile" = test ]; then
  # The suites talk to a real engine. Start it if it is installed but not running.
  if ! $sudo docker info >/dev/null 2>&1; then
    echo "setup: starting the Docker engine"
    if [ -d /run/systemd/system ]; then
      $sudo systemctl start docker
    else
      $sudo sh -c 'nohup dockerd >/var/log/dockerd.log 2>&1 &'
    fi
    for _ in $(seq 1 30); do $sudo docker info >/dev/null 2>&1 && break; sleep 1; done
    $sudo docker info >/dev/null 2>&1 || { echo "setup: the Docker engine did not start (see /var/log/dockerd.log or journalctl -u docker)" >&2; exit 1; }
  fi
  echo "setup: Docker engine $($sudo docker version --format '{{.Server.Version}}') is running"
fi
