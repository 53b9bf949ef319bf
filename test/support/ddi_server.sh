# Shared by the ddi_* e2e tests: ecuup-server on 127.0.0.1 in $T/srv, and the example bench
# pointing at it (examples/ddi/ecuup.yaml). Source after testlib.sh.
ecuup_server="$ECUUP_BIN/ecuup-server"
SRV_DATA="$T/srv"
SRV_PID=
SRV_URL=
SRV_PORT=

srv_admin() { "$ecuup_server" admin --data "$SRV_DATA" "$@"; }

# srv_start [--port N] [ARGS...]: starts the server (port 0 = ephemeral unless --port), waits for
# its "listening on URL" line; sets SRV_URL, SRV_PORT, SRV_PID. The log is $T/server.{out,err}.
srv_start() {
  local port=0
  if [ "${1:-}" = --port ]; then port=$2; shift 2; fi
  mkdir -p "$SRV_DATA"
  "$ecuup_server" run --data "$SRV_DATA" --listen "127.0.0.1:$port" --polling-sleep 00:00:05 "$@" \
    >"$T/server.out" 2>>"$T/server.err" &
  SRV_PID=$!
  bg_pids+=("$SRV_PID")
  local _
  for _ in $(seq 200); do
    SRV_URL=$(sed -n 's/^listening on //p' "$T/server.out" 2>/dev/null)
    [ -n "$SRV_URL" ] && break
    kill -0 "$SRV_PID" 2>/dev/null || { echo "ecuup-server exited: $(tail -5 "$T/server.err")" >&2; return 1; }
    sleep 0.05
  done
  [ -n "$SRV_URL" ] || { echo "ecuup-server did not start" >&2; return 1; }
  SRV_PORT=${SRV_URL##*:}
}

# srv_stop [SIGNAL]: stops the server started last (TERM by default; KILL for a crash).
srv_stop() {
  [ -n "$SRV_PID" ] || return 0
  kill "-${1:-TERM}" "$SRV_PID" 2>/dev/null
  wait "$SRV_PID" 2>/dev/null
  SRV_PID=
}

# srv_restart: the same data and port again (the vehicle's config and the hrefs stay valid).
srv_restart() { srv_start --port "$SRV_PORT" "$@"; }

# ddi_bench [DIR] [VEHICLE] [TOKEN]: a fresh examples/bench with examples/ddi/ecuup.yaml pointing at
# SRV_URL; the vehicle is registered with TOKEN, which ends up in ECUUP_DDI_TOKEN.
ddi_bench() {
  local dir=${1:-$T/bench} vehicle=${2:-bench-vehicle-1} token=${3:-tok-$RANDOM$RANDOM}
  bench "$dir"
  sed -e "s|^vehicle: .*|vehicle: $vehicle|" -e "s|^  url: .*|  url: $SRV_URL|" -e "s|^    VIN: .*|    VIN: $vehicle|" \
    "$ECUUP_SRC/examples/ddi/ecuup.yaml" >"$dir/ecuup.yaml"
  srv_admin vehicle add "$vehicle" --token "$token" >/dev/null || return 1
  export ECUUP_DDI_TOKEN=$token
}

# Seeds the bench's releases on the server: bms 1.1.0, gateway 2.4.0 (archive), body 0.9.0.
srv_upload_bench() {
  local repo="$ECUUP_SRC/examples/bench/repository"
  srv_admin upload --part bms --version 1.1.0 "$repo/bms-1.1.0.img" >/dev/null &&
  srv_admin upload --part gateway --version 2.4.0 "$repo/gateway-2.4.0.tar.gz" >/dev/null &&
  srv_admin upload --part body --version 0.9.0 "$repo/body-0.9.0.img" >/dev/null
}

# srv_actions VEHICLE: the server's actions for VEHICLE as JSON in $T/actions.json.
srv_actions() { srv_admin --json list actions --vehicle "$1" >"$T/actions.json"; }
# srv_vehicles: every vehicle as JSON in $T/vehicles.json.
srv_vehicles() { srv_admin --json list vehicles >"$T/vehicles.json"; }
