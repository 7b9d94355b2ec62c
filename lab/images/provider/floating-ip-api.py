#!/usr/bin/python3
"""The lab provider's floating-IP API: what a cloud offers where gratuitous ARP
moves nothing (AWS, GCP, Azure; OpenStack without allowed-address-pairs). The
cluster's keepalived hook asks it to route a floating IP to the VM that became
MASTER; the chaos suite reads who it routes to, and since when.

    GET /v1/floating-ips/<address>   {"address", "holder", "holder_address",
                                      "changed_at", "moves", "history": [...]}
    PUT /v1/floating-ips/<address>   {"holder": "vm2", "holder_address": "10.210.0.12"}
                                     with `Authorization: Bearer <token>`

The lab's routing stays Docker's bridge (ARP): this API records and answers, as
a cloud's control plane would, so the hook's path is exercised and observed. The
state survives a restart (/var/lib/lab-floating-ip/state.json).
Configuration, written by `lab up`: /etc/lab/floating-ip.json
    {"listen": "<provider address>", "port": 8780, "token": "...",
     "addresses": ["10.210.0.250"]}
"""

from __future__ import annotations

import hmac
import http.server
import json
import os
import sys
import threading
import time
from typing import Any

CONFIG = "/etc/lab/floating-ip.json"
STATE = "/var/lib/lab-floating-ip/state.json"
HISTORY_KEPT = 2000
BODY_LIMIT = 4096


class Store:
    """Who each floating IP is routed to, and every change, on disk after each."""

    def __init__(self, path: str, addresses: list[str]) -> None:
        self._path, self._lock = path, threading.Lock()
        saved: dict[str, Any] = {}
        if os.path.isfile(path):
            with open(path) as src:
                saved = json.load(src)
        self._ips = {
            a: saved.get(a)
            or {
                "holder": None,
                "holder_address": None,
                "changed_at": None,
                "moves": 0,
                "history": [],
            }
            for a in addresses
        }

    def get(self, address: str) -> dict[str, Any] | None:
        with self._lock:
            record = self._ips.get(address)
            if record is None:
                return None
            return {"address": address, **json.loads(json.dumps(record))}  # a deep copy

    def route(self, address: str, holder: str, holder_address: str) -> dict[str, Any] | None:
        with self._lock:
            record = self._ips.get(address)
            if record is None:
                return None
            now = time.time()
            if (record["holder"], record["holder_address"]) != (holder, holder_address):
                record.update(holder=holder, holder_address=holder_address, changed_at=now)
                record["moves"] += 1
            # Every call is kept, a repeated one too: the suite counts the hook's calls.
            record["history"].append({"t": now, "holder": holder, "holder_address": holder_address})
            del record["history"][:-HISTORY_KEPT]
            self._save()
        return self.get(address)

    def _save(self) -> None:
        os.makedirs(os.path.dirname(self._path), exist_ok=True)
        partial = self._path + ".partial"
        with open(partial, "w") as out:
            json.dump(self._ips, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, self._path)


def make_handler(store: Store, token: str) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "lab-floating-ip/1"

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _address(self) -> str | None:
            prefix = "/v1/floating-ips/"
            return self.path[len(prefix) :] if self.path.startswith(prefix) else None

        def do_GET(self) -> None:
            address = self._address()
            record = store.get(address) if address else None
            if record is None:
                self._answer(404, {"error": f"no floating IP at {self.path}"})
                return
            self._answer(200, record)

        def do_PUT(self) -> None:
            given = self.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                self._answer(401, {"error": "a valid bearer token is needed"})
                return
            address = self._address()
            if address is None or store.get(address) is None:
                self._answer(404, {"error": f"no floating IP at {self.path}"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 < length <= BODY_LIMIT:
                    raise ValueError(f"a JSON body of 1 to {BODY_LIMIT} bytes is needed")
                body = json.loads(self.rfile.read(length))
                holder, holder_address = body["holder"], body["holder_address"]
                if not (isinstance(holder, str) and holder and isinstance(holder_address, str)):
                    raise ValueError("holder and holder_address must be non-empty strings")
            except (ValueError, KeyError, TypeError) as exc:
                self._answer(400, {"error": f"bad request: {exc}"})
                return
            self._answer(200, store.route(address, holder, holder_address) or {})

        def log_message(self, fmt: str, *args: Any) -> None:  # the journal, one line a call
            sys.stderr.write(f"{self.address_string()} {fmt % args}\n")

    return Handler


def main() -> None:
    with open(sys.argv[1] if len(sys.argv) > 1 else CONFIG) as src:
        config = json.load(src)
    store = Store(config.get("state", STATE), list(config["addresses"]))
    handler = make_handler(store, config["token"])
    server = http.server.ThreadingHTTPServer((config["listen"], int(config["port"])), handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
