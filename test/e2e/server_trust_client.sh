#!/usr/bin/env bash
# ecuup-server's signed release statements as ecuup with `trust:` sees them (ecuup-config(5)):
# the server signs bms's statement (facts given through `admin --data`, signed when the vehicle
# first sees its action) and ecuup reports, fetches and flashes it; gateway without a statement
# is refused by rule 'signature' (exit 4) and its ECU is left untouched.
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/trustlib.sh"
source "$ECUUP_SRC/test/support/ddi_server.sh"
command -v openssl >/dev/null || { echo "skip: no openssl"; exit 125; }
K=$T/keys
make_ca "$K" oem
srv_start --sign-cert "$K/oem.pem" --sign-key "$K/oem.key" || exit 1
repo=$ECUUP_SRC/examples/bench/repository
srv_admin upload --part bms --version 1.1.0 --hardware BMS-HW-A --security-version 1 "$repo/bms-1.1.0.img" \
  >"$T/upload.out"
check "the statement waits for the server" grep -q "release statement pending" "$T/upload.out"
srv_admin upload --part gateway --version 2.4.0 "$repo/gateway-2.4.0.tar.gz" >/dev/null
ddi_bench
mkdir -p "$B/keys" && cp "$K/oem-ca.pem" "$B/keys/ca.pem"
trust_bench_config || exit 1
gateway_before=$(sha256sum "$B/ecus/gateway.flash" | cut -d' ' -f1)

srv_admin assign --part bms --version 1.1.0 --vehicle bench-vehicle-1 >/dev/null
expect 0 inventory "$ecuup" inventory --progress=none
expect 0 "report: bms's statement verifies" "$ecuup" report --json --progress=none
check "report: a task for bms" python3 -c "
import json; j=json.load(open('$T/out')); r={e['name']: e['result'] for e in j['ecus']}
assert r['bms']=='task', r"
srv_admin --json list modules >"$T/modules.json"
check "the server signed bms's statement when the vehicle first saw it" python3 -c "
import json; m=[x for x in json.load(open('$T/modules.json')) if x['part']=='bms'][0]
assert m['statement']['state']=='signed', m
assert sorted(a['role'] for a in m['artifacts'])==['signature','software','statement'], m"
expect 0 fetch "$ecuup" fetch --progress=none
expect 0 "backup --read" "$ecuup" backup --read --progress=none
expect 0 flash "$ecuup" flash --progress=none
check "bms runs 1.1.0" test "$(image_version "$B/ecus/bms.flash")" = 1.1.0

srv_admin assign --part gateway --version 2.4.0 --vehicle bench-vehicle-1 >/dev/null
expect 4 "report: gateway has no statement" "$ecuup" report --ecu gateway --progress=none
check "gateway: refused by rule 'signature'" grep -q "rule 'signature'" "$T/err"
check "gateway is untouched" test "$(sha256sum "$B/ecus/gateway.flash" | cut -d' ' -f1)" = "$gateway_before"
finish
