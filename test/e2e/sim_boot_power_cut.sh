#!/usr/bin/env bash
# ecuup-sim power-cut: a harness cuts one ECU's (or every ECU's) power in a running simulator at
# any moment, through STATE/control.sock. Mid-programming the block being written is left
# half-written and the software invalid; while off, DoIP connections are refused and CAN is silent
# (no flow control either); the other ECUs go on; on power-on the ECU boots (boot loader answering
# for invalid software, security delay). kill -9 of the simulator is a power cut too: the state
# it leaves loads, and the stale control socket is replaced. Two simulators cannot share a state.
source "$(dirname "$0")/sim_lib.bash"
sim_bench_dirs
cat >"$WORK/sim.yaml" <<'YAML'
doip: {port: 0}
ecus:
  - name: gw
    doip_address: 0x0010
    memory: [{address: 0x00000000, size: 0x10000}]
    initial_image: {version: "1.0.0", size: 4000}
    max_block_length: 0x402
    timing: {write_bytes_per_s: 2000, erase_time_ms: 50, reset_time_ms: 100, boot_security_delay_ms: 1500}
  - name: bms
    can: {request_id: 0x7E0, response_id: 0x7E8}
    memory: [{address: 0x00010000, size: 0x10000}]
    initial_image: {version: "2.0.0", size: 4000}
    max_block_length: 0x102
    dids: {"0100": {ascii: "x", writable: true}}
    timing: {write_bytes_per_s: 20000, reset_time_ms: 100}
YAML
"$SIM" mkimage --version 1.1.0 --size 6000 --seed 7 -o "$WORK/gw-new.img"
"$SIM" mkimage --version 2.1.0 --size 20000 --seed 8 -o "$WORK/bms-new.img"
sim_run_start "$WORK/sim.yaml" "$STATE" --bus "$BUS_SIM" || exit 1

rc=0; "$SIM" power-cut --state "$STATE" --ecu nosuch --ms 10 2>/dev/null || rc=$?
[[ $rc -eq 2 ]] && ok || fail "power-cut of an unknown ECU exited $rc (want 2)"
rc=0; "$SIM" power-cut --state "$WORK/nothing-here" --ecu gw 2>/dev/null || rc=$?
[[ $rc -ne 0 ]] && ok || fail "power-cut without a simulator exited 0"
rc=0; "$SIM" run --config "$WORK/sim.yaml" --state "$STATE" --bus "$BUS_TESTER" --doip-port 0 >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] && ok || fail "a second simulator on the same state exited $rc (want 2)"

sim_py "$DOIP_PORT" "$BUS_TESTER" "$STATE" "$WORK/gw-new.img" <<'PY'
import sys, threading, time
from simtest import *
port, bus, state, image = int(sys.argv[1]), sys.argv[2], sys.argv[3], open(sys.argv[4], "rb").read()
BLOCK = 0x402 - 2

# gw: programming; the power goes 150 ms into block 3 (each block takes 512 ms to write).
gw = Tester("doip:%d:0x10" % port)
check(gw.request("1003").startswith("5003"), "gw: extended")
check(gw.request("1002").startswith("5002"), "gw: programming")
time.sleep(1.5)  # the security delay after the start
check(gw.unlock() == "6702", "gw: unlocked")
check(gw.request("3101ff00") == "7101ff0000", "gw: erased")
check(gw.request("340044%08x%08x" % (0, len(image))).startswith("7420"), "gw: RequestDownload")
for n in (1, 2):
    check(gw.request("36%02x" % n + image[(n - 1) * BLOCK:n * BLOCK].hex(), 3000) == "76%02x" % n, "gw: block %d" % n)
threading.Timer(0.15, power_cut, (state, "gw", 700)).start()
t0 = now_ms()
check(gw.request("3603" + image[2 * BLOCK:3 * BLOCK].hex(), 3000) == "drop", "gw: block 3 never answered, the connection closed")
gw.close()
check(control(state, "status") == "ok gw=off bms=on", "status while gw is off: " + control(state, "status"))
check(doip_connect(port) == "refused", "gw: DoIP refused while off")
bms = Tester("can:%s:0x7E0:0x7E8" % bus)
check(bms.request("22f186") == "62f18601", "bms goes on while gw is off")
while doip_connect(port) == "refused" and now_ms() - t0 < 3000:
    time.sleep(0.02)
up = now_ms() - t0
check(700 <= up <= 2000, "gw: reachable %d ms after the cut (off 700 ms, cut at +150)" % up)
time.sleep(0.15)  # reset_time_ms: silent while booting
gw = Tester("doip:%d:0x10" % port)
check(gw.request("22f189") == "62f189" + b"BOOT".hex(), "gw: boots into its boot loader (software invalid)")
check(gw.request("1003").startswith("5003"), "gw: extended after power-on")
check(gw.request("2701") == "7f2737", "gw: security delay after power-on")
time.sleep(1.5)
check(gw.request("2701").startswith("6701"), "gw: seed after the delay")
gw.close()

# bms (CAN): silent while off, for single frames and for a first frame (no flow control).
bms.request("1003")
power_cut(state, "bms", 1500)
t0 = now_ms()
check(control(state, "status") == "ok gw=on bms=off", "status while bms is off")
check(bms.request("22f189", 200) == "-", "bms: silent while off")
check(bms.request("2e0100" + "41" * 20, 200) == "-", "bms: no flow control while off")
while now_ms() - t0 < 3000:
    a = bms.request("22f186", 100)
    if a != "-":
        break
check(a == "62f18601", "bms: back in the default session after the cut: %s" % a)
check(1500 <= now_ms() - t0 <= 2600, "bms: answers %d ms after a cut of 1500 ms" % (now_ms() - t0))
check(bms.request("22f189") == "62f189" + b"2.0.0".hex(), "bms: its software untouched by a cut between requests")

# All at once.
subprocess.run([SIM, "power-cut", "--state", state, "--all", "--ms", "400"], check=True)
check(control(state, "status") == "ok gw=off bms=off", "status after --all")
check(doip_connect(port) == "refused" and bms.request("22f186", 200) == "-", "--all: both unreachable")
time.sleep(0.6)
check(control(state, "status") == "ok gw=on bms=on", "both back: " + control(state, "status"))
bms.close()
PY

# What the cut left in gw's flash: blocks 1 and 2, the first half of block 3, erased after it.
"$SIM" dump --state "$STATE" --ecu gw -o "$WORK/gw.mem"
block=$((0x402 - 2))
cmp -s -n $((2 * block + block / 2)) "$WORK/gw.mem" "$WORK/gw-new.img" && ok || fail "gw: blocks 1, 2 and half of 3 not in flash"
[[ $(dd if="$WORK/gw.mem" bs=1 skip=$((2 * block + block / 2)) count=$((block / 2 + 64)) 2>/dev/null | od -An -v -tx1 | tr -d ' \n' | tr -d f) == "" ]] &&
  ok || fail "gw: the second half of block 3 is not erased"
grep -q '"valid":false' "$STATE/gw/state.json" && ok || fail "gw: software still valid after the cut"

# kill -9 of the simulator in the middle of programming bms: it restarts on that state and answers.
sim_py "$BUS_TESTER" "$WORK/bms-new.img" "$SIM_PID" <<'PY'
import os, signal, sys, threading
from simtest import *
bus, image, pid = sys.argv[1], open(sys.argv[2], "rb").read(), int(sys.argv[3])
BLOCK = 0x102 - 2
bms = Tester("can:%s:0x7E0:0x7E8" % bus)
bms.request("1003"); bms.request("1002"); bms.unlock()
check(bms.request("3101ff00") == "7101ff0000", "bms: erased")
check(bms.request("340044%08x%08x" % (0x10000, len(image))).startswith("7420"), "bms: RequestDownload")
threading.Timer(0.2, os.kill, (pid, signal.SIGKILL)).start()
n, answer = 1, ""
while n * BLOCK < len(image):
    answer = bms.request("36%02x" % (n & 0xFF) + image[(n - 1) * BLOCK:n * BLOCK].hex(), 500)
    if answer != "76%02x" % (n & 0xFF):
        break
    n += 1
check(answer == "-" and n > 2, "bms: the simulator died at block %d (%s)" % (n, answer))
bms.close()
PY
wait "$SIM_PID" 2>/dev/null || true
SIM_PID=
[[ -S $STATE/control.sock ]] && ok || fail "no stale control socket left by kill -9 (test premise)"
sim_run_start "$WORK/sim.yaml" "$STATE" --bus "$BUS_SIM" || exit 1
sim_py "$BUS_TESTER" "$STATE" <<'PY'
import sys
from simtest import *
bus, state = sys.argv[1], sys.argv[2]
bms = Tester("can:%s:0x7E0:0x7E8" % bus)
check(bms.request("22f189") == "62f189" + b"BOOT".hex(), "bms after kill -9 mid-programming: boot loader answers")
check(control(state, "status") == "ok gw=on bms=on", "the restarted simulator took over the control socket")
bms.close()
PY
"$SIM" power-cut --state "$STATE" --ecu bms --ms 10 && ok || fail "power-cut after a restart"
finish
