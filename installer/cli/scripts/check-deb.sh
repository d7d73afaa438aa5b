#!/usr/bin/env bash
# Checks the command-line-only package that build-deb.sh (next to this script) makes, then installs it with dpkg -i,
# runs what it installed, and removes it again (the machine is left as found, also on failure or Ctrl-C).
#   usage: installer/cli/scripts/check-deb.sh [DEB]   (default: the one build-deb.sh makes under the target directory)
# Idempotent: a copy of the package left installed by an earlier run is purged first (with the desktop package,
# which depends on it). Needs root or sudo.
# `test && ok … || bad …` below is if-then-else: ok only prints, so it cannot fail.
# shellcheck disable=SC2015
set -euo pipefail

pkg="aigw-installer-cli"
desktop_pkg="aigw-installer"
cli="aigw-installer"
max_bytes=$((10 * 1000 * 1000))
here="$(cd "$(dirname "$0")" && pwd)"
cli_dir="$(dirname "$here")"
root="$(cd "$cli_dir/../.." && pwd)"

failures=0
say() { echo "check-deb (cli): $*"; }
ok() { echo "check-deb (cli):   ok   $*"; }
bad() {
  echo "check-deb (cli):   FAIL $*" >&2
  failures=$((failures + 1))
}
die() {
  echo "check-deb (cli): error: $*" >&2
  exit 1
}

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

# The workspace's version (the first `version = ` of the root Cargo.toml is [workspace.package]'s).
expected_version="$(sed -nE 's/^version = "([^"]+)".*/\1/p' "$root/Cargo.toml" | head -n 1)"
arch="$(dpkg --print-architecture)"
if [ "$#" -gt 1 ]; then die "usage: $0 [DEB]"; fi
if [ "$#" -eq 1 ]; then
  deb="$1"
else
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    target_dir="$(cd "$CARGO_TARGET_DIR" 2>/dev/null && pwd)" || die "CARGO_TARGET_DIR=$CARGO_TARGET_DIR does not exist; run build-deb.sh first"
  else
    target_dir="$root/target"
  fi
  deb="$target_dir/release/bundle/deb-cli/${pkg}_${expected_version}_${arch}.deb"
fi
[ -f "$deb" ] || die "no package at $deb; build it with installer/cli/scripts/build-deb.sh"
deb="$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")"
for tool in dpkg-deb dpkg ldd; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing"
done

# 1. What the package says and holds, before anything is installed.
say "inspecting $deb"
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = "$pkg" ] && ok "Package: $pkg" || bad "Package is '$(field Package)', expected $pkg"
[ "$(field Version)" = "$expected_version" ] && ok "Version: $expected_version" \
  || bad "Version is '$(field Version)', expected $expected_version (Cargo.toml)"
[ "$(field Architecture)" = "$arch" ] && ok "Architecture: $arch" || bad "Architecture is '$(field Architecture)', expected $arch"
[[ "$(field Maintainer)" =~ ^[^\<]+\ \<[^@\>]+@[^\>]+\>$ ]] && ok "Maintainer: $(field Maintainer)" \
  || bad "Maintainer '$(field Maintainer)' is not 'Name <address>'"
[[ "$(field Homepage)" =~ ^https?://[^\ ]+$ ]] && ok "Homepage: $(field Homepage)" || bad "Homepage '$(field Homepage)' is not a URL"
[ "$(field Section)" = admin ] && ok "Section: admin" || bad "Section is '$(field Section)', expected admin"
[ "$(field Priority)" = optional ] && ok "Priority: optional" || bad "Priority is '$(field Priority)', expected optional"
description="$(field Description)"
short="$(head -n 1 <<<"$description")"
long_lines="$(tail -n +2 <<<"$description" | grep -c . || true)"
[ -n "$short" ] && [ "${#short}" -le 80 ] && [ "$long_lines" -ge 3 ] \
  && ok "Description: '$short' + $long_lines lines" || bad "Description needs a short line (<= 80 chars) and a long text: '$description'"
depends="$(field Depends)"
[[ "$depends" == *libc6* ]] && ok "Depends (dpkg-shlibdeps): $depends" || bad "Depends lacks libc6: '$depends'"
if grep -Eqi 'gtk|webkit|javascriptcore|soup' <<<"$depends"; then bad "Depends names GTK/WebKit: '$depends'"; fi
if [[ "$depends" == *docker* ]]; then bad "Depends names Docker ('$depends'): it must only be recommended"; fi
[[ "$(field Recommends)" == *docker* ]] && ok "Recommends: $(field Recommends)" || bad "Recommends does not name Docker"
[[ "$(field Installed-Size)" =~ ^[0-9]+$ ]] && ok "Installed-Size: $(field Installed-Size) KiB" || bad "Installed-Size '$(field Installed-Size)' is not a number"

size="$(stat -c %s "$deb")"
if [ "$size" -le "$max_bytes" ]; then ok "size $((size / 1000)) kB (limit $((max_bytes / 1000)) kB)"; else
  bad "size $((size / 1000)) kB is over the limit of $((max_bytes / 1000)) kB"
fi

# "MODE OWNER SIZE DATE TIME PATH" per entry: keep "MODE OWNER /ABSOLUTE/PATH".
listing="$(dpkg-deb -c "$deb" | awk '{ p = $6; sub(/^\.?\//, "/", p); if (p !~ /^\//) p = "/" p; print $1, $2, p }')"
has_file() { awk -v p="$1" -v m="$2" '$3 == p && $1 ~ m { found = 1 } END { exit !found }' <<<"$listing"; }
files=(/usr/share/bash-completion/completions/$cli /usr/share/zsh/vendor-completions/_$cli
  /usr/share/fish/vendor_completions.d/$cli.fish /usr/share/man/man1/$cli.1.gz /usr/share/doc/$pkg/copyright)
has_file "/usr/bin/$cli" '^-rwxr-xr-x' && ok "/usr/bin/$cli (0755)" || bad "no executable /usr/bin/$cli (0755) in the package"
for f in "${files[@]}"; do
  has_file "$f" '^-rw-r--r--' && ok "$f (0644)" || bad "no $f (0644) in the package"
done
foreign="$(awk '$2 != "root/root" { print $3 }' <<<"$listing")"
[ -z "$foreign" ] && ok "every entry is owned by root/root" || bad "entries not owned by root: $foreign"
others="$(awk '$1 ~ /^-/ { print $3 }' <<<"$listing" | grep -vxF -e "/usr/bin/$cli" "${files[@]/#/-e}" || true)"
[ -z "$others" ] && ok "nothing else in the package" || bad "unexpected files: $others"

if [ "$failures" -gt 0 ]; then die "$failures check(s) failed on the package's contents; not installing it"; fi

# 2. Install, run, remove.
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
if installed "$pkg" || installed "$desktop_pkg"; then
  say "purging a copy left installed by an earlier run: $(dpkg-query -W -f='${Package} ${Version}\n' "$pkg" "$desktop_pkg" 2>/dev/null | tr '\n' ' ')"
  $sudo env DEBIAN_FRONTEND=noninteractive dpkg --purge "$desktop_pkg" "$pkg" >/dev/null
fi
scratch="$(mktemp -d)"
did_install=0
cleanup() {
  local rc=$?
  trap '' INT TERM # a second Ctrl-C must not cut the removal short
  if [ "$did_install" -eq 1 ] && dpkg-query -W "$pkg" >/dev/null 2>&1; then
    say "removing the package again (left installed by a failed check)"
    $sudo env DEBIAN_FRONTEND=noninteractive dpkg --purge "$pkg" >/dev/null || rc=1
  fi
  rm -rf "$scratch"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "installing it (dpkg -i $(basename "$deb"))"
did_install=1
$sudo env DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >"$scratch/dpkg.log" 2>&1 || {
  cat "$scratch/dpkg.log" >&2
  die "dpkg -i failed"
}
installed "$pkg" && ok "installed $(dpkg-query -W -f='${Package} ${Version}' "$pkg")" || bad "dpkg -i left $pkg not installed"

if out="$("/usr/bin/$cli" --version 2>&1)" && [ "$out" = "$cli $expected_version" ]; then ok "/usr/bin/$cli --version: $out"; else
  bad "/usr/bin/$cli --version failed or does not say '$cli $expected_version': $out"
fi
libs="$(ldd "/usr/bin/$cli" 2>&1 || true)"
if grep -q 'not found' <<<"$libs"; then bad "unresolved libraries: $(grep 'not found' <<<"$libs")"; else ok "every shared library resolves"; fi
if grep -Eqi 'gtk|webkit|javascriptcore|gdk|soup' <<<"$libs"; then
  bad "ldd shows GTK/WebKit in the CLI: $(grep -Ei 'gtk|webkit|javascriptcore|gdk|soup' <<<"$libs" | awk '{ print $1 }' | tr '\n' ' ')"
else
  ok "ldd: no GTK or WebKit ($(grep -c '=>' <<<"$libs") libraries)"
fi
for f in "${files[@]}"; do
  [ -s "$f" ] && ok "installed: $f" || bad "$f is missing or empty after the install"
done
# The bash completion registers itself for the command; the manual page is a manual page naming it.
if bash -c "source /usr/share/bash-completion/completions/$cli && complete -p $cli" >/dev/null 2>&1; then
  ok "the bash completion registers 'complete -F … $cli'"
else
  bad "sourcing the bash completion does not register a completion for $cli"
fi
grep -q 'apply' "/usr/share/bash-completion/completions/$cli" && ok "the bash completion knows 'apply'" || bad "the bash completion lacks the subcommands"
if gzip -dc "/usr/share/man/man1/$cli.1.gz" | grep -q "^\.TH $cli 1"; then ok "manual page $cli(1)"; else
  bad "/usr/share/man/man1/$cli.1.gz is not the manual page $cli(1)"
fi
if command -v man >/dev/null 2>&1; then
  [ "$(man -w "$cli" 2>/dev/null)" = "/usr/share/man/man1/$cli.1.gz" ] && ok "man -w $cli finds it" \
    || bad "man -w $cli does not find /usr/share/man/man1/$cli.1.gz"
fi

say "removing it (dpkg --purge $pkg)"
$sudo env DEBIAN_FRONTEND=noninteractive dpkg --purge "$pkg" >"$scratch/dpkg.log" 2>&1 || {
  cat "$scratch/dpkg.log" >&2
  bad "dpkg --purge failed"
}
if dpkg-query -W "$pkg" >/dev/null 2>&1; then bad "$pkg is still known to dpkg after the purge"; else ok "purged"; fi
left=""
for f in "/usr/bin/$cli" "${files[@]}" "/usr/share/doc/$pkg"; do
  if [ -e "$f" ]; then left="$left $f"; fi
done
[ -z "$left" ] && ok "removed cleanly: none of its files is left" || bad "left behind after the purge:$left"

if [ "$failures" -gt 0 ]; then die "$failures check(s) failed"; fi
say "all checks passed for $(basename "$deb")"
