"""The steady client: uploads, status polls and variant reads through the floating IP
at a fixed rate, every one of them recorded as an `Op` in the journal.

Open loop: an operation starts on schedule whether or not the previous ones have
answered, so a stalled cluster shows as many slow operations, not as silence. Each
operation uses a fresh connection, like independent users, so a connection to a
dead VIP holder fails that operation only.

Every upload carries an `Idempotency-Key` and is remembered by what it sent (SHA-256,
size, a file name unique to it), so the history checker (`history.py`) can compare
what the cluster stored with it. An upload that got no final answer (no answer, cut
mid-way, a 502/504, a 503 that is not the service's) is sent once more with the same
key, as a browser's retry would; the backend makes that safe (one key, one image).
GETs are not retried here: HAProxy retries those itself.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from PIL import Image, ImageDraw

from chaos import readback
from chaos.journal import Journal, Op
from deploy.site import tls_context

DEFAULT_VARIANTS = ("thumb", "medium", "large")
# Landscape, portrait, and one larger than the medium box: every variant rule is exercised.
IMAGE_SIZES = ((480, 360), (360, 480), (800, 600))


@dataclass(frozen=True)
class ClientConfig:
    rate: float = 5.0  # operations per second
    mix: tuple[str, ...] = ("upload", "status", "read", "status", "read")
    # Connecting may take the whole timeout: a browser waits for a moving floating IP
    # rather than giving up after a few seconds.
    timeout: float = 10.0
    retry_pause: float = 0.5  # before an indeterminate upload is sent again
    variants: tuple[str, ...] = DEFAULT_VARIANTS


def make_image(seq: int, size: tuple[int, int] = (480, 360)) -> bytes:
    """A small, distinct JPEG: a gradient with a band whose place depends on `seq`."""
    image = Image.new("RGB", size, (seq * 37 % 256, 90, 160))
    draw = ImageDraw.Draw(image)
    for x in range(0, size[0], 8):
        draw.line([(x, 0), (x, size[1])], fill=(x % 256, seq * 13 % 256, 255 - x % 256), width=4)
    band = seq * 11 % size[1]
    draw.rectangle([0, band, size[0], band + 20], fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_clear_503(answer: httpx.Response) -> bool:
    """The service's own refusal: 503, a JSON body with `error`, and X-Served-By.
    HAProxy's HTML `503 No server is available` is not one."""
    if answer.status_code != 503 or not answer.headers.get("x-served-by"):
        return False
    try:
        body = answer.json()
    except ValueError:
        return False
    return isinstance(body, dict) and "error" in body


def indeterminate(op: Op) -> bool:
    """No final answer: the request may or may not have been carried out."""
    return op.status is None or op.status in (502, 504) or (op.status == 503 and not op.clear_503)


def _reason(answer: httpx.Response) -> str:
    try:
        body = answer.json()
        text = str(body.get("error", body)) if isinstance(body, dict) else str(body)
    except ValueError:
        text = answer.text.strip().replace("\n", " ")
    return f"{answer.status_code} {text[:80]}".strip()


class SteadyClient:
    def __init__(
        self,
        url: str,
        journal: Journal,
        config: ClientConfig | None = None,
        token: str = "",
        ca: Path | None = None,
    ) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.config = config or ClientConfig()
        self.journal = journal
        # The API token uploads, the listing and the read-back are made with.
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # HTTPS checked against the site's CA (deploy.site; None: the system's roots).
        self._http = httpx.Client(
            headers=headers,
            verify=tls_context(ca),
            timeout=httpx.Timeout(self.config.timeout),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=0),
        )
        self._pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="chaos-op")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._random = random.Random(7)
        self.run = uuid.uuid4().hex[:8]  # in every file name: unique across runs
        self.began = time.time()
        self.uploads: list[Op] = []  # every upload, acknowledged or not
        self.acked: dict[str, float] = {}  # image id -> time of the 202
        self.done: dict[str, float] = {}  # image id -> first time seen done
        self._polled: dict[str, float] = {}

    # -- the schedule ---------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="chaos-client")
        self._thread.start()

    def stop(self) -> None:
        """Stop scheduling and wait for the operations in flight."""
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._pool.shutdown(wait=True)

    def close(self) -> None:
        self._http.close()

    def _run(self) -> None:
        began = time.monotonic()
        for tick in itertools.count():
            due = began + tick / self.config.rate
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            kind = self.config.mix[tick % len(self.config.mix)]
            self._pool.submit(getattr(self, f"_{kind}"))

    # -- operations -------------------------------------------------------------------
    def record(self, op: Op) -> Op:
        self.journal.op(op)
        return op

    def request(
        self, kind: str, method: str, path: str, image: str | None = None, **kw: object
    ) -> tuple[Op, httpx.Response | None]:
        """One HTTP request as an (unjudged, not yet recorded) Op, with the answer."""
        start = time.time()
        try:
            answer = self._http.request(method, self.url + path, **kw)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            return Op(kind, start, time.time(), False, error=type(exc).__name__, image=image), None
        op = Op(
            kind,
            start,
            time.time(),
            False,
            status=answer.status_code,
            node=answer.headers.get("x-served-by"),
            image=image,
            edge=answer.headers.get("x-edge"),
            clear_503=is_clear_503(answer),
        )
        return op, answer

    def _post(self, filename: str, data: bytes, key: str) -> tuple[Op, httpx.Response | None]:
        files = {"file": (filename, data, "image/jpeg")}
        headers = {"Idempotency-Key": key}
        op, answer = self.request("upload", "POST", "api/images", files=files, headers=headers)
        if answer is not None and answer.status_code != 202:
            op.error = _reason(answer)
        return op, answer

    def upload(self, seq: int) -> Op:
        """Send image `seq` (once more, same key, if the first attempt got no final answer)."""
        size = IMAGE_SIZES[seq % len(IMAGE_SIZES)]
        data = make_image(seq, size)
        filename, key = f"chaos-{self.run}-{seq}.jpg", str(uuid.uuid4())
        op, answer = self._post(filename, data, key)
        if indeterminate(op):
            time.sleep(self.config.retry_pause)  # the floating IP may be moving
            first = op
            op, answer = self._post(filename, data, key)
            op.start, op.attempts, op.first_error = first.start, 2, first.error
        op.key, op.sha256, op.size, op.filename = key, sha256(data), list(size), filename
        if answer is not None and answer.status_code == 202:
            try:
                image = answer.json().get("id")
            except ValueError:
                image = None
            op.ok, op.image = bool(image), image
            op.error = None if image else "202 without an image id"
        op.indeterminate = not op.ok and indeterminate(op)
        with self._lock:
            self.uploads.append(op)
            if op.ok and op.image:
                self.acked[op.image] = op.end
        return self.record(op)

    def _upload(self) -> None:
        self.upload(next(self._seq))

    def upload_ops(self) -> list[Op]:
        with self._lock:
            return list(self.uploads)

    def _pick_for_status(self) -> str | None:
        now = time.time()
        with self._lock:
            pending = [i for i in self.acked if i not in self.done]
            fresh = [i for i in pending if now - self._polled.get(i, 0) > 0.5]
            # Least recently polled first (never polled before all): an image held by a
            # dead VM's worker until the broker redelivers it must not starve the polls
            # of newer uploads, whose "done" is what measures the cluster's recovery.
            choice = min(fresh, key=lambda i: self._polled.get(i, 0.0)) if fresh else None
            if choice is None and self.done:
                choice = self._random.choice(list(self.done))
            if choice:
                self._polled[choice] = now
            return choice

    def _status(self) -> None:
        image = self._pick_for_status()
        if image is None:
            self._list()
            return
        op, _ = self.check_status(image, "status")
        self.record(op)

    def check_status(self, image: str, kind: str) -> tuple[Op, str | None]:
        """GET the image's status; marks it done when every variant is listed."""
        op, answer = self.request(kind, "GET", f"api/images/{image}", image=image)
        if answer is None:
            return op, None
        if answer.status_code != 200:
            op.error = _reason(answer)
            return op, None
        state = answer.json().get("status")
        variants = answer.json().get("variants") or {}
        op.ok, op.detail = state in ("pending", "done", "failed"), state
        if state == "done" and all(v in variants for v in self.config.variants):
            with self._lock:
                self.done.setdefault(image, op.end)
        elif state == "done":
            op.detail = "done-incomplete"
        return op, op.detail

    def _list(self) -> None:
        op, answer = self.request("status", "GET", "api/images")
        if answer is not None:
            op.ok = answer.status_code == 200
            op.detail = "list"
            if not op.ok:
                op.error = _reason(answer)
        self.record(op)

    def _read(self) -> None:
        with self._lock:
            done = list(self.done)
            acked = list(self.acked)
        if done:
            image = self._random.choice(done)
            variant = self._random.choice(("original", *self.config.variants))
        elif acked:
            image, variant = acked[-1], "original"
        else:
            self._list()
            return
        self.record(self.read_variant(image, variant, "read"))

    def read_variant(self, image: str, variant: str, kind: str) -> Op:
        op, answer = self.request(kind, "GET", f"api/images/{image}/{variant}", image=image)
        op.detail = variant
        if answer is not None:
            op.ok = answer.status_code == 200 and len(answer.content) > 0
            if not op.ok:
                op.error = _reason(answer)
        return op

    # -- after the experiment ---------------------------------------------------------
    def verify(self, deadline_s: float) -> None:
        """Follow every upload to its end and read back what the cluster stored
        (`readback.verify`: verify ops, a `listing` and `readback` events)."""
        readback.verify(self, deadline_s)
