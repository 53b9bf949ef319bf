#!/usr/bin/env bash
# A tester that dies in the middle of a read-out must not keep the ECU from the next one. Over CAN
# the dead tester never sends the flow control the ECU's multi-frame answer waits for, and a new
# tester's request arriving meanwhile starts a new reception (ISO 15765-2 9.8.3) instead of being
# lost; an abandoned multi-frame request is dropped the same way. Over DoIP a new connection is
# accepted and served at once. After S3 (s3_timeout_ms, ISO 14229-2) without requests the ECU is
# back in the default session with the transfer dropped. Finally `ecuup backup --read` killed with
# -9 mid-read-out, then run again, succeeds on both transports.
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
sim_bench_dirs
cat >"$WORK/sim.yaml" <<'YAML'
doip: {port: 0}
ecus:
  - name: gw
    doip_address: 0x0010
    memory: [{address: 0x00000000, size: 0x400000}]
    initial_image: {version: "1.0.0", size: 100000}
    timing: {s3_timeout_ms: 1500}
  - name: bms
    can: {request_id: 0x7E0, response_id: 0x7E8}
    memory: [{address: 0x00010000, size: 0x40000}]
    initial_image: {version: "2.0.0", size: 100000}
    max_block_length: 0x102           # multi-frame answers a Python tester reads without losses
    timing: {s3_timeout_ms: 1500}
YAML
sim_run_start "$WORK/sim.yaml" "$STATE" --bus "$BUS_SIM" || exit 1

sim_py "$DOIP_PORT" "$BUS_TESTER" <<'PY'
import sys, time
from simtest import *
port, bus = int(sys.argv[1]), sys.argv[2]
IN_TIME_MS = 400  # well before N_Bs (1000 ms), the time a lost request cost

def start_upload(t, address):
    t.request("1003")
    t.unlock()
    return t.request("350044%08x%08x" % (address, 0x10000))[:4] == "7520"

def served_at_once(spec, name):
    t = Tester(spec)
    got = t.timed("22f186", 1000)
    check(len(got) == 1 and got[0][0] < IN_TIME_MS and got[0][1] == "62f18603",
          name + ": a new tester is served at once (still in the session, within S3): %s" % got)
    return t

def s3_expires(t, name):
    time.sleep(1.5 + 0.2)
    check(t.request("22f186") == "62f18601", name + ": default session after S3 without requests")
    check(t.request("3602") == "7f367f", name + ": the transfer is gone with the session")
    check(start_upload(t, address) and t.request("3601", 2000).startswith("7601"), name + ": a new read-out works")
    t.close()

# CAN: the dead tester asked for block 1 (a multi-frame answer) and died before its flow control.
address = 0x10000
can = "can:%s:0x7E0:0x7E8" % bus
t = Tester(can)
check(start_upload(t, address), "bms: upload started")
t.link.send(bytes.fromhex("3601"))
first = t.link.read_frame(time.monotonic() + 1)
check(first[0] >> 4 == 1, "bms: the answer is a first frame waiting for flow control")
t.close()  # dies: no flow control, ever
s3_expires(served_at_once(can, "bms"), "bms")

# CAN: the dead tester stopped in the middle of a multi-frame request.
t = Tester(can)
t.request("1003")
t.link.frame(bytes([0x10, 20]) + bytes.fromhex("2e0100414141"))  # a first frame of 20 bytes
fc = t.link.read_frame(time.monotonic() + 1)
check(fc[0] >> 4 == 3, "bms: flow control for the abandoned request")
t.link.frame(bytes([0x21]) + b"AAAAAAA")  # one consecutive frame, then nothing
t.close()
served_at_once(can, "bms after an abandoned request").close()

# DoIP: the dead tester's connection goes away with block 1 unread.
address = 0
doip = "doip:%d:0x10" % port
t = Tester(doip)
check(start_upload(t, address), "gw: upload started")
t.link.send(bytes.fromhex("3601"))
t.link.sock.close()
s3_expires(served_at_once(doip, "gw"), "gw")
PY

# ecuup itself: backup --read killed mid-read-out, then again.
{
  bench_config sim-dead-tester
  uds_ecu gw doip 0x0010 0x0 0x400000
  uds_ecu bms can 0x7E0 0x7E8 0x10000 0x40000
} >"$BENCH/ecuup.yaml"
ecuup_run 0 inventory
for ecu in gw bms; do
  (cd "$BENCH" && exec "$ECUUP" backup --read --ecu "$ecu" --progress none -v >"$WORK/killed.out" 2>"$WORK/killed.err") &
  pid=$!
  for _ in $(seq 500); do grep -q "step upload" "$WORK/killed.err" 2>/dev/null && break; sleep 0.01; done
  sleep 0.05
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  grep -q "read out backup" "$WORK/killed.err" && echo "  note: $ecu's read-out finished before the kill"
  start=$(date +%s%3N)
  ecuup_run 0 backup --read --ecu "$ecu"
  took=$(($(date +%s%3N) - start))
  ((took < 1500 + 3000)) && ok || fail "$ecu: the read-out after a killed one took $took ms"
done
finish
