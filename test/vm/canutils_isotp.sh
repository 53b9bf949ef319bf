#!/usr/bin/env bash
# A real Linux CAN stack in a qemu VM: can-utils' isotpsend/isotprecv exchange single- and
# multi-frame ISO-TP messages over vcan0 through the kernel's CAN_ISOTP, and candump sees the frames.
set -euo pipefail
src="${ECUUP_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
inner="$(mktemp)"
trap 'rm -f "$inner"' EXIT
cat >"$inner" <<'EOF'
set -u
fail() { echo "FAIL: $*"; exit 1; }
ip link add dev vcan0 type vcan || fail "cannot create vcan0"
ip link set dev vcan0 up || fail "cannot bring up vcan0"
candump -L vcan0 >/tmp/dump.log 2>&1 &
dump=$!

# Receivers the CAN core has registered on vcan0 (CAN_RAW and CAN_ISOTP sockets alike).
receivers() { cat /proc/net/can/rcvlist_* 2>/dev/null | grep -c ' vcan0 '; }
# wait_receiver BEFORE: until more than BEFORE receivers are registered (the receiver has bound).
wait_receiver() {
  n=0
  while [ "$(receivers)" -le "$1" ]; do
    n=$((n + 1))
    [ $n -le 400 ] || fail "no new receiver on vcan0 within 20 s"
    sleep 0.05
  done
}

# exchange SRC DST HEX: isotprecv listens on DST, isotpsend sends HEX from SRC.
exchange() {
  before=$(receivers)
  timeout 30 isotprecv -s "$2" -d "$1" vcan0 >/tmp/recv.txt 2>&1 &
  recv=$!
  wait_receiver "$before"
  echo "$3" | isotpsend -s "$1" -d "$2" vcan0 || fail "isotpsend $1 -> $2"
  wait "$recv" || fail "isotprecv $1 -> $2 ended with $?"
  got="$(tr -s ' \n' ' ' </tmp/recv.txt | sed 's/ *$//')"
  want="$(echo "$3" | tr 'a-f' 'A-F')"
  [ "$got" = "$want" ] || fail "$1 -> $2: sent '$want', received '$got'"
  echo "ok: $1 -> $2: $(echo "$3" | wc -w) bytes"
}

short="22 f1 89"
long=""
i=0
while [ $i -lt 100 ]; do long="$long $(printf '%02x' $(( (i * 7 + 3) % 256 )))"; i=$((i + 1)); done
long="${long# }"

exchange 7E0 7E8 "$short"
exchange 7E8 7E0 "$short"
exchange 7E0 7E8 "$long"
exchange 7E8 7E0 "$long"

sleep 0.2
kill "$dump"
wait "$dump" 2>/dev/null
# A 100-byte message: first frame (PCI 0x1) from the sender, flow control (0x3) from the receiver.
grep -q ' vcan0 7E0#0322F189' /tmp/dump.log || fail "candump did not see the single frame"
grep -q ' vcan0 7E0#1064' /tmp/dump.log || fail "candump did not see the first frame 7E0"
grep -q ' vcan0 7E8#30' /tmp/dump.log || fail "candump did not see the flow control on 7E8"
grep -q ' vcan0 7E8#1064' /tmp/dump.log || fail "candump did not see the first frame 7E8"
echo "ok: candump saw $(wc -l </tmp/dump.log) frames"
EOF
exec "$src/scripts/vm" run -- "$inner"
