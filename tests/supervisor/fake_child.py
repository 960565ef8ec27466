"""A stand-in for a system process, driven by its arguments (run as a script by the tests).

    fake_child.py NAME MODE [PORT] [STATE_DIR]

Modes: serve (HTTP server echoing requests, ready line, exits 0 on SIGTERM), crash-once
(ready, then exits 3 on its first run only), crash-always, die-early (stderr lines, then exit 2
before ready), hang (never ready), ignore-term (ready, ignores SIGTERM), bad-ready (malformed
ready line).
Every run appends its environment's ACME_* variables to STATE_DIR/NAME.runs as one JSON line.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

name, mode = sys.argv[1], sys.argv[2]
port = int(sys.argv[3]) if len(sys.argv) > 3 else 0
state_dir = Path(sys.argv[4]) if len(sys.argv) > 4 else None

runs = 0
if state_dir is not None:
    record = state_dir / f"{name}.runs"
    env = {k: v for k, v in os.environ.items() if k.startswith(("ACME_", "PYTHONUNBUFFERED"))}
    with record.open("a") as f:
        f.write(json.dumps({"pid": os.getpid(), "port": port, "env": env}) + "\n")
    runs = len(record.read_text().splitlines())


class Echo(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        data = {
            "system": name,
            "path": self.path,
            "method": self.command,
            "body": body,
            "headers": {k.lower(): v for k, v in self.headers.items()},
        }
        raw = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


def ready(url_port: int) -> None:
    print("some log line before ready", flush=True)
    print(
        "ACME-READY " + json.dumps({"system": name, "http": f"http://127.0.0.1:{url_port}"}),
        flush=True,
    )


def stop_on_term() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


if mode == "serve":
    server = ThreadingHTTPServer(("127.0.0.1", port), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop_on_term()
    ready(server.server_address[1])
elif mode == "crash-once":
    stop_on_term()
    ready(port or 40000 + runs)
    if runs == 1:
        print(f"{name}: fatal error on first run", file=sys.stderr, flush=True)
        time.sleep(0.1)
        sys.exit(3)
elif mode == "crash-always":
    ready(port or 40000 + runs)
    time.sleep(0.05)
    sys.exit(3)
elif mode == "die-early":
    for i in range(30):
        print(f"{name} traceback line {i}", file=sys.stderr)
    print(f"{name}: cannot open database", file=sys.stderr, flush=True)
    sys.exit(2)
elif mode == "hang":
    print(f"{name}: waiting for something that never comes", file=sys.stderr, flush=True)
elif mode == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ready(40999)
elif mode == "bad-ready":
    print("ACME-READY {not json", flush=True)
else:
    sys.exit(f"unknown mode {mode}")

while True:
    time.sleep(1)
