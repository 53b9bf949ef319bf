#!/usr/bin/env bash
# CLI contract of `ecuup discover`, which needs no config: unknown options and bad values are 2,
# --help names the exit codes, and nothing answering (a UDP port where nobody listens) is 1 with a
# line saying so (JSON: an empty entities list). The happy path against ecuup-sim is
# test/e2e/doip_discover.sh.
source "$ECUUP_SRC/test/support/testlib.sh"
expect 2 "discover: unknown option" "$ecuup" discover --no-such-option
check "discover: unknown option is named" err_has "no-such-option"
expect 2 "discover: takes no --config" "$ecuup" discover --config x.yaml
expect 0 "discover: --help" "$ecuup" discover --help
check "discover: --help lists exit codes" out_has "needs a person"
expect 2 "discover: a VIN of 5 characters" "$ecuup" discover --vin SHORT
expect 2 "discover: a bad EID" "$ecuup" discover --eid 01:02
expect 2 "discover: port 0" "$ecuup" discover --address 127.0.0.1:0
expect 2 "discover: --timeout 0" "$ecuup" discover --timeout 0
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
expect 1 "discover: nothing answers" "$ecuup" discover --address "127.0.0.1:$port" --timeout 200
check "discover: says nobody answered" out_has "no DoIP entity answered at 127.0.0.1:$port"
expect 1 "discover --json: nothing answers" "$ecuup" discover --address "127.0.0.1:$port" --timeout 200 --json
check "discover --json: empty list, exit code 1" bash -c "python3 -c 'import json,sys; j=json.load(sys.stdin); assert j[\"entities\"]==[] and j[\"exit_code\"]==1' <'$T/out'"
finish
