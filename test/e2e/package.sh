#!/usr/bin/env bash
# `cmake --install` puts binaries, man pages, completions, the systemd units and the examples in
# place, also from a build of just the programs (scripts/demo's); package_deb.sh tests the .deb.
source "$ECUUP_SRC/test/support/testlib.sh"
build=$(cd "$ECUUP_BIN/.." && pwd)
# scripts/demo builds only the programs' targets: that must make everything the install rules
# read. Remove what a full build made besides the programs, rebuild as the demo does, install.
rm -f "$build"/man/*.gz "$build"/doc/changelog.Debian.gz
expect 0 "a build of just the programs, as scripts/demo's" \
  cmake --build "$build" --target ecuup ecuup-sim ecuup-server ecuup-repo
expect 0 "cmake --install" cmake --install "$build" --prefix "$T/prefix"
for f in bin/ecuup bin/ecuup-sim bin/ecuup-server bin/ecuup-repo share/man/man1/ecuup.1.gz share/man/man1/ecuup-flash.1.gz \
         share/man/man5/ecuup-config.5.gz share/man/man5/ecuup-manifest.5.gz share/man/man7/ecuup-uds.7.gz \
         share/bash-completion/completions/ecuup share/zsh/vendor-completions/_ecuup \
         share/fish/vendor_completions.d/ecuup.fish share/bash-completion/completions/ecuup-repo \
         share/zsh/vendor-completions/_ecuup-repo share/fish/vendor_completions.d/ecuup-repo.fish; do
  check "installed $f" test -e "$T/prefix/$f"
done
expect 0 "the installed ecuup runs" "$T/prefix/bin/ecuup" --version
# Every page in man/ is installed, compressed, and decompresses to the source page.
for page in "$ECUUP_SRC"/man/*.[157]; do
  name=$(basename "$page")
  check "installed man page $name (gzip -9n)" cmp -s "$page" <(gzip -dc "$T/prefix/share/man/man${name##*.}/$name.gz")
done
command -v man >/dev/null || echo "no man(1): not reading an installed page"
command -v man >/dev/null && check "man reads an installed page" bash -c "MANPATH='$T/prefix/share/man' man -P cat ecuup-flash 2>/dev/null | grep -q 'ecuup-flash'"
for f in share/doc/ecuup/copyright share/doc/ecuup/changelog.Debian.gz share/doc/ecuup/examples/ci/gitlab-ci.yml \
         share/doc/ecuup/examples/bench/ecuup.yaml lib/systemd/system/ecuup-update.timer; do
  check "installed $f" test -e "$T/prefix/$f"
done
check "the example bench's tool stays executable" test -x "$T/prefix/share/doc/ecuup/examples/bench/tools/body-tool"
# The service names ecuup where this install put it, whatever the prefix.
check "installed service runs ecuup from the install's prefix" \
  grep -q "^ExecStart=$T/prefix/bin/ecuup update " "$T/prefix/lib/systemd/system/ecuup-update.service"
check "the install manifest lists the service" grep -q "lib/systemd/system/ecuup-update.service" "$build/install_manifest.txt"
finish
