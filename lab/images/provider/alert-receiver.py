#!/usr/bin/python3
"""The lab provider's alert receiver: where the cluster's Alertmanagers send their
notifications in the lab (Alertmanager's webhook format), as an operator's chat
bridge or incident tool would take them; the tests read what arrived.

    POST /v1/alerts   an Alertmanager webhook notification (JSON)
    GET  /v1/alerts   {"notifications": [{"received_at": <unix time>, ...}, ...]}
                      every notification since the receiver started, oldest first

Kept in memory (the last NOTIFICATIONS_KEPT): a test reads what came after it
began. Listens on every address of the provider, port 9095.
"""

from __future__ import annotations

import http.server
import json
import sys
import threading
import time
from collections import deque
from typing import Any

PORT = 9095
PATH = "/v1/alerts"
NOTIFICATIONS_KEPT = 5000
BODY_LIMIT = 1 << 20


class Notifications:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: deque[dict[str, Any]] = deque(maxlen=NOTIFICATIONS_KEPT)

    def add(self, notification: dict[str, Any]) -> None:
        with self._lock:
            self._kept.append({"received_at": time.time(), **notification})

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._kept)


NOTIFICATIONS = Notifications()


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "lab-alert-receiver"

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path != PATH:
            self._answer(404, {"error": f"no such path; alerts are at {PATH}"})
            return
        self._answer(200, {"notifications": NOTIFICATIONS.all()})

    def do_POST(self) -> None:
        if self.path != PATH:
            self._answer(404, {"error": f"no such path; post alerts to {PATH}"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= BODY_LIMIT:
            self._answer(413 if length else 411, {"error": "a JSON body of up to 1 MiB"})
            return
        try:
            notification = json.loads(self.rfile.read(length))
        except ValueError as exc:
            self._answer(400, {"error": f"not JSON: {exc}"})
            return
        if not isinstance(notification, dict) or not isinstance(notification.get("alerts"), list):
            self._answer(400, {"error": "not an Alertmanager notification (no alerts list)"})
            return
        NOTIFICATIONS.add(notification)
        summary = ", ".join(
            f"{a.get('status')} {a.get('labels', {}).get('alertname')}"
            f" {a.get('labels', {}).get('instance', '')}".rstrip()
            for a in notification["alerts"]
        )
        print(f"received: {summary}", flush=True)
        self._answer(200, {"received": len(notification["alerts"])})

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> int:
    server = http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
