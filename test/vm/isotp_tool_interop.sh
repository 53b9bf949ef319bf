#!/usr/bin/env bash
# ecuup's ISO-TP against the kernel's, in a qemu VM over vcan0: ecuup-isotp-tool (userspace ISO-TP
# over CAN_RAW, and --kernel over CAN_ISOTP) exchanges messages with can-utils' isotpsend/isotprecv
# in both directions, single frame and multi-frame (sequence numbers wrap), classic CAN and CAN FD.
set -euo pipefail
src="${ECUUP_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
bin="${ECUUP_BIN:-$src/build/bin}"
tool="$bin/ecuup-isotp-tool"
if [[ ! -x "$tool" ]]; then
  echo "skipped: $tool not built" >&2
  exit 125
fi
inner="$(mktemp)"
trap 'rm -f "$inner"' EXIT
cat >"$inner" <<'EOF'
set -u
fail() { echo "FAIL: $*"; exit 1; }
ip link add dev vcan0 type vcan || fail "cannot create vcan0"
ip link set dev vcan0 up || fail "cannot bring up vcan0"
candump -L vcan0 >/tmp/dump.log 2>&1 &
dump=$!

upper() { echo "$1" | tr 'a-f' 'A-F'; }
flat() { tr -s ' \n' ' ' <"$1" | sed 's/^ *//; s/ *$//'; }

# Receivers the CAN core has registered on vcan0 (CAN_RAW and CAN_ISOTP sockets alike).
receivers() { cat /proc/net/can/rcvlist_* 2>/dev/null | grep -c ' vcan0 '; }
# wait_receiver BEFORE: until more than BEFORE receivers are registered, i.e. the receiving side
# has bound its socket; a message sent earlier would be lost (a fixed sleep was too short under load).
wait_receiver() {
  n=0
  while [ "$(receivers)" -le "$1" ]; do
    n=$((n + 1))
    [ $n -le 400 ] || fail "no new receiver on vcan0 within 20 s"
    sleep 0.05
  done
}

# $1: ecuup-isotp-tool options, $3: can-utils link-layer options (CAN FD).
label() { [ -n "$1" ] && echo "$1" || echo "(userspace)"; }

# ecuup sends, isotprecv receives (tester 7E0 -> ECU 7E8 numbering).
to_canutils() {
  before=$(receivers)
  timeout 30 isotprecv ${3:-} -s 7E8 -d 7E0 vcan0 >/tmp/recv.txt 2>&1 &
  recv=$!
  wait_receiver "$before"
  ecuup-isotp-tool send --bus socketcan:vcan0 --tx 7E0 --rx 7E8 $1 "$2" >/tmp/tool.txt 2>&1 ||
    { cat /tmp/tool.txt; fail "ecuup-isotp-tool send $1"; }
  wait "$recv" || fail "isotprecv ended with $? after ecuup-isotp-tool send $1"
  [ "$(flat /tmp/recv.txt)" = "$(upper "$2")" ] || fail "ecuup $1 -> isotprecv: got '$(flat /tmp/recv.txt)'"
  echo "ok: ecuup-isotp-tool send $(label "$1") -> isotprecv: $(echo "$2" | wc -w) bytes"
}

# isotpsend sends, ecuup receives.
from_canutils() {
  before=$(receivers)
  timeout 30 ecuup-isotp-tool recv --bus socketcan:vcan0 --tx 7E0 --rx 7E8 --timeout 20000 $1 >/tmp/tool.txt 2>&1 &
  recv=$!
  wait_receiver "$before"
  echo "$2" | isotpsend ${3:-} -s 7E8 -d 7E0 vcan0 || fail "isotpsend to ecuup $1"
  wait "$recv" || { cat /tmp/tool.txt; fail "ecuup-isotp-tool recv $1 ended with $?"; }
  [ "$(flat /tmp/tool.txt)" = "$(upper "$2")" ] || fail "isotpsend -> ecuup $1: got '$(flat /tmp/tool.txt)'"
  echo "ok: isotpsend -> ecuup-isotp-tool recv $(label "$1"): $(echo "$2" | wc -w) bytes"
}

short="22 f1 89"
long=""
i=0
while [ $i -lt 300 ]; do long="$long $(printf '%02x' $(( (i * 13 + 5) % 256 )))"; i=$((i + 1)); done
long="${long# }"

for backend in "" "--kernel"; do
  to_canutils "$backend" "$short"
  to_canutils "$backend" "$long"
  from_canutils "$backend" "$short"
  from_canutils "$backend" "$long"
  # CAN FD: 64-byte frames (link-layer MTU 72, TX_DL 64).
  to_canutils "$backend --fd" "$long" "-L 72:64:0"
  from_canutils "$backend --fd" "$long" "-L 72:64:0"
done
sleep 0.2
kill "$dump"
# candump -L writes CAN FD frames as ID##<flags>DATA.
grep -q ' vcan0 7E0##' /tmp/dump.log || fail "no CAN FD frame from 7E0 on the bus"
grep -q ' vcan0 7E8##' /tmp/dump.log || fail "no CAN FD frame from 7E8 on the bus"
echo "ok: candump saw $(grep -c '##' /tmp/dump.log) CAN FD frames of $(wc -l </tmp/dump.log)"
EOF
exec "$src/scripts/vm" run --bin "$tool" -- "$inner"
