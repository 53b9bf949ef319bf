#!/usr/bin/env bash
# DoIP on UDP against an independent implementation: scapy's DoIP packet class
# (scapy.contrib.automotive.doip, Debian's python3-scapy) builds the tester's vehicle
# identification (plain and by VIN), entity status and power mode requests to ecuup-sim and
# parses its answers and its three vehicle announcements after start; and, as a DoIP entity of its
# own built with scapy, answers the request `ecuup discover` sends, which scapy parses too.
# Skipped (125) when no python3 has scapy.
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
PY=
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'from scapy.contrib.automotive.doip import DoIP' 2>/dev/null; then
    PY=$candidate
    break
  fi
done
[[ -n $PY ]] || { echo "skip: no python3 with scapy (apt-get install python3-scapy)"; exit 125; }
sim_bench_dirs
VIN=WVWZZZ1KZAW000077
free_udp_port() { "$PY" -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Hear the announcements: the listener is up before the simulator starts.
ANNOUNCE_PORT=$(free_udp_port)
"$PY" - "$ANNOUNCE_PORT" >"$WORK/announcements" 2>&1 <<'PY' &
import socket, sys, time
from scapy.contrib.automotive.doip import DoIP
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.settimeout(0.2)
print("listening", flush=True)
end = time.monotonic() + 8.0
heard = 0
while time.monotonic() < end and heard < 4:
    try:
        data, peer = s.recvfrom(1500)
    except socket.timeout:
        continue
    p = DoIP(data)
    heard += 1
    print("%d %s 0x%04x %s %d" % (p.payload_type, p.vin.decode(), p.logical_address, p.eid.hex(), peer[1]), flush=True)
PY
LISTENER=$!
# wait_for FILE LINE: until a background snippet says it is ready (importing scapy takes a while).
wait_for() { for _ in $(seq 100); do grep -q "^$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; fail "no '$2' in $1"; }
wait_for "$WORK/announcements" listening
cat >"$WORK/sim.yaml" <<YAML
vin: $VIN
doip: {port: 0, eid: "02:11:22:33:44:55", gid: "02:AA:BB:CC:DD:EE", announce: "127.0.0.1:$ANNOUNCE_PORT", max_data_size: 0x1004}
ecus:
  - name: gw
    doip_address: 0x0010
    memory: [{address: 0x00000000, size: 0x10000}]
    initial_image: {version: "1.0.0", size: 4096}
YAML
sim_run_start "$WORK/sim.yaml" "$STATE" || exit 1

# scapy as the tester.
out=$("$PY" - "$DOIP_PORT" "$VIN" 2>&1 <<'PY'
import socket, sys
from scapy.contrib.automotive.doip import DoIP
port, vin = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
def ask(pkt):
    s.sendto(bytes(pkt), ("127.0.0.1", port))
    data, peer = s.recvfrom(1500)
    return DoIP(data), peer
def check(cond, what):
    print(("OK " if cond else "FAIL: ") + what)
r, peer = ask(DoIP(payload_type=0x0001))
check(r.payload_type == 0x0004, "identification request answered with 0x0004 (%d)" % r.payload_type)
check(r.vin == vin.encode(), "VIN %r" % r.vin)
check(r.logical_address == 0x0010, "logical address 0x%04x" % r.logical_address)
check(r.eid == bytes.fromhex("021122334455"), "EID %s" % r.eid.hex())
check(r.gid == bytes.fromhex("02aabbccddee"), "GID %s" % r.gid.hex())
check(r.further_action == 0 and r.vin_gid_status == 0, "further action / sync status")
check(r.payload_length == 33, "announcement payload of 33 bytes (%d)" % r.payload_length)
check(peer[1] == port, "answered from the DoIP port")
r, _ = ask(DoIP(payload_type=0x0003, vin=vin.encode()))
check(r.payload_type == 0x0004 and r.vin == vin.encode(), "identification request with VIN answered")
s.sendto(bytes(DoIP(payload_type=0x0003, vin=b"WVWZZZ1KZAW999999")), ("127.0.0.1", port))
try:
    s.recvfrom(1500)
    check(False, "another VIN got an answer")
except socket.timeout:
    check(True, "another VIN: no answer")
r, _ = ask(DoIP(payload_type=0x4001))
check(r.payload_type == 0x4002, "entity status request answered with 0x4002")
check(r.node_type == 0 and r.max_data_size == 0x1004, "gateway, max data size 0x%x" % r.max_data_size)
check(r.max_open_sockets >= 1, "max open sockets %d" % r.max_open_sockets)
r, _ = ask(DoIP(payload_type=0x4003))
check(r.payload_type == 0x4004 and r.diagnostic_power_mode == 1, "power mode: ready")
r, _ = ask(DoIP(protocol_version=0x02, inverse_version=0xFE, payload_type=0x0001))
check(r.payload_type == 0x0000 and r.nack == 0, "incorrect pattern: generic NACK 0x00")
PY
)
while IFS= read -r line; do
  case $line in OK*) ok ;; FAIL:*) fail "scapy tester: ${line#FAIL: }" ;; *) echo "  $line" ;; esac
done <<<"$out"

wait "$LISTENER" || true
# The listener stops after 8 s or a 4th announcement (there must be none).
announced=$(grep -c "^4 $VIN 0x0010 021122334455 $DOIP_PORT\$" "$WORK/announcements" || true)
[[ $announced -eq 3 ]] && ok || fail "3 announcements expected, heard: $(cat "$WORK/announcements")"

# scapy as the DoIP entity that ecuup discover finds.
ENTITY_PORT=$(free_udp_port)
"$PY" - "$ENTITY_PORT" >"$WORK/entity.out" 2>&1 <<'PY' &
import socket, sys
from scapy.contrib.automotive.doip import DoIP
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
print("ready", flush=True)
data, peer = s.recvfrom(1500)
req = DoIP(data)
print("request %d version %d inverse %d length %d" % (req.payload_type, req.protocol_version, req.inverse_version, req.payload_length), flush=True)
answer = DoIP(payload_type=0x0004, vin=b"SCAPYVIN000000001", logical_address=0x1234,
              eid=bytes.fromhex("0a0b0c0d0e0f"), gid=bytes.fromhex("0a0b0c0d0e00"), further_action=0x10, vin_gid_status=0x10)
s.sendto(bytes(answer), peer)
PY
ENTITY=$!
wait_for "$WORK/entity.out" ready
ecuup_run 0 discover --address "127.0.0.1:$ENTITY_PORT" --json --timeout 1000
wait "$ENTITY" || true
grep -q "^request 1 version 2 inverse 253 length 0$" "$WORK/entity.out" && ok || fail "what ecuup sent, as scapy reads it: $(cat "$WORK/entity.out")"
"$PY" - "$WORK/ecuup.out" "$ENTITY_PORT" <<'PY' && ok || fail "ecuup discover of the scapy entity: $(cat "$WORK/ecuup.out")"
import json, sys
e = json.load(open(sys.argv[1]))["entities"]
assert len(e) == 1, e
e = e[0]
assert e["vin"] == "SCAPYVIN000000001" and e["logical_address"] == "0x1234", e
assert e["eid"] == "0A:0B:0C:0D:0E:0F" and e["gid"] == "0A:0B:0C:0D:0E:00", e
assert e["further_action"] == 16 and e["sync_status"] == 16 and e["port"] == int(sys.argv[2]), e
PY
finish
