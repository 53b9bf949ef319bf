# The CLI contract every subcommand keeps; sourced by test/cli/<subcommand>.sh after testlib.sh.
# contract SUBCOMMAND: no config -> 2, unknown option -> 2, malformed config -> 2 with
# file:line:col and nothing written, --help -> 0 naming the exit codes, --json on an error is JSON.
contract() {
  local sub=$1
  mkdir -p "$T/empty"
  (cd "$T/empty" && unset ECUUP_CONFIG && expect 2 "$sub: no config file" "$ecuup" "$sub")
  (cd "$T/empty" && unset ECUUP_CONFIG && "$ecuup" "$sub" >"$T/out" 2>"$T/err"; err_has "ecuup: error: cannot read config") &&
    ok "$sub: says the config could not be read" || not_ok "$sub: says the config could not be read"
  expect 2 "$sub: unknown option" "$ecuup" "$sub" --no-such-option
  check "$sub: unknown option is named" err_has "no-such-option"
  expect 0 "$sub: --help" "$ecuup" "$sub" --help
  check "$sub: --help lists exit codes" out_has "needs a person"

  mkdir -p "$T/bad"
  printf 'vehicle: v\nserver:\n  kind: dir\n  path: repo\necus:\n  - name: a\n    driver: image\n    image: {memory: [unclosed\n' >"$T/bad/ecuup.yaml"
  mkdir -p "$T/bad/state"
  printf 'schema: 1\necus: {}\n' >"$T/bad/state/manifest.yaml"
  cp "$T/bad/state/manifest.yaml" "$T/manifest.before"
  expect 2 "$sub: malformed config" "$ecuup" "$sub" --config "$T/bad/ecuup.yaml"
  check "$sub: error names file:line:col" err_has "ecuup.yaml:[0-9]*:[0-9]*:"
  check "$sub: manifest byte-identical after a config error" cmp -s "$T/bad/state/manifest.yaml" "$T/manifest.before"
  expect 2 "$sub: --json on a config error" "$ecuup" "$sub" --config "$T/bad/ecuup.yaml" --json
  check "$sub: the JSON error says kind config" bash -c "python3 -c 'import json,sys; j=json.load(sys.stdin); assert j[\"error\"][\"kind\"]==\"config\" and j[\"exit_code\"]==2' <'$T/out'"
  printf 'vehicle: v\nserver: {kind: dir, path: repo}\necus:\n  - {name: a, driver: image, image: {memory: m}}\n' >"$T/bad/ecuup.yaml"
  expect 2 "$sub: unknown --ecu" "$ecuup" "$sub" --config "$T/bad/ecuup.yaml" --ecu nope
  check "$sub: unknown ECU is named" err_has "unknown ECU 'nope'"
}
