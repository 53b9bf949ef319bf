# start_fixture ROOT [ARGS...]: starts test/support/http_fixture.py on an ephemeral port; sets
# FIXTURE_PORT and FIXTURE_STATS ($T/stats.json). Sourced after testlib.sh.
start_fixture() {
  local root=$1
  shift
  FIXTURE_STATS="$T/stats.json"
  python3 "$ECUUP_SRC/test/support/http_fixture.py" --root "$root" --stats "$FIXTURE_STATS" "$@" >"$T/fixture.out" 2>"$T/fixture.err" &
  bg_pids+=($!)
  for _ in $(seq 100); do
    FIXTURE_PORT=$(sed -n 's/^PORT //p' "$T/fixture.out")
    [ -n "$FIXTURE_PORT" ] && return 0
    sleep 0.05
  done
  echo "fixture did not start: $(cat "$T/fixture.err")" >&2
  return 1
}
