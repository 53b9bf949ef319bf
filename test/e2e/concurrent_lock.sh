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
expect 7 "a second writer is refused" "$ecuup" inventory
check "names the holder's pid" err_has "locked by another ecuup (pid $pid"
expect 7 "a second flash is refused" "$ecuup" flash --ecu gateway
check "the refused run wrote nothing" cmp -s "$B/state/manifest.yaml" "$T/during.yaml"
expect 10 "--wait queues behind the first (then: gateway still pending)" "$ecuup" status --wait 30
wait "$pid"; code=$?
check "the first run finished normally (exit $code)" test "$code" -eq 0

# A bare --wait waits as long as it takes; a value that is not a number is a usage error.
"$ecuup" flash --ecu gateway --progress=none >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "state: in_progress" "$B/state/manifest.yaml" 2>/dev/null && break; sleep 0.05; done
expect 0 "a bare --wait queues behind the first (then keeps the flashed software as the backup)" "$ecuup" status --wait
check "status said it kept the backup" out_has "kept"
wait "$pid"
expect 2 "--wait=soon is refused" "$ecuup" status --wait=soon
check "says what --wait takes" err_has "not a number of seconds"

# update holds the lock from its first step to its last: nothing can come between its steps.
# Every acquisition writes the holder's pid into the lock file, so its mtime shows a second one.
bench "$T/bench2"
sed -i 's/write_speed_bps: 1048576/write_speed_bps: 60000/' "$B/ecuup.yaml"
"$ecuup" update --progress=none >"$T/update.out" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q "state: in_progress" "$B/state/manifest.yaml" 2>/dev/null && break; sleep 0.05; done
lock_mtime=$(stat -c %y "$B/state/manifest.lock")
expect 7 "a step during update is refused" "$ecuup" inventory
wait "$pid"; code=$?
check "update finished (exit $code)" test "$code" -eq 0
check "update took the lock once for all its steps" test "$(stat -c %y "$B/state/manifest.lock")" = "$lock_mtime"
finish
