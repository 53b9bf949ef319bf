#!/usr/bin/env python3
"""A scripted fake hawkBit DDI server for ecuup's client tests (python3 stdlib only).

Usage: ddi_fixture.py --scenario scenario.json --log requests.jsonl [--port N]

Listens on 127.0.0.1 (port 0 = any free one), prints "PORT n" on stdout once ready, and records
every request as one JSON line in the log: {"method", "path", "query", "headers", "body", "status"}.

Scenario file (every key optional):
  tenant, controller        default "DEFAULT", "ctrl"; the base is /{tenant}/controller/v1/{controller}
  auth                      the exact Authorization value expected ("TargetToken abc"); anything
                            else gets 401. Absent: no check.
  base                      the controller base body (DdiControllerBase)
  deployments {id: body}    GET {base}/deploymentBase/{id}
  cancels {id: body}        GET {base}/cancelAction/{id}
  config_data_status        answer to PUT {base}/configData (default 200)
  feedback_status {id: n}   answer to POST {base}/deploymentBase/{id}/feedback (default 200)
  cancel_feedback_status    the same for cancelAction/{id}/feedback
  artifacts {name: text}    GET /artifacts/{name}, with Range support; anonymous_artifacts: true
                            skips the auth check for them
  faults [{method, path, status, count, body, retry_after}]
                            answer the first `count` (default 1) matching requests with `status`
                            before serving normally; `path` is matched exactly (without query)
In any string of the scenario, "{server}" becomes http://127.0.0.1:PORT and "{base}" the
controller base URL, so hrefs point back here.
"""
import argparse
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


def substitute(value, mapping):
    if isinstance(value, str):
        for key, replacement in mapping.items():
            value = value.replace(key, replacement)
        return value
    if isinstance(value, list):
        return [substitute(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, mapping) for k, v in value.items()}
    return value


class State:
    def __init__(self, scenario, log_path):
        self.scenario = scenario
        self.log_path = log_path
        self.lock = threading.Lock()
        self.faults = [dict(f, remaining=f.get("count", 1)) for f in scenario.get("faults", [])]

    def take_fault(self, method, path):
        with self.lock:
            for fault in self.faults:
                if fault["remaining"] <= 0:
                    continue
                if fault.get("method", method) != method or fault.get("path", path) != path:
                    continue
                fault["remaining"] -= 1
                return fault
        return None

    def record(self, entry):
        with self.lock, open(self.log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")


def exception_info(code, message):
    return {"exceptionClass": "org.eclipse.hawkbit.fixture", "errorCode": code, "message": message}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None  # set in main

    def log_message(self, *args):  # keep stderr quiet; the request log is the record
        pass

    def do_GET(self):
        self.handle_any("GET")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_POST(self):
        self.handle_any("POST")

    def do_HEAD(self):
        self.handle_any("HEAD")

    def handle_any(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        entry = {
            "method": method,
            "path": split.path,
            "query": split.query,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": raw.decode("utf-8", errors="replace"),
        }
        status, headers, body = self.route(method, split.path, raw)
        entry["status"] = status
        self.state.record(entry)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/hal+json")
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)

    def route(self, method, path, raw):
        sc = self.state.scenario
        fault = self.state.take_fault(method, path)
        if fault:
            headers = {}
            if "retry_after" in fault:
                headers["Retry-After"] = str(fault["retry_after"])
            return fault["status"], headers, fault.get("body", exception_info("fixture.fault", "scripted fault"))

        is_artifact = path.startswith("/artifacts/")
        expected = sc.get("auth")
        if expected is not None and not (is_artifact and sc.get("anonymous_artifacts")):
            if self.headers.get("Authorization") != expected:
                return 401, {}, exception_info("hawkbit.server.error.unauthorized", "bad or missing token")

        if is_artifact:
            return self.artifact(path[len("/artifacts/"):])

        base = "/{}/controller/v1/{}".format(sc.get("tenant", "DEFAULT"), sc.get("controller", "ctrl"))
        if path == base and method == "GET":
            return 200, {}, sc.get("base", {"config": {"polling": {"sleep": "00:05:00"}}, "_links": {}})
        if path == base + "/configData" and method == "PUT":
            if not self.valid_json(raw):
                return 400, {}, exception_info("hawkbit.server.error.rest.body.notReadable", "bad JSON")
            return sc.get("config_data_status", 200), {}, b""
        m = re.fullmatch(re.escape(base) + r"/(deploymentBase|cancelAction)/([^/]+)(/feedback)?", path)
        if m:
            kind, action, feedback = m.groups()
            if feedback and method == "POST":
                if not self.valid_json(raw):
                    return 400, {}, exception_info("hawkbit.server.error.rest.body.notReadable", "bad JSON")
                table = sc.get("feedback_status" if kind == "deploymentBase" else "cancel_feedback_status", {})
                status = table.get(action, 200)
                body = exception_info("hawkbit.server.error.action.closed", "Action is not active anymore.") \
                    if status == 410 else b""
                return status, {}, body
            if not feedback and method == "GET":
                table = sc.get("deployments" if kind == "deploymentBase" else "cancels", {})
                if action in table:
                    return 200, {}, table[action]
        return 404, {}, exception_info("hawkbit.server.error.repo.entitiyNotFound", "no such resource: " + path)

    @staticmethod
    def valid_json(raw):
        try:
            json.loads(raw.decode("utf-8"))
            return True
        except (ValueError, UnicodeDecodeError):
            return False

    def artifact(self, name):
        artifacts = self.state.scenario.get("artifacts", {})
        if name not in artifacts:
            return 404, {}, exception_info("hawkbit.server.error.repo.entitiyNotFound", "no artifact " + name)
        data = artifacts[name].encode()
        etag = '"{}-{}"'.format(len(data), abs(hash(data)) % 10**8)
        headers = {"ETag": etag, "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if rng and (if_range is None or if_range == etag):
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
            if m:
                start = int(m.group(1))
                end = int(m.group(2)) if m.group(2) else len(data) - 1
                if start >= len(data):
                    headers["Content-Range"] = "bytes */{}".format(len(data))
                    return 416, headers, b""
                end = min(end, len(data) - 1)
                headers["Content-Range"] = "bytes {}-{}/{}".format(start, end, len(data))
                return 206, headers, data[start:end + 1]
        return 200, headers, data


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with open(args.scenario, encoding="utf-8") as f:
        scenario = json.load(f)

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    root = "http://127.0.0.1:{}".format(port)
    base = "{}/{}/controller/v1/{}".format(root, scenario.get("tenant", "DEFAULT"), scenario.get("controller", "ctrl"))
    scenario = substitute(scenario, {"{server}": root, "{base}": base})
    Handler.state = State(scenario, args.log)
    open(args.log, "w").close()
    print("PORT {}".format(port), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
