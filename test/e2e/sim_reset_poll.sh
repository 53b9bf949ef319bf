#!/usr/bin/env bash
# After ECUReset ecuup polls the ECU (10 01) from timeouts.reset_delay_ms on, backing off, instead
# of sleeping a fixed time: against ecuup-sim on the virtual CAN bus, whose trace shows every poll.
#   fast  (reset_time_ms 400): polled while it still restarts (a poll goes unanswered), then met;
#   slow  (reset_time_ms 2500): waited for with a handful of polls, not a flood;
#   late  (reset_delay_ms 1500 in ecuup's config, ECU back after 400 ms): one poll, answered;
#   dead  (off the network for 60 s): the flash fails once reset_timeout_ms is spent, saying so.
# Only the order and number of frames are checked, never how long anything took.
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
sim_bench_dirs
command -v python3 >/dev/null || { echo "skip: python3 missing"; exit 125; }
cat >"$WORK/sim.yaml" <<'YAML'
ecus:
  - name: fast
    can: {request_id: 0x7E0, response_id: 0x7E8}
    memory: [{address: 0x00000000, size: 0x10000}]
    initial_image: {version: "1.0.0", size: 1000}
    timing: {erase_time_ms: 10, reset_time_ms: 400}
  - name: slow
    can: {request_id: 0x7E1, response_id: 0x7E9}
    memory: [{address: 0x00000000, size: 0x10000}]
    initial_image: {version: "1.0.0", size: 1000}
    timing: {erase_time_ms: 10, reset_time_ms: 2500}
  - name: late
    can: {request_id: 0x7E2, response_id: 0x7EA}
    memory: [{address: 0x00000000, size: 0x10000}]
    initial_image: {version: "1.0.0", size: 1000}
    timing: {erase_time_ms: 10, reset_time_ms: 400}
  - name: dead
    can: {request_id: 0x7E3, response_id: 0x7EB}
    memory: [{address: 0x00000000, size: 0x10000}]
    initial_image: {version: "1.0.0", size: 1000}
    timing: {erase_time_ms: 10, reset_time_ms: 400}
    faults: ["slow_boot:ms=60000"]
YAML
{
  bench_config sim-reset-poll
  uds_ecu fast can 0x7E0 0x7E8 0x0 0x10000
  uds_ecu slow can 0x7E1 0x7E9 0x0 0x10000
  uds_ecu late can 0x7E2 0x7EA 0x0 0x10000
  echo "      timeouts: {reset_delay_ms: 1500}"
  uds_ecu dead can 0x7E3 0x7EB 0x0 0x10000
  echo "      timeouts: {reset_timeout_ms: 1500, recovery_window_ms: 2000}"
} >"$BENCH/ecuup.yaml"
"$SIM" mkimage --version 1.1.0 --size 3000 --seed 5 -o "$WORK/new.img"
for ecu in fast slow late dead; do add_release "$BENCH/repository" "$ecu" 1.1.0 "$WORK/new.img"; done

sim_run_start "$WORK/sim.yaml" "$STATE" --bus "$BUS_SIM" --trace "$WORK/sim.log" || exit 1
ecuup_run 0 inventory
ecuup_run 0 report
ecuup_run 0 fetch
for ecu in fast slow late; do
  ecuup_run 0 flash --ecu "$ecu" --no-backup
  [[ $(sim_version "$STATE" "$ecu") == 1.1.0 ]] && ok || fail "$ecu runs $(sim_version "$STATE" "$ecu") (want 1.1.0)"
done
ecuup_run_any flash --ecu dead --no-backup
[[ $ECUUP_RC -ne 0 ]] && ok || fail "flash of an ECU that never comes back exited 0"
grep -q "did not come back within 1500 ms after ECUReset" "$WORK/ecuup.err" && ok ||
  fail "no 'did not come back within 1500 ms after ECUReset': $(tr '\n' ' ' <"$WORK/ecuup.err")"
sim_run_stop TERM

# POLLS: per request id, the 10 01 requests ecuup sent after its 11 01, and how many of them
# came before the ECU's first answer after the reset.
python3 - "$WORK/sim.log" >"$WORK/polls.txt" <<'PY'
import sys
reset_seen, polls, before_answer, answered = {}, {}, {}, {}
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) < 3 or "#" not in parts[2]:
        continue
    can_id, _, data = parts[2].partition("#")
    b = bytes.fromhex(data.lstrip("#"))
    if not b or b[0] >> 4 != 0:  # single frames only
        continue
    payload = b[1:1 + (b[0] & 0x0F)]
    req = int(can_id, 16)
    if req in (0x7E0, 0x7E1, 0x7E2, 0x7E3):
        if payload[:2] == b"\x11\x01":
            reset_seen[req] = True
            polls[req] = before_answer[req] = 0
            answered[req] = False
        elif payload[:2] == b"\x10\x01" and reset_seen.get(req):
            polls[req] += 1
            if not answered[req]:
                before_answer[req] += 1
    elif req - 8 in reset_seen and payload[:1] == b"\x50" and polls.get(req - 8):
        answered[req - 8] = True
for req in (0x7E0, 0x7E1, 0x7E2, 0x7E3):
    print("%X %d %d %s" % (req, polls.get(req, -1), before_answer.get(req, -1), answered.get(req, False)))
PY
read_polls() { read -r _ POLLS BEFORE ANSWERED < <(grep "^$1 " "$WORK/polls.txt"); }

read_polls 7E0
((BEFORE >= 2)) && ok || fail "fast: $BEFORE polls until it answered: it was not polled while it restarted"
((POLLS < 20)) && ok || fail "fast: $POLLS polls"
read_polls 7E1
((BEFORE >= 3)) && ok || fail "slow: $BEFORE polls until it answered (want it waited for with several)"
((POLLS < 30)) && ok || fail "slow: $POLLS polls: a flood, not a backoff"
read_polls 7E2
((POLLS == 1)) && ok || fail "late: $POLLS polls with reset_delay_ms 1500 for an ECU back after 400 ms (want 1)"
read_polls 7E3
((POLLS >= 3)) && ok || fail "dead: only $POLLS polls before giving up"
[[ $ANSWERED == False ]] && ok || fail "dead: answered a poll"
finish
