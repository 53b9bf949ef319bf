#!/usr/bin/env bash
# ecuup flashes ecuup-sim's ECUs through a real Linux CAN stack (qemu VM, vcan0): backup --read,
# then update (inventory, report, fetch, flash, backup, status), with ISO-TP in ecuup
# (isotp_backend: user, over CAN_RAW) and in the kernel (isotp_backend: kernel, CAN_ISOTP), each
# over classic CAN and CAN FD. The new version is read back, the flash compared byte for byte with
# the image, and candump -L shows the transfer. ECUUP_VM_VARIANTS="can-user ..." runs a subset.
set -euo pipefail
src="${ECUUP_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
bin="${ECUUP_BIN:-$src/build/bin}"
for program in ecuup ecuup-sim; do
  if [[ ! -x "$bin/$program" ]]; then
    echo "skipped: $bin/$program not built" >&2
    exit 125
  fi
done
work="$(mktemp -d "${TMPDIR:-/tmp}/ecuup-vmflash.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# name request_id response_id fd isotp_backend image_size region_size (backup --read reads the
# whole region: classic CAN moves 7 bytes a frame, so its ECUs are kept smaller for the VM's sake)
readonly variants=(
  "can-user 0x7E0 0x7E8 false user 14000 0x4000"
  "can-kernel 0x7E1 0x7E9 false kernel 14000 0x4000"
  "fd-user 0x7E2 0x7EA true user 24000 0x8000"
  "fd-kernel 0x7E3 0x7EB true kernel 24000 0x8000"
)
readonly base_address=0x10000

{
  echo "ecus:"
  for v in "${variants[@]}"; do
    read -r name req resp fd _ _ region_size <<<"$v"
    cat <<YAML
  - name: $name
    can: {request_id: $req, response_id: $resp, fd: $fd}
    memory: [{address: $base_address, size: $region_size}]
    initial_image: {version: "1.0.0", size: 6000}
    timing: {erase_time_ms: 100, reset_time_ms: 200}
YAML
  done
} >"$work/sim.yaml"

seed=20
for v in "${variants[@]}"; do
  read -r name req resp fd backend size region_size <<<"$v"
  bench="$work/bench/$name"
  mkdir -p "$bench/repository"
  cat >"$bench/ecuup.yaml" <<YAML
vehicle: vm-$name
state_dir: state
server: {kind: dir, path: repository}
ecus:
  - name: $name
    driver: uds
    uds:
      transport: can
      can: {bus: "socketcan:vcan0", tx_id: $req, rx_id: $resp, isotp_backend: $backend, fd: $fd}
      security: {level: 1, key_command: "ecuup-sim key {level} {seed}"}
      image: {format: raw, base_address: $base_address}
      read_out: {regions: [{address: $base_address, size: $region_size}], format: raw}
      # qemu without KVM on a shared machine: answers can be late by a second or more.
      timeouts: {margin_ms: 3000}
YAML
  seed=$((seed + 1))
  "$bin/ecuup-sim" mkimage --version 2.0.0 --size "$size" --seed "$seed" -o "$bench/repository/$name-2.0.0.img"
  cat >"$bench/repository/releases.yaml" <<YAML
releases:
  $name:
    version: 2.0.0
    artifact: $name-2.0.0.img
    sha256: $(sha256sum "$bench/repository/$name-2.0.0.img" | cut -d' ' -f1)
    size: $(stat -c %s "$bench/repository/$name-2.0.0.img")
YAML
done
# ECUUP_VM_VARIANTS="can-user fd-kernel" runs only those (when chasing one failure).
for v in "${variants[@]}"; do
  if [[ -z "${ECUUP_VM_VARIANTS:-}" || " $ECUUP_VM_VARIANTS " == *" ${v%% *} "* ]]; then echo "$v"; fi
done >"$work/variants"

cat >"$work/inner.sh" <<'EOF'
set -u
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
die() { echo "FAIL: $*"; exit 1; }
ip link add dev vcan0 type vcan || die "cannot create vcan0"
ip link set dev vcan0 up || die "cannot bring up vcan0"
candump -L vcan0 >/tmp/dump.log 2>&1 &
dump=$!

ecuup-sim run --config /vm/sim.yaml --state /tmp/sim-state --bus socketcan:vcan0 >/tmp/sim.out 2>/tmp/sim.err &
sim=$!
i=0
until grep -qs '^ready' /tmp/sim.out; do
  kill -0 "$sim" 2>/dev/null || { cat /tmp/sim.err; die "ecuup-sim run exited before ready"; }
  i=$((i + 1)); [ $i -lt 200 ] || die "ecuup-sim run: no ready line within 20 s"
  sleep 0.1
done

# step NAME ARGS...: one ecuup command in the bench of NAME; returns its exit status.
step() {
  name=$1; shift
  (cd "/tmp/bench/$name" && ecuup "$@" --progress none </dev/null >/tmp/ecuup.out 2>/tmp/ecuup.err)
  rc=$?
  if [ $rc -ne 0 ]; then
    sed 's/^/  | /' /tmp/ecuup.err
    fail "$name: ecuup $* exited $rc"
  fi
  return $rc
}

# `ecuup-sim dump` counts the image from the header, so it compares byte for byte with the file.
check() {
  name=$1 fd=$2 backend=$3 started=$(date +%s)
  # backup --read first: flash wants a verified backup of what runs now. update is the whole
  # method in one process (inventory, report, fetch, flash, backup, status), which the VM's slow
  # process start-up favours.
  step "$name" backup --read || return
  # --trace: the kernel backend's frames come from a CAN_RAW tap beside its CAN_ISOTP socket.
  step "$name" update --trace "/tmp/$name.trace.log" || return
  grep -q '1.0.0 -> 2.0.0' /tmp/ecuup.out || { fail "$name: update: $(cat /tmp/ecuup.out)"; return; }
  step "$name" inventory --json && grep -q '"2.0.0"' /tmp/ecuup.out || { fail "$name: after update: $(cat /tmp/ecuup.out)"; return; }
  ecuup-sim dump --state /tmp/sim-state --ecu "$name" --image -o "/tmp/$name.dump" || { fail "$name: dump"; return; }
  cmp "/tmp/bench/$name/repository/$name-2.0.0.img" "/tmp/$name.dump" || { fail "$name: flash differs from the image"; return; }
  echo "ok: $name (isotp_backend $backend, fd $fd): 1.0.0 -> 2.0.0, read-back identical ($(wc -c <"/tmp/$name.dump") bytes), $(($(date +%s) - started)) s"
}

echo "ok: VM up, ecuup-sim ready after $(cut -d' ' -f1 /proc/uptime) s"
cp -r /vm/bench /tmp/bench
while read -r name req resp fd backend size region_size; do
  check "$name" "$fd" "$backend"
done </vm/variants

kill "$sim"
wait "$sim" || fail "ecuup-sim run exit $? on SIGTERM"
sleep 0.2
kill "$dump"

# candump -L: classic frames as ID#DATA, CAN FD frames as ID##<flags nibble>DATA. A download has
# first frames (PCI 0x1X) from the tester and flow control (0x30) from the ECU; read-out the reverse.
frames() { grep -cE " vcan0 $1#$2" "${3:-/tmp/dump.log}"; }
while read -r name req resp fd backend size region_size; do
  tester=$(printf '%03X' "$req") ecu=$(printf '%03X' "$resp")
  if [ "$fd" = true ]; then first='#[0-9A-F]1' flow='(#[0-9A-F])?30'; else first='1' flow='30'; fi
  ff_tester=$(frames "$tester" "$first") fc_ecu=$(frames "$ecu" "$flow")
  ff_ecu=$(frames "$ecu" "$first") fc_tester=$(frames "$tester" "$flow")
  [ "$ff_tester" -gt 0 ] && [ "$fc_ecu" -gt 0 ] && [ "$ff_ecu" -gt 0 ] && [ "$fc_tester" -gt 0 ] ||
    fail "$name: candump: first frames $tester:$ff_tester $ecu:$ff_ecu, flow control $ecu:$fc_ecu $tester:$fc_tester"
  if [ "$fd" = true ]; then
    # 64-byte frames: 128 hex digits after the flags nibble
    long=$(grep -cE " vcan0 $tester##[0-9A-F][0-9A-F]{128}\$" /tmp/dump.log)
    [ "$long" -gt 0 ] || fail "$name: candump: no 64-byte CAN FD frame from $tester"
  else
    fdn=$(grep -cE " vcan0 ($tester|$ecu)##" /tmp/dump.log)
    [ "$fdn" -eq 0 ] || fail "$name: candump: $fdn CAN FD frames on a classic CAN link"
  fi
  echo "ok: candump $name: $(grep -cE " vcan0 ($tester|$ecu)#" /tmp/dump.log) frames, first frames $tester:$ff_tester $ecu:$ff_ecu, flow control $ecu:$fc_ecu $tester:$fc_tester"
  # ecuup's own trace of the update (a download: the tester's first frames, the ECU's flow control),
  # in candump's format, with no frame of another ECU's ids.
  trace=/tmp/$name.trace.log
  ff_trace=$(frames "$tester" "$first" "$trace") fc_trace=$(frames "$ecu" "$flow" "$trace")
  others=$(grep -cvE "^\([0-9]+\.[0-9]{6}\) vcan0 ($tester|$ecu)#" "$trace")
  if [ "$ff_trace" -gt 0 ] && [ "$fc_trace" -gt 0 ] && [ "$others" -eq 0 ]; then
    echo "ok: --trace $name ($backend): $(wc -l <"$trace") frames, first frames $tester:$ff_trace, flow control $ecu:$fc_trace"
  else
    fail "$name: --trace: first frames $tester:$ff_trace, flow control $ecu:$fc_trace, $others other lines"
    head -3 "$trace"
  fi
done </vm/variants
if [ $fails -ne 0 ]; then
  echo "--- ecuup-sim stderr"; cat /tmp/sim.err
  echo "--- vcan0 drops: rx $(cat /sys/class/net/vcan0/statistics/rx_dropped) tx $(cat /sys/class/net/vcan0/statistics/tx_dropped)"
  echo "$fails failed"; exit 1
fi
EOF
# Without debug info the initramfs is a fraction of the size: quicker to pack and to boot.
mkdir -p "$work/bin"
for program in ecuup ecuup-sim; do
  strip --strip-debug -o "$work/bin/$program" "$bin/$program" 2>/dev/null || cp "$bin/$program" "$work/bin/$program"
done
status=0
"$src/scripts/vm" run --timeout "${ECUUP_VM_TIMEOUT:-240}" --bin "$work/bin/ecuup" --bin "$work/bin/ecuup-sim" \
  --file "$work/sim.yaml:/vm/sim.yaml" --file "$work/variants:/vm/variants" --file "$work/bench:/vm/bench" \
  -- "$work/inner.sh" || status=$?
exit "$status"
