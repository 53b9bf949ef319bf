#!/usr/bin/env bash
# CLI contract of `ecuup inventory`, and its happy path on the example bench.
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/cli_contract.sh"
contract inventory
bench
expect 0 "inventory --dry-run reads the ECUs" "$ecuup" inventory --dry-run --progress=none
check "shows what it read" out_has "bms .*1.0.0"
check "and writes no manifest" test ! -e "$B/state/manifest.yaml"
expect 0 "inventory reads every ECU" "$ecuup" inventory --progress=none
check "bms version shown" out_has "bms .*1.0.0"
check "body version via the command driver" out_has "body .*0.9.0"
check "manifest records it" grep -q "version: 1.0.0" "$B/state/manifest.yaml"
expect 0 "--json" "$ecuup" inventory --json --ecu gateway
check "JSON has one ECU with its version" bash -c "python3 -c 'import json,sys; j=json.load(sys.stdin); assert j[\"step\"]==\"inventory\" and [e[\"detail\"] for e in j[\"ecus\"]]==[\"2.3.0\"]' <'$T/out'"
echo garbage >"$B/ecus/gateway.flash"
expect 1 "an ECU without valid software fails the step" "$ecuup" inventory --ecu gateway
check "and says why" err_has "no valid software"
finish
