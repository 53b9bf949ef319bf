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
finish
