#!/usr/bin/env bash
# examples/uds works as shipped: ecuup.yaml against `ecuup-sim run --config sim.yaml` reads both
# ECUs' versions, gateway over DoIP and bms over the virtual CAN bus, with only the ports moved
# (as scripts/demo does) so that tests can run side by side. With `identification` added to the
# copy (the examples do not configure it), inventory records the sim's serial (F18C) and VIN
# (F190) under installed.extra in state/manifest.yaml. The shipped repository's releases are signed
# for the hardware numbers the sims report in F191 by a certificate of keys/ca.pem, the keyring
# ecuup.yaml trusts: ecuup-repo verifies them and report admits both.
source "$ECUUP_SRC/test/support/testlib.sh"
for b in ecuup ecuup-sim; do
  [ -x "$ECUUP_BIN/$b" ] || { echo "skip: $b not built"; exit 125; }
done
# The example's key_command runs `ecuup-sim key` from PATH.
export PATH="$ECUUP_BIN:$PATH"

uds="$T/uds"
mkdir -p "$uds"
cp -r "$ECUUP_SRC/examples/uds/." "$uds/"
# The examples depend on no fixed port another bench could own: the simulator takes free ones and
# writes them where ecuup.yaml reads them (${ECUUP_SIM_DOIP_PORT}, ${ECUUP_SIM_CAN_BUS}).
"$ECUUP_BIN/ecuup-sim" run --config "$uds/sim.yaml" --state "$T/sim-state" --doip-port 0 --bus udp:0:0 \
  --ports-file "$T/ports.env" >"$T/sim.out" 2>"$T/sim.err" &
bg_pids+=($!)
for _ in $(seq 100); do grep -q '^ready' "$T/sim.out" && break; sleep 0.1; done
if ! grep -q '^ready' "$T/sim.out"; then
  not_ok "ecuup-sim did not start on examples/uds/sim.yaml: $(cat "$T/sim.err")"
  finish
fi
check "the ports file names the DoIP port, ecuup's side of the bus and the VIN" \
  grep -q "^ECUUP_SIM_DOIP_PORT=[1-9][0-9]*$" "$T/ports.env"
check "  ... the bus is the simulator's, mirrored" bash -c "grep -q '^ECUUP_SIM_CAN_BUS=udp:[0-9]*:[0-9]*$' '$T/ports.env' &&
  test \"\$(sed -n 's/^ECUUP_SIM_CAN_BUS=udp:\([0-9]*\):\([0-9]*\)$/\2:\1/p' '$T/ports.env')\" = \"\$(sed -n 's/.* bus=udp:\([0-9:]*\).*/\1/p' '$T/sim.out')\""
check "no port 13400 and no bus udp:29000:29001 in use" bash -c "! grep -q 'doip_port=13400\|bus=udp:29001:29000' '$T/sim.out'"
set -a
. "$T/ports.env"
set +a
export ECUUP_CONFIG="$uds/ecuup.yaml"

manifest="$uds/state/manifest.yaml"
# manifest_get PYTHON_EXPR: evaluates EXPR with m = the parsed manifest.
manifest_get() { python3 -c "import sys, yaml; m = yaml.safe_load(open(sys.argv[1])); print($1)" "$manifest" 2>&1; }

cd "$uds"
expect 0 "inventory with examples/uds/ecuup.yaml as shipped" "$ecuup" inventory --progress=none
check "gateway (DoIP) runs sim.yaml's 1.0.0" test "$(manifest_get 'm["ecus"]["gateway"]["installed"]["version"]')" = 1.0.0
check "bms (CAN) runs sim.yaml's 2.3.0" test "$(manifest_get 'm["ecus"]["bms"]["installed"]["version"]')" = 2.3.0

# The extra DIDs, configured in the copy the way ecuup-uds(7) documents.
sed -i 's/^\(      \)transport: \(doip\|can\)$/&\n\1identification: {serial: 0xF18C, vin: 0xF190}/' "$uds/ecuup.yaml"
check "identification added to both ECUs" test "$(grep -c 'identification: {serial: 0xF18C, vin: 0xF190}' "$uds/ecuup.yaml")" -eq 2
expect 0 "inventory with identification" "$ecuup" inventory --progress=none
extra() { manifest_get "m['ecus']['$1']['installed'].get('extra', {}).get('$2')"; }
check "gateway serial (F18C) in the manifest" test "$(extra gateway serial)" = GW-000001
check "gateway VIN (F190) in the manifest" test "$(extra gateway vin)" = WVWZZZ1KZAW000001
check "bms serial (F18C) in the manifest" test "$(extra bms serial)" = BMS-000042
check "bms VIN (F190) in the manifest" test "$(extra bms vin)" = WVWZZZ1KZAW000001
check "versions still recorded" test "$(manifest_get 'm["ecus"]["gateway"]["installed"]["version"] + " " + m["ecus"]["bms"]["installed"]["version"]')" = "1.0.0 2.3.0"
if [ "$failures" -ne 0 ]; then
  sed 's/^/    manifest: /' "$manifest" | head -40
fi

# The shipped signed releases: valid for years (statements until 2033, certificates until 2036).
if [ -x "$ECUUP_BIN/ecuup-repo" ]; then
  expect 0 "ecuup-repo verify: the shipped releases against keys/ca.pem" \
    "$ECUUP_BIN/ecuup-repo" verify --repo "$uds/repository" --keyring "$uds/keys/ca.pem"
fi
check "the shipped config trusts keys/ca.pem" grep -q '^trust: {keyring: keys/ca.pem}' "$uds/ecuup.yaml"
check "inventory read gateway's hardware number (F191)" test "$(extra gateway hardware)" = GW-HW-01
check "inventory read bms's hardware number (F191)" test "$(extra bms hardware)" = BMS-HW-02
expect 0 "report admits the shipped signed releases" "$ecuup" report --progress=none
check "gateway gets the task 1.0.0 -> 1.1.0" out_has "gateway .*1.0.0 -> 1.1.0"
check "bms gets the task 2.3.0 -> 2.4.0" out_has "bms .*2.3.0 -> 2.4.0"

# Seed/key from a shared library named in the config (key_library, ecuup-uds(7)) instead of a
# command: one that computes the sim's documented toy key, and one that gets it wrong.
cc_bin=$(command -v cc || command -v gcc || true)
if [ -z "$cc_bin" ]; then
  not_ok "no C compiler to build the key library (build-essential is in scripts/install-deps)"
  finish
fi
for kind in good bad; do
  cat >"$T/key-$kind.c" <<C
#include <stddef.h>
/* The simulator's toy algorithm: key[i] = ((seed[i] ^ 0x5A) + level + i) mod 256. */
int ecuup_seed_to_key(unsigned int level, const unsigned char *seed, size_t seed_len,
                      unsigned char *key, size_t key_capacity, size_t *key_len) {
  if (seed_len > key_capacity) return 1;
  for (size_t i = 0; i < seed_len; ++i)
    key[i] = (unsigned char)((seed[i] ^ 0x5A) + level + i + $([ $kind = good ] && echo 0 || echo 1));
  *key_len = seed_len;
  return 0;
}
C
  "$cc_bin" -shared -fPIC -o "$uds/libkey-$kind.so" "$T/key-$kind.c"
done
sed -i 's|key_command: "ecuup-sim key {level} {seed}"|key_library: libkey-good.so|' "$uds/ecuup.yaml"
check "both ECUs use the key library" test "$(grep -c 'key_library: libkey-good.so' "$uds/ecuup.yaml")" -eq 2
expect 0 "backup --read unlocks both ECUs with the library's keys" "$ecuup" backup --read --progress=none
check "both backups read" bash -c "grep -q 'gateway .*read' '$T/out' && grep -q 'bms .*read' '$T/out'"
sed -i 's|key_library: libkey-good.so|key_library: libkey-bad.so|' "$uds/ecuup.yaml"
expect 1 "a library that computes the wrong key" "$ecuup" backup --read --ecu gateway --progress=none
check "the ECU's answer is named (invalidKey, 0x35)" err_has "invalidKey (0x35)"
finish
