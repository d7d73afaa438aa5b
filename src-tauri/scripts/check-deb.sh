#!/usr/bin/env bash
# Checks the desktop Debian package that build-deb.sh makes, then installs it after the CLI package it depends on
# (aigw-installer-cli, from installer/cli/scripts/build-deb.sh), starts what they installed, and removes both
# again (the machine is left as found, also on failure or Ctrl-C). Idempotent: copies left installed by an
# earlier run are purged first.
#   usage: src-tauri/scripts/check-deb.sh [DEB [CLI_DEB]]   (default: the ones the build scripts make under the
#   target directory)
# Needs root or sudo, Xvfb (xvfb-run) and desktop-file-validate (skipped when missing, unless CI is set):
# setup-debian.sh test.
# `test && ok … || bad …` below is if-then-else: ok only prints, so it cannot fail.
# shellcheck disable=SC2015
set -euo pipefail

gui="aigw-installer-app"
cli="aigw-installer"
cli_pkg="aigw-installer-cli"
max_bytes=$((15 * 1000 * 1000))
here="$(cd "$(dirname "$0")" && pwd)"
app_dir="$(dirname "$here")"
root="$(dirname "$app_dir")"

failures=0
say() { echo "check-deb: $*"; }
ok() { echo "check-deb:   ok   $*"; }
bad() {
  echo "check-deb:   FAIL $*" >&2
  failures=$((failures + 1))
}
die() {
  echo "check-deb: error: $*" >&2
  exit 1
}

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

if [ "$#" -gt 2 ]; then die "usage: $0 [DEB [CLI_DEB]]"; fi
expected_version="$(sed -nE 's/^  "version": "([^"]+)".*/\1/p' "$app_dir/tauri.conf.json")"
if [ "$#" -ge 1 ]; then
  deb="$1"
  cli_deb="${2:-$(dirname "$1")/../deb-cli/${cli_pkg}_${expected_version}_amd64.deb}"
else
  if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    target_dir="$(cd "$CARGO_TARGET_DIR" 2>/dev/null && pwd)" || die "CARGO_TARGET_DIR=$CARGO_TARGET_DIR does not exist; run build-deb.sh first"
  else
    target_dir="$root/target"
  fi
  version="$(sed -nE 's/^  "version": "([^"]+)".*/\1/p' "$app_dir/tauri.conf.json")"
  deb="$target_dir/release/bundle/deb/${cli}_${version}_amd64.deb"
  cli_deb="$target_dir/release/bundle/deb-cli/${cli_pkg}_${version}_amd64.deb"
fi
[ -f "$deb" ] || die "no package at $deb; build it with src-tauri/scripts/build-deb.sh"
deb="$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")"
[ -f "$cli_deb" ] || die "no CLI package at $cli_deb (the desktop package depends on it); build it with installer/cli/scripts/build-deb.sh"
cli_deb="$(cd "$(dirname "$cli_deb")" && pwd)/$(basename "$cli_deb")"
for tool in dpkg-deb apt-get xvfb-run timeout; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing; run src-tauri/scripts/setup-debian.sh test"
done
# Outside CI a missing desktop-file-validate only skips that one check; under CI it must be there, so that the
# check can never vanish from a run that is meant to be complete.
have_desktop_validate=1
if ! command -v desktop-file-validate >/dev/null 2>&1; then
  have_desktop_validate=0
  if [ -n "${CI:-}" ]; then
    die "CI is set but desktop-file-validate is missing: install desktop-file-utils (src-tauri/scripts/setup-debian.sh test)"
  fi
fi

# 1. What the package says and holds, before anything is installed.
say "inspecting $deb"
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = "$cli" ] && ok "Package: $cli" || bad "Package is '$(field Package)', expected $cli"
[ "$(field Version)" = "$expected_version" ] && ok "Version: $expected_version" \
  || bad "Version is '$(field Version)', expected $expected_version (tauri.conf.json)"
[ "$(field Architecture)" = amd64 ] && ok "Architecture: amd64" || bad "Architecture is '$(field Architecture)', expected amd64"
depends="$(field Depends)"
[[ "$depends" == *libwebkit2gtk-4.1-0* ]] && ok "Depends: $depends" || bad "Depends lacks libwebkit2gtk-4.1-0: '$depends'"
[[ ", $depends," == *", $cli_pkg (= $expected_version),"* ]] && ok "Depends names $cli_pkg (= $expected_version)" \
  || bad "Depends does not name $cli_pkg (= $expected_version), which ships the CLI: '$depends'"
if [[ "$depends" == *docker* ]]; then bad "Depends names Docker ('$depends'): it must only be recommended"; fi
[[ "$(field Recommends)" == *docker* ]] && ok "Recommends: $(field Recommends)" || bad "Recommends does not name Docker"
# The metadata matches the CLI package's (one maintainer, one homepage), and is complete.
for key in Maintainer Homepage Section Priority; do
  want="$(dpkg-deb -f "$cli_deb" "$key")"
  [ -n "$(field "$key")" ] && [ "$(field "$key")" = "$want" ] && ok "$key: $(field "$key")" \
    || bad "$key is '$(field "$key")', the CLI package says '$want'"
done
[[ "$(field Maintainer)" =~ ^[^\<]+\ \<[^@\>]+@[^\>]+\>$ ]] || bad "Maintainer '$(field Maintainer)' is not 'Name <address>'"
description="$(field Description)"
long_lines="$(tail -n +2 <<<"$description" | grep -c . || true)"
[ -n "$(head -n 1 <<<"$description")" ] && [ "$long_lines" -ge 3 ] && ok "Description: '$(head -n 1 <<<"$description")' + $long_lines lines" \
  || bad "Description needs a short line and a long text: '$description'"

size="$(stat -c %s "$deb")"
if [ "$size" -le "$max_bytes" ]; then ok "size $((size / 1000)) kB (limit $((max_bytes / 1000)) kB)"; else
  bad "size $((size / 1000)) kB is over the limit of $((max_bytes / 1000)) kB"
fi

# "MODE OWNER SIZE DATE TIME PATH" per entry, PATH with or without "./": keep "MODE /ABSOLUTE/PATH PATH".
listing="$(dpkg-deb -c "$deb" | awk '{ p = $6; sub(/^\.?\//, "/", p); if (p !~ /^\//) p = "/" p; print $1, p, $6 }')"
member() { # prints a packaged file's content, by its absolute path
  dpkg-deb --fsys-tarfile "$deb" | tar -xO "$(awk -v p="$1" '$2 == p { print $3 }' <<<"$listing")"
}
has_exec() { # an executable regular file at this path in the package
  awk -v p="$1" '$2 == p && $1 ~ /^-..x/ { found = 1 } END { exit !found }' <<<"$listing"
}
has_exec "/usr/bin/$gui" && ok "/usr/bin/$gui (executable)" || bad "no executable /usr/bin/$gui in the package"
has_file() { awk -v p="$1" '$2 == p && $1 ~ /^-/ { found = 1 } END { exit !found }' <<<"$listing"; }
has_file "/usr/share/doc/$cli/copyright" && member "/usr/share/doc/$cli/copyright" | grep -q '^License: ' \
  && ok "/usr/share/doc/$cli/copyright" || bad "no /usr/share/doc/$cli/copyright with a License field in the package"
# The CLI, its completions and manual page belong to aigw-installer-cli: two packages holding a path would
# refuse to install together.
for f in /usr/bin/$cli /usr/share/bash-completion/completions/$cli /usr/share/zsh/vendor-completions/_$cli \
  /usr/share/fish/vendor_completions.d/$cli.fish /usr/share/man/man1/$cli.1.gz; do
  has_file "$f" && bad "$f is in the desktop package; $cli_pkg ships it" || true
done
desktop_path="$(awk '$2 ~ /^\/usr\/share\/applications\/.*\.desktop$/ { print $2 }' <<<"$listing" | head -n 1)"
icons="$(awk '$2 ~ /^\/usr\/share\/icons\/hicolor\/.*\/apps\/.*\.png$/ { print $2 }' <<<"$listing")"
if [ -n "$icons" ]; then ok "hicolor icons: $(tr '\n' ' ' <<<"$icons")"; else bad "no hicolor icons (usr/share/icons/hicolor/*/apps/*.png)"; fi
for icon_path in $icons; do # hicolor/NxN/ holds N-pixel images, NxN@2/ 2N-pixel ones
  dir="$(basename "$(dirname "$(dirname "$icon_path")")")"
  [[ "$dir" =~ ^([0-9]+)x([0-9]+)(@([0-9]+))?$ ]] || { bad "$icon_path: '$dir' is not a hicolor size directory"; continue; }
  px=$((BASH_REMATCH[1] * ${BASH_REMATCH[4]:-1}))
  dims="$(member "$icon_path" | file -b - | grep -oE '[0-9]+ x [0-9]+' || true)"
  [ "$dims" = "$px x $px" ] || bad "$icon_path is ${dims:-not a PNG}, its directory wants $px x $px"
done

if [ -z "$desktop_path" ]; then
  bad "no .desktop file under /usr/share/applications"
else
  desktop="$(member "$desktop_path")"
  entry() { sed -nE "s/^$1=(.*)/\1/p" <<<"$desktop" | head -n 1; }
  exec_bin="$(entry Exec | awk '{ print $1 }')"
  [ "$(basename "$exec_bin")" = "$gui" ] && ok "$desktop_path: Exec=$(entry Exec)" \
    || bad "$desktop_path: Exec='$(entry Exec)' does not start $gui"
  icon="$(entry Icon)"
  if [ -n "$icon" ] && grep -q "/apps/$icon\.png$" <<<"$icons"; then ok "Icon=$icon (shipped)"; else
    bad "Icon='$icon' has no matching hicolor icon in the package"
  fi
  for key in Name Categories Comment; do
    [ -n "$(entry "$key")" ] && ok "$key=$(entry "$key")" || bad "$desktop_path has no $key="
  done
fi

if [ "$failures" -gt 0 ]; then die "$failures check(s) failed on the package's contents; not installing it"; fi

# 2. Install (the CLI package first), start, remove. Whatever apt pulls in is purged again afterwards.
installed_pkgs="$( (dpkg-query -W -f='${Package} ${Status}\n' "$cli" "$cli_pkg" 2>/dev/null || true) | awk '/install ok installed/ { print $1 }' | tr '\n' ' ')"
if [ -n "${installed_pkgs// /}" ]; then
  say "purging copies left installed by an earlier run: $installed_pkgs"
  $sudo env DEBIAN_FRONTEND=noninteractive dpkg --purge "$cli" "$cli_pkg" >/dev/null
fi
scratch="$(mktemp -d)"
before="$scratch/packages-before"
dpkg-query -W -f='${Package}\n' | sort >"$before"
installed=0
cleanup() {
  local rc=$?
  trap '' INT TERM # a second Ctrl-C must not cut the removal short (apt-get inherits this too)
  if [ "$installed" -eq 1 ]; then
    say "removing the package again"
    for p in "$cli" "$cli_pkg"; do
      if dpkg-query -W "$p" >/dev/null 2>&1; then
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "$p" >/dev/null || rc=1
      fi
    done
    # Anything apt installed for the package alone (dependencies absent before) goes too.
    local added
    added="$(dpkg-query -W -f='${Package}\n' | sort | comm -13 "$before" - | tr '\n' ' ')"
    if [ -n "${added// /}" ]; then
      say "purging what the install pulled in: $added"
      # shellcheck disable=SC2086
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $added >/dev/null || rc=1
    fi
    if [ -e "/usr/bin/$gui" ] || [ -e "/usr/bin/$cli" ]; then
      echo "check-deb: error: /usr/bin/$gui or /usr/bin/$cli is still there after removal" >&2
      rc=1
    fi
  fi
  rm -rf "$scratch"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "installing $cli_pkg (dpkg -i $(basename "$cli_deb")), then $cli (apt-get install ./$(basename "$deb"), without recommends)"
installed=1
$sudo env DEBIAN_FRONTEND=noninteractive dpkg -i "$cli_deb" >"$scratch/dpkg.log" 2>&1 || {
  cat "$scratch/dpkg.log" >&2
  die "dpkg -i $(basename "$cli_deb") failed"
}
# apt reads local files as the _apt user where it can; a copy in a world-readable place avoids its notice.
chmod 0755 "$scratch"
cp "$deb" "$scratch/" && chmod 0644 "$scratch/$(basename "$deb")"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "$scratch/$(basename "$deb")" >"$scratch/apt.log" 2>&1 || {
  cat "$scratch/apt.log" >&2
  die "apt-get install failed"
}
ok "installed $(dpkg-query -W -f='${Package} ${Version}\n' "$cli_pkg" "$cli" | tr '\n' ' ')"
owner="$(dpkg-query -S "/usr/bin/$cli" 2>/dev/null | cut -d: -f1)"
[ "$owner" = "$cli_pkg" ] && ok "/usr/bin/$cli comes from $cli_pkg" || bad "/usr/bin/$cli belongs to '$owner', expected $cli_pkg"

missing_libs="$(ldd "/usr/bin/$gui" "/usr/bin/$cli" | grep 'not found' || true)"
[ -z "$missing_libs" ] && ok "every shared library resolves" || bad "unresolved libraries: $missing_libs"

if [ "$have_desktop_validate" -eq 1 ]; then
  if out="$(desktop-file-validate "$desktop_path" 2>&1)" && [ -z "$out" ]; then ok "desktop-file-validate $desktop_path"; else
    bad "desktop-file-validate $desktop_path: $out"
  fi
else
  say "  (desktop-file-validate not installed: skipped; it comes with desktop-file-utils; CI=1 makes this a failure)"
fi

if out="$("/usr/bin/$cli" --version 2>&1)" && [[ "$out" == *"$expected_version"* ]]; then ok "/usr/bin/$cli --version: $out"; else
  bad "/usr/bin/$cli --version failed or does not say $expected_version: $out"
fi

# The installed wizard under a virtual display: AIGW_EXIT_WHEN_READY makes it exit 0 once its page has loaded.
# A scratch HOME keeps its logs and WebKit caches off this machine.
mkdir -p "$scratch/home"
start="$(date +%s%N)"
set +e
HOME="$scratch/home" XDG_DATA_HOME="$scratch/home/.local/share" XDG_CACHE_HOME="$scratch/home/.cache" \
  XDG_CONFIG_HOME="$scratch/home/.config" AIGW_EXIT_WHEN_READY=1 \
  xvfb-run -a -s '-screen 0 1280x800x24' timeout 60 "/usr/bin/$gui" >"$scratch/gui.log" 2>&1
gui_rc=$?
set -e
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
if [ "$gui_rc" -eq 0 ]; then ok "/usr/bin/$gui started and loaded its page under Xvfb (exit 0 after ${elapsed_ms} ms, Xvfb start included)"; else
  [ "$gui_rc" -eq 124 ] && why="no page load within 60 s" || why="exit status $gui_rc"
  bad "/usr/bin/$gui under Xvfb: $why; its output:"
  sed 's/^/    /' "$scratch/gui.log" >&2
fi

if [ "$failures" -gt 0 ]; then die "$failures check(s) failed"; fi
say "all checks passed for $(basename "$deb")"
