#!/usr/bin/env bash
# Checks the Debian package that build-deb.sh makes, then installs it, starts what it installed, and removes it
# again (the machine is left as found, also on failure or Ctrl-C).
#   usage: src-tauri/scripts/check-deb.sh [DEB]   (default: the one build-deb.sh makes under the target directory)
# Needs root or sudo, Xvfb (xvfb-run) and desktop-file-validate (skipped when missing, unless CI is set):
# setup-debian.sh test.
# `test && ok … || bad …` below is if-then-else: ok only prints, so it cannot fail.
# shellcheck disable=SC2015
set -euo pipefail

gui="aigw-installer-app"
cli="aigw-installer"
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

if [ "$#" -gt 1 ]; then die "usage: $0 [DEB]"; fi
if [ "$#" -eq 1 ]; then
  deb="$1"
else
  if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    target_dir="$(cd "$CARGO_TARGET_DIR" 2>/dev/null && pwd)" || die "CARGO_TARGET_DIR=$CARGO_TARGET_DIR does not exist; run build-deb.sh first"
  else
    target_dir="$root/target"
  fi
  version="$(sed -nE 's/^  "version": "([^"]+)".*/\1/p' "$app_dir/tauri.conf.json")"
  deb="$target_dir/release/bundle/deb/${cli}_${version}_amd64.deb"
fi
[ -f "$deb" ] || die "no package at $deb; build it with src-tauri/scripts/build-deb.sh"
deb="$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")"
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
expected_version="$(sed -nE 's/^  "version": "([^"]+)".*/\1/p' "$app_dir/tauri.conf.json")"
[ "$(field Version)" = "$expected_version" ] && ok "Version: $expected_version" \
  || bad "Version is '$(field Version)', expected $expected_version (tauri.conf.json)"
[ "$(field Architecture)" = amd64 ] && ok "Architecture: amd64" || bad "Architecture is '$(field Architecture)', expected amd64"
depends="$(field Depends)"
[[ "$depends" == *libwebkit2gtk-4.1-0* ]] && ok "Depends: $depends" || bad "Depends lacks libwebkit2gtk-4.1-0: '$depends'"
if [[ "$depends" == *docker* ]]; then bad "Depends names Docker ('$depends'): it must only be recommended"; fi
say "  (Recommends: $(field Recommends); Section: $(field Section))"

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
for bin in "$gui" "$cli"; do
  has_exec "/usr/bin/$bin" && ok "/usr/bin/$bin (executable)" || bad "no executable /usr/bin/$bin in the package"
done
has_file() { awk -v p="$1" '$2 == p && $1 ~ /^-/ { found = 1 } END { exit !found }' <<<"$listing"; }
for f in /usr/share/bash-completion/completions/$cli /usr/share/zsh/vendor-completions/_$cli \
  /usr/share/fish/vendor_completions.d/$cli.fish /usr/share/man/man1/$cli.1.gz; do
  has_file "$f" && ok "$f" || bad "no $f in the package"
done
# The bash completion parses and completes the subcommands; the manual page names the command.
if member "/usr/share/bash-completion/completions/$cli" | bash -n 2>/dev/null \
  && member "/usr/share/bash-completion/completions/$cli" | grep -q 'apply'; then
  ok "bash completion parses (bash -n) and knows 'apply'"
else
  bad "the bash completion does not parse or lacks the subcommands"
fi
if member "/usr/share/man/man1/$cli.1.gz" | gzip -dc | grep -q '^\.TH'; then ok "manual page $cli(1)"; else
  bad "/usr/share/man/man1/$cli.1.gz is not a manual page"
fi
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

# 2. Install, start, remove. Whatever apt pulls in for the package is purged again afterwards.
if dpkg-query -W -f='${Status}' "$cli" 2>/dev/null | grep -q "install ok installed"; then
  die "$cli is already installed here ($(dpkg-query -W -f='${Version}' "$cli")); remove it first: this check installs and removes the package"
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
    if dpkg-query -W "$cli" >/dev/null 2>&1; then
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "$cli" >/dev/null || rc=1
    fi
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

say "installing it (apt-get install ./$(basename "$deb"), without recommends)"
installed=1
# apt reads local files as the _apt user where it can; a copy in a world-readable place avoids its notice.
chmod 0755 "$scratch"
cp "$deb" "$scratch/" && chmod 0644 "$scratch/$(basename "$deb")"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "$scratch/$(basename "$deb")" >"$scratch/apt.log" 2>&1 || {
  cat "$scratch/apt.log" >&2
  die "apt-get install failed"
}
ok "installed $(dpkg-query -W -f='${Package} ${Version}' "$cli")"

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
