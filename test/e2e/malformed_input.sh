#!/usr/bin/env bash
# Malformed YAML anywhere: exit 2 with file:line:col, and the manifest stays byte-identical.
source "$ECUUP_SRC/test/support/testlib.sh"
bench
prepare_flash
cp "$B/state/manifest.yaml" "$T/manifest.before"
cp "$B/ecuup.yaml" "$T/config.good"

printf '  - name: broken\n    driver: [image\n' >>"$B/ecuup.yaml"
for step in inventory report fetch flash backup status update restore; do
  expect 2 "$step with malformed config" "$ecuup" "$step" --ecu bms
done
check "error has file:line:col" err_has "ecuup.yaml:[0-9]*:[0-9]*:"
check "manifest byte-identical" cmp -s "$B/state/manifest.yaml" "$T/manifest.before"

cp "$T/config.good" "$B/ecuup.yaml"
sed -i 's/      memory: ecus\/bms.flash/      memroy: ecus\/bms.flash/' "$B/ecuup.yaml"
expect 2 "misspelt driver key" "$ecuup" flash
check "names the key and where" err_has "ecuup.yaml:[0-9]*:[0-9]*: unknown key 'memroy'"
check "manifest byte-identical" cmp -s "$B/state/manifest.yaml" "$T/manifest.before"

cp "$T/config.good" "$B/ecuup.yaml"
printf 'ecus:\n  bms:\n    flash: {state: sideways}\n' >"$B/state/manifest.yaml"
cp "$B/state/manifest.yaml" "$T/bad.manifest"
expect 2 "malformed manifest" "$ecuup" flash
check "manifest error has line:col" err_has "manifest.yaml:3:[0-9]*: unknown flash state 'sideways'"
check "bad manifest left for a person to inspect, unchanged" cmp -s "$B/state/manifest.yaml" "$T/bad.manifest"

# A manifest emptied by a crash or by hand is not a fresh start: it is refused, and kept.
head -c 4096 /dev/zero >"$B/state/manifest.yaml"
for step in status inventory flash; do
  expect 2 "$step with a manifest of NUL bytes" "$ecuup" "$step"
done
check "says it holds no manifest and what to do" err_has "manifest.yaml holds no manifest (4096 bytes of blanks, NUL bytes or comments)"
check "the emptied manifest is left as it was" cmp -s "$B/state/manifest.yaml" <(head -c 4096 /dev/zero)
: >"$B/state/manifest.yaml"
expect 2 "an empty manifest too" "$ecuup" status

cp "$T/manifest.before" "$B/state/manifest.yaml"
echo "releases: [" >"$B/repository/releases.yaml"
expect 2 "malformed releases.yaml" "$ecuup" report
check "names releases.yaml:line:col" err_has "releases.yaml:[0-9]*:[0-9]*:"
check "manifest byte-identical" cmp -s "$B/state/manifest.yaml" "$T/manifest.before"
finish
