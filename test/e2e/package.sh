#!/usr/bin/env bash
# `cmake --install` puts binaries, man pages and completions in place; `cpack -G DEB` builds a .deb.
source "$ECUUP_SRC/test/support/testlib.sh"
build=$(cd "$ECUUP_BIN/.." && pwd)
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
command -v dpkg-deb >/dev/null || { echo "no dpkg-deb: skipping the .deb"; finish; }
expect 0 "cpack -G DEB" cpack -G DEB --config "$build/CPackConfig.cmake" -B "$T/pkg"
deb=$(ls "$T"/pkg/*.deb 2>/dev/null | head -1)
check "a .deb was built" test -n "$deb"
dpkg-deb -c "$deb" >"$T/contents"
check ".deb holds ecuup" grep -q "usr/bin/ecuup$" "$T/contents"
check ".deb holds the man pages, compressed" grep -q "man1/ecuup-update.1.gz" "$T/contents"
check ".deb declares its library dependencies" bash -c "dpkg-deb -f '$deb' Depends | grep -q libcurl"
finish
