#!/usr/bin/env bash
# CLI contract of `ecuup status`, and its happy path on the example bench.
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/cli_contract.sh"
contract status
bench
expect 0 "status of a fresh bench" "$ecuup" status
check "table header" out_has "ECU .*INSTALLED .*TARGET"
prepare_flash
expect 10 "pending work -> exit 10" "$ecuup" status
expect 10 "--json" "$ecuup" status --json
check "JSON schema fields" bash -c "python3 -c '
import json,sys
j=json.load(sys.stdin)
assert j[\"schema\"]==1 and j[\"pending\"] is True and j[\"exit_code\"]==10
e={x[\"name\"]:x for x in j[\"ecus\"]}
assert e[\"bms\"][\"installed\"]==\"1.0.0\" and e[\"bms\"][\"target\"]==\"1.1.0\" and e[\"bms\"][\"verified\"] is True
assert e[\"bms\"][\"flash_state\"]==\"none\" and e[\"bms\"][\"backup\"]==\"1.0.0\" and e[\"body\"][\"pending\"] is False
' <'$T/out'"
"$ecuup" flash >/dev/null 2>&1; "$ecuup" backup >/dev/null 2>&1
expect 0 "all done -> exit 0" "$ecuup" status
finish
