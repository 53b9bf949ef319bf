#!/usr/bin/env bash
# Parallel flashing on the image/command bench: ECUs of equal order overlap in time (seen in the
# order of the jsonl progress lines and of the manifest's events, not in wall-clock figures); a
# failing ECU is restored while its sibling succeeds and later orders are skipped; ECUs sharing a
# transport endpoint (one bench tool) take turns; different orders stay sequential; --jobs 1 and
# kill -9 in the middle of a parallel flash.
source "$ECUUP_SRC/test/support/testlib.sh"
python3 -c "import yaml" 2>/dev/null || { echo "skip: python3 yaml missing"; exit 125; }

# parallel_bench DIR [GATEWAY_ORDER]: the bench with bms and gateway at order 1 (slow flash), bms2 (another image ECU) at order 2 and
# two command ECUs cmd1/cmd2 (order 5) driven through a slow bench tool.
parallel_bench() {
  bench "$1"
  sed -i "s/write_speed_bps: 1048576/write_speed_bps: 100000/; s/order: 2/order: ${2:-1}/" "$B/ecuup.yaml"
  cp "$B/ecus/bms.flash" "$B/ecus/bms2.flash"
  cp "$B/ecus/bms.flash" "$B/ecus/cmd1.flash"
  cp "$B/ecus/bms.flash" "$B/ecus/cmd2.flash"
  printf '#!/bin/sh\n[ "$1" = flash ] && sleep 1\nexec "$(dirname "$0")/body-tool" "$@"\n' >"$B/tools/slow-tool"
  chmod +x "$B/tools/slow-tool"
  cp "$B/tools/slow-tool" "$B/tools/other-tool"
  cat >>"$B/ecuup.yaml" <<'YAML'

  - name: bms2
    driver: image
    order: 2
    image: {memory: ecus/bms2.flash, write_speed_bps: 100000}
  - name: cmd1
    driver: command
    order: 5
    command:
      version: tools/slow-tool version ecus/cmd1.flash
      flash: tools/slow-tool flash ecus/cmd1.flash {image}
      read: tools/slow-tool read ecus/cmd1.flash {output}
  - name: cmd2
    driver: command
    order: 5
    command:
      version: tools/slow-tool version ecus/cmd2.flash
      flash: tools/slow-tool flash ecus/cmd2.flash {image}
      read: tools/slow-tool read ecus/cmd2.flash {output}
YAML
  local rel
  rel=$(grep -A4 '^  bms:' "$B/repository/releases.yaml" | tail -4)
  for part in bms2 cmd1 cmd2; do printf '  %s:\n%s\n' "$part" "$rel" >>"$B/repository/releases.yaml"; done
}

# jsonl_overlap FILE A B: the flash phases of ECUs A and B overlap in the progress stream (each
# began before the other ended).
jsonl_overlap() {
  python3 - "$@" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def span(ecu):
    b = next(i for i, j in enumerate(lines) if j["ecu"] == ecu and j["phase"] == "flash" and j["event"] == "begin")
    e = next(i for i, j in enumerate(lines) if j["ecu"] == ecu and j["phase"] == "flash" and j["event"] in ("end", "failed"))
    return b, e
(ba, ea), (bb, eb) = span(sys.argv[2]), span(sys.argv[3])
sys.exit(0 if ba < eb and bb < ea else 1)
PY
}
# jsonl_before FILE A B: A's flash phase ended before B's began.
jsonl_before() {
  python3 - "$@" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
end_a = max(i for i, j in enumerate(lines) if j["ecu"] == sys.argv[2] and j["event"] in ("end", "failed"))
begin_b = min(i for i, j in enumerate(lines) if j["ecu"] == sys.argv[3] and j["event"] == "begin")
sys.exit(0 if end_a < begin_b else 1)
PY
}
# events_overlap MANIFEST A B: both "programming" events come before either "flashed" (manifest order).
# events_before MANIFEST A B: A's "flashed" comes before B's "programming".
events_index() {
  python3 - "$@" <<'PY'
import sys, yaml
m = yaml.safe_load(open(sys.argv[1]))
ev = [(e.get("ecu"), e.get("message", "")) for e in m.get("events", []) if e.get("step") == "flash"]
def first(ecu, prefix):
    return next(i for i, (c, msg) in enumerate(ev) if c == ecu and msg.startswith(prefix))
a, b = sys.argv[3], sys.argv[4]
if sys.argv[2] == "overlap":
    ok = max(first(a, "programming"), first(b, "programming")) < min(first(a, "flashed"), first(b, "flashed"))
else:
    ok = first(a, "flashed") < first(b, "programming")
sys.exit(0 if ok else 1)
PY
}
events_overlap() { events_index "$1" overlap "$2" "$3"; }
events_before() { events_index "$1" before "$2" "$3"; }
flash_state() { python3 -c "import sys,yaml; print(yaml.safe_load(open(sys.argv[1]))['ecus'][sys.argv[2]]['flash']['state'])" "$@"; }

# --- equal order overlaps, the next order waits for it
parallel_bench "$T/a"
prepare_flash
expect 0 "flash with two ECUs at order 1" "$ecuup" flash --ecu bms --ecu gateway --ecu bms2 --progress=jsonl
check "bms and gateway overlap (jsonl)" jsonl_overlap "$T/err" bms gateway
check "bms and gateway overlap (manifest events)" events_overlap "$B/state/manifest.yaml" bms gateway
check "bms2 (order 2) starts after bms ended" jsonl_before "$T/err" bms bms2
check "bms2 (order 2) starts after gateway ended" jsonl_before "$T/err" gateway bms2
check "every progress line names its ECU" bash -c "! grep '^{' '$T/err' | grep -q '\"ecu\":\"\"'"
check "bms on 1.1.0" test "$(image_version "$B/ecus/bms.flash")" = 1.1.0
check "gateway on 2.4.0" test "$(image_version "$B/ecus/gateway.flash")" = 2.4.0
check "bms2 on 1.1.0" test "$(image_version "$B/ecus/bms2.flash")" = 1.1.0
check "results in config order" bash -c "grep -o '^bms \|^gateway \|^bms2 ' '$T/out' | tr -d ' \n' | grep -qx bmsgatewaybms2"
expect 0 "plain progress while two run" "$ecuup" flash --ecu bms --progress=plain
check "manifest parses" python3 -c "import yaml; yaml.safe_load(open('$B/state/manifest.yaml'))"

# --- one of a group fails and is restored; its sibling finishes; the later order is skipped
parallel_bench "$T/b"
prepare_flash
backup_file=$(ls "$B"/state/backups/bms/*.img)
mkdir -p "$B/faults"; echo "fail-write 1" >"$B/faults/bms"
expect 5 "bms fails, gateway succeeds: exit 5" "$ecuup" flash --ecu bms --ecu gateway --ecu bms2 --progress=jsonl
check "bms and gateway overlap" jsonl_overlap "$T/err" bms gateway
check "bms restored" out_has "bms .*restored"
check "bms memory equals its backup" cmp -s "$B/ecus/bms.flash" "$backup_file"
check "gateway flashed" out_has "gateway .*flashed"
check "gateway on 2.4.0" test "$(image_version "$B/ecus/gateway.flash")" = 2.4.0
check "bms2 skipped (later order)" out_has "bms2 .*skipped"
check "bms2 untouched" test "$(image_version "$B/ecus/bms2.flash")" = 1.0.0
check "manifest: bms failed_restored" test "$(flash_state "$B/state/manifest.yaml" bms)" = failed_restored
check "manifest: gateway succeeded" test "$(flash_state "$B/state/manifest.yaml" gateway)" = succeeded

# --- a shared bench tool: cmd1 and cmd2 take turns; with distinct tools they overlap
parallel_bench "$T/c"
prepare_flash
expect 0 "two ECUs on one bench tool" "$ecuup" flash --ecu cmd1 --ecu cmd2 --progress=none
check "cmd1 finished before cmd2 started" events_before "$B/state/manifest.yaml" cmd1 cmd2
check "cmd1 on 1.1.0" test "$(image_version "$B/ecus/cmd1.flash")" = 1.1.0
check "cmd2 on 1.1.0" test "$(image_version "$B/ecus/cmd2.flash")" = 1.1.0
parallel_bench "$T/c2"
sed -i 's|tools/slow-tool flash ecus/cmd2.flash|tools/other-tool flash ecus/cmd2.flash|' "$B/ecuup.yaml"
prepare_flash
expect 0 "two ECUs on distinct bench tools" "$ecuup" flash --ecu cmd1 --ecu cmd2 --progress=none
check "cmd1 and cmd2 overlap" events_overlap "$B/state/manifest.yaml" cmd1 cmd2

# --- different orders stay sequential
parallel_bench "$T/d" 3
prepare_flash
expect 0 "flash with distinct orders" "$ecuup" flash --ecu bms --ecu gateway --progress=jsonl
check "bms ended before gateway began" jsonl_before "$T/err" bms gateway

# --- --jobs 1, and kill -9 in the middle of a parallel flash
parallel_bench "$T/e"
prepare_flash
expect 0 "--jobs 1 flashes one after another" "$ecuup" flash --ecu bms --ecu gateway --jobs 1 --progress=jsonl
check "bms ended before gateway began" jsonl_before "$T/err" bms gateway
parallel_bench "$T/f"
sed -i 's/write_speed_bps: 100000/write_speed_bps: 30000/' "$B/ecuup.yaml"
prepare_flash
"$ecuup" flash --ecu bms --ecu gateway --progress=none >"$T/flash.out" 2>&1 &
pid=$!
for _ in $(seq 200); do
  n=$(grep -c "message: programming" "$B/state/manifest.yaml" 2>/dev/null)
  [ "${n:-0}" -ge 2 ] && break
  sleep 0.05
done
sleep 0.5
kill -9 "$pid"; wait "$pid" 2>/dev/null
check "manifest parses after kill -9" python3 -c "import yaml; yaml.safe_load(open('$B/state/manifest.yaml'))"
check "bms in_progress" test "$(flash_state "$B/state/manifest.yaml" bms)" = in_progress
check "gateway in_progress" test "$(flash_state "$B/state/manifest.yaml" gateway)" = in_progress
sed -i 's/write_speed_bps: 30000/write_speed_bps: 0/' "$B/ecuup.yaml"
expect 0 "rerun resolves both" "$ecuup" flash --ecu bms --ecu gateway -v
check "bms on 1.1.0" test "$(image_version "$B/ecus/bms.flash")" = 1.1.0
check "gateway on 2.4.0" test "$(image_version "$B/ecus/gateway.flash")" = 2.4.0
finish
