#!/usr/bin/env python3
"""Loopback HTTP fixture for ecuup's tests (python3 standard library only).

Serves --root on 127.0.0.1. With --port 0 (the default) the kernel picks the port; the first
line on stdout is "PORT <n>". GET/HEAD honour Range (one range), If-Range (strong ETag derived
from the content, or Last-Modified), and answer 206/416. Faults are injected by flags, or by a
JSON control file (--control) holding the same keys, re-read on every request:

  drop_after, drop_count   close the connection after that many body bytes, for the first
                           drop_count GET responses that carry a body
  status_sequence          e.g. [503, 429, 200]: the first requests get these statuses
                           (200 = serve normally); 429/503 carry Retry-After: retry_after
  retry_after              seconds (default 0)
  require_header           "Name: value": any request without it gets 401
  stall_after, stall_count, stall_ms
                           go silent for stall_ms after that many body bytes, then close
  no_etag, no_last_modified, ignore_range, chunk_delay_ms

--tls-cert/--tls-key serve HTTPS instead (--tls-client-ca: require a client certificate).

Other routes: POST/PUT/PATCH/DELETE anywhere echo the request as JSON; GET /redirect/<path>
answers 302 to /<path>; GET /status/<code> answers that status.

--stats FILE is rewritten (atomically) for every request, before the body is sent:
  {"requests": n, "by_path": {path: n}, "bytes_sent": {path: n},
   "ranges": [{"path", "range", "if_range", "status"}], "statuses": [..]}
"bytes_sent" counts the body bytes the fixture sends (after a drop: the bytes sent before it).
"""

import argparse
import email.utils
import hashlib
import http.server
import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse

CHUNK_BYTES = 256 * 1024


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.requests = 0
        self.by_path = {}
        self.bytes_sent = {}
        self.ranges = []
        self.statuses = []
        self.sequence_index = 0
        self.drops_done = 0
        self.stalls_done = 0
        self.etag_cache = {}

    def settings(self):
        a = self.args
        s = {
            "drop_after": a.drop_after,
            "drop_count": a.drop_count,
            "status_sequence": [int(x) for x in a.status_sequence.split(",") if x.strip()]
            if a.status_sequence else [],
            "retry_after": a.retry_after,
            "require_header": a.require_header,
            "no_etag": a.no_etag,
            "no_last_modified": a.no_last_modified,
            "ignore_range": a.ignore_range,
            "chunk_delay_ms": a.chunk_delay_ms,
            "stall_after": a.stall_after,
            "stall_count": a.stall_count,
            "stall_ms": a.stall_ms,
        }
        if a.control and os.path.exists(a.control):
            try:
                with open(a.control, encoding="utf-8") as f:
                    s.update(json.load(f))
            except (OSError, ValueError):
                pass
        return s

    def write_stats(self):
        if not self.args.stats:
            return
        data = {
            "requests": self.requests,
            "by_path": self.by_path,
            "bytes_sent": self.bytes_sent,
            "ranges": self.ranges,
            "statuses": self.statuses,
        }
        tmp = self.args.stats + ".tmp.%d" % threading.get_ident()
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, self.args.stats)

    def etag(self, path, st):
        key = (path, st.st_size, st.st_mtime_ns)
        with self.lock:
            if key in self.etag_cache:
                return self.etag_cache[key]
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        tag = '"%s"' % h.hexdigest()[:32]
        with self.lock:
            self.etag_cache[key] = tag
        return tag


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ecuup-http-fixture"
    sys_version = ""

    def log_message(self, fmt, *args):
        if self.server.state.args.verbose:
            sys.stderr.write("fixture: " + (fmt % args) + "\n")

    # Bookkeeping shared by every method; returns the settings to use and a forced status.
    def begin(self):
        st = self.server.state
        s = st.settings()
        path = urllib.parse.urlsplit(self.path).path
        with st.lock:
            st.requests += 1
            st.by_path[path] = st.by_path.get(path, 0) + 1
            forced = None
            seq = s["status_sequence"]
            if st.sequence_index < len(seq):
                forced = seq[st.sequence_index]
                st.sequence_index += 1
        return s, path, forced

    def record(self, path, status, body_bytes, range_header=None, if_range=None):
        st = self.server.state
        with st.lock:
            st.statuses.append(status)
            st.bytes_sent[path] = st.bytes_sent.get(path, 0) + body_bytes
            if range_header is not None:
                st.ranges.append({"path": path, "range": range_header, "if_range": if_range,
                                  "status": status})
            st.write_stats()

    def adjust_sent(self, path, delta):
        st = self.server.state
        with st.lock:
            st.bytes_sent[path] = st.bytes_sent.get(path, 0) + delta
            st.write_stats()

    def simple(self, path, status, text="", extra_headers=None, head=False):
        body = text.encode()
        self.record(path, status, 0 if head else len(body))
        self.send_response(status)
        for k, v in (extra_headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def precheck(self, s, path, forced, head=False):
        """Answers auth failures and forced statuses; True when the request is done."""
        req = s.get("require_header")
        if req:
            name, _, value = req.partition(":")
            if self.headers.get(name.strip()) != value.strip():
                self.simple(path, 401, "missing or wrong %s\n" % name.strip(), head=head)
                return True
        if forced is not None and forced != 200:
            extra = {}
            if forced in (429, 503):
                extra["Retry-After"] = str(s.get("retry_after", 0))
            self.simple(path, forced, "injected status %d\n" % forced, extra, head=head)
            return True
        return False

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def echo(self):
        s, path, forced = self.begin()
        body = self.read_body()
        if self.precheck(s, path, forced):
            return
        text = body.decode("utf-8", errors="replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        out = json.dumps({"method": self.command, "path": self.path, "body": text,
                          "content_type": self.headers.get("Content-Type"), "json": parsed}).encode()
        self.record(path, 200, len(out))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_POST = echo
    do_PUT = echo
    do_PATCH = echo
    do_DELETE = echo

    def do_HEAD(self):
        self.serve(head=True)

    def do_GET(self):
        self.serve(head=False)

    def serve(self, head):
        s, path, forced = self.begin()
        if self.precheck(s, path, forced, head=head):
            return
        if path.startswith("/redirect/"):
            self.simple(path, 302, "", {"Location": path[len("/redirect"):]}, head=head)
            return
        if path.startswith("/status/"):
            try:
                code = int(path[len("/status/"):])
            except ValueError:
                code = 400
            self.simple(path, code, "status %d\n" % code, head=head)
            return
        root = os.path.realpath(self.server.state.args.root)
        local = os.path.realpath(os.path.join(root, path.lstrip("/")))
        if not (local == root or local.startswith(root + os.sep)) or not os.path.isfile(local):
            self.simple(path, 404, "not found\n", head=head)
            return
        st = os.stat(local)
        size = st.st_size
        etag = None if s.get("no_etag") else self.server.state.etag(local, st)
        last_modified = None if s.get("no_last_modified") else email.utils.formatdate(st.st_mtime, usegmt=True)

        range_header = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        start, end = 0, size - 1
        status = 200
        if range_header and not s.get("ignore_range"):
            valid = True
            if if_range is not None:
                # RFC 9110 13.1.5: the range applies only if the validator still matches.
                valid = (etag is not None and if_range == etag) or \
                        (last_modified is not None and if_range == last_modified)
            if valid:
                parsed = parse_range(range_header, size)
                if parsed == "unsatisfiable":
                    self.record(path, 416, 0, range_header, if_range)
                    self.send_response(416)
                    self.send_header("Content-Range", "bytes */%d" % size)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if parsed is not None:
                    start, end = parsed
                    status = 206
        length = max(0, end - start + 1)

        drop_at = None
        if not head and length > 0 and s.get("drop_after") is not None:
            st_ = self.server.state
            with st_.lock:
                if st_.drops_done < int(s.get("drop_count") or 1):
                    st_.drops_done += 1
                    drop_at = min(int(s["drop_after"]), length)
        stall_at = None
        if not head and drop_at is None and length > 0 and s.get("stall_after") is not None:
            st_ = self.server.state
            with st_.lock:
                if st_.stalls_done < int(s.get("stall_count") or 1):
                    st_.stalls_done += 1
                    stall_at = min(int(s["stall_after"]), length)
                    drop_at = stall_at
        to_send = 0 if head else (drop_at if drop_at is not None else length)
        self.record(path, status, to_send, range_header, if_range)

        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        if etag:
            self.send_header("ETag", etag)
        if last_modified:
            self.send_header("Last-Modified", last_modified)
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
        self.end_headers()
        if head:
            return
        delay = float(s.get("chunk_delay_ms") or 0) / 1000.0
        sent = 0
        try:
            with open(local, "rb") as f:
                f.seek(start)
                while sent < to_send:
                    block = f.read(min(CHUNK_BYTES, to_send - sent))
                    if not block:
                        break
                    self.wfile.write(block)
                    sent += len(block)
                    if delay:
                        self.wfile.flush()
                        time.sleep(delay)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.adjust_sent(path, sent - to_send)
            self.close_connection = True
            return
        if stall_at is not None:
            # Go silent without closing: the client's low-speed timeout has to notice.
            time.sleep(float(s.get("stall_ms") or 60000) / 1000.0)
        if drop_at is not None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def parse_range(header, size):
    """One "bytes=a-b" range -> (start, end); "unsatisfiable"; None when not understood."""
    if not header.startswith("bytes=") or "," in header:
        return None
    spec = header[len("bytes="):].strip()
    first, _, last = spec.partition("-")
    try:
        if first == "":
            n = int(last)
            if n == 0:
                return "unsatisfiable"
            return (max(0, size - n), size - 1)
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size:
        return "unsatisfiable"
    return (start, min(end, size - 1))


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, help="directory to serve")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--drop-after", type=int, default=None, metavar="BYTES")
    p.add_argument("--drop-count", type=int, default=1, metavar="N")
    p.add_argument("--status-sequence", default="", metavar="S1,S2,...")
    p.add_argument("--retry-after", type=int, default=0, metavar="SECONDS")
    p.add_argument("--require-header", default=None, metavar="'Name: value'")
    p.add_argument("--no-etag", action="store_true")
    p.add_argument("--no-last-modified", action="store_true")
    p.add_argument("--ignore-range", action="store_true")
    p.add_argument("--chunk-delay-ms", type=int, default=0)
    p.add_argument("--stall-after", type=int, default=None, metavar="BYTES",
                   help="go silent after that many body bytes (first --stall-count responses)")
    p.add_argument("--stall-count", type=int, default=1, metavar="N")
    p.add_argument("--stall-ms", type=int, default=60000)
    p.add_argument("--stats", default=None, metavar="FILE")
    p.add_argument("--control", default=None, metavar="FILE")
    p.add_argument("--tls-cert", default=None, metavar="PEM", help="serve HTTPS with this certificate")
    p.add_argument("--tls-key", default=None, metavar="PEM")
    p.add_argument("--tls-client-ca", default=None, metavar="PEM", help="require client certificates from this CA")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()

    server = Server((args.host, args.port), Handler)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        if args.tls_client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(args.tls_client_ca)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.state = State(args)
    print("PORT %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
