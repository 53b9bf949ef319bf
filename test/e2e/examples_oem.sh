#!/usr/bin/env bash
# examples/oem works as shipped, against `ecuup-sim run --config sim.yaml` with only the ports
# moved: eng (DoIP) takes the VBF set (boot loader + zlib EXE) and bcm (CAN) the PDX (expected
# idents, two DATABLOCKs) through inventory, report, fetch, backup --read, flash and backup; each
# ECU's memory then holds the release's images byte for byte. make-repository, rerun with this
# build's tools, writes the same releases (the shipped ones are what it makes).
source "$ECUUP_SRC/test/support/testlib.sh"
for b in ecuup ecuup-sim ecuup-repo; do
  [ -x "$ECUUP_BIN/$b" ] || { echo "skip: $b not built"; exit 125; }
done
export PATH="$ECUUP_BIN:$PATH"
oem="$T/oem"
mkdir -p "$oem"
cp -r "$ECUUP_SRC/examples/oem/." "$oem/"
"$ECUUP_BIN/ecuup-sim" run --config "$oem/sim.yaml" --state "$T/sim-state" --doip-port 0 --bus udp:0:0 \
  --ports-file "$T/ports.env" >"$T/sim.out" 2>"$T/sim.err" &
bg_pids+=($!)
for _ in $(seq 100); do grep -q '^ready' "$T/sim.out" && break; sleep 0.1; done
if ! grep -q '^ready' "$T/sim.out"; then
  not_ok "ecuup-sim did not start on examples/oem/sim.yaml: $(cat "$T/sim.err")"
  finish
fi
set -a
. "$T/ports.env"
set +a
export ECUUP_CONFIG="$oem/ecuup.yaml"
cd "$oem"
for step in inventory report fetch "backup --read" "flash --dry-run" flash backup; do
  # shellcheck disable=SC2086
  expect 0 "ecuup $step with examples/oem as shipped" "$ecuup" $step --progress=none
done
check "eng's boot loader was started" grep -q "ecuup-sim: eng: boot loader started at 0x20000000" "$T/sim.err"
version() { "$ECUUP_BIN/ecuup-sim" dump --state "$T/sim-state" --ecu "$1" --image -o "$T/v.img" &&
  dd if="$T/v.img" bs=1 skip=8 count=32 2>/dev/null | tr -d '\0'; }
check "eng runs 2.0.0" test "$(version eng)" = 2.0.0
check "bcm runs 3.0.0" test "$(version bcm)" = 3.0.0
"$ECUUP_BIN/ecuup-sim" mkimage --version 2.0.0 --size 60000 --seed 11 -o "$T/eng-app.img" >/dev/null
"$ECUUP_BIN/ecuup-sim" mkimage --version cal-9 --size 4000 --seed 13 -o "$T/bcm-cal.img" >/dev/null
"$ECUUP_BIN/ecuup-sim" dump --state "$T/sim-state" --ecu eng -o "$T/eng.mem"
"$ECUUP_BIN/ecuup-sim" dump --state "$T/sim-state" --ecu bcm -o "$T/bcm.mem"
check "eng's memory is the EXE's image" cmp -s -n "$(stat -c %s "$T/eng-app.img")" "$T/eng-app.img" "$T/eng.mem"
check "bcm's calibration DATABLOCK is at 0x10000" cmp -s -n "$(stat -c %s "$T/bcm-cal.img")" -i 0:$((0x10000)) "$T/bcm-cal.img" "$T/bcm.mem"
# The shipped repository is what make-repository writes.
cp -r "$ECUUP_SRC/examples/oem" "$T/remade"
BIN="$ECUUP_BIN" "$T/remade/make-repository" >/dev/null 2>"$T/remade.err"
check "make-repository ran" test -s "$T/remade/repository/releases.yaml"
check "make-repository writes the shipped releases" diff -r "$ECUUP_SRC/examples/oem/repository" "$T/remade/repository"
finish
