"""A container credentials endpoint for the simulated Code Editor instance (stdlib only).

Serves ``GET /creds`` like the ECS/SageMaker container credentials provider: JSON with
``AccessKeyId``, ``SecretAccessKey``, ``Token`` and an ISO-8601 ``Expiration`` only ``--ttl``
seconds away, so any long-running client must fetch fresh credentials: botocore refreshes
credentials that expire within 15 minutes, and refuses to use expired ones.
Each request gets new keys. ``GET /_stats`` returns what was handed out and when, so a test can
check that the daemon fetched new credentials after the first ones expired.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _State:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.lock = threading.Lock()
        self.issued: list[dict[str, object]] = []

    def issue(self) -> dict[str, str]:
        with self.lock:
            n = len(self.issued) + 1
            now = time.time()
            expires = now + self.ttl
            key = f"ASIASIM{n:013d}"
            self.issued.append({"access_key": key, "issued_at": now, "expires_at": expires})
        return {
            "AccessKeyId": key,
            "SecretAccessKey": f"sim-secret-{n}",
            "Token": f"sim-token-{n}",
            "Expiration": _iso(expires),
            "RoleArn": "arn:aws:iam::123456789012:role/sim-execution-role",
        }


def make_handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/creds":
                self._send(200, state.issue())
            elif self.path == "/_stats":
                with state.lock:
                    issued = list(state.issued)
                self._send(200, {"ttl": state.ttl, "requests": len(issued), "issued": issued})
            else:
                self._send(404, {"message": f"no such path {self.path}"})

        def log_message(self, format: str, *args: object) -> None:
            sys.stderr.write(f"{_iso(time.time())} creds {format % args}\n")

    return Handler


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8111)
    p.add_argument("--ttl", type=float, default=60.0, help="seconds until handed-out keys expire")
    args = p.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), make_handler(_State(args.ttl)))
    print(f"creds-server listening on http://{args.host}:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
