#!/usr/bin/env bash
# Parallel flashing over UDS/DoIP against ecuup-sim: three ECUs of one flash order behind one DoIP
# gateway. gw1 and gw2 have distinct logical and tester addresses and are programmed at the same
# time (their progress lines interleave); gw3 shares gw1's tester address, so it waits for gw1
# (the gateway takes one connection per tester address). All three are verified byte for byte.
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
python3 -c "import yaml" 2>/dev/null || { echo "skip: python3 yaml missing"; exit 125; }
BENCH="$WORK/bench"
STATE="$WORK/sim-state"
mkdir -p "$BENCH"
{
  echo "doip: {port: 0}"
  echo "ecus:"
  for n in 1 2 3; do cat <<YAML
  - name: gw$n
    doip_address: 0x001$n
    memory: [{address: 0x00000000, size: 0x20000}]
    initial_image: {version: "1.0.0", size: 20000}
    timing: {erase_time_ms: 100, reset_time_ms: 100, write_bytes_per_s: 200000}
YAML
  done
} >"$WORK/sim.yaml"
sim_run_start "$WORK/sim.yaml" "$STATE" || exit 1

{
  echo "vehicle: sim-parallel-1"
  echo "state_dir: state"
  echo "server: {kind: dir, path: repository}"
  echo "ecus:"
  for n in 1 2 3; do
    tester=0x0E00
    [[ $n == 2 ]] && tester=0x0E01
    cat <<YAML
  - name: gw$n
    driver: uds
    order: 1
    uds:
      transport: doip
      doip: {port: $DOIP_PORT, ecu_address: 0x001$n, tester_address: $tester}
      security: {level: 1, key_command: "$SIM key {level} {seed}"}
      image: {format: raw, base_address: 0x0}
      read_out: {regions: [{address: 0x0, size: 0x20000}], format: raw}
YAML
  done
} >"$BENCH/ecuup.yaml"
for n in 1 2 3; do
  "$SIM" mkimage --version 1.1.$n --size 60000 --seed 2$n -o "$WORK/gw$n.img"
  add_release "$BENCH/repository" gw$n 1.1.$n "$WORK/gw$n.img"
done

ecuup_run 0 inventory
ecuup_run 0 report
ecuup_run 0 fetch
ecuup_run 0 backup --read
rc=0
(cd "$BENCH" && "$ECUUP" flash --progress jsonl >"$WORK/flash.out" 2>"$WORK/flash.err") || rc=$?
[[ $rc -eq 0 ]] && ok || { fail "flash exited $rc"; sed 's/^/  | /' "$WORK/flash.err" >&2; }

# Positions of the flash phase's begin and end lines per ECU in the jsonl stream.
python3 - "$WORK/flash.err" >"$WORK/spans" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
for ecu in ("gw1", "gw2", "gw3"):
    b = next(i for i, j in enumerate(lines) if j["ecu"] == ecu and j["phase"] == "flash" and j["event"] == "begin")
    e = next(i for i, j in enumerate(lines) if j["ecu"] == ecu and j["phase"] == "flash" and j["event"] in ("end", "failed"))
    print(ecu, b, e)
PY
read -r _ b1 e1 < <(grep '^gw1 ' "$WORK/spans")
read -r _ b2 e2 < <(grep '^gw2 ' "$WORK/spans")
read -r _ b3 e3 < <(grep '^gw3 ' "$WORK/spans")
[[ -n ${b1:-} && -n ${b2:-} && -n ${b3:-} ]] && ok || fail "missing progress lines: $(cat "$WORK/spans")"
((b1 < e2 && b2 < e1)) && ok || fail "gw1 ($b1..$e1) and gw2 ($b2..$e2) did not overlap"
((e1 < b3)) && ok || fail "gw3 ($b3..$e3) began before gw1 ($b1..$e1) ended: they share a tester address"
for n in 1 2 3; do
  [[ $(sim_version "$STATE" gw$n) == 1.1.$n ]] && ok || fail "gw$n runs $(sim_version "$STATE" gw$n)"
  "$SIM" dump --state "$STATE" --ecu gw$n --image -o "$WORK/gw$n.dump"
  cmp -s "$WORK/gw$n.img" "$WORK/gw$n.dump" && ok || fail "gw$n flash differs from the image"
done
python3 -c "import yaml,sys; m=yaml.safe_load(open(sys.argv[1])); sys.exit(0 if all(m['ecus'][e]['flash']['state']=='succeeded' for e in ('gw1','gw2','gw3')) else 1)" \
  "$BENCH/state/manifest.yaml" && ok || fail "manifest: not all succeeded"
ecuup_run 0 inventory --json
for n in 1 2 3; do grep -q "1.1.$n" "$WORK/ecuup.out" && ok || fail "inventory misses gw$n 1.1.$n"; done
sim_run_stop TERM
finish
