#!/usr/bin/env bash
# Issue 13, case 3: a DoIP ECU that refuses connections for a while (powered off, booting) is waited
# for within timeouts.reset_timeout_ms instead of failing at the first `Connection refused`. A restore
# started while the simulator is down restores once it listens (exit 0), and so does a flash; before,
# both ended in exit 6 ("RESTORE FAILED: connect: ... Connection refused").
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
sim_bench_dirs
command -v python3 >/dev/null || { echo "skip: python3 missing"; exit 125; }
# A fixed port: the simulator must come back where ecuup keeps knocking.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$WORK/sim.yaml" <<'YAML'
ecus:
  - name: gw
    doip_address: 0x0010
    memory: [{address: 0x00000000, size: 0x10000}]
    initial_image: {version: "1.0.0", size: 10000}
    max_block_length: 0x402
    timing: {erase_time_ms: 50, reset_time_ms: 100}
YAML
start_sim() { sim_run_start "$WORK/sim.yaml" "$STATE" --doip-port "$PORT" || exit 1; }
{
  bench_config sim-vehicle-refused
  DOIP_PORT=$PORT uds_ecu gw doip 0x0010 0x0 0x10000
} >"$BENCH/ecuup.yaml"
"$SIM" mkimage --version 1.1.0 --size 30000 --seed 31 -o "$WORK/gw-1.1.0.img"
add_release "$BENCH/repository" gw 1.1.0 "$WORK/gw-1.1.0.img"

start_sim
ecuup_run 0 inventory
ecuup_run 0 report
ecuup_run 0 fetch
ecuup_run 0 backup --read
sim_run_stop TERM

# later CMD...: runs an ecuup step while the simulator is down and starts it 1.5 s later.
later() {
  (cd "$BENCH" && exec "$ECUUP" "$@" --progress none >"$WORK/ecuup.out" 2>"$WORK/ecuup.err") &
  local pid=$! rc=0
  sleep 1.5
  start_sim
  wait "$pid" || rc=$?
  ECUUP_RC=$rc
}

later flash --ecu gw
[[ $ECUUP_RC -eq 0 ]] && ok || { fail "flash while refused exited $ECUUP_RC (want 0)"; sed 's/^/  | /' "$WORK/ecuup.err" >&2; }
[[ $(sim_version "$STATE" gw) == 1.1.0 ]] && ok || fail "gw runs $(sim_version "$STATE" gw) after the flash (want 1.1.0)"
sim_run_stop TERM

later restore --ecu gw
[[ $ECUUP_RC -eq 0 ]] && ok || { fail "restore while refused exited $ECUUP_RC (want 0)"; sed 's/^/  | /' "$WORK/ecuup.err" >&2; }
[[ $(sim_version "$STATE" gw) == 1.0.0 ]] && ok || fail "gw runs $(sim_version "$STATE" gw) after the restore (want 1.0.0)"
sim_run_stop TERM

# Nobody there for longer than the recovery window (a restore's limit): a network error that
# names the refusal, once the window is spent (and not twice over).
sed -i 's/image: {format: raw, base_address: 0x0}/image: {format: raw, base_address: 0x0}\n      timeouts: {reset_timeout_ms: 1000, recovery_window_ms: 3000}/' "$BENCH/ecuup.yaml"
start=$(date +%s)
ecuup_run_any restore --ecu gw
[[ $ECUUP_RC -ne 0 ]] && ok || fail "restore with nobody listening exited 0"
grep -q "Connection refused" "$WORK/ecuup.err" && ok || fail "the refusal is not named: $(tr '\n' ' ' <"$WORK/ecuup.err")"
(($(date +%s) - start < 30)) && ok || fail "giving up took $(($(date +%s) - start)) s"
finish
