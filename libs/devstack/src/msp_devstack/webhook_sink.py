"""A real HTTP receiver of notify's webhooks, run as its own process (tests, `make
bench-notify`): it verifies each request's `X-Signature` (HMAC-SHA256 over
`<X-Timestamp>.<body>`), honours `Idempotency-Key` (a key it accepted before is
answered 200 and not counted again) and counts what it accepted per path.

    python -m msp_devstack.webhook_sink --port N --secret S [--out FILE]

Paths choose the behaviour: `/ok/...` answers 200; `/flaky/<n>/...` answers 500 to
its first n requests, then 200; `/down/...` always 500. `GET /stats` answers the
counts as JSON; `--out` appends one JSON line per request (with its arrival time)."""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_SKEW_S = 300


class Sink:
    def __init__(self, secret: bytes, out: str | None) -> None:
        self.secret = secret
        self.out = out
        self.lock = threading.Lock()
        self.requests = 0
        self.bad_signatures = 0
        self.accepted: dict[str, int] = {}  # path -> deliveries accepted (unique keys)
        self.duplicates: dict[str, int] = {}  # path -> repeats of an accepted key
        self.keys: set[str] = set()
        self.seen_by_path: dict[str, int] = {}  # path -> requests (for /flaky)
        self.kinds: dict[str, int] = {}

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "bad_signatures": self.bad_signatures,
                "accepted": dict(self.accepted),
                "duplicates": dict(self.duplicates),
                "kinds": dict(self.kinds),
            }

    def signed(self, timestamp: str, body: bytes, presented: str) -> bool:
        expected = (
            "sha256="
            + hmac.new(self.secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        )
        try:
            fresh = abs(time.time() - int(timestamp)) <= MAX_SKEW_S
        except ValueError:
            return False
        return fresh and hmac.compare_digest(expected, presented)

    def receive(self, path: str, headers: Any, body: bytes) -> int:
        received = time.time()
        with self.lock:
            self.requests += 1
            seen = self.seen_by_path[path] = self.seen_by_path.get(path, 0) + 1
            ok = self.signed(headers.get("X-Timestamp", ""), body, headers.get("X-Signature", ""))
            key = headers.get("Idempotency-Key", "")
            failing = int(path.split("/")[2]) if path.startswith("/flaky/") else 0
            status, accepted = 200, False
            if not ok:
                self.bad_signatures += 1
                status = 401
            elif path.startswith("/down/") or (path.startswith("/flaky/") and seen <= failing):
                status = 500
            elif key in self.keys:
                self.duplicates[path] = self.duplicates.get(path, 0) + 1
            else:
                self.keys.add(key)
                accepted = True
                self.accepted[path] = self.accepted.get(path, 0) + 1
                try:
                    kind = str(json.loads(body).get("kind", "?"))
                except (ValueError, AttributeError):
                    kind = "?"
                self.kinds[kind] = self.kinds.get(kind, 0) + 1
            if self.out:
                line = {
                    "path": path,
                    "key": key,
                    "status": status,
                    "accepted": accepted,
                    "received_at": received,
                    "body": body.decode("utf-8", "replace"),
                }
                with open(self.out, "a", encoding="utf-8") as f:
                    f.write(json.dumps(line) + "\n")
        return status


def serve(port: int, secret: str, out: str | None, host: str = "127.0.0.1") -> None:
    sink = Sink(secret.encode(), out)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status = sink.receive(self.path, self.headers, self.rfile.read(length))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            body = json.dumps(sink.stats()).encode()
            self.send_response(200 if self.path == "/stats" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per request would drown a benchmark's output

    server = ThreadingHTTPServer((host, port), Handler)
    print(f"webhook sink listening on http://{host}:{port}", flush=True)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--out")
    args = parser.parse_args()
    serve(args.port, args.secret, args.out)


if __name__ == "__main__":
    main()
