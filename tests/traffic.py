"""Continuous user traffic through the floating IP, counting every failed request.

A few threads loop over what users do (read an image's record, fetch a variant,
load the page, now and then upload) with a fresh connection per request, while a
test changes the cluster underneath. Anything but the expected status is a
failure, with its reason kept for the assertion message. HTTPS with the site's
certificate checked against `ca` (None: the system's roots): a certificate error
counts as a failed request.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from deploy.site import tls_context
from deploy.smoke import png


@dataclass
class Outcome:
    started: float
    name: str
    ok: bool
    detail: str


@dataclass
class Traffic:
    base_url: str
    image_id: str
    token: str  # the uploads' API token
    ca: Path | None  # the CA that checks base_url's certificate (deploy.site.site_ca)
    threads: int = 3
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Traffic:
        for n in range(self.threads):
            worker = threading.Thread(target=self._loop, args=(n,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)

    @property
    def failures(self) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if not o.ok]

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.outcomes)

    def summary(self) -> str:
        failed = self.failures
        shown = "; ".join(f"{o.name}: {o.detail}" for o in failed[:10])
        return f"{self.count} requests, {len(failed)} failed" + (f" ({shown})" if shown else "")

    def _requests(self) -> list[tuple[str, Callable[[httpx.Client], httpx.Response], int]]:
        picture = png(320, 240)
        return [
            ("record", lambda c: c.get(f"/api/images/{self.image_id}"), 200),
            ("thumb", lambda c: c.get(f"/api/images/{self.image_id}/thumb"), 200),
            ("page", lambda c: c.get("/"), 200),
            ("record", lambda c: c.get(f"/api/images/{self.image_id}"), 200),
            ("upload", lambda c: c.post("/api/images", files={"file": ("t.png", picture)}), 202),
        ]

    def _loop(self, offset: int) -> None:
        limits = httpx.Limits(max_keepalive_connections=0)
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(
            base_url=self.base_url,
            timeout=20.0,
            limits=limits,
            headers=headers,
            verify=tls_context(self.ca),
        ) as client:
            requests = self._requests()
            for name, send, expected in itertools.islice(itertools.cycle(requests), offset, None):
                if self._stop.is_set():
                    return
                self._record(client, name, send, expected)
                time.sleep(0.05)

    def _record(
        self,
        client: httpx.Client,
        name: str,
        send: Callable[[httpx.Client], httpx.Response],
        expected: int,
    ) -> None:
        started = time.monotonic()
        try:
            response = send(client)
            ok = response.status_code == expected
            detail = f"{response.status_code} from {response.headers.get('X-Served-By')}"
        except httpx.HTTPError as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.outcomes.append(Outcome(started, name, ok, detail))
