#!/usr/bin/env bash
# `cpack -G DEB` packages the build under test into a .deb that lintian accepts without errors:
# Debian control fields, DEP-5 copyright, changelog, stripped binaries, 0644/0755 files. Unpacked
# into a fresh root (dpkg -x), its programs run, and its systemd units verify and name them.
source "$ECUUP_SRC/test/support/testlib.sh"
build=$(cd "$ECUUP_BIN/.." && pwd)
command -v dpkg-deb >/dev/null || { echo "SKIP: no dpkg-deb (not a Debian system)"; exit 125; }

expect 0 "cpack -G DEB" cpack -G DEB --config "$build/CPackConfig.cmake" -B "$T/pkg"
deb=$(ls "$T"/pkg/*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { not_ok "a .deb was built"; show_output; finish; }
ok "a .deb was built: $(basename "$deb")"

# --- control fields
field() { dpkg-deb -f "$deb" "$1"; }
changelog_version=$(sed -n '1s/^ecuup (\([^)]*\)).*/\1/p' "$ECUUP_SRC/packaging/debian/changelog")
check "Version is packaging/debian/changelog's top entry ($changelog_version)" test "$(field Version)" = "$changelog_version"
check "Version has a Debian revision (changelog.Debian.gz, not a native package)" bash -c "[[ '$(field Version)' == *-* ]]"
check "Maintainer is a real address" bash -c "dpkg-deb -f '$deb' Maintainer | grep -Eq '^[^<]+ <[^@>]+@[^@>]+\.[a-z]+>$' && ! dpkg-deb -f '$deb' Maintainer | grep -q localhost"
check "Section utils" test "$(field Section)" = utils
check "Priority optional" test "$(field Priority)" = optional
check "Homepage set" test -n "$(field Homepage)"
check "Depends from shlibdeps: libcurl, libyaml-cpp, libc6 (versioned)" bash -c "dpkg-deb -f '$deb' Depends | grep -q 'libcurl4' && dpkg-deb -f '$deb' Depends | grep -q 'libyaml-cpp' && dpkg-deb -f '$deb' Depends | grep -Eq 'libc6 \(>= '"
field Description >"$T/description"
check "Description has a synopsis and a multi-line extended description" \
  bash -c "[ \$(wc -l <'$T/description') -ge 6 ] && sed -n 2p '$T/description' | grep -q '^ [A-Za-z]' && grep -qx ' \.' '$T/description'"
check "Description lines fit 80 columns" bash -c "! awk 'length > 80' '$T/description' | grep -q ."

# --- contents: paths, owners and permissions
dpkg-deb -c "$deb" >"$T/contents"
for f in usr/bin/ecuup usr/bin/ecuup-sim usr/bin/ecuup-server usr/bin/ecuup-repo \
         usr/share/doc/ecuup/copyright usr/share/doc/ecuup/changelog.Debian.gz \
         usr/share/man/man1/ecuup.1.gz usr/share/man/man5/ecuup-manifest.5.gz usr/share/man/man7/ecuup-uds.7.gz \
         usr/share/bash-completion/completions/ecuup usr/share/zsh/vendor-completions/_ecuup \
         usr/share/fish/vendor_completions.d/ecuup.fish \
         usr/lib/systemd/system/ecuup-update.service usr/lib/systemd/system/ecuup-update.timer \
         usr/share/doc/ecuup/examples/ci/gitlab-ci.yml usr/share/doc/ecuup/examples/ci/github-actions.yml \
         usr/share/doc/ecuup/examples/bench/ecuup.yaml; do
  check ".deb holds /$f" grep -q " \./$f\$" "$T/contents"
done
check "no unit template (*.in) shipped" bash -c "! grep -q '\.in\$' '$T/contents'"
check "every entry is owned by root/root" bash -c "awk '{print \$2}' '$T/contents' | sort -u | grep -qx root/root && [ \$(awk '{print \$2}' '$T/contents' | sort -u | wc -l) -eq 1 ]"
check "directories 0755, files 0644 or 0755" bash -c "! awk '\$1 !~ /^(drwxr-xr-x|-rw-r--r--|-rwxr-xr-x)\$/' '$T/contents' | grep ."
check "the programs are 0755" bash -c "grep -E ' \./usr/bin/ecuup(-sim|-server|-repo)?\$' '$T/contents' | awk '{print \$1}' | sort -u | grep -qx -- -rwxr-xr-x"

# --- lintian: no errors. Warnings are printed for the log.
if command -v lintian >/dev/null; then
  lintian --tag-display-limit 0 --display-info "$deb" >"$T/lintian" 2>&1
  sed 's/^/    lintian: /' "$T/lintian"
  check "lintian reports no errors" bash -c "! grep -q '^E: ' '$T/lintian'"
else
  echo "SKIP lintian: not installed (scripts/install-deps installs it)"
fi

# --- the unpacked package
root="$T/root"
expect 0 "dpkg -x" dpkg -x "$deb" "$root"
check "copyright is DEP-5 (Format, Files, License paragraphs)" bash -c \
  "grep -q '^Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' '$root/usr/share/doc/ecuup/copyright' &&
   grep -q '^Files: \*' '$root/usr/share/doc/ecuup/copyright' && grep -q '^License: Apache-2.0' '$root/usr/share/doc/ecuup/copyright'"
check "changelog.Debian.gz is gzip -9n (no name, no timestamp)" bash -c \
  "gzip -t '$root/usr/share/doc/ecuup/changelog.Debian.gz' && [ \"\$(od -An -tx1 -j4 -N4 '$root/usr/share/doc/ecuup/changelog.Debian.gz' | tr -d ' ')\" = 00000000 ]"
check "changelog.Debian.gz decompresses to packaging/debian/changelog" \
  cmp -s "$ECUUP_SRC/packaging/debian/changelog" <(gzip -dc "$root/usr/share/doc/ecuup/changelog.Debian.gz")
for page in "$ECUUP_SRC"/man/*.[157]; do
  name=$(basename "$page")
  check "man page $name shipped gzip -9n" cmp -s "$page" <(gzip -dc "$root/usr/share/man/man${name##*.}/$name.gz")
done
for p in ecuup ecuup-sim ecuup-server ecuup-repo; do
  check "$p is stripped (no symbol table, no debug info)" bash -c \
    "! readelf -S '$root/usr/bin/$p' | grep -Eq '\.symtab|\.debug_info'"
done
expect 0 "the packaged ecuup runs: ecuup --version" "$root/usr/bin/ecuup" --version
check "it reports the package's upstream version" out_has "ecuup ${changelog_version%-*}"
expect 0 "the packaged ecuup-sim runs" "$root/usr/bin/ecuup-sim" --version

# --- the systemd units: they name the packaged ecuup, keep 6 and 8 failures, and verify
units="$root/usr/lib/systemd/system"
check "the service runs /usr/bin/ecuup (the package's prefix)" grep -q '^ExecStart=/usr/bin/ecuup update ' "$units/ecuup-update.service"
check "no template placeholder left" bash -c "! grep -q '@' '$units/ecuup-update.service'"
success=$(sed -n 's/^SuccessExitStatus=//p' "$units/ecuup-update.service")
check "SuccessExitStatus ($success) leaves 1, 2, 4, 5, 6, 8 failures" bash -c \
  "for c in 1 2 4 5 6 8; do [[ ' $success ' == *\" \$c \"* ]] && exit 1; done; exit 0"
check "exit 10 (pending) is not a failure of the unit" bash -c "[[ ' $success ' == *' 10 '* ]]"
if command -v systemd-analyze >/dev/null && systemd-analyze --version >/dev/null 2>&1; then
  # systemd-analyze checks ExecStart's program exists: point a copy at the unpacked one. The
  # Documentation= man pages are looked up in the unpacked tree.
  mkdir -p "$T/units"
  sed "s|^ExecStart=/usr/bin/|ExecStart=$root/usr/bin/|" "$units/ecuup-update.service" >"$T/units/ecuup-update.service"
  cp "$units/ecuup-update.timer" "$T/units/"
  MANPATH="$root/usr/share/man" systemd-analyze verify "$T/units/ecuup-update.timer" "$T/units/ecuup-update.service" \
    >"$T/verify" 2>&1
  code=$?
  sed 's/^/    systemd-analyze: /' "$T/verify"
  check "systemd-analyze verify: the units are clean (exit $code, no messages)" bash -c "[ $code -eq 0 ] && ! [ -s '$T/verify' ]"
else
  echo "SKIP systemd-analyze verify: systemd-analyze is not installed or cannot run here"
fi
finish
