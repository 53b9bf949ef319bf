#!/usr/bin/env bash
# CLI contract of `ecuup fetch`, and its happy path on the example bench.
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/cli_contract.sh"
contract fetch
bench
"$ecuup" inventory >/dev/null 2>&1; "$ecuup" report >/dev/null 2>&1
expect 0 "fetch --dry-run" "$ecuup" fetch --dry-run
check "dry run downloads nothing" test ! -e "$B/state/downloads"
expect 0 "fetch" "$ecuup" fetch --progress=plain
check "bms downloaded and verified" out_has "bms .*downloaded .*sha256 verified"
check "gateway archive unpacked with its package.yaml" bash -c "ls '$B'/state/downloads/*.d/gateway-2.4.0.img"
check "progress lines on stderr" err_has "bms fetch bms-1.1.0.img: done"
expect 0 "fetch again is a no-op" "$ecuup" fetch
check "cached" out_has "bms .*cached"

# republish_gateway: releases.yaml takes the new gateway-2.4.0.tar.gz's sha256 and size.
republish_gateway() {
  local a=$B/repository/gateway-2.4.0.tar.gz
  python3 - "$B/repository/releases.yaml" "$(sha256sum <"$a" | cut -d' ' -f1)" "$(stat -c %s "$a")" <<'PY'
import sys, yaml
path, sha, size = sys.argv[1:]
doc = yaml.safe_load(open(path))
doc['releases']['gateway'].update(sha256=sha, size=int(size))
open(path, 'w').write(yaml.safe_dump(doc))
PY
}
# An archive whose package.yaml names another version than the task: exit 4, nothing recorded.
mkdir -p "$T/pkg" && head -c 5000 /dev/urandom >"$T/pkg/gw.bin"
printf 'image: gw.bin\nversion: 2.5.0\n' >"$T/pkg/package.yaml"
tar -czf "$B/repository/gateway-2.4.0.tar.gz" -C "$T/pkg" gw.bin package.yaml
republish_gateway
rm -rf "$B/state"
"$ecuup" inventory >/dev/null 2>&1; "$ecuup" report >/dev/null 2>&1
expect 4 "package.yaml names another version than the task" "$ecuup" fetch --ecu gateway --json
check "says which" err_has "holds version 2.5.0, the task says 2.4.0"
check "nothing recorded as verified" bash -c "! grep -q 'verified: true' '$B/state/manifest.yaml'"
# Several files and no package.yaml: which one is the image? exit 4.
rm "$T/pkg/package.yaml" && head -c 100 /dev/urandom >"$T/pkg/readme.bin"
tar -czf "$B/repository/gateway-2.4.0.tar.gz" -C "$T/pkg" gw.bin readme.bin
republish_gateway
"$ecuup" report >/dev/null 2>&1
expect 4 "an archive of several files without package.yaml" "$ecuup" fetch --ecu gateway
check "says so (the republished archive was fetched anew)" err_has "no package.yaml naming the image"
finish
