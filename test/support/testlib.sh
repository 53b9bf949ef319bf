# Shared by the shell tests (test/cli, test/e2e): source it. Each test runs in its own temp dir.
# ECUUP_BIN (build/bin) and ECUUP_SRC (the source tree) come from ctest.
set -uo pipefail
: "${ECUUP_BIN:?set ECUUP_BIN to the build bin directory}"
: "${ECUUP_SRC:?set ECUUP_SRC to the source directory}"
ecuup="$ECUUP_BIN/ecuup"
T=$(mktemp -d /tmp/ecuup-test.XXXXXX)
bg_pids=()
cleanup() {
  for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
failures=0
passes=0

ok() { echo "ok - $*"; passes=$((passes + 1)); }
not_ok() { echo "not ok - $*"; failures=$((failures + 1)); }
show_output() {
  sed 's/^/    stdout: /' "$T/out" | head -${1:-30}
  sed 's/^/    stderr: /' "$T/err" | head -${1:-30}
}

# expect CODE DESCRIPTION CMD...: runs CMD (stdout -> $T/out, stderr -> $T/err), checks its exit status.
expect() {
  local want=$1 desc=$2
  shift 2
  "$@" >"$T/out" 2>"$T/err"
  local got=$?
  if [ "$got" -eq "$want" ]; then
    ok "$desc (exit $got)"
  else
    not_ok "$desc: exit $got, expected $want"
    show_output
  fi
}

# check DESCRIPTION CMD...: passes when CMD succeeds.
check() {
  local desc=$1
  shift
  if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

out_has() { grep -q -- "$1" "$T/out"; }
err_has() { grep -q -- "$1" "$T/err"; }

# A fresh copy of examples/bench in $1 (default $T/bench); ECUUP_CONFIG points at it.
bench() {
  local dir=${1:-$T/bench}
  mkdir -p "$dir"
  cp -r "$ECUUP_SRC/examples/bench/." "$dir/"
  export ECUUP_CONFIG="$dir/ecuup.yaml"
  B=$dir
}

# The version in an ecuup image header (flash memory file or artifact).
image_version() { head -c 40 "$1" | tail -c 32 | tr -d '\000'; }

# json_get FILE PYTHON_EXPR: evaluates EXPR with j = the parsed JSON file.
json_get() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

# Runs the bench up to a state where flash has a task, a verified download and backups.
prepare_flash() {
  "$ecuup" inventory --progress=none >/dev/null 2>&1 &&
  "$ecuup" report --progress=none >/dev/null 2>&1 &&
  "$ecuup" fetch --progress=none >/dev/null 2>&1 &&
  "$ecuup" backup --read --progress=none >/dev/null 2>&1
}

finish() {
  echo "$passes passed, $failures failed"
  [ "$failures" -eq 0 ]
  exit $?
}
