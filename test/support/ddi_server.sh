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
  mkdir -p "$SRV_DATA"; rm -f "$T/server.out"
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

# proxy_start RATE_BYTES_PER_S: a TCP proxy on 127.0.0.1 in front of SRV_PORT that sends the
# server's answers on at RATE (so a large download takes seconds) and logs each request line and its
# Range/If-Range headers to $T/proxy.log. Sets PROXY_URL. It outlives server restarts.
proxy_start() {
  cat >"$T/proxy.py" <<'PY'
import socket, sys, threading, time
upstream, rate, log = int(sys.argv[1]), float(sys.argv[2]), open(sys.argv[3], "a", buffering=1)
lock = threading.Lock()
def up(c, u):
    try:
        while (d := c.recv(65536)):
            for line in d.decode("latin-1").split("\r\n"):
                if line.split(" ")[0] in ("GET", "PUT", "POST", "HEAD") or line.lower().startswith(("range:", "if-range:")):
                    with lock: log.write(line + "\n")
            u.sendall(d)
    except OSError: pass
    for s in (u, c):
        try: s.shutdown(socket.SHUT_WR)
        except OSError: pass
def down(u, c):
    try:
        while (d := u.recv(65536)):
            c.sendall(d)
            time.sleep(len(d) / rate)
    except OSError: pass
    for s in (c, u):
        try: s.shutdown(socket.SHUT_RDWR)
        except OSError: pass
        s.close()
def handle(c):
    try: u = socket.create_connection(("127.0.0.1", upstream))
    except OSError:
        with lock: log.write("upstream refused\n")
        c.close(); return
    threading.Thread(target=up, args=(c, u), daemon=True).start()
    down(u, c)
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0)); ls.listen(64)
print("PORT", ls.getsockname()[1], flush=True)
while True:
    c, _ = ls.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
PY
  python3 "$T/proxy.py" "$SRV_PORT" "$1" "$T/proxy.log" >"$T/proxy.out" 2>"$T/proxy.err" &
  bg_pids+=($!)
  local port= _
  for _ in $(seq 300); do
    port=$(sed -n 's/^PORT //p' "$T/proxy.out")
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "proxy did not start: $(cat "$T/proxy.err")" >&2; return 1; }
  PROXY_URL=http://127.0.0.1:$port
}

# capture_start [FAULTS_JSON]: an HTTP proxy on 127.0.0.1 in front of SRV_PORT that records every
# exchange as one JSON line in $T/capture.jsonl: {t, method, path, status, request (body text),
# response (JSON text or null)}. FAULTS_JSON, e.g. [{"method":"PUT","path":"/configData$",
# "status":503,"retry_after":1,"count":2}], answers the first `count` matching requests itself
# (path is a regex) before forwarding. Sets CAPTURE_URL.
capture_start() {
  cat >"$T/capture.py" <<'PY'
import http.client, json, re, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
upstream, log = int(sys.argv[1]), open(sys.argv[2], "a", buffering=1)
faults = json.loads(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] else []
lock = threading.Lock()
def record(**entry):
    with lock: log.write(json.dumps(dict(t=time.time(), **entry)) + "\n")
def injected(method, path):
    with lock:
        for f in faults:
            if f.get("count", 1) > 0 and f.get("method", method) == method and re.search(f["path"], path):
                f["count"] = f.get("count", 1) - 1
                return f
class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fault = injected(self.command, self.path)
        if fault:
            text = json.dumps({"errorCode": "test.injected", "message": "injected by the test"}).encode()
            self.send_response(fault["status"])
            if "retry_after" in fault: self.send_header("Retry-After", str(fault["retry_after"]))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
            record(method=self.command, path=self.path, status=fault["status"], request=body.decode("utf-8", "replace"),
                   response=text.decode(), injected=True)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
        conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=30)
        conn.request(self.command, self.path, body=body or None, headers=headers)
        res = conn.getresponse()
        data = res.read()
        self.send_response(res.status)
        for k, v in res.getheaders():
            if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD": self.wfile.write(data)
        ctype = res.getheader("Content-Type") or ""
        record(method=self.command, path=self.path, status=res.status, request=body.decode("utf-8", "replace"),
               response=data.decode("utf-8", "replace") if "json" in ctype else None)
        conn.close()
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = forward
srv = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
print("PORT", srv.server_address[1], flush=True)
srv.serve_forever()
PY
  python3 "$T/capture.py" "$SRV_PORT" "$T/capture.jsonl" "${1:-}" >"$T/capture.out" 2>"$T/capture.err" &
  bg_pids+=($!)
  local port= _
  for _ in $(seq 300); do
    port=$(sed -n 's/^PORT //p' "$T/capture.out")
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "capture proxy did not start: $(cat "$T/capture.err")" >&2; return 1; }
  CAPTURE_URL=http://127.0.0.1:$port
}
