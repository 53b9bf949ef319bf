#!/usr/bin/env bash
# ecuup-sim's slow boot: after ECUReset the ECU is off the network for boot_time_ms (or the
# slow_boot fault's ms=): its DoIP entity refuses TCP connections (listener closed, reopened on
# the same port) and its CAN node is silent; then it answers again. Without a boot time the
# reset keeps the old behaviour: silent for reset_time_ms, the DoIP connection kept.
source "$(dirname "$0")/sim_lib.bash"
sim_bench_dirs
cat >"$WORK/sim.yaml" <<'YAML'
doip: {port: 0}
ecus:
  - name: gw
    doip_address: 0x0010
    initial_image: {version: "1.0.0", size: 1000}
    timing: {boot_time_ms: 800, reset_time_ms: 100}
  - name: bms
    can: {request_id: 0x7E0, response_id: 0x7E8}
    initial_image: {version: "2.0.0", size: 1000}
    timing: {boot_time_ms: 800, reset_time_ms: 100}
  - name: eps
    doip_address: 0x0020
    doip_port: 0
    initial_image: {version: "3.0.0", size: 1000}
    timing: {reset_time_ms: 100}
YAML
sim_run_start "$WORK/sim.yaml" "$STATE" --bus "$BUS_SIM" --fault eps:slow_boot:ms=600 || exit 1
EPS_PORT=$(sed -n 's/.*doip_port\.eps=\([0-9]*\).*/\1/p' "$WORK/run.out")
[[ -n $EPS_PORT && $EPS_PORT != "$DOIP_PORT" ]] && ok || fail "no own DoIP port for eps: $(cat "$WORK/run.out")"

sim_py "$DOIP_PORT" "$EPS_PORT" "$BUS_TESTER" <<'PY'
import sys, time
from simtest import *
doip_port, eps_port, bus = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
version = "62f189" + b"1.0.0".hex()

def boots_unreachable_doip(port, ecu, boot_ms, name):
    t = Tester("doip:%d:%s" % (port, ecu))
    check(t.request("1003").startswith("5003"), name + ": extended session")
    check(t.request("1101") == "5101", name + ": ECUReset answered before the reboot")
    t0 = now_ms()
    time.sleep(0.05)
    check(doip_connect(port) == "refused", name + ": DoIP connection refused while booting")
    while doip_connect(port) == "refused" and now_ms() - t0 < boot_ms + 3000:
        time.sleep(0.02)
    up = now_ms() - t0
    check(boot_ms - 100 <= up <= boot_ms + 1000, name + ": listener back after %d ms (boot %d ms)" % (up, boot_ms))
    t.close()
    t = Tester("doip:%d:%s" % (port, ecu))
    check(t.request("22f186") == "62f18601", name + ": served on the same port, in the default session")
    t.close()

boots_unreachable_doip(doip_port, "0x10", 800, "gw boot_time_ms")
# The fault fires once: the first reset boots slowly, the second keeps the connection.
boots_unreachable_doip(eps_port, "0x20", 600, "eps slow_boot")
t = Tester("doip:%d:0x20" % eps_port)
check(t.request("1101") == "5101", "eps: second reset")
time.sleep(0.05)
check(doip_connect(eps_port) == "open", "eps: without a boot time the entity stays up")
time.sleep(0.1)
check(t.request("22f186") == "62f18601", "eps: served on the kept connection after reset_time_ms")
t.close()

# CAN: silent while booting, then served.
t = Tester("can:%s:0x7E0:0x7E8" % bus)
check(t.request("1003").startswith("5003"), "bms: extended session")
check(t.request("1101") == "5101", "bms: ECUReset answered")
t0 = now_ms()
check(t.request("22f186", 300) == "-", "bms: silent while booting")
check(t.request("22f186", 200) == "-", "bms: still silent at 500 ms")
while now_ms() - t0 < 3000:
    a = t.request("22f186", 100)
    if a != "-":
        break
up = now_ms() - t0
check(a == "62f18601", "bms: answers after booting: %s" % a)
check(700 <= up <= 2000, "bms: first answer %d ms after the reset (boot 800 ms)" % up)
PY
finish
