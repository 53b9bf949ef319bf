#!/usr/bin/env bash
# ecuup itself: no subcommand, a misspelt one, --version, --help.
source "$ECUUP_SRC/test/support/testlib.sh"
expect 2 "no subcommand" "$ecuup"
expect 2 "misspelt subcommand" "$ecuup" flsh
check "did you mean" err_has "did you mean 'flash'"
expect 2 "unknown word" "$ecuup" frobnicate
expect 0 "--version" "$ecuup" --version
check "prints the version" out_has "ecuup [0-9]"
check "names the library that hashes" out_has "(sha256: OpenSSL "
expect 0 "--help" "$ecuup" --help
for s in inventory report fetch flash backup status update restore discover; do check "--help lists $s" out_has "$s"; done

# Which config: --config, else $ECUUP_CONFIG, else ./ecuup.yaml. Three benches, three vehicles.
for v in cwd env opt; do
  bench "$T/$v" && sed -i "s/^vehicle: .*/vehicle: vehicle-$v/" "$B/ecuup.yaml"
done
unset ECUUP_CONFIG
cd "$T/cwd"
expect 0 "./ecuup.yaml by default" "$ecuup" status --no-sync
check "read ./ecuup.yaml" out_has "status of vehicle-cwd"
expect 0 "\$ECUUP_CONFIG over ./ecuup.yaml" env ECUUP_CONFIG="$T/env/ecuup.yaml" "$ecuup" status --no-sync
check "read \$ECUUP_CONFIG" out_has "status of vehicle-env"
expect 0 "--config over \$ECUUP_CONFIG" env ECUUP_CONFIG="$T/env/ecuup.yaml" "$ecuup" status --no-sync --config "$T/opt/ecuup.yaml"
check "read --config" out_has "status of vehicle-opt"
finish
