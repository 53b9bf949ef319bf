#!/usr/bin/env bash
# Logging levels that mean something (issue 11): -v shows the steps; -vv adds every UDS request and
# response with the service's and the NRC's names; -vvv adds the ISO-TP frames; --log-format=json
# gives one JSON object a line; under systemd (JOURNAL_STREAM) the lines carry syslog priorities.
# Against ecuup-sim on the virtual CAN bus.
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
sim_bench_dirs
cat >"$WORK/sim.yaml" <<'YAML'
ecus:
  - name: bcm
    can: {request_id: 0x7E0, response_id: 0x7E8}
    memory: [{address: 0x00000000, size: 0x10000}]
    initial_image: {version: "1.0.0", size: 1000}
    timing: {erase_time_ms: 10, reset_time_ms: 50}
    faults: ["nrc:0x34:0x70"]
YAML
{
  bench_config sim-logs
  uds_ecu bcm can 0x7E0 0x7E8 0x0 0x10000
} >"$BENCH/ecuup.yaml"
"$SIM" mkimage --version 1.1.0 --size 3000 --seed 5 -o "$WORK/new.img"
add_release "$BENCH/repository" bcm 1.1.0 "$WORK/new.img"
sim_run_start "$WORK/sim.yaml" "$STATE" --bus "$BUS_SIM" || exit 1

run() {  # run NAME ARGS...: ecuup ARGS in the bench; stderr in $WORK/NAME.err
  local name=$1; shift
  (cd "$BENCH" && "$ECUUP" "$@" --progress none >"$WORK/$name.out" 2>"$WORK/$name.err") || true
}
has() { grep -q -- "$2" "$WORK/$1.err" && ok || fail "$1: no '$2' in: $(head -c 600 "$WORK/$1.err")"; }
lacks() { ! grep -q -- "$2" "$WORK/$1.err" && ok || fail "$1: '$2' should not be there: $(grep -m2 -- "$2" "$WORK/$1.err")"; }

run v inventory -v
run vv inventory -vv
run vvv inventory -vvv
lacks v "UDS ->"
has vv "UDS -> ReadDataByIdentifier 0xF189: 22 F1 89"
has vv "UDS <- ReadDataByIdentifier 0xF189: 62 F1 89"
lacks vv "CAN 7E0 ->"
has vvv "UDS -> ReadDataByIdentifier"
has vvv "CAN 7E0 -> \[8\] 03 22 F1 89"
has vvv "CAN 7E8 <- \["

# An NRC by name: the sim refuses the first RequestDownload with 0x70.
run report report
run fetch fetch
run flash flash --no-backup -vv
has flash "UDS <- RequestDownload: negative response to RequestDownload: uploadDownloadNotAccepted (0x70)"
has flash "UDS -> DiagnosticSessionControl 0x02: 10 02"

# --log-format=json: every stderr line is an object with time, level, pid and message.
run json inventory -vv --log-format json
python3 - "$WORK/json.err" <<'PY' && ok || fail "--log-format json: $(head -c 400 "$WORK/json.err")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert lines, "no lines"
for l in lines:
    assert set(l) >= {"time", "level", "pid", "message"} and l["level"] in ("error", "info"), l
assert any(l["message"].startswith("UDS -> ReadDataByIdentifier") for l in lines), lines[:3]
PY
run badconfig inventory --log-format json -c /nonexistent.yaml
python3 -c "import json,sys; l=[json.loads(x) for x in open(sys.argv[1])]; assert l[-1]['level']=='error', l" \
  "$WORK/badconfig.err" && ok || fail "an error in json: $(cat "$WORK/badconfig.err")"
# Under systemd: syslog priorities, <6> for information and <3> for errors.
(cd "$BENCH" && JOURNAL_STREAM=8:1234 "$ECUUP" inventory -v --progress none >/dev/null 2>"$WORK/journal.err") || true
(JOURNAL_STREAM=8:1234 "$ECUUP" inventory -c /nonexistent.yaml 2>>"$WORK/journal.err" >/dev/null) || true
has journal "^<6>"
has journal "^<3>error: "
lacks journal "^ecuup: "
run text inventory --log-format text -c /nonexistent.yaml
has text "^ecuup: error: "
sim_run_stop TERM
finish
