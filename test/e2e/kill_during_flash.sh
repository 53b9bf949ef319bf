#!/usr/bin/env bash
# kill -9 in the middle of programming: the manifest still parses, says in_progress, and a rerun
# reads the ECU and converges. Also SIGINT: the ECU is put back on its backup, then exit 130.
source "$ECUUP_SRC/test/support/testlib.sh"
bench
sed -i 's/write_speed_bps: 1048576/write_speed_bps: 40000/' "$B/ecuup.yaml"   # bms takes ~3 s
prepare_flash
"$ecuup" flash --ecu bms --progress=none >"$T/flash.out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "state: in_progress" "$B/state/manifest.yaml" 2>/dev/null && break; sleep 0.05; done
sleep 0.5
kill -9 "$pid"; wait "$pid" 2>/dev/null
check "manifest says in_progress after kill -9" grep -q "state: in_progress" "$B/state/manifest.yaml"
check "manifest parses as YAML, bms in_progress" python3 -c "
import yaml, sys
m = yaml.safe_load(open('$B/state/manifest.yaml'))
sys.exit(0 if m['ecus']['bms']['flash']['state'] == 'in_progress' else 1)"
expect 10 "status still works and shows pending work" "$ecuup" status
check "ECU half written: inventory calls the flash unfinished" bash -c "'$ecuup' inventory --ecu bms 2>/dev/null | grep -q unfinished"
sed -i 's/write_speed_bps: 40000/write_speed_bps: 0/' "$B/ecuup.yaml"
expect 0 "rerun resolves the interrupted flash" "$ecuup" flash --ecu bms -v
check "it said what it found" err_has "previous attempt was interrupted"
check "bms runs 1.1.0" test "$(image_version "$B/ecus/bms.flash")" = 1.1.0

# Interrupted by SIGINT while programming gateway.
sed -i 's/write_speed_bps: 0/write_speed_bps: 30000/' "$B/ecuup.yaml"
"$ecuup" flash --ecu gateway --progress=none >"$T/out" 2>"$T/err" &
pid=$!
for _ in $(seq 100); do grep -q "programming 2.4.0" "$B/state/manifest.yaml" 2>/dev/null && break; sleep 0.05; done
sleep 0.3
kill -INT "$pid"; wait "$pid"; code=$?
check "SIGINT -> exit 130 (got $code)" test "$code" -eq 130
check "says the ECU was put back on its backup" err_has "restored backup"
sed -i 's/write_speed_bps: 30000/write_speed_bps: 0/' "$B/ecuup.yaml"
expect 0 "rerun after SIGINT converges" "$ecuup" flash --ecu gateway
check "gateway runs 2.4.0" test "$(image_version "$B/ecus/gateway.flash")" = 2.4.0

# Killed after the ECU took the new software but before the manifest said so: the rerun reads the
# ECU, finds the target version and records success without programming again.
python3 - "$B/state/manifest.yaml" <<'PY'
import sys, yaml
path = sys.argv[1]
m = yaml.safe_load(open(path))
m['ecus']['gateway']['flash']['state'] = 'in_progress'
open(path, 'w').write(yaml.safe_dump(m, sort_keys=False))
PY
gateway_mtime=$(stat -c %y "$B/ecus/gateway.flash")
expect 0 "rerun resolves a flash that had completed" "$ecuup" flash --ecu gateway -v
check "it said what it found" err_has "interrupted flash had completed"
check "gateway was not programmed again" test "$(stat -c %y "$B/ecus/gateway.flash")" = "$gateway_mtime"
check "manifest: succeeded" python3 -c "
import yaml, sys
m = yaml.safe_load(open('$B/state/manifest.yaml'))
sys.exit(0 if m['ecus']['gateway']['flash']['state'] == 'succeeded' else 1)"
finish
