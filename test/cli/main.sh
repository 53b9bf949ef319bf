#!/usr/bin/env bash
# ecuup itself: no subcommand, a misspelt one, --version, --help.
source "$ECUUP_SRC/test/support/testlib.sh"
expect 2 "no subcommand" "$ecuup"
expect 2 "misspelt subcommand" "$ecuup" flsh
check "did you mean" err_has "did you mean 'flash'"
expect 2 "unknown word" "$ecuup" frobnicate
expect 0 "--version" "$ecuup" --version
check "prints the version" out_has "ecuup [0-9]"
check "names the SHA-256 engine" out_has "(sha256: \\(sha-ni\\|portable\\))"
expect 0 "--help" "$ecuup" --help
for s in inventory report fetch flash backup status update restore; do check "--help lists $s" out_has "$s"; done
finish
