#!/usr/bin/env bash
# Two ecuup at once: the second exits 7 and changes nothing, or waits with --wait.
source "$ECUUP_SRC/test/support/testlib.sh"
bench
sed -i 's/write_speed_bps: 1048576/write_speed_bps: 60000/' "$B/ecuup.yaml"   # ~2 s per ECU
prepare_flash
"$ecuup" flash --ecu bms --progress=none >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "state: in_progress" "$B/state/manifest.yaml" 2>/dev/null && break; sleep 0.05; done
cp "$B/state/manifest.yaml" "$T/during.yaml"
expect 7 "a second ecuup is refused" "$ecuup" status
check "names the holder's pid" err_has "locked by another ecuup (pid $pid"
expect 7 "a second flash is refused" "$ecuup" flash --ecu gateway
check "the refused run wrote nothing" cmp -s "$B/state/manifest.yaml" "$T/during.yaml"
expect 10 "--wait queues behind the first (then: gateway still pending)" "$ecuup" status --wait 30
wait "$pid"; code=$?
check "the first run finished normally (exit $code)" test "$code" -eq 0
finish
