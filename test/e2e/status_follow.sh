#!/usr/bin/env bash
# Live progress for other programs (issue 11): while `ecuup flash` programs an ECU of ecuup-sim over
# UDS on the virtual CAN bus, `ecuup status --follow --json` in a second process shows each stage
# of the flash, with acknowledged bytes rising monotonically to the image size, the run's exit
# status, and then the status. The human form names the stages too. Nothing is timed.
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
sim_bench_dirs
command -v python3 >/dev/null || { echo "skip: python3 missing"; exit 125; }
cat >"$WORK/sim.yaml" <<'YAML'
ecus:
  - name: bcm
    can: {request_id: 0x7E0, response_id: 0x7E8}
    memory: [{address: 0x00000000, size: 0x10000}]
    initial_image: {version: "1.0.0", size: 1000}
    timing: {erase_time_ms: 400, reset_time_ms: 100, write_bytes_per_s: 12000}
YAML
{
  bench_config sim-follow
  uds_ecu bcm can 0x7E0 0x7E8 0x0 0x10000
} >"$BENCH/ecuup.yaml"
"$SIM" mkimage --version 1.1.0 --size 24576 --seed 5 -o "$WORK/new.img"
add_release "$BENCH/repository" bcm 1.1.0 "$WORK/new.img"
sim_run_start "$WORK/sim.yaml" "$STATE" --bus "$BUS_SIM" || exit 1
ecuup_run 0 inventory
ecuup_run 0 report
ecuup_run 0 fetch
image_size=$(python3 -c "import yaml,sys; m=yaml.safe_load(open(sys.argv[1])); print(m['ecus']['bcm']['download']['size'])" \
  "$BENCH/state/manifest.yaml")

# Nothing runs: --follow says so and shows the status.
(cd "$BENCH" && "$ECUUP" status --follow --no-sync >"$WORK/idle.out" 2>&1) || true
grep -q "no ecuup run in progress" "$WORK/idle.out" && ok || fail "idle --follow: $(cat "$WORK/idle.out")"

(cd "$BENCH" && exec "$ECUUP" flash --no-backup --progress none >"$WORK/flash.out" 2>&1) &
flash_pid=$!
for _ in $(seq 200); do grep -q '"event":"begin"' "$BENCH/state/progress.jsonl" 2>/dev/null && break; sleep 0.05; done
follow_rc=0
(cd "$BENCH" && "$ECUUP" status --follow --json >"$WORK/follow.jsonl" 2>"$WORK/follow.err") || follow_rc=$?
(cd "$BENCH" && "$ECUUP" status --follow >"$WORK/human.out" 2>&1) || true   # the run is over: returns at once
flash_rc=0
wait "$flash_pid" || flash_rc=$?
[[ $flash_rc -eq 0 ]] && ok || fail "flash exited $flash_rc: $(tail -5 "$WORK/flash.out")"
# status's own exit status: 0 once it kept the flashed software as the backup, 10 if work remains
[[ $follow_rc -eq 0 || $follow_rc -eq 10 ]] && ok || fail "status --follow --json exited $follow_rc: $(cat "$WORK/follow.err")"
[[ $(sim_version "$STATE" bcm) == 1.1.0 ]] && ok || fail "bcm runs $(sim_version "$STATE" bcm)"

python3 - "$WORK/follow.jsonl" "$image_size" <<'PY' && ok || fail "the followed events: $(head -c 3000 "$WORK/follow.jsonl")"
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
size = int(sys.argv[2])
kinds = [e["event"] for e in events]
assert kinds[0] == "run" and events[0]["command"] == "flash" and events[0]["schema"] == 1, kinds[:3]
assert kinds[-2] == "exit" and events[-2]["exit_code"] == 0, kinds[-3:]
assert kinds[-1] == "status" and events[-1]["ecus"][0]["installed"] == "1.1.0", events[-1]
flash = [e for e in events if e.get("ecu") == "bcm" and e.get("phase") == "flash"]
begin = [e for e in flash if e["event"] == "begin"]
assert len(begin) == 1 and begin[0]["total"] == size, begin
stages = []
for e in flash:
    if e["event"] == "stage" and (not stages or stages[-1] != e["stage"]):
        stages.append(e["stage"])
for want in ("session", "security", "erase", "transfer", "reset", "verify"):
    assert want in stages, (want, stages)
assert stages.index("erase") < stages.index("transfer") < stages.index("reset"), stages
done = [e["done"] for e in flash if "done" in e]
assert done == sorted(done), done                      # monotonic
assert all(0 <= d <= size for d in done), done
moving = [e for e in flash if e["event"] == "progress" and 0 < e["done"] < size]
assert len(moving) >= 2, "fewer than two progress events between 0 and the size: %s" % done
assert all(e["stage"] == "transfer" and e["rate_bps"] > 0 for e in moving), moving
# the rate is of acknowledged bytes: far below what queuing would show (the sim takes 12000 B/s)
assert max(e["rate_bps"] for e in moving) < 12000 * 4, [e["rate_bps"] for e in moving]
end = [e for e in flash if e["event"] == "end"]
assert len(end) == 1 and end[0]["ok"] and end[0]["done"] == size, end
PY
grep -q "no ecuup run in progress" "$WORK/human.out" && ok || fail "--follow after the run: $(cat "$WORK/human.out")"

# The human form, on a second flash of the same ECU (a restore of its backup): stages by name.
ecuup_run 0 backup
(cd "$BENCH" && exec "$ECUUP" restore --ecu bcm --progress none >"$WORK/restore.out" 2>&1) &
restore_pid=$!
for _ in $(seq 200); do grep -q '"event":"begin"' "$BENCH/state/progress.jsonl" 2>/dev/null && break; sleep 0.05; done
(cd "$BENCH" && "$ECUUP" status --follow --no-sync >"$WORK/human.out" 2>&1) || true
wait "$restore_pid" || fail "restore exited $?"
for want in "following ecuup restore" "bcm restore: erase" "bcm restore: transfer" "the run finished: exit 0" "status of sim-follow"; do
  grep -q "$want" "$WORK/human.out" && ok || fail "no '$want' in: $(cat "$WORK/human.out")"
done
sim_run_stop TERM
finish
