#!/usr/bin/env bash
# ecuup-sim's late answers: with late:SID[:sub=][:rid=][:block=K]:ms=N the answer to that request
# comes N ms late with no 0x78 meanwhile, i.e. after the tester's P2, and it is still sent (over
# DoIP and CAN), so a tester must discard it. Also the sub-function filter of nrc: refusing only
# the programming session (10 02), or every DiagnosticSessionControl without it.
source "$(dirname "$0")/sim_lib.bash"
sim_bench_dirs
cat >"$WORK/sim.yaml" <<'YAML'
doip: {port: 0}
ecus:
  - name: gw
    doip_address: 0x0010
    memory: [{address: 0x00000000, size: 0x10000}]
    initial_image: {version: "1.0.0", size: 1000}
    max_block_length: 0x102
    timing: {erase_time_ms: 300, p2_ms: 50}
  - name: bms
    can: {request_id: 0x7E0, response_id: 0x7E8}
    initial_image: {version: "2.0.0", size: 1000}
    timing: {p2_ms: 50}
YAML

# The erase routine (rid=0xFF00) answered late: no 0x78 although it takes longer than P2.
ms_now() { date +%s%3N; }
sim_console_start "$WORK/sim.yaml" "$WORK/console-state" gw --fault gw:late:0x31:rid=0xFF00:ms=400
expect "extended" 1003 "5003*"
expect "programming" 1002 "5002*"
unlock 01
expect "check routine not delayed (rid filter)" 3101ff01 7101ff0100
t0=$(ms_now)
uds 3101ff00
t1=$(ms_now)
[[ $R == 7101ff0000 ]] && ok || fail "late erase answered $R"
[[ $PENDING_COUNT -eq 0 ]] && ok || fail "late erase sent $PENDING_COUNT 0x78 answers (want none)"
(( t1 - t0 >= 380 )) && ok || fail "late erase answered after $((t1 - t0)) ms (want >= 400)"
# Once: the next erase is paced with 0x78 as usual.
uds 3101ff00
[[ $R == 7101ff0000 && $PENDING_COUNT -ge 1 ]] && ok || fail "second erase: $R with $PENDING_COUNT 0x78 (want pending)"
# TransferData block 2 late, block 1 and 3 in time.
"$SIM" mkimage --version 1.1.0 --size 600 -o "$WORK/img"
sim_console_stop
sim_console_start "$WORK/sim.yaml" "$WORK/console-state" gw --fault gw:late:block=2:ms=300
expect "extended" 1003 "5003*"
expect "programming" 1002 "5002*"
unlock 01
expect "erase" 3101ff00 7101ff0000
uds 34004400000000$(printf '%08x' "$(stat -c %s "$WORK/img")")
[[ $R == 7420* ]] && ok || fail "RequestDownload: $R"
hex=$(file_hex "$WORK/img")
for n in 1 2 3; do
  t0=$(ms_now)
  uds "360$n${hex:$(((n - 1) * 512)):512}"
  t1=$(ms_now)
  [[ $R == 760$n && $PENDING_COUNT -eq 0 ]] && ok || fail "block $n: $R ($PENDING_COUNT pending)"
  if [[ $n == 2 ]]; then ((t1 - t0 >= 280)) && ok || fail "block 2 answered after $((t1 - t0)) ms (want >= 300)"
  else ((t1 - t0 < 250)) && ok || fail "block $n answered after $((t1 - t0)) ms (want in time)"; fi
done
sim_console_stop

# Refusing sessions: sub=0x02 refuses only the programming session, every time.
sim_console_start "$WORK/sim.yaml" "$WORK/console-state" gw --fault gw:nrc:0x10:0x22:sub=0x02:always
expect "extended allowed" 1003 "5003*"
expect "programming refused" 1002 7f1022
expect "programming refused again" 1002 7f1022
expect "default allowed" 1001 "5001*"
sim_console_stop
sim_console_start "$WORK/sim.yaml" "$WORK/console-state" gw --fault gw:nrc:0x10:0x22:always
expect "without sub=: extended refused" 1003 7f1022
expect "without sub=: default refused" 1001 7f1022
sim_console_stop

# On the wire: nothing within P2, the answer after ms=, and the next request answered in time.
sim_run_start "$WORK/sim.yaml" "$STATE" --bus "$BUS_SIM" --fault gw:late:0x22:ms=600 --fault bms:late:0x22:ms=600 || exit 1
sim_py "$DOIP_PORT" "$BUS_TESTER" <<'PY'
import sys
from simtest import *
for name, spec in (("DoIP", "doip:%s:0x10" % sys.argv[1]), ("CAN", "can:%s:0x7E0:0x7E8" % sys.argv[2])):
    t = Tester(spec)
    got = t.timed("22f189", 1500)
    check(len(got) == 1 and got[0][1].startswith("62f189"), name + ": the late answer is sent: %s" % got)
    check(all(ms >= 580 for ms, _ in got), name + ": nothing before 600 ms (no 0x78 either): %s" % got)
    got = t.timed("22f186", 1000)
    check(len(got) == 1 and got[0][0] < 300 and got[0][1].startswith("62f186"), name + ": once: the next answer in time: %s" % got)
    t.close()
PY
finish
